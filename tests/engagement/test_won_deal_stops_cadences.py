"""A deal reaching a won stage stops the customer's running cadences: `deal.stage_changed` (outcome won)
is handled by engagement's subscriber in the worker (through the real queue)."""

from __future__ import annotations

import pytest

from guanxi.engagement.models import (
    Cadence,
    CadenceEnrollment,
    CadenceStep,
    EnrollmentStatus,
    Task,
    TaskStatus,
)
from guanxi.sales import actions as sales
from tests.conftest import drain
from tests.factories import make_customer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_won_deal_stops_the_customers_cadences_in_the_worker(org, queue):
    pipeline = sales.ensure_default_pipeline()
    stages = {s.name_en: s for s in pipeline.stages.all()}
    cadence = Cadence.objects.create(name="B 级", tier="B", repeat_every_days=7)
    CadenceStep.objects.create(cadence=cadence, position=0, offset_hours=24, kind="call", title="回访")
    winner = make_customer(org.rep_e1, name="赢单客户", tier="B")
    other = make_customer(org.rep_e1, name="另一客户", tier="B")
    drain(queue)  # customer.created: both enter the cadence in the worker
    running = CadenceEnrollment.objects.filter(status=EnrollmentStatus.ACTIVE)
    assert set(running.values_list("customer_id", flat=True)) == {winner.pk, other.pk}

    deal = sales.create_deal(winner.pk, {"name": "年度合同", "pipeline_id": pipeline.pk}, actor=org.rep_e1)
    sales.move_deal(deal.pk, stages["Negotiation"].pk, actor=org.rep_e1)
    other_deal = sales.create_deal(other.pk, {"name": "小单", "pipeline_id": pipeline.pk}, actor=org.rep_e1)
    sales.move_deal(other_deal.pk, stages["Proposal"].pk, actor=org.rep_e1)
    drain(queue)
    assert running.count() == 2  # open stages stop nothing

    sales.move_deal(deal.pk, stages["Won"].pk, actor=org.rep_e1)
    enrollment = CadenceEnrollment.objects.get(customer=winner)
    assert enrollment.status == EnrollmentStatus.ACTIVE  # not inside the user's request: in the worker
    drain(queue)
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.stop_reason) == (EnrollmentStatus.STOPPED, "deal_won")
    assert not Task.objects.filter(enrollment=enrollment, status=TaskStatus.OPEN).exists()
    assert CadenceEnrollment.objects.get(customer=other).status == EnrollmentStatus.ACTIVE
