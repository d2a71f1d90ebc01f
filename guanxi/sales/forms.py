"""Deal and pipeline forms. They shape input only; the actions validate it (same rules as the API).

Custom fields and form layouts: `guanxi.customization.forms_fields` (one form field "cf_<key>" per custom
field, raw values to the action, sections from `customization.layout_for`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import User
from guanxi.core.scopes import assignable_users
from guanxi.customization import actions as customization
from guanxi.customization import registry as customfields
from guanxi.customization.forms_fields import LayoutFormMixin, section_title
from guanxi.customization.models import CustomObject
from guanxi.sales import actions, queries
from guanxi.sales.models import Deal, Pipeline, Stage, StageOutcome

# Form field -> action key (and back, for the action's errors).
ACTION_KEYS = {"pipeline": "pipeline_id", "stage": "stage_id", "owner": "owner_id"}
FORM_NAMES = {v: k for k, v in ACTION_KEYS.items()}
# Registry refs that have a form field (the others are read-only: customer, probability, dates set by the system).
EDITABLE_REFS = (
    "name",
    "pipeline",
    "stage",
    "amount",
    "discount_percent",
    "owner",
    "expected_close_date",
    "lost_reason",
)


def _localized(zh: str, en: str) -> str:
    return customfields._localized(zh, en)


def stage_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Stages grouped by pipeline for a <select> with optgroups."""
    return [
        (_localized(p.name_zh, p.name_en), [(str(s.pk), _localized(s.name_zh, s.name_en)) for s in stages])
        for p, stages in queries.stages_by_pipeline()
    ]


def lost_reason_choices(current: str = "") -> list[tuple[str, str]]:
    choices = [(key, _localized(zh, en)) for key, zh, en in actions.lost_reasons()]
    if current and current not in {k for k, _label in choices}:
        choices.append((current, current))
    return [("", "—"), *choices]


def _owner_choices(user, current: int | None) -> list[tuple[str, str]]:
    users = list(assignable_users(user).order_by("display_name", "username"))
    choices = [(str(u.pk), str(u)) for u in users]
    if current is not None and str(current) not in {pk for pk, _label in choices}:
        owner = User.objects.filter(pk=current).first()
        choices.append((str(current), str(owner) if owner else str(current)))
    return [("", "—"), *choices]


class DealForm(LayoutFormMixin, forms.Form):
    ERROR_TARGETS = FORM_NAMES
    REGISTRY_LABELS = True

    name = forms.CharField(
        label=_("Deal name"), required=False, widget=forms.TextInput(attrs={"maxlength": 200})
    )
    pipeline = forms.ChoiceField(label=_("Pipeline"), required=False)
    stage = forms.ChoiceField(label=_("Stage"), required=False)
    amount = forms.CharField(
        label=_("Amount"), required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    discount_percent = forms.CharField(
        label=_("Discount percent"), required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    expected_close_date = forms.CharField(
        label=_("Expected close date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    lost_reason = forms.ChoiceField(label=_("Lost reason"), required=False)

    def __init__(self, *args, user, instance: Deal | None = None, layout: list[dict] | None = None, **kwargs):
        """`instance`: the deal being edited (None on creation); `layout`: the form sections, by default
        the user's layout for deals (with the lost reason next to the stage)."""
        super().__init__(*args, **kwargs)
        self.user = user
        self.instance = instance
        self.initial = dict(self.initial)
        self.fields["pipeline"].choices = [
            (str(p.pk), _localized(p.name_zh, p.name_en)) for p in queries.deal_pipelines()
        ]
        self.fields["stage"].choices = [("", "—"), *stage_choices()]
        self.fields["owner"].choices = _owner_choices(user, instance.owner_id if instance else None)
        self.fields["lost_reason"].choices = lost_reason_choices(instance.lost_reason if instance else "")
        if instance is not None:
            for name, value in deal_initial(instance).items():
                self.initial.setdefault(name, value)
        self.registry = customfields.Registry(CustomObject.DEAL)
        self._add_custom_fields()
        if layout is None:
            layout = with_lost_reason(customization.layout_for(CustomObject.DEAL, user))
        self._apply_layout(layout)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs["class"] = css

    # -- output --------------------------------------------------------------------------------

    def to_action_data(self, *, changed_only: bool = False) -> dict[str, Any]:
        """The action's input. `changed_only` (edit): only what the user changed, so a field left
        alone keeps its stored value and an unchanged stage is not entered again."""
        data: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if name in self.custom_names or (changed_only and name not in self.changed_data):
                continue
            data[ACTION_KEYS.get(name, name)] = value
        custom = self.custom_values(changed_only=changed_only)
        if custom is not None:
            data["custom_fields"] = custom
        if data.get("lost_reason") == "" and not changed_only:
            data.pop("lost_reason")
        return data


def deal_initial(deal: Deal) -> dict[str, str]:
    return {
        "name": deal.name,
        "pipeline": str(deal.pipeline_id),
        "stage": str(deal.stage_id),
        "amount": "" if deal.amount is None else str(deal.amount),
        "discount_percent": "" if deal.discount_percent is None else str(deal.discount_percent),
        "owner": "" if deal.owner_id is None else str(deal.owner_id),
        "expected_close_date": deal.expected_close_date.isoformat() if deal.expected_close_date else "",
        "lost_reason": deal.lost_reason,
    }


def with_lost_reason(layout: list[dict]) -> list[dict]:
    """The lost reason next to the stage (a move to a lost stage needs one) unless the layout places it."""
    if any("lost_reason" in s.get("fields", []) for s in layout):
        return layout
    result = [dict(s) for s in layout]
    for section in result:
        fields = list(section.get("fields", []))
        if "stage" in fields:
            fields.insert(fields.index("stage") + 1, "lost_reason")
            section["fields"] = fields
            break
    return result


def move_layout(stage) -> list[dict]:
    """The fields a stage asks for: its required fields (and the lost reason for a lost stage)."""
    fields = [ref for ref in stage.required_fields or [] if ref in EDITABLE_REFS or ref.startswith("cf.")]
    if stage.outcome == StageOutcome.LOST:
        fields.append("lost_reason")
    return [{"title_zh": stage.name_zh, "title_en": stage.name_en, "fields": fields}]


def custom_value_sections(deal: Deal, user, registry: customfields.Registry | None = None) -> list[dict]:
    """The deal's custom values for the detail page, grouped as the form layout groups them."""
    registry = registry or customfields.Registry(CustomObject.DEAL)
    if not registry.custom:
        return []
    specs = list(registry.custom.values())
    names = registry.names_for([deal], specs, user=user)  # linked records: named only if visible
    sections, shown = [], set()
    for section in customization.layout_for(CustomObject.DEAL, user):
        items = []
        for ref in section.get("fields", []):
            spec = registry.get(ref)
            if spec is None or not spec.is_custom or ref in shown:
                continue
            shown.add(ref)
            items.append(
                {
                    "key": spec.key,
                    "label": spec.label,
                    "value": spec.present(spec.value_of(deal), user=user, obj=deal, names=names),
                }
            )
        if items:
            sections.append({"title": section_title(section), "items": items})
    return sections


# --------------------------------------------------------------------------- pipelines

COLOR_LABELS = {
    "secondary": _("Grey"),
    "primary": _("Blue"),
    "info": _("Cyan"),
    "success": _("Green"),
    "warning": _("Yellow"),
    "danger": _("Red"),
    "dark": _("Black"),
}


class PipelineForm(forms.Form):
    name_zh = forms.CharField(label=_("Chinese name"), max_length=100, required=False)
    name_en = forms.CharField(label=_("English name"), max_length=100, required=False)
    is_default = forms.BooleanField(label=_("Default pipeline"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs["class"] = "form-check-input" if name == "is_default" else "form-control"


class StageRowForm(forms.Form):
    id = forms.CharField(required=False, widget=forms.HiddenInput)
    name_zh = forms.CharField(label=_("Chinese name"), max_length=100, required=False)
    name_en = forms.CharField(label=_("English name"), max_length=100, required=False)
    probability = forms.CharField(
        label=_("Probability (%)"),
        required=False,
        widget=forms.NumberInput(attrs={"min": 0, "max": 100, "step": 1}),
    )
    color = forms.ChoiceField(label=_("Colour"), required=False)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=StageOutcome.choices, required=False)
    required_fields = forms.MultipleChoiceField(
        label=_("Required to enter"), required=False, widget=forms.CheckboxSelectMultiple
    )
    DELETE = forms.BooleanField(label=_("Remove"), required=False)

    def __init__(self, *args, field_choices: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        colors = [(key, str(label)) for key, label in COLOR_LABELS.items()]
        current = self.initial.get("color") or (
            self.data.get(self.add_prefix("color")) if self.is_bound else ""
        )
        if current and current not in COLOR_LABELS:
            colors.append((current, current))
        self.fields["color"].choices = colors
        known = {ref for ref, _label in field_choices}
        choices = list(field_choices)
        for ref in self.initial.get("required_fields") or []:
            if ref not in known:  # a field deleted since: shown so the admin can drop it
                choices.append((ref, ref))
        self.fields["required_fields"].choices = choices
        for name, field in self.fields.items():
            if name == "DELETE" or isinstance(field.widget, forms.CheckboxSelectMultiple):
                field.widget.attrs["class"] = "form-check-input"
            elif isinstance(field.widget, forms.Select):
                field.widget.attrs["class"] = "form-select form-select-sm"
            else:
                field.widget.attrs["class"] = "form-control form-control-sm"
            if not isinstance(field.widget, forms.CheckboxSelectMultiple | forms.HiddenInput):
                # the table's column header names the input; the row number tells the rows apart
                field.widget.attrs["aria-label"] = f"{field.label} ({self._row_number()})"

    def _row_number(self) -> str:
        tail = (self.prefix or "").rsplit("-", 1)[-1]
        return str(int(tail) + 1) if tail.isdigit() else tail

    def is_blank(self) -> bool:
        data = self.cleaned_data
        return not data.get("id") and not (data.get("name_zh") or "").strip()

    def as_row(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "id": data.get("id") or None,
            "name_zh": data.get("name_zh", ""),
            "name_en": data.get("name_en", ""),
            "probability": data.get("probability", ""),
            "color": data.get("color") or "secondary",
            "outcome": data.get("outcome") or StageOutcome.OPEN,
            "required_fields": list(data.get("required_fields") or []),
        }


def requirable_choices() -> list[tuple[str, str]]:
    return [(spec.ref, spec.label) for spec in actions.requirable_fields()]


StageRowFormSet = forms.formset_factory(StageRowForm, extra=0)


def stage_formset(data=None, *, initial: list[dict] | None = None) -> forms.BaseFormSet:
    return StageRowFormSet(
        data, initial=initial, prefix="stages", form_kwargs={"field_choices": requirable_choices()}
    )


def stage_initial(stage) -> dict[str, Any]:
    return {
        "id": str(stage.pk),
        "name_zh": stage.name_zh,
        "name_en": stage.name_en,
        "probability": str(stage.probability),
        "color": stage.color,
        "outcome": stage.outcome,
        "required_fields": list(stage.required_fields or []),
    }


def blank_stage() -> dict[str, Any]:
    return {"id": "", "name_zh": "", "name_en": "", "probability": "0", "color": "secondary",
            "outcome": StageOutcome.OPEN, "required_fields": []}  # fmt: skip


def history_rows(entries, registry: customfields.Registry, *, user, deal) -> list[dict]:
    """Audit entries of a deal with field labels and names instead of ids (stage, pipeline, owner);
    sensitive custom values as `user` may see them on `deal` (the registry's presenter)."""
    labels = {f"{ref}_id": spec.label for ref, spec in registry.builtin.items()}
    labels.update({ref: spec.label for ref, spec in registry.builtin.items()})
    labels["currency"] = gettext("Currency")
    labels["custom_fields"] = gettext("Custom fields")
    entries = list(entries)
    ids: dict[str, set] = {"stage_id": set(), "pipeline_id": set(), "owner_id": set()}
    for entry in entries:
        for field, before, after in entry.changes:
            if field in ids:
                ids[field].update(v for v in (before, after) if isinstance(v, int))
    names: dict[str, dict] = {
        "stage_id": {
            s.pk: _localized(s.name_zh, s.name_en) for s in Stage.objects.filter(pk__in=ids["stage_id"])
        },
        "pipeline_id": {
            p.pk: _localized(p.name_zh, p.name_en) for p in Pipeline.objects.filter(pk__in=ids["pipeline_id"])
        },
        "owner_id": {u.pk: str(u) for u in User.objects.filter(pk__in=ids["owner_id"])},
    }
    reasons = {key: _localized(zh, en) for key, zh, en in actions.lost_reasons()}
    rows = []
    for entry in entries:
        changes = []
        for field, before, after in entry.changes:

            def shown(value, field=field):
                if field in names:
                    return names[field].get(value, value)
                if field == "lost_reason":
                    return reasons.get(value, value)
                if field == "custom_fields":
                    return registry.present_custom_values(value, user, deal)
                return value

            changes.append(
                {"label": labels.get(field, field), "before": shown(before), "after": shown(after)}
            )
        rows.append({"entry": entry, "changes": changes})
    return rows
