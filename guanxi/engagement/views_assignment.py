"""Lead assignment and handover pages: thin callers of `engagement.assignment`.

Forms only shape input; the rules (scope, validation) live in the actions.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.exceptions import require
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers.models import Channel, Customer, Tier
from guanxi.engagement import assignment
from guanxi.engagement.models import Assignment, AssignmentRule, AssignmentStrategy, Handover, Task

TEXT_CONDITIONS = ("province", "city", "industry")


def _style(form: forms.Form) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxSelectMultiple):
            continue
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs["class"] = "form-check-input"
        elif isinstance(widget, forms.Select | forms.SelectMultiple):
            widget.attrs["class"] = "form-select"
        else:
            widget.attrs["class"] = "form-control"


def _add_action_errors(form: forms.Form, exc: ValidationError, aliases: dict[str, str] | None = None) -> None:
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.message_dict.items():
        name = (aliases or {}).get(field, field)
        form.add_error(name if name in form.fields else None, errors)


def _back(request, default: str):
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        label = str(obj)
        return label if obj.is_active else _("%(name)s (inactive)") % {"name": label}


def _label(field: str):
    """The model field's verbose name (same wording as the admin and the catalogue)."""
    return capfirst(AssignmentRule._meta.get_field(field).verbose_name)


class RuleForm(forms.Form):
    name = forms.CharField(label=_label("name"), max_length=100)
    position = forms.IntegerField(
        label=_label("position"),
        min_value=0,
        initial=0,
        help_text=gettext_lazy("Rules are tried from the lowest order; the first match assigns the lead."),
    )
    is_active = forms.BooleanField(label=_label("is_active"), required=False, initial=True)
    strategy = forms.ChoiceField(label=_label("strategy"), choices=AssignmentStrategy.choices)
    first_response_minutes = forms.IntegerField(
        label=_label("first_response_minutes"),
        min_value=1,
        max_value=assignment.MAX_FIRST_RESPONSE_MINUTES,
        initial=120,
    )
    members = forms.ModelMultipleChoiceField(
        label=_label("members"),
        queryset=assignable_users(None).none(),
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=gettext_lazy("Capacity, working hours and away dates are set on each user."),
    )
    source = forms.MultipleChoiceField(
        label=gettext_lazy("Source"),
        choices=Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: any source."),
    )
    province = forms.CharField(
        label=gettext_lazy("Province"),
        required=False,
        help_text=gettext_lazy("Several values separated by commas; empty: any."),
    )
    city = forms.CharField(
        label=gettext_lazy("City"),
        required=False,
        help_text=gettext_lazy("Several values separated by commas; empty: any."),
    )
    industry = forms.CharField(
        label=gettext_lazy("Industry"),
        required=False,
        help_text=gettext_lazy("Several values separated by commas; empty: any."),
    )
    tier = forms.MultipleChoiceField(
        label=gettext_lazy("Tier"),
        choices=Tier.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: any tier."),
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = assignable_users(actor).order_by("username")
        _style(self)

    @classmethod
    def initial_for(cls, rule: AssignmentRule) -> dict:
        conditions = rule.conditions or {}
        return {
            "name": rule.name,
            "position": rule.position,
            "is_active": rule.is_active,
            "strategy": rule.strategy,
            "first_response_minutes": rule.first_response_minutes,
            "members": list(rule.members.all()),
            "source": conditions.get("source") or [],
            "tier": conditions.get("tier") or [],
            **{key: ", ".join(conditions.get(key) or []) for key in TEXT_CONDITIONS},
        }

    def to_action_input(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "position": data["position"],
            "is_active": data["is_active"],
            "strategy": data["strategy"],
            "first_response_minutes": data["first_response_minutes"],
            "member_ids": [u.pk for u in data["members"]],
            "conditions": {
                "source": data["source"],
                "tier": data["tier"],
                **{key: data[key] for key in TEXT_CONDITIONS},
            },
        }


class HandoverForm(forms.Form):
    from_user = UserChoiceField(label=gettext_lazy("From"), queryset=assignable_users(None).none())
    to_user = UserChoiceField(label=gettext_lazy("To"), queryset=assignable_users(None).none())
    include_tasks = forms.BooleanField(label=gettext_lazy("Include open tasks"), required=False, initial=True)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_user"].queryset = assignment.handover_sources(actor).order_by(
            "-is_active", "username"
        )
        self.fields["to_user"].queryset = assignable_users(actor).order_by("username")
        _style(self)


# --------------------------------------------------------------------------- rules


@login_required
def rule_list(request):
    require(request.user, Perm.CUSTOMER_ASSIGN)
    rules = list(AssignmentRule.objects.prefetch_related("members").order_by("position", "pk"))
    allowed = set(assignable_users(request.user).values_list("pk", flat=True))
    for rule in rules:
        rule.editable = all(member.pk in allowed for member in rule.members.all())
    visible = Customer.objects.visible_to(request.user)
    open_clocks = Assignment.objects.filter(first_response_at__isnull=True, customer__in=visible)
    context = {
        "rules": rules,
        "condition_keys": assignment.CONDITION_KEYS,
        "waiting_leads": assignment.waiting_leads().visible_to(request.user).count(),
        "awaiting_response": open_clocks.filter(breach_notified_at__isnull=True).count(),
        "breached": open_clocks.filter(breach_notified_at__isnull=False).count(),
    }
    return render(request, "engagement/assignment_rules.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request, pk: int | None = None):
    require(request.user, Perm.CUSTOMER_ASSIGN)
    rule = None
    if pk is not None:
        rule = AssignmentRule.objects.filter(pk=pk).first()
        if rule is None:
            raise Http404
        assignment.check_members_in_scope(rule.members.values_list("pk", flat=True), actor=request.user)
    if request.method == "POST":
        form = RuleForm(request.POST, actor=request.user)
        if form.is_valid():
            try:
                saved = assignment.save_rule(
                    form.to_action_input(), actor=request.user, rule_id=rule.pk if rule else None
                )
            except ValidationError as exc:
                _add_action_errors(form, exc, {"member_ids": "members"})
            else:
                messages.success(request, _("Assignment rule “%(name)s” saved.") % {"name": saved.name})
                return redirect("assignment:rules")
    else:
        form = RuleForm(initial=RuleForm.initial_for(rule) if rule else None, actor=request.user)
    return render(request, "engagement/assignment_rule_form.html", {"form": form, "rule": rule})


@login_required
@require_POST
def rule_delete(request, pk: int):
    assignment.delete_rule(pk, actor=request.user)
    messages.success(request, _("Assignment rule deleted."))
    return redirect("assignment:rules")


# --------------------------------------------------------------------------- handover and transfer


@login_required
@require_http_methods(["GET", "POST"])
def handover_page(request):
    """Pick who leaves and who receives, see what would move, confirm."""
    require(request.user, Perm.CUSTOMER_ASSIGN)
    data = request.POST if request.method == "POST" else (request.GET if "from_user" in request.GET else None)
    form = HandoverForm(data, actor=request.user)
    preview = None
    if data is not None and form.is_valid():
        include_tasks = form.cleaned_data["include_tasks"]
        if request.method == "POST":
            try:
                record = assignment.handover(
                    form.cleaned_data["from_user"].pk,
                    form.cleaned_data["to_user"].pk,
                    actor=request.user,
                    include_tasks=include_tasks,
                )
            except ValidationError as exc:
                _add_action_errors(form, exc)
            else:
                messages.success(request, _("Handover completed."))
                return redirect("assignment:handover_detail", pk=record.pk)
        preview = assignment.handover_preview(
            form.cleaned_data["from_user"].pk, actor=request.user, include_tasks=include_tasks
        )
    sources = assignment.handover_sources(request.user)
    recent = (
        Handover.objects.filter(Q(from_user__in=sources) | Q(to_user__in=sources))
        .select_related("from_user", "to_user", "actor")
        .order_by("-pk")[:20]
    )
    return render(
        request, "engagement/handover_form.html", {"form": form, "preview": preview, "recent": recent}
    )


@login_required
def handover_detail(request, pk: int):
    require(request.user, Perm.CUSTOMER_ASSIGN)
    sources = assignment.handover_sources(request.user)
    record = (
        Handover.objects.filter(Q(from_user__in=sources) | Q(to_user__in=sources), pk=pk)
        .select_related("from_user", "to_user", "actor")
        .first()
    )
    if record is None:
        raise Http404
    limit = 200
    summary = record.summary or {}
    customers = (
        Customer.objects.visible_to(request.user)
        .filter(pk__in=(summary.get("customer_ids") or [])[:limit])
        .select_related("owner")
        .order_by("name")
    )
    tasks = (
        Task.objects.visible_to(request.user)
        .filter(pk__in=(summary.get("task_ids") or [])[:limit])
        .select_related("customer", "owner")
        .order_by("due_at")
    )
    return render(
        request,
        "engagement/handover_detail.html",
        {"record": record, "summary": summary, "customers": customers, "tasks": tasks, "limit": limit},
    )


@login_required
@require_POST
def transfer(request):
    """Bulk transfer from the customer list: POST `customer_ids` (repeated) and `to_user`."""
    try:
        moved = assignment.transfer_customers(
            request.POST.getlist("customer_ids"), request.POST.get("to_user", ""), actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if moved:
            messages.success(request, _("%(count)d customer(s) transferred.") % {"count": moved})
        else:
            messages.info(
                request, _("Nothing to transfer: the selected customers already belong to that user.")
            )
    return _back(request, "customers:list")
