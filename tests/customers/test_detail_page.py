"""The customer page: which tabs it offers, and how it shows phone numbers."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, make_customer

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


def test_phones_the_user_may_see_are_tap_to_call_links_and_masked_ones_are_not(org):
    """viewer_e sees their department's customers; phones are in full only for the customers they own."""
    own = make_customer(org.viewer_e, name="自己的客户", phone="13955556666")
    masked = org.customers["c_e1"]  # owned by rep_e1, same department
    client = _client(org.viewer_e)

    listing = client.get(reverse("customers:list")).content.decode()
    assert 'href="tel:+8613955556666"' in listing
    assert "138****0001" in listing and "tel:+8613800000001" not in listing

    detail = client.get(reverse("customers:detail", args=[own.pk])).content.decode()
    assert 'href="tel:+8613955556666"' in detail
    detail = client.get(reverse("customers:detail", args=[masked.pk])).content.decode()
    assert "138****0001" in detail and "tel:" not in detail

    # the owner sees the full number, as a link
    owner_view = _client(org.rep_e1).get(reverse("customers:detail", args=[masked.pk])).content.decode()
    assert 'href="tel:+8613800000001"' in owner_view
