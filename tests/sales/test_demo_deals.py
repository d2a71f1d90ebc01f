"""Demo deals: about one per 50 owned customers, on the default pipeline, bulk-written (no audit)."""

from __future__ import annotations

import pytest

from guanxi.core.models import AuditEntry
from guanxi.demo import load_demo
from guanxi.sales.demo import load_demo_deals
from guanxi.sales.models import Deal, StageOutcome

pytestmark = pytest.mark.django_db


def test_demo_adds_a_few_deals_once(db):
    result = load_demo(customers=500, password="demo-pass-123")
    deals = list(Deal.objects.select_related("stage", "customer"))
    assert result["deals"] == len(deals) and 4 <= len(deals) <= 15
    assert len({d.customer_id for d in deals}) == len(deals)
    for deal in deals:
        assert deal.owner_id == deal.customer.owner_id and deal.stage.pipeline_id == deal.pipeline_id
        assert (deal.closed_at is None) == (deal.stage.outcome == StageOutcome.OPEN)
        assert bool(deal.lost_reason) == (deal.stage.outcome == StageOutcome.LOST)
    assert not AuditEntry.objects.filter(content_type__model="deal").exists()
    assert load_demo_deals(seed=42) == 0  # the same customers get no second deal
