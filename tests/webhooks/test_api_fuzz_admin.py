"""tests/test_api_fuzz.py runs as a sales manager (every webhooks endpoint is 403 there); this fuzzes
the webhooks API as an administrator, with real ids half of the time, so the actions' validation is
reached: no input gives a server error and every answer matches the schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from guanxi.core.actions import create_api_token
from guanxi.webhooks import actions
from tests.test_api_fuzz import keep_test_connection  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_fuzzing_the_webhooks_api_as_an_administrator_never_errors(org, keep_test_connection):  # noqa: F811
    endpoint = actions.create_endpoint(
        {"name": "ERP", "url": "http://127.0.0.1:9/hooks", "event_types": ["customer.created"]},
        actor=org.admin,
    )
    delivery = actions.enqueue_delivery(
        endpoint, "test.fuzz", {"n": 1}, idempotency_key="fuzz", actor=org.admin
    )
    known = {"endpoint_id": endpoint.pk, "delivery_id": delivery.pk}
    _token, secret = create_api_token(org.admin, "fuzz", actor=None)
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path.startswith("/api/webhooks")]
    assert len(operations) == 12
    for operation in operations:
        if operation.method.upper() == "DELETE":
            continue  # deleting the known endpoint would leave the other operations nothing to reach

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case):
            for name, value in (case.path_parameters or {}).items():
                if name in known and isinstance(value, int) and value % 2:
                    case.path_parameters[name] = known[name]  # reach the action half of the time
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        run()
