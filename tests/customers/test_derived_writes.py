"""Writes without an audit entry are derived data, never someone's decision (issue 9, section 2).

The batch duplicate detection (`dedupe.py`), the stored completeness score and the cleansing report
(`quality.py`) and the overdue sweep's reminder marks (`engagement/sweeps.py`) are derived data: they
write no audit entry. A steward's verdict on a pair ("not a duplicate", "later") is a change by a
person and is audited like any other."""

from __future__ import annotations

import pytest
from django.test import Client

from guanxi.core.models import AuditEntry
from guanxi.customers import quality
from guanxi.customers.models import Customer, DuplicateCandidate
from tests.factories import PASSWORD, make_customer, make_user


@pytest.mark.django_db
def test_a_stewards_not_a_duplicate_decision_is_audited_with_who_and_what(org, roles):
    steward = make_user("steward_q", role=roles["data_steward"], department=org.hq)
    a, b = sorted([make_customer(org.rep_e1, name="王小明").pk, make_customer(org.rep_e2, name="王晓明").pk])
    candidate = DuplicateCandidate.objects.create(customer_a_id=a, customer_b_id=b, score=0.95, cluster_key=a)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=steward.username, password=PASSWORD)
    response = client.post(f"/data-quality/duplicates/{candidate.pk}/decide/", {"decision": "not_duplicate"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(content_type__model="duplicatecandidate", object_id=candidate.pk)
    assert (entry.actor, entry.action, entry.before, entry.after) == (
        steward, "update", {"status": "open"}, {"status": "not_duplicate"},
    )  # fmt: skip
    candidate.refresh_from_db()
    assert (candidate.status, candidate.decided_by) == ("not_duplicate", steward)


@pytest.mark.django_db
def test_the_stored_completeness_score_is_derived_data_recomputed_without_audit(org):
    customer = org.customers["c_e1"]
    Customer.objects.filter(pk=customer.pk).update(completeness=0)  # test set-up: a stale score
    entries = AuditEntry.objects.count()
    assert quality.recompute_completeness(customer.pk, customer.pk + 1) == 1
    assert Customer.objects.get(pk=customer.pk).completeness > 0
    assert AuditEntry.objects.count() == entries
