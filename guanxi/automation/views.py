"""Automation pages: the rules with their statistics, the template gallery, one rule with its
versions, preview, dry run and run log, and the rule builder (new and edit; `builder.py` turns its
fields into the definition `rules.save_rule` validates). Thin callers of the actions;
settings.manage throughout."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.automation import builder
from guanxi.automation.actions import engine, rules
from guanxi.automation.fields import OBJECT_TYPES, object_label
from guanxi.automation.models import Rule, RuleRun, RunStatus, TriggerType
from guanxi.automation.queries import live_rule, stats_for
from guanxi.automation.templates import TEMPLATES
from guanxi.core.converters import as_id
from guanxi.core.exceptions import NotFound, require
from guanxi.core.http import safe_next
from guanxi.core.permissions import Perm
from guanxi.customization import filter_builder
from guanxi.customization.models import CustomObject


@login_required
def rule_list(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    found = list(Rule.objects.filter(deleted_at__isnull=True).select_related("owner"))
    stats = stats_for([r.pk for r in found])
    for rule in found:
        rule.stats = stats[rule.pk]
    installed = {r.template_key for r in found if r.template_key}
    return render(request, "automation/rules.html", {
        "rules": found, "templates": [t for t in TEMPLATES if t.key not in installed],
    })  # fmt: skip


@login_required
def rule_detail(request, rule_id: int):
    rule = live_rule(rule_id, user=request.user)
    runs = RuleRun.objects.filter(rule=rule)
    status = request.GET.get("status")
    if status in RunStatus.values:
        runs = runs.filter(status=status)
    try:
        preview = engine.preview(rule, limit=10)
    except ValidationError:
        preview = None  # a field the rule names was deleted since
    for row in preview["sample"] if preview else []:
        row["url"] = _record_url(rule.object_type, row["id"])
    dry_run, record = None, request.GET.get("record", "").strip()
    if record:
        try:
            dry_run = engine.dry_run(rule, as_id(record) or 0)
        except (NotFound, ValidationError):
            dry_run = {"missing": True}
    return render(request, "automation/rule.html", {
        "rule": rule, "runs": runs[:100], "versions": rule.versions.all()[:20], "preview": preview,
        "dry_run": dry_run, "record": record, "manual": rule.trigger_type == "manual",
        "statuses": RunStatus.choices, "status": status, "stats": stats_for([rule.pk])[rule.pk],
        "definition": json.dumps({"trigger": rule.trigger, "conditions": rule.conditions, "actions": rule.actions},
                                 ensure_ascii=False, indent=2),
    })  # fmt: skip


RECORD_PAGES = {CustomObject.CUSTOMER: "customers:detail", CustomObject.DEAL: "deals:detail"}


def _record_url(object_type: str, pk: int) -> str:
    page = RECORD_PAGES.get(object_type)
    return reverse(page, args=[pk]) if page else ""


@login_required
@require_POST
def set_enabled(request, rule_id: int):
    rule = live_rule(rule_id, user=request.user)
    try:
        rules.set_enabled(rule.pk, request.POST.get("enabled") == "1", actor=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    if request.POST.get("next") == "detail":
        return redirect("automation:rule", rule_id=rule.pk)
    return redirect("automation:rules")


@login_required
@require_POST
def install(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    try:
        rule = rules.install_template(request.POST.get("key", ""), actor=request.user)
    except (ValidationError, NotFound):
        messages.error(request, _("This template cannot be installed."))
        return redirect("automation:rules")
    messages.success(request, _("Installed, disabled: read it, then enable it."))
    return redirect("automation:rule", rule_id=rule.pk)


@login_required
@require_POST
def retry(request, rule_id: int):
    rule = live_rule(rule_id, user=request.user)
    wanted = [i for i in (as_id(v) for v in request.POST.getlist("run_ids")) if i is not None]
    count = engine.retry_now(list(RuleRun.objects.filter(pk__in=wanted, rule=rule).values_list("pk", flat=True)),
                             actor=request.user)  # fmt: skip
    messages.success(request, _("%(count)d run(s) retried.") % {"count": count})
    return redirect("automation:rule", rule_id=rule.pk)


# --------------------------------------------------------------------------- the builder


@login_required
def rule_new(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    return _builder_page(request, None)


@login_required
def rule_edit(request, rule_id: int):
    return _builder_page(request, live_rule(rule_id, user=request.user))


def _builder_page(request, rule: Rule | None):
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        definition = builder.rule_from_form(request.POST)
        try:
            saved = rules.save_rule(definition, actor=request.user, rule_id=rule.pk if rule else None)
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"actions": exc.messages}
        else:
            messages.success(request, _("Rule saved (version %(version)d).") % {"version": saved.version})
            return redirect("automation:rule", rule_id=saved.pk)
    elif rule is not None and request.GET.get("object_type") in (None, rule.object_type):
        definition = rules.definition(rule)
    else:  # a new rule, or another object chosen: what the rule is about comes first
        definition = {"object_type": request.GET.get("object_type") or CustomObject.CUSTOMER,
                      "trigger": {"type": "created"}, "actions": [{"type": "create_task"}]}  # fmt: skip
        if rule is not None:
            definition.update(name=rule.name, description=rule.description, enabled=rule.enabled)
        definition.update({k: request.GET[k][:2000] for k in ("name", "description") if k in request.GET})
    state = builder.form_state(definition)
    options = builder.Options(state["object_type"])
    return render(request, "automation/rule_form.html", {
        "rule": rule, "form": state, "options": options, "errors": errors,
        "other_errors": [m for part, found in errors.items() if part not in builder.PARTS for m in found],
        "object_types": [(t, object_label(t)) for t in OBJECT_TYPES],
        "row_url": _row_url(state["object_type"]),
    }, status=422 if errors else 200)  # fmt: skip


def _object_type(request) -> str:
    object_type = request.GET.get("object_type", "")
    if object_type not in OBJECT_TYPES:
        raise Http404
    return object_type


def _row_url(object_type: str) -> str:
    return f"{reverse('automation:filter_row')}?object_type={object_type}"


@login_required
def filter_row(request):
    """The filter builder's row for a rule's object (htmx: a new row, or a changed field/operator)."""
    require(request.user, Perm.SETTINGS_MANAGE)
    object_type = _object_type(request)
    return filter_builder.row_response(request, builder.Options(object_type).catalogue,
                                       row_url=_row_url(object_type))  # fmt: skip


@login_required
def condition_group(request):
    """A new AND/OR group of conditions (htmx)."""
    require(request.user, Perm.SETTINGS_MANAGE)
    object_type = _object_type(request)
    group = {"key": builder.new_key(), "mode": "any", "rows": []}
    return render(request, "automation/_group.html", {"group": group, "row_url": _row_url(object_type)})


@login_required
def step(request):
    """One action of the builder (htmx: a new one, or one whose type or field changed)."""
    require(request.user, Perm.SETTINGS_MANAGE)
    options = builder.Options(_object_type(request))
    key = builder.clean_key(request.GET.get("key")) or builder.new_key()
    posted = (
        builder.step_from_form(request.GET, key)
        if request.GET.get(f"s{key}_type")
        else {"type": "create_task"}
    )
    card = builder.step_state(posted, options.catalogue, key=key)
    return render(request, "automation/_step.html", {"step": card, "options": options})


@login_required
@require_POST
def delete(request, rule_id: int):
    rule = live_rule(rule_id, user=request.user)
    rules.delete_rule(rule.pk, actor=request.user)
    messages.success(request, _("Rule deleted."))
    return redirect("automation:rules")


@login_required
@require_POST
def run_manual(request, rule_id: int):
    rule = live_rule(rule_id, user=request.user)
    ids = [i for i in (as_id(v) for v in request.POST.get("object_ids", "").replace(",", " ").split()) if i]
    stats = engine.run_manual(rule.pk, ids, actor=request.user)
    messages.success(request, _("%(selected)d selected, %(matched)d matched, %(fired)d fired.") % stats)
    return redirect("automation:rule", rule_id=rule.pk)


@login_required
@require_POST
def run_selected(request):
    """ "Run a rule" on the customers selected in the customer list (a manual rule), then back."""
    require(request.user, Perm.SETTINGS_MANAGE)
    back = safe_next(request, reverse("customers:list"))
    rule = Rule.objects.filter(
        pk=as_id(request.POST.get("rule_id")), deleted_at__isnull=True, enabled=True,
        object_type=CustomObject.CUSTOMER, trigger__type=TriggerType.MANUAL,
    ).first()  # fmt: skip
    ids = [i for i in (as_id(v) for v in request.POST.getlist("customer_ids")) if i is not None]
    if rule is None or not ids:
        messages.error(request, _("Choose a rule and at least one customer."))
        return redirect(back)
    stats = engine.run_manual(rule.pk, ids, actor=request.user)
    messages.success(request, _("%(selected)d selected, %(matched)d matched, %(fired)d fired.") % stats)
    return redirect(back)
