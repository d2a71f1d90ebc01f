"""Approvals fixtures: the organisation of tests/factories.build_org plus a finance user, the default
pipeline, the shipped deal-discount flow and a deal of rep_e1 with a 20 % discount."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from guanxi.approvals import actions
from guanxi.core.actions import create_api_token
from guanxi.sales import actions as sales
from guanxi.sales.actions import ensure_default_pipeline
from tests.factories import make_user


@pytest.fixture
def team(org, roles):
    org.finance = make_user("finance1", role=roles["finance"], department=org.hq)
    org.pipeline = ensure_default_pipeline()
    org.stages = {s.name_en: s for s in org.pipeline.stages.order_by("position")}
    org.flow = actions.install_example_flow(actor=org.admin)
    org.deal = sales.create_deal(
        org.customers["c_e1"].pk,
        {"name": "大单", "amount": "100000", "discount_percent": "20"},
        actor=org.rep_e1,
    )
    return org


def manual_flow(org, steps, *, object_type="deal", conditions=None, name="Manual"):
    return actions.save_flow(
        {"name": name, "object_type": object_type, "conditions": conditions or [], "steps": steps},
        actor=org.admin,
    )


@pytest.fixture
def api_for():
    def make(user):
        _token, secret = create_api_token(user, "test", actor=None)
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")

    return make


def post_json(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")
