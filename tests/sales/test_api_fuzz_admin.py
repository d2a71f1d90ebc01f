"""tests/test_api_fuzz.py runs as a sales manager (pipeline writes are 403 there); this fuzzes the deal
and pipeline endpoints as an administrator, with real ids half of the time, so the actions' validation
is reached: no input gives a server error and every answer matches the schema."""

from __future__ import annotations

import pytest

from guanxi.core.actions import create_api_token
from guanxi.sales import actions

pytestmark = pytest.mark.django_db


def test_fuzzing_deals_and_pipelines_as_an_administrator_never_errors(org, pipeline, budget_field,
                                                                      keep_test_connection):  # fmt: skip
    import schemathesis
    from django.core.wsgi import get_wsgi_application
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    deal = actions.create_deal(org.customers["c_admin"].pk, {"name": "模糊测试"}, actor=org.admin)
    known = {"deal_id": deal.pk, "pipeline_id": pipeline.pk}
    _token, secret = create_api_token(org.admin, "fuzz", actor=None)
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
    operations = [
        r.ok()
        for r in schema.get_all_operations()
        if r.ok().path.startswith(("/api/deals", "/api/pipelines"))
    ]
    assert len(operations) == 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case):
            for name, value in (case.path_parameters or {}).items():
                if name in known and isinstance(value, int) and value % 2:
                    case.path_parameters[name] = known[name]  # reach the action half of the time
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        run()
