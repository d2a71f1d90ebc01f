"""List pages and list APIs load their rows in a fixed number of queries, however many rows (no N+1)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from guanxi.core.actions import create_api_token
from tests.factories import PASSWORD, make_customer

pytestmark = pytest.mark.django_db


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_list_page_and_api_do_not_grow_with_rows(org):
    client = Client()
    assert client.login(username=org.marketing.username, password=PASSWORD)
    _token, secret = create_api_token(org.marketing, "q", actor=None)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def page():
        assert client.get("/customers/").status_code == 200

    def listing():
        assert api.get("/api/customers", {"page_size": 50}).status_code == 200

    listing()  # the first use of a token records its last use; measure steady state
    small_page, small_api = _queries(page), _queries(listing)
    company = make_customer(org.rep_e1, name="大公司", kind="company")
    for i in range(20):
        make_customer(org.rep_e1 if i % 2 else org.rep_s1, name=f"联系人{i}", phone=f"1390000{i:04d}",
                      email=f"p{i}@example.com", tags=["VIP", f"t{i % 3}"], company_id=company.pk)  # fmt: skip
    assert _queries(page) == small_page
    assert _queries(listing) == small_api
    assert small_page <= 12 and small_api <= 10
