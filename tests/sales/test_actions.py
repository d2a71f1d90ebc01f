"""Deal and pipeline actions: required fields per stage (built-in and custom), won/lost, reopening,
stage removal, audit and events, data scope and permissions (a refused call writes nothing)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from guanxi.core.exceptions import NotFound
from guanxi.core.models import AuditEntry, Event
from guanxi.customers import actions as customer_actions
from guanxi.sales import actions
from guanxi.sales.models import Deal, Pipeline, Stage
from tests.sales.conftest import require_fields

pytestmark = pytest.mark.django_db


def _audit(deal_id):
    return list(AuditEntry.objects.filter(content_type__model="deal", object_id=deal_id).order_by("id"))


def _events(deal_id=None):
    qs = Event.objects.filter(name__startswith="deal.")
    if deal_id is not None:
        qs = qs.filter(object_id=deal_id)
    return list(qs.order_by("id").values_list("name", flat=True))


def _stage_rows(pipeline):
    return [
        {"id": s.pk, "name_zh": s.name_zh, "name_en": s.name_en, "probability": s.probability, "color": s.color,
         "outcome": s.outcome, "required_fields": s.required_fields}
        for s in pipeline.stages.filter(is_active=True).order_by("position")
    ]  # fmt: skip


def test_create_uses_defaults_and_writes_audit_and_event(org, pipeline, stages):
    customer = org.customers["c_e1"]
    deal = actions.create_deal(customer.pk, {"name": "年度合同", "amount": "12,000.50"}, actor=org.rep_e1)
    deal.refresh_from_db()
    assert deal.pipeline == pipeline and deal.stage == stages["Qualification"]
    assert deal.owner == org.rep_e1 and deal.created_by == org.rep_e1
    assert deal.amount == Decimal("12000.50") and deal.closed_at is None
    [entry] = _audit(deal.pk)
    assert (
        entry.action == "create" and entry.after["name"] == "年度合同" and entry.after["amount"] == "12000.50"
    )
    assert _events(deal.pk) == ["deal.created"]


def test_entering_a_stage_needs_its_fields_including_a_custom_one(org, pipeline, stages, budget_field):
    proposal = require_fields(stages["Proposal"], ["amount", "cf.budget"])
    customer = org.customers["c_e1"]
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        actions.create_deal(customer.pk, {"name": "方案", "stage_id": proposal.pk}, actor=org.rep_e1)
    message = " ".join(exc.value.message_dict["stage_id"])
    assert "Amount" in message and "Budget" in message
    assert Deal.objects.count() == 0 and _audit(None) == [] and _events() == []

    # Given in the same call, the fields count for the stage check.
    deal = actions.create_deal(
        customer.pk,
        {"name": "方案", "stage_id": proposal.pk, "amount": 500, "custom_fields": {"budget": "8000"}},
        actor=org.rep_e1,
    )
    assert deal.stage == proposal and deal.custom_fields == {"budget": 8000}


def test_move_checks_required_fields_then_audits_and_emits(org, pipeline, stages, budget_field):
    negotiation = require_fields(stages["Negotiation"], ["cf.budget"])
    deal = actions.create_deal(org.customers["c_e1"].pk, {"name": "谈判"}, actor=org.rep_e1)
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        actions.move_deal(deal.pk, negotiation.pk, actor=org.rep_e1)
    assert "Budget" in " ".join(exc.value.message_dict["stage_id"])
    deal.refresh_from_db()
    assert deal.stage == stages["Qualification"] and len(_audit(deal.pk)) == 1
    assert _events(deal.pk) == ["deal.created"]

    actions.update_deal(deal.pk, {"custom_fields": {"budget": "9,000"}}, actor=org.rep_e1)
    moved = actions.move_deal(deal.pk, negotiation.pk, actor=org.rep_e1)
    assert moved.stage == negotiation and moved.stage_changed_at is not None
    entries = _audit(deal.pk)
    assert [e.action for e in entries] == ["create", "update", "update"]
    assert entries[-1].before == {"stage_id": stages["Qualification"].pk}
    assert entries[-1].after == {"stage_id": negotiation.pk}
    assert _events(deal.pk) == ["deal.created", "deal.updated", "deal.updated", "deal.stage_changed"]
    changed = Event.objects.get(object_id=deal.pk, name="deal.stage_changed")
    assert changed.payload == {"customer_id": deal.customer_id, "from_stage_id": stages["Qualification"].pk, "to_stage_id": negotiation.pk,
                               "outcome": "open"}  # fmt: skip

    # Moving to the stage it is in changes nothing and records nothing.
    actions.move_deal(deal.pk, negotiation.pk, actor=org.rep_e1)
    assert len(_audit(deal.pk)) == 3


def test_lost_needs_a_reason_won_closes_and_reopening_clears(org, pipeline, stages):
    deal = actions.create_deal(org.customers["c_e1"].pk, {"name": "输赢"}, actor=org.rep_e1)
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        actions.move_deal(deal.pk, stages["Lost"].pk, actor=org.rep_e1)
    assert exc.value.message_dict == {"lost_reason": ["Choose why the deal was lost."]}
    with pytest.raises(ValidationError):
        actions.move_deal(deal.pk, stages["Lost"].pk, actor=org.rep_e1, lost_reason="no-such-reason")
    deal.refresh_from_db()
    assert deal.stage == stages["Qualification"] and deal.closed_at is None and deal.lost_reason == ""

    lost = actions.move_deal(deal.pk, stages["Lost"].pk, actor=org.rep_e1, lost_reason="price")
    assert lost.closed_at is not None and lost.lost_reason == "price"
    lost_at = lost.closed_at
    # The reason alone can be changed on a lost deal.
    changed = actions.update_deal(deal.pk, {"lost_reason": "competitor"}, actor=org.rep_e1)
    assert changed.lost_reason == "competitor" and changed.closed_at == lost_at

    won = actions.move_deal(deal.pk, stages["Won"].pk, actor=org.rep_e1)
    assert won.closed_at is not None and won.closed_at > lost_at and won.lost_reason == ""

    reopened = actions.move_deal(deal.pk, stages["Proposal"].pk, actor=org.rep_e1)
    reopened.refresh_from_db()
    assert reopened.closed_at is None and reopened.lost_reason == ""
    # An open deal has no lost reason.
    with pytest.raises(ValidationError) as exc:
        actions.update_deal(deal.pk, {"lost_reason": "price"}, actor=org.rep_e1)
    assert "lost_reason" in exc.value.message_dict


def test_stage_removal_is_refused_while_it_holds_open_deals(org, pipeline, stages):
    actions.create_deal(org.customers["c_e1"].pk, {"name": "占用", "stage_id": stages["Proposal"].pk},
                        actor=org.rep_e1)  # fmt: skip
    audit_before = AuditEntry.objects.count()
    rows = [r for r in _stage_rows(pipeline) if r["id"] != stages["Proposal"].pk]
    with pytest.raises(ValidationError) as exc:
        actions.save_pipeline({"stages": rows}, actor=org.admin, pipeline_id=pipeline.pk)
    assert "stages" in exc.value.message_dict
    assert Stage.objects.get(pk=stages["Proposal"].pk).is_active
    assert AuditEntry.objects.count() == audit_before

    # A stage without open deals is removed (deactivated) and the change audited.
    rows = [r for r in _stage_rows(pipeline) if r["id"] != stages["Needs analysis"].pk]
    actions.save_pipeline({"stages": rows}, actor=org.admin, pipeline_id=pipeline.pk)
    assert not Stage.objects.get(pk=stages["Needs analysis"].pk).is_active
    entry = AuditEntry.objects.filter(content_type__model="pipeline", object_id=pipeline.pk).get()
    removed = [s["name_en"] for s in entry.after["stages"] if not s["is_active"]]
    assert all(s["is_active"] for s in entry.before["stages"]) and removed == ["Needs analysis"]


def test_save_pipeline_validates_stages_and_required_fields(org, pipeline, budget_field):
    rows = _stage_rows(pipeline)
    rows[2]["required_fields"] = ["amount", "cf.budget"]
    rows.insert(1, {"name_zh": "演示", "name_en": "Demo", "probability": 20, "color": "#12abef", "outcome": "open",
                    "required_fields": ["expected_close_date"]})  # fmt: skip
    actions.save_pipeline({"name_en": "Sales", "stages": rows}, actor=org.admin, pipeline_id=pipeline.pk)
    active = list(pipeline.stages.filter(is_active=True).order_by("position"))
    assert [s.name_en for s in active][:3] == ["Qualification", "Demo", "Needs analysis"]
    assert active[3].required_fields == ["amount", "cf.budget"] and active[1].color == "#12abef"

    for bad in (
        {"required_fields": ["probability"]},  # computed, cannot be required
        {"required_fields": ["cf.nope"]},
        {"probability": 101},
        {"color": "#12\x00abe"},
        {"outcome": "maybe"},
        {"name_zh": ""},
    ):
        broken = [dict(r) for r in _stage_rows(pipeline)]
        broken[0].update(bad)
        with pytest.raises(ValidationError) as exc:
            actions.save_pipeline({"stages": broken}, actor=org.admin, pipeline_id=pipeline.pk)
        assert "stages" in exc.value.message_dict, bad
    with pytest.raises(ValidationError):
        actions.save_pipeline({"stages": [dict(r, outcome="won") for r in _stage_rows(pipeline)]},
                              actor=org.admin, pipeline_id=pipeline.pk)  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        actions.save_pipeline({"name_zh": "空"}, actor=org.admin)  # a new pipeline needs stages
    assert "stages" in exc.value.message_dict
    assert Pipeline.objects.count() == 1


def test_a_second_default_pipeline_takes_over(org, pipeline):
    other = actions.save_pipeline(
        {
            "name_zh": "渠道",
            "is_default": True,
            "stages": [{"name_zh": "开始"}, {"name_zh": "成交", "outcome": "won"}],
        },
        actor=org.admin,
    )
    pipeline.refresh_from_db()
    assert other.is_default and not pipeline.is_default and actions.default_pipeline() == other
    deal = actions.create_deal(org.customers["c_e1"].pk, {"name": "渠道商机"}, actor=org.rep_e1)
    assert deal.pipeline == other and deal.stage.name_zh == "开始"
    with pytest.raises(ValidationError):  # a stage of another pipeline
        actions.update_deal(deal.pk, {"stage_id": pipeline.stages.first().pk}, actor=org.rep_e1)
    moved = actions.update_deal(deal.pk, {"pipeline_id": pipeline.pk}, actor=org.rep_e1)
    assert moved.pipeline == pipeline and moved.stage.pipeline_id == pipeline.pk


def test_invisible_deal_is_not_found_and_nothing_is_written(org, pipeline, stages):
    deal = actions.create_deal(
        org.customers["c_e1"].pk, {"name": "甲的商机", "amount": 100}, actor=org.rep_e1
    )
    audit_before, events_before = AuditEntry.objects.count(), Event.objects.count()
    for call in (
        lambda: actions.update_deal(deal.pk, {"amount": 1}, actor=org.rep_e2),
        lambda: actions.move_deal(deal.pk, stages["Won"].pk, actor=org.rep_s1),
        lambda: actions.create_deal(org.customers["c_e1"].pk, {"name": "抢单"}, actor=org.rep_e2),
        lambda: actions.update_deal(10**30, {"amount": 1}, actor=org.admin),
    ):
        with pytest.raises(NotFound):
            call()
    deal.refresh_from_db()
    assert deal.amount == 100 and deal.stage == stages["Qualification"]
    assert Deal.objects.count() == 1
    assert (AuditEntry.objects.count(), Event.objects.count()) == (audit_before, events_before)
    # The manager above rep_e1 may.
    assert actions.update_deal(deal.pk, {"amount": 200}, actor=org.manager_e).amount == 200


def test_permissions_owner_scope_and_deleted_customers(org, pipeline):
    customer = org.customers["c_e1"]
    with pytest.raises(PermissionDenied):
        actions.create_deal(customer.pk, {"name": "无权"}, actor=org.marketing)
    with pytest.raises(PermissionDenied):
        actions.save_pipeline({"name_zh": "x", "stages": [{"name_zh": "a"}]}, actor=org.rep_e1)
    with pytest.raises(ValidationError) as exc:  # a rep may not hand the deal to a colleague
        actions.create_deal(customer.pk, {"name": "转手", "owner_id": org.rep_e2.pk}, actor=org.rep_e1)
    assert "owner_id" in exc.value.message_dict
    with pytest.raises(ValidationError):
        actions.create_deal(customer.pk, {"name": "坏负责人", "owner_id": "abc"}, actor=org.rep_e1)
    deal = actions.create_deal(
        customer.pk, {"name": "经理分配", "owner_id": org.rep_e2.pk}, actor=org.manager_e
    )
    assert deal.owner == org.rep_e2
    assert Deal.objects.count() == 1

    customer_actions.delete_customer(customer.pk, actor=org.admin)
    with pytest.raises(NotFound):
        actions.update_deal(deal.pk, {"name": "回收站里"}, actor=org.admin)


def test_bad_input_is_refused_by_field(org, pipeline, budget_field):
    customer = org.customers["c_e1"]
    with pytest.raises(ValidationError) as exc:
        actions.create_deal(
            customer.pk,
            {"name": "a\x00b", "amount": "-1", "currency": "人民币", "expected_close_date": "soon",
             "custom_fields": {"budget": "lots", "nope": 1}, "color": "red"},
            actor=org.rep_e1,
        )  # fmt: skip
    assert set(exc.value.message_dict) == {
        "name", "amount", "currency", "expected_close_date", "custom_fields.budget", "custom_fields.nope", "color",
    }  # fmt: skip
    assert Deal.objects.count() == 0
