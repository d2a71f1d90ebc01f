"""Sales actions: pipelines and stages (admin-editable) and deals. The only code that writes them."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core import audit, locks
from guanxi.core.converters import as_id
from guanxi.core.events import emit, emit_many
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, User
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers.actions import get_for_write
from guanxi.customers.models import Channel, Customer
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject, Picklist, PicklistValue
from guanxi.sales.events import SalesEvent
from guanxi.sales.models import Deal, Order, OrderStatus, Pipeline, PipelineObject, Stage, StageOutcome

LOST_REASONS = "lost-reason"
DEAL_FIELDS = ["name", "customer_id", "pipeline_id", "stage_id", "amount", "discount_percent", "currency", "owner_id",
               "expected_close_date", "closed_at", "lost_reason", "custom_fields"]  # fmt: skip
COLOR_CHOICES = {"primary", "secondary", "success", "danger", "warning", "info", "dark"}
# Built-in fields a stage may require (the others are always set or computed); custom fields ("cf.<key>") too.
REQUIRABLE_BUILTINS = ("amount", "owner", "expected_close_date")


def requirable_fields(registry: customfields.Registry | None = None) -> list[customfields.FieldSpec]:
    """The deal fields a stage may list as required to enter it."""
    registry = registry or customfields.Registry(CustomObject.DEAL)
    specs = [registry.builtin[ref] for ref in REQUIRABLE_BUILTINS if ref in registry.builtin]
    return specs + list(registry.custom.values())


# --------------------------------------------------------------------------- pipelines


def _printable(text: str) -> bool:
    """One line of storable text: no line breaks, NUL or other control characters (PostgreSQL refuses
    NUL), no lone surrogates (not UTF-8: a 500 before) — the shared text-cleaning rules."""
    return not normalize.has_control_chars(text) and not any(ord(ch) < 32 for ch in text)


def _pipeline_snapshot(pipeline: Pipeline) -> dict:
    return {
        "name_zh": pipeline.name_zh,
        "name_en": pipeline.name_en,
        "is_default": pipeline.is_default,
        "is_active": pipeline.is_active,
        "stages": [
            {k: getattr(s, k) for k in ("id", "name_zh", "name_en", "position", "probability", "color",
                                        "outcome", "required_fields", "is_active")}
            for s in pipeline.stages.order_by("position", "id")
        ] if pipeline.pk else [],
    }  # fmt: skip


@transaction.atomic
def save_pipeline(data: dict[str, Any], *, actor, pipeline_id: int | None = None) -> Pipeline:
    """Create or edit a pipeline and its stages in one go.

    `data["stages"]`: the full ordered list [{id?, name_zh, name_en, probability, color, outcome,
    required_fields}]. A stage left out is deactivated, and only when no open deal sits in it.
    """
    require(actor, Perm.SETTINGS_MANAGE)
    errors: dict[str, list[str]] = {}
    if pipeline_id is not None:
        pipeline = Pipeline.objects.select_for_update().filter(pk=as_id(pipeline_id)).first()
        if pipeline is None:
            raise NotFound(pipeline_id)
    else:
        pipeline = Pipeline(object_type=data.get("object_type") or PipelineObject.DEAL)
        if pipeline.object_type not in PipelineObject.values:
            errors.setdefault("object_type", []).append(_("Choose deals or tickets."))
    before = _pipeline_snapshot(pipeline) if pipeline.pk else None
    if "name_zh" in data or not pipeline.pk:
        pipeline.name_zh = str(data.get("name_zh") or "").strip()
        if not pipeline.name_zh or len(pipeline.name_zh) > 100 or not _printable(pipeline.name_zh):
            errors.setdefault("name_zh", []).append(
                _("Give the pipeline a Chinese name (at most 100 characters).")
            )
    if "name_en" in data:
        pipeline.name_en = str(data.get("name_en") or "").strip()[:100]
        if not _printable(pipeline.name_en):
            errors.setdefault("name_en", []).append(_("Remove the control characters."))
    if "is_default" in data:
        pipeline.is_default = bool(data["is_default"])
    registry = customfields.Registry(CustomObject.DEAL)
    requirable = {spec.ref for spec in requirable_fields(registry)}
    stages_in = data.get("stages")
    cleaned_stages: list[dict] = []
    if stages_in is None and not pipeline.pk:
        errors.setdefault("stages", []).append(_("A pipeline needs at least one stage."))
    if stages_in is not None:
        if not isinstance(stages_in, list) or not stages_in:
            errors.setdefault("stages", []).append(_("A pipeline needs at least one stage."))
            stages_in = []
        for n, raw in enumerate(stages_in, start=1):
            if not isinstance(raw, dict):
                errors.setdefault("stages", []).append(_("Stage %(n)s: invalid.") % {"n": n})
                continue
            stage = {"id": as_id(raw.get("id")) if raw.get("id") not in (None, "") else None}
            stage["name_zh"] = str(raw.get("name_zh") or "").strip()
            stage["name_en"] = str(raw.get("name_en") or "").strip()[:100]
            if (
                not stage["name_zh"]
                or len(stage["name_zh"]) > 100
                or not _printable(stage["name_zh"] + stage["name_en"])
            ):
                errors.setdefault("stages", []).append(_("Stage %(n)s needs a Chinese name.") % {"n": n})
            try:
                stage["probability"] = int(raw.get("probability") or 0)
                if not 0 <= stage["probability"] <= 100:
                    raise ValueError
            except (TypeError, ValueError):
                errors.setdefault("stages", []).append(
                    _("Stage %(n)s: probability is a whole number from 0 to 100.") % {"n": n}
                )
            color = str(raw.get("color") or "secondary")
            if color not in COLOR_CHOICES and not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
                errors.setdefault("stages", []).append(_("Stage %(n)s: choose a colour.") % {"n": n})
            stage["color"] = color
            stage["outcome"] = str(raw.get("outcome") or StageOutcome.OPEN)
            if stage["outcome"] not in StageOutcome.values:
                errors.setdefault("stages", []).append(_("Stage %(n)s: choose open, won or lost.") % {"n": n})
            required = raw.get("required_fields") or []
            if isinstance(required, str):
                required = [r.strip() for r in required.replace("，", ",").split(",") if r.strip()]
            if not isinstance(required, list | tuple):
                required = [required]
            unknown = [r for r in required if not isinstance(r, str) or r not in requirable]
            if unknown:
                errors.setdefault("stages", []).append(
                    _("Stage %(n)s: unknown fields %(fields)s.")
                    % {"n": n, "fields": ", ".join(map(str, unknown))}
                )
            stage["required_fields"] = list(dict.fromkeys(r for r in required if r not in unknown))
            if stage["id"] is not None and stage["id"] in {s["id"] for s in cleaned_stages}:
                errors.setdefault("stages", []).append(_("Stage %(n)s: listed twice.") % {"n": n})
            cleaned_stages.append(stage)
        if stages_in and not any(s["outcome"] == StageOutcome.OPEN for s in cleaned_stages):
            errors.setdefault("stages", []).append(_("A pipeline needs at least one open stage."))
    if errors:
        raise ValidationError(errors)
    pipeline.save()
    if pipeline.is_default:
        Pipeline.objects.filter(object_type=pipeline.object_type).exclude(pk=pipeline.pk).update(
            is_default=False
        )
    if stages_in is not None:
        current = {s.pk: s for s in pipeline.stages.all()}
        kept: set[int] = set()
        for position, spec in enumerate(cleaned_stages):
            stage = current.get(spec["id"]) if spec["id"] else None
            if spec["id"] and stage is None:
                raise ValidationError(
                    {"stages": [_("Stage %(id)s is not part of this pipeline.") % {"id": spec["id"]}]}
                )
            stage = stage or Stage(pipeline=pipeline)
            for key in ("name_zh", "name_en", "probability", "color", "outcome", "required_fields"):
                setattr(stage, key, spec[key])
            stage.position, stage.is_active = position, True
            stage.save()
            kept.add(stage.pk)
        for pk, stage in current.items():
            if pk in kept or not stage.is_active:
                continue
            in_use = Deal.objects.filter(stage=stage, closed_at__isnull=True).count()
            if in_use:
                raise ValidationError(
                    {"stages": [_("Stage %(name)s still holds %(count)s open deals: move them first.")
                                % {"name": stage.name_zh, "count": in_use}]}
                )  # fmt: skip
            stage.is_active = False
            stage.save(update_fields=["is_active"])
    after = _pipeline_snapshot(pipeline)
    if before != after:
        audit.record(
            AuditAction.UPDATE if before else AuditAction.CREATE,
            pipeline,
            actor=actor,
            before=before,
            after=after,
        )
    return pipeline


def default_pipeline(object_type: str = PipelineObject.DEAL) -> Pipeline | None:
    qs = Pipeline.objects.filter(object_type=object_type, is_active=True)
    return qs.filter(is_default=True).first() or qs.order_by("position", "id").first()


def ensure_default_pipeline() -> Pipeline:
    """The sales pipeline every installation starts with (editable afterwards); idempotent."""
    existing = default_pipeline()
    if existing is not None:
        return existing
    pipeline = Pipeline.objects.create(name_zh="销售漏斗", name_en="Sales pipeline", is_default=True)
    stages = [
        ("初步接洽", "Qualification", 10, "secondary", StageOutcome.OPEN),
        ("需求确认", "Needs analysis", 30, "info", StageOutcome.OPEN),
        ("方案报价", "Proposal", 50, "primary", StageOutcome.OPEN),
        ("谈判审批", "Negotiation", 70, "warning", StageOutcome.OPEN),
        ("赢单", "Won", 100, "success", StageOutcome.WON),
        ("输单", "Lost", 0, "danger", StageOutcome.LOST),
    ]
    for position, (zh, en, probability, color, outcome) in enumerate(stages):
        Stage.objects.create(pipeline=pipeline, name_zh=zh, name_en=en, position=position,
                             probability=probability, color=color, outcome=outcome)  # fmt: skip
    picklist, _created = Picklist.objects.get_or_create(
        key=LOST_REASONS, defaults={"label_zh": "输单原因", "label_en": "Lost reasons"}
    )
    for position, (key, zh, en) in enumerate(
        [("price", "价格", "Price"), ("competitor", "竞争对手", "Competitor"), ("no-budget", "无预算", "No budget"),
         ("no-decision", "未决策", "No decision"), ("other", "其他", "Other")]
    ):  # fmt: skip
        PicklistValue.objects.get_or_create(
            picklist=picklist, key=key, defaults={"label_zh": zh, "label_en": en, "position": position}
        )
    return pipeline


# --------------------------------------------------------------------------- deals


def _snapshot(deal: Deal) -> dict:
    """The audited state of a deal; sensitive custom values protected (never in clear in the audit)."""
    data = {f: getattr(deal, f) for f in DEAL_FIELDS}
    if data.get("custom_fields"):
        data["custom_fields"] = customfields.protect_custom_values(
            data["custom_fields"], customfields.sensitive_custom_types(CustomObject.DEAL)
        )
    return data


def _amount(value: Any, errors: dict) -> decimal.Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = decimal.Decimal(str(value).replace(",", "").strip())
    except decimal.InvalidOperation:
        errors.setdefault("amount", []).append(_("Enter an amount."))
        return None
    if (
        not amount.is_finite()
        or amount < 0
        or amount >= 10**12
        or amount != amount.quantize(decimal.Decimal("0.01"))
    ):
        errors.setdefault("amount", []).append(_("Enter an amount from 0 with at most two decimals."))
        return None
    return amount


def _discount(value: Any, errors: dict) -> decimal.Decimal | None:
    if value in (None, ""):
        return None
    try:
        percent = decimal.Decimal(str(value).replace("%", "").strip())
    except decimal.InvalidOperation:
        percent = None
    if (
        percent is None
        or not percent.is_finite()
        or not 0 <= percent <= 100
        or percent != percent.quantize(decimal.Decimal("0.01"))
    ):
        errors.setdefault("discount_percent", []).append(
            _("Enter a discount percentage from 0 to 100 with at most two decimals.")
        )
        return None
    return percent


def _date(value: Any, errors: dict) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        errors.setdefault("expected_close_date", []).append(_("Enter a date such as 2026-03-01."))
        return None


def lost_reasons() -> list[tuple[str, str, str]]:
    return [
        (v.key, v.label_zh, v.label_en)
        for v in PicklistValue.objects.filter(picklist__key=LOST_REASONS, is_active=True).order_by(
            "position", "id"
        )
    ]


def _missing_for_stage(deal: Deal, stage: Stage, registry: customfields.Registry) -> list[str]:
    missing = []
    requirable = {spec.ref for spec in requirable_fields(registry)}
    for ref in stage.required_fields or []:
        spec = registry.get(ref) if ref in requirable else None
        if spec is None:
            continue
        value = spec.value_of(deal) if spec.is_custom else getattr(deal, spec.path or ref, None)
        if value in (None, "", []):
            missing.append(spec.label)
    return missing


def _apply(deal: Deal, data: dict[str, Any], *, actor, creating: bool) -> None:
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(data) - {"name", "customer_id", "pipeline_id", "stage_id", "amount", "discount_percent", "currency",
                                  "owner_id", "expected_close_date", "lost_reason", "custom_fields"})  # fmt: skip
    for key in unknown:
        errors.setdefault(key, []).append(_("Unknown field."))
    if "name" in data or creating:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 200 or not _printable(name):
            errors.setdefault("name", []).append(_("Give the deal a name (at most 200 characters)."))
        deal.name = name
    if "amount" in data:
        deal.amount = _amount(data.get("amount"), errors)
    if "discount_percent" in data:
        deal.discount_percent = _discount(data.get("discount_percent"), errors)
    if "currency" in data:
        currency = str(data.get("currency") or "CNY").upper()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            errors.setdefault("currency", []).append(_("Use a three-letter currency code."))
        deal.currency = currency
    if "expected_close_date" in data:
        deal.expected_close_date = _date(data.get("expected_close_date"), errors)
    if "owner_id" in data or creating:
        owner_id = as_id(data.get("owner_id")) if data.get("owner_id") not in (None, "") else (
            actor.pk if creating and isinstance(actor, User) else None
        )  # fmt: skip
        given_but_invalid = data.get("owner_id") not in (None, "") and owner_id is None
        if given_but_invalid or (
            owner_id is not None
            and owner_id != deal.owner_id
            and not assignable_users(actor).filter(pk=owner_id).exists()
        ):
            errors.setdefault("owner_id", []).append(_("Choose an active user within your data scope."))
        deal.owner_id = owner_id
    if "pipeline_id" in data or creating:
        pipeline = (
            Pipeline.objects.filter(pk=as_id(data.get("pipeline_id")), is_active=True).first()
            if data.get("pipeline_id") not in (None, "")
            else default_pipeline()
        )
        if pipeline is None or pipeline.object_type != PipelineObject.DEAL:
            errors.setdefault("pipeline_id", []).append(_("Choose an active sales pipeline."))
        else:
            deal.pipeline = pipeline
    registry = customfields.Registry(CustomObject.DEAL)
    if "custom_fields" in data or creating:
        values, custom_errors = registry.clean(
            data.get("custom_fields"), current=deal.custom_fields if deal.pk else None, creating=creating,
            instance_id=deal.pk, actor=actor,
        )  # fmt: skip
        errors.update(custom_errors)
        deal.custom_fields = values
    if errors:
        raise ValidationError(errors)
    stage_id = data.get("stage_id")
    if stage_id not in (None, "") or creating or "pipeline_id" in data or "lost_reason" in data:
        stages = deal.pipeline.stages.filter(is_active=True)
        stage = stages.filter(pk=as_id(stage_id)).first() if stage_id not in (None, "") else (
            deal.stage if deal.stage_id and deal.stage.pipeline_id == deal.pipeline_id else
            stages.filter(outcome=StageOutcome.OPEN).order_by("position", "id").first()
        )  # fmt: skip
        if stage is None:
            raise ValidationError({"stage_id": [_("Choose a stage of this pipeline.")]})
        _enter_stage(deal, stage, data, registry)


def _enter_stage(deal: Deal, stage: Stage, data: dict, registry: customfields.Registry) -> None:
    errors: dict[str, list[str]] = {}
    missing = _missing_for_stage(deal, stage, registry)
    if missing:
        errors.setdefault("stage_id", []).append(
            _("Fill in %(fields)s before moving to %(stage)s.")
            % {"fields": "、".join(missing), "stage": stage.name_zh}
        )
    if stage.outcome == StageOutcome.LOST:
        reason = str(data.get("lost_reason") or deal.lost_reason or "")
        if reason not in {key for key, _zh, _en in lost_reasons()}:
            errors.setdefault("lost_reason", []).append(_("Choose why the deal was lost."))
        deal.lost_reason = reason
    elif "lost_reason" in data and data.get("lost_reason"):
        errors.setdefault("lost_reason", []).append(_("Only a lost deal has a lost reason."))
    if errors:
        raise ValidationError(errors)
    previous_outcome = deal.stage.outcome if deal.stage_id else None
    if deal.stage_id != stage.pk:
        deal.stage = stage
        deal.stage_changed_at = timezone.now()
    if stage.outcome != StageOutcome.LOST:
        deal.lost_reason = ""
    if stage.outcome == StageOutcome.OPEN:
        deal.closed_at = None
    elif deal.closed_at is None or previous_outcome != stage.outcome:
        # Closed now (from open, or won <-> lost): the close time is when this outcome was reached.
        deal.closed_at = timezone.now()


@transaction.atomic
def create_deal(customer_id: int, data: dict[str, Any], *, actor) -> Deal:
    require(actor, Perm.CUSTOMER_CHANGE)
    customer = get_for_write(customer_id, actor=actor)
    deal = Deal(customer=customer, created_by=actor if isinstance(actor, User) else None)
    _apply(deal, {k: v for k, v in data.items() if k != "customer_id"}, actor=actor, creating=True)
    deal.save()
    audit.record(AuditAction.CREATE, deal, actor=actor, before=None, after=_snapshot(deal))
    emit(
        SalesEvent.DEAL_CREATED,
        deal,
        actor=actor,
        payload={"customer_id": customer.pk, "stage_id": deal.stage_id},
    )
    return deal


def get_deal_for_write(deal_id: int, *, actor) -> Deal:
    if as_id(deal_id) is None:
        raise NotFound(deal_id)
    deal = (
        Deal.objects.visible_to(actor).filter(customer__deleted_at__isnull=True)
        .select_for_update(of=("self",)).select_related("stage", "pipeline")
        .filter(pk=deal_id).first()
    )  # fmt: skip
    if deal is None:
        raise NotFound(deal_id)
    return deal


def update_deal(deal_id: int, data: dict[str, Any], *, actor) -> Deal:
    """Edit a deal, including moving it to another stage (required fields of the stage are checked).

    Refused with `locks.RecordLocked` while an app holds the deal (an approval pending). A move a
    transition gate holds back (sent for approval) keeps the deal in its stage, saves the other
    changes and raises `locks.TransitionHeld` after the transaction has committed."""
    deal, held = _update_deal(deal_id, data, actor=actor)
    if held:
        raise locks.TransitionHeld(held, deal)
    return deal


_STAGE_STATE = ("stage", "stage_changed_at", "closed_at", "lost_reason")


@transaction.atomic
def _update_deal(deal_id: int, data: dict[str, Any], *, actor) -> tuple[Deal, str | None]:
    require(actor, Perm.CUSTOMER_CHANGE)
    deal = get_deal_for_write(deal_id, actor=actor)
    locks.check_editable(deal, actor)
    before = _snapshot(deal)
    old_stage = deal.stage_id
    old_state = {f: getattr(deal, f) for f in _STAGE_STATE}
    _apply(deal, {k: v for k, v in data.items() if k != "customer_id"}, actor=actor, creating=False)
    held = None
    if deal.stage_id != old_stage and locks.has_transition_gates():
        # The gates judge the deal with its other new values saved and its stage unchanged.
        new_state = {f: getattr(deal, f) for f in _STAGE_STATE}
        for f, value in old_state.items():
            setattr(deal, f, value)
        deal.save()
        held = locks.hold_transition(deal, actor, {"stage_id": new_state["stage"].pk})
        if not held:
            for f, value in new_state.items():
                setattr(deal, f, value)
    after = _snapshot(deal)
    changed_before, changed_after = audit.diff(before, after)
    if not changed_after:
        return deal, held
    deal.save()
    audit.record(AuditAction.UPDATE, deal, actor=actor, before=changed_before, after=changed_after)
    emit(SalesEvent.DEAL_UPDATED, deal, actor=actor,
         payload={"changed": sorted(changed_after), "before": changed_before, "after": changed_after})  # fmt: skip
    if deal.stage_id != old_stage:
        emit(
            SalesEvent.DEAL_STAGE_CHANGED, deal, actor=actor,
            payload={"customer_id": deal.customer_id, "from_stage_id": old_stage, "to_stage_id": deal.stage_id,
                 "outcome": deal.stage.outcome},
        )  # fmt: skip
    return deal, held


def move_deal(deal_id: int, stage_id: int, *, actor, lost_reason: str = "") -> Deal:
    data: dict[str, Any] = {"stage_id": stage_id}
    if lost_reason:
        data["lost_reason"] = lost_reason
    return update_deal(deal_id, data, actor=actor)


# --------------------------------------------------------------------------- deals changing hands


def open_deals_of(user) -> models.QuerySet:
    """The deals a user owns that are still open (their stage's outcome is "open")."""
    return Deal.objects.filter(owner=user, stage__outcome=StageOutcome.OPEN)


def reassign_open_deals(from_user, to_user, *, actor, now: dt.datetime | None = None) -> list[int]:
    """Give every open deal of `from_user` to `to_user` (a handover, 离职交接): rows locked and moved
    in one UPDATE per chunk, one audit entry (the deal's history) and one `deal.updated` event per
    deal. Runs in the caller's transaction; the caller checks permission. Returns the deal ids."""
    now = now or timezone.now()
    with transaction.atomic():
        deals = list(
            open_deals_of(from_user).select_for_update(of=("self",)).order_by("pk").values_list("pk", "name")
        )
        ids = [pk for pk, _name in deals]
        for start in range(0, len(ids), 500):
            Deal.objects.filter(pk__in=ids[start : start + 500]).update(owner=to_user, updated_at=now)
        stand_ins = [Deal(id=pk, name=name) for pk, name in deals]
        audit.record_many(
            AuditAction.UPDATE,
            ((deal, {"owner_id": from_user.pk}, {"owner_id": to_user.pk}) for deal in stand_ins),
            actor=actor,
        )
        emit_many(
            SalesEvent.DEAL_UPDATED, ((deal, {"changed": ["owner_id"]}) for deal in stand_ins), actor=actor
        )
    return ids


# --------------------------------------------------------------------------- orders

ORDER_NUMBER_MAX = 40
ORDER_AMOUNT_MAX = decimal.Decimal("999999999999.99")  # max_digits=14, decimal_places=2


@transaction.atomic
def create_order(customer: Customer, data: dict[str, Any], *, actor) -> tuple[Order, bool]:
    """Record an order of a customer once (idempotent by its unique number). Returns (order, created).

    `data`: number, amount, ordered_at, and optionally currency ("CNY"), channel (manual), status
    (paid), custom_fields (the order's, validated by the field registry; errors keyed
    "custom_fields.<key>"). Invalid input raises ValidationError with a message per field before
    anything is written. Writes the order, an audit entry and an `order.created` event."""
    errors: dict[str, list[str]] = {}
    unknown = set(data) - {"number", "amount", "ordered_at", "currency", "channel", "status", "custom_fields"}
    for field in sorted(unknown):
        errors[field] = [_("Unknown field.")]
    number = str(data.get("number") or "").strip()
    if not number:
        errors["number"] = [_("This field is required.")]
    elif len(number) > ORDER_NUMBER_MAX or not _printable(number):
        errors["number"] = [_("Must be at most %(max)d printable characters.") % {"max": ORDER_NUMBER_MAX}]
    amount = data.get("amount")
    try:
        amount = decimal.Decimal(str(amount)).quantize(
            decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP
        )
        if not amount.is_finite() or amount < 0 or amount > ORDER_AMOUNT_MAX:
            raise decimal.InvalidOperation
    except (decimal.InvalidOperation, TypeError, ValueError):
        errors["amount"] = [_("Enter an amount between 0 and 999,999,999,999.99.")]
    ordered_at = data.get("ordered_at")
    if not isinstance(ordered_at, dt.datetime):
        errors["ordered_at"] = [_("Enter a valid date and time.")]
    currency = str(data.get("currency") or "CNY").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        errors["currency"] = [_("Use a three-letter currency code such as CNY.")]
    channel = data.get("channel") or Channel.MANUAL
    if channel not in Channel.values:
        errors["channel"] = [_("Invalid value.")]
    status = data.get("status") or OrderStatus.PAID
    if status not in OrderStatus.values:
        errors["status"] = [_("Invalid value.")]
    values, custom_errors = customfields.Registry(CustomObject.ORDER).clean(
        data.get("custom_fields") or {}, creating=True, actor=actor
    )
    errors.update(custom_errors)
    if errors:
        raise ValidationError(errors)
    existing = Order.objects.filter(number=number).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            order = Order.objects.create(
                customer=customer, number=number, amount=amount, currency=currency, ordered_at=ordered_at,
                channel=channel, status=status, custom_fields=values,
            )  # fmt: skip
    except IntegrityError:  # the same order recorded concurrently: the first one stands
        return Order.objects.get(number=number), False
    after = {
        f: getattr(order, f)
        for f in ("customer_id", "number", "amount", "currency", "ordered_at", "channel", "custom_fields")
    }
    audit.record(AuditAction.CREATE, order, actor=actor, before=None, after=after)
    emit(
        SalesEvent.ORDER_CREATED,
        order,
        actor=actor,
        payload={"customer_id": customer.pk, "amount": amount, "channel": channel},
    )
    return order, True
