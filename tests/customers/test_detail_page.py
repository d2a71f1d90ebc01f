"""The customer page: which tabs it offers, and how it shows phone numbers."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_the_customer_page_offers_no_tickets_tab_until_tickets_exist(org):
    customer = org.customers["c_e1"]
    client = _client(org.rep_e1)
    html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    for tab in ("timeline", "deals", "orders", "history"):
        assert f'data-tab="{tab}"' in html
    assert 'data-tab="tickets"' not in html and "tab=tickets" not in html
    assert client.get(reverse("customers:tab", args=[customer.pk, "tickets"])).status_code == 404
    # an old link to the tab falls back to the timeline
    assert client.get(reverse("customers:detail", args=[customer.pk]), {"tab": "tickets"}).status_code == 200
