"""`NotFound` (an object missing or outside the actor's data scope) is a 404 in one place: it is an
Http404 for pages, and one exception handler answers it in the API. Views do not catch it."""

from __future__ import annotations

import pytest
from django.http import Http404
from django.test import Client
from django.urls import reverse

from guanxi.core.actions import create_api_token
from guanxi.core.exceptions import NotFound
from guanxi.customers.models import Customer
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_not_found_is_an_http404():
    assert issubclass(NotFound, Http404)


def test_a_page_answers_404_for_a_customer_outside_the_users_scope_and_changes_nothing(org):
    """The kanban view calls `update_customer` without catching NotFound: the page is still a 404."""
    south = org.customers["c_s1"]  # rep_s1's, in another department than manager_e
    client = Client()
    assert client.login(username=org.manager_e.username, password=PASSWORD)
    move = {"kanban_field": "lifecycle_stage", "customer_id": south.pk, "value": "silent"}
    assert client.post(reverse("customers:kanban_move"), move).status_code == 404
    assert Customer.objects.get(pk=south.pk).lifecycle_stage != "silent"
    # the same move of a customer in scope goes through
    own = org.customers["c_e1"]
    assert client.post(reverse("customers:kanban_move"), {**move, "customer_id": own.pk}).status_code == 302
    assert Customer.objects.get(pk=own.pk).lifecycle_stage == "silent"


def test_the_api_answers_404_as_json_for_a_customer_outside_the_callers_scope(org):
    south = org.customers["c_s1"]
    _token, secret = create_api_token(org.manager_e, "t", actor=None)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")
    for response in (
        api.get(f"/api/customers/{south.pk}"),
        api.patch(f"/api/customers/{south.pk}", {"name": "x"}, content_type="application/json"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
    south.refresh_from_db()
    assert south.name == "客户丙"
