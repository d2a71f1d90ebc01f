"""The rule steps that reach other apps: an outgoing webhook (verified by the receiver with the
`standardwebhooks` library) and an approval request through a flow."""

from __future__ import annotations

import pytest

from guanxi.approvals import actions as approvals
from guanxi.automation.actions import rules
from guanxi.automation.models import RuleRun, RunStatus
from guanxi.webhooks import actions as webhooks
from tests.conftest import drain
from tests.factories import make_customer
from tests.webhooks.conftest import receiver, run_worker  # noqa: F401  (receiver: the fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_rule_calls_an_outgoing_webhook_once_and_the_receiver_verifies_it(org, queue, receiver):  # noqa: F811
    endpoint = webhooks.create_endpoint(
        {"name": "ERP", "url": receiver.url, "event_types": []}, actor=org.admin
    )
    receiver.secret = endpoint.secret
    rules.save_rule({"name": "推送到ERP", "object_type": "customer", "enabled": True, "trigger": {"type": "created"},
                     "actions": [{"type": "webhook", "endpoint_id": endpoint.pk, "fields": ["city", "tier"]}]},
                    actor=org.admin)  # fmt: skip
    drain(queue)
    customer = make_customer(org.rep_e1, name="推送客户", city="苏州")
    run_worker(queue)
    [request] = receiver.requests
    assert request.error == "" and request.verified is not None
    data = request.json["data"]
    assert request.json["type"] == "automation.rule_fired"
    assert (data["object_id"], data["name"], data["values"]["city"]) == (customer.pk, "推送客户", "苏州")
    assert RuleRun.objects.get().status == RunStatus.SUCCEEDED


def test_a_rule_naming_a_missing_endpoint_is_refused(org):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        rules.save_rule({"name": "坏", "object_type": "customer", "trigger": {"type": "created"},
                         "actions": [{"type": "webhook", "endpoint_id": 999999}]}, actor=org.admin)  # fmt: skip
    assert "actions" in exc.value.message_dict


def test_a_rule_requests_an_approval_for_a_big_discount(org, queue):
    from guanxi.sales import actions as sales_actions

    flow = approvals.install_example_flow(actor=org.admin)
    rules.install_template("discount_needs_approval", actor=org.admin, enabled=True)
    sales_actions.ensure_default_pipeline()
    customer = make_customer(org.rep_e1, name="折扣客户")
    deal = sales_actions.create_deal(customer.pk, {"name": "大单", "amount": "100000"}, actor=org.rep_e1)
    drain(queue)
    sales_actions.update_deal(deal.pk, {"discount_percent": "20"}, actor=org.rep_e1)
    drain(queue)
    request = approvals.pending_request_for(deal)
    assert request is not None and request.flow == flow
    assert RuleRun.objects.get().results[0]["result"]["approval_id"] == request.pk
