"""Hole (issue 9 §8): `POST /data-quality/duplicates/<id>/decide/` followed any `next=` URL.

The old view did `redirect(request.POST.get("next") or ...)`, so a crafted form could send a
steward to any site. Every view that honours `next` now goes through `core.http.safe_next`."""

from __future__ import annotations

import pytest
from django.test import Client

from guanxi.customers.models import DuplicateCandidate
from tests.factories import PASSWORD, make_customer, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def steward_client(org, roles):
    steward = make_user("steward_r", role=roles["data_steward"], department=org.hq)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=steward.username, password=PASSWORD)
    return client


def _candidate(org):
    a, b = sorted([make_customer(org.rep_e1, name="王小明").pk, make_customer(org.rep_e2, name="王晓明").pk])
    return DuplicateCandidate.objects.create(customer_a_id=a, customer_b_id=b, score=0.95, cluster_key=a)


@pytest.mark.parametrize("target", ["https://evil.example/phish", "//evil.example/", "https:evil.example"])
def test_decide_does_not_redirect_off_site(org, steward_client, target):
    """Old code: 302 to https://evil.example/phish (open redirect)."""
    candidate = _candidate(org)
    response = steward_client.post(
        f"/data-quality/duplicates/{candidate.pk}/decide/", {"decision": "not_duplicate", "next": target}
    )
    assert response.status_code == 302
    assert response["Location"] == "/data-quality/duplicates/"


def test_decide_still_follows_a_local_next(org, steward_client):
    candidate = _candidate(org)
    response = steward_client.post(
        f"/data-quality/duplicates/{candidate.pk}/decide/",
        {"decision": "not_duplicate", "next": "/data-quality/duplicates/?status=open&page=2"},
    )
    assert response["Location"] == "/data-quality/duplicates/?status=open&page=2"
