"""Demo deals: about one deal per 50 owned customers, spread over the default pipeline's stages.

Like the rest of the demo data (`guanxi/demo.py`) they are bulk-written without audit entries or
events: they are nobody's change. Customers that already have a deal get no new one, so running the
demo again only adds deals for the customers it added.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from guanxi.customers.models import Customer
from guanxi.sales.actions import ensure_default_pipeline, lost_reasons
from guanxi.sales.models import Deal, StageOutcome

CUSTOMERS_PER_DEAL = 50
PRODUCTS = ["年度服务合同", "企业版订阅", "设备采购", "培训项目", "系统集成", "续约", "增购席位", "定制开发"]
BATCH = 2000


def load_demo_deals(*, seed: int = 42, now: dt.datetime | None = None) -> int:
    """Create the demo deals; returns how many were created."""
    pipeline = ensure_default_pipeline()
    stages = list(pipeline.stages.filter(is_active=True).order_by("position", "id"))
    if not stages:
        return 0
    # Open stages get most deals, earlier ones more than later ones; some are won or lost.
    weights = [
        (6 - min(i, 5)) if s.outcome == StageOutcome.OPEN else (3 if s.outcome == StageOutcome.WON else 2)
        for i, s in enumerate(stages)
    ]
    reasons = [key for key, _zh, _en in lost_reasons()] or ["other"]
    rng = random.Random(seed)
    moment = now or timezone.now()
    # Every 50th customer (by id) with an owner and no deal yet: no need to load all ids.
    candidates = (
        Customer.objects.alive()
        .filter(owner__isnull=False, deals__isnull=True)
        .annotate(bucket=F("id") % CUSTOMERS_PER_DEAL)
        .filter(bucket=seed % CUSTOMERS_PER_DEAL)
        .order_by("id")
        .values_list("id", "name", "owner_id")
    )
    created = 0
    batch: list[Deal] = []
    for customer_id, name, owner_id in list(candidates):
        stage = rng.choices(stages, weights=weights)[0]
        amount = Decimal(rng.randrange(5, 500) * 1000)
        expected = (moment + dt.timedelta(days=rng.randrange(-30, 120))).date()
        closed = stage.outcome != StageOutcome.OPEN
        batch.append(
            Deal(
                customer_id=customer_id,
                name=f"{name} · {rng.choice(PRODUCTS)}"[:200],
                pipeline=pipeline,
                stage=stage,
                amount=amount,
                owner_id=owner_id,
                expected_close_date=expected,
                closed_at=moment - dt.timedelta(days=rng.randrange(1, 90)) if closed else None,
                lost_reason=rng.choice(reasons) if stage.outcome == StageOutcome.LOST else "",
                stage_changed_at=moment - dt.timedelta(days=rng.randrange(0, 60)),
            )
        )
        if len(batch) >= BATCH:
            created += len(Deal.objects.bulk_create(batch))
            batch = []
    if batch:
        created += len(Deal.objects.bulk_create(batch))
    return created
