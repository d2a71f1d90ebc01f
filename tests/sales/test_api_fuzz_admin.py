"""tests/test_api_fuzz.py runs as a sales manager (pipeline writes are 403 there); this fuzzes the deal
and pipeline endpoints as an administrator, with real ids half of the time, so the actions' validation
is reached: no input gives a server error and every answer matches the schema."""

from __future__ import annotations

import pytest

from guanxi.sales import actions
from tests.test_api_fuzz import fuzz_as

pytestmark = pytest.mark.django_db


def test_fuzzing_deals_and_pipelines_as_an_administrator_never_errors(org, pipeline, budget_field,
                                                                      keep_test_connection):  # fmt: skip
    deal = actions.create_deal(org.customers["c_admin"].pk, {"name": "模糊测试"}, actor=org.admin)
    known = {"deal_id": deal.pk, "pipeline_id": pipeline.pk}
    assert fuzz_as(org.admin, ("/api/deals", "/api/pipelines"), known=known, max_examples=40) == 9
