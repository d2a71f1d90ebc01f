"""Data quality: completeness (Python == SQL), required fields per stage, the cleansing report,
the duplicate review queue and the merge / undo pages."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from guanxi.core import settings_store
from guanxi.core.actions import create_api_token
from guanxi.customers import actions, quality
from guanxi.customers.models import ContactPoint, Customer, DuplicateCandidate
from tests.factories import PASSWORD, make_customer, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def steward(org, roles):
    return make_user("steward", role=roles["data_steward"], department=org.hq)


def test_sql_and_python_completeness_agree(org):
    make_customer(org.rep_e1, name="全", phone="13900000001", email="a@b.cn", city="杭州", province="浙江",
                  title="经理", gender="male", birthday="1990-01-01", industry="制造", company_name="全公司")  # fmt: skip
    make_customer(None, name="空")
    make_customer(org.rep_e1, name="某公司", kind="company", city="上海", address="浦东", industry="物流")
    make_customer(org.rep_e1, name="微信客户", wechat_id="wxid_abcdef", city="北京")
    expected = {
        c.pk: quality.completeness_of(c, set(c.contact_points.values_list("kind", flat=True)))
        for c in Customer.objects.all()
    }
    assert {c.pk: c.completeness for c in Customer.objects.all()} == expected  # kept by the actions
    assert max(expected.values()) == 100 and min(expected.values()) == 0
    Customer.objects.update(completeness=0)
    assert quality.recompute_completeness(0, 10**9) == sum(1 for v in expected.values() if v)
    assert {c.pk: c.completeness for c in Customer.objects.all()} == expected
    assert quality.recompute_completeness(0, 10**9) == 0  # idempotent


def test_required_fields_per_stage_on_action_and_api(org):
    settings_store.put("customers.required_fields_by_stage", {"active": ["phone", "city"]}, actor=None)
    with pytest.raises(ValidationError) as exc:
        actions.create_customer({"name": "活跃客户", "lifecycle_stage": "active", "phone": "13900000009"},
                                actor=org.rep_e1)  # fmt: skip
    assert set(exc.value.message_dict) == {"city"}
    assert not Customer.objects.filter(name="活跃客户").exists()
    actions.create_customer({"name": "潜在客户", "lifecycle_stage": "potential"}, actor=org.rep_e1)
    _t, secret = create_api_token(org.rep_e1, "t", actor=None)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    customer = Customer.objects.get(name="潜在客户")
    response = api.patch(
        f"/api/customers/{customer.pk}", {"lifecycle_stage": "active"}, content_type="application/json"
    )
    assert response.status_code == 422
    assert {d["loc"][-1] for d in response.json()["detail"]} == {"phone", "city"}
    customer.refresh_from_db()
    assert customer.lifecycle_stage == "potential"


def test_cleansing_reports_and_deletes_nothing(org):
    bad = make_customer(org.rep_e1, name="坏号码", phone="13900000002")
    ContactPoint.objects.filter(customer=bad).update(normalized="13900000002")  # legacy, unnormalised
    make_customer(org.rep_e1, name="无联系方式")
    before = (Customer.objects.count(), ContactPoint.objects.count())
    report = quality.cleanse()
    assert report.stats["invalid_phones"] == 1
    assert report.samples["invalid_phones"][0]["customer"] == bad.pk
    assert report.stats["no_contact"] >= 1
    assert (Customer.objects.count(), ContactPoint.objects.count()) == before


def test_review_queue_decide_merge_and_undo_pages(org, steward):
    a = make_customer(org.rep_e1, name="周杰", phone="13900000011", city="")
    b = make_customer(org.rep_e2, name="周杰", phone="13900000012", city="台北")
    c = make_customer(org.rep_e2, name="周洁", phone="13900000013")
    pair = DuplicateCandidate.objects.create(customer_a=a, customer_b=b, cluster_key=a.pk, score=0.95,
                                             explanation={"name": "exact"})  # fmt: skip
    other = DuplicateCandidate.objects.create(customer_a=a, customer_b=c, cluster_key=a.pk, score=0.7)
    client = Client()
    assert client.login(username=steward.username, password=PASSWORD)
    html = client.get("/data-quality/duplicates/").content.decode()
    assert "周杰" in html and "周洁" in html
    assert (
        client.post(f"/data-quality/duplicates/{other.pk}/decide/", {"decision": "not_duplicate"}).status_code
        == 302
    )
    other.refresh_from_db()
    assert other.status == "not_duplicate"
    assert "周洁" not in client.get("/data-quality/duplicates/").content.decode()

    page = client.get(f"/data-quality/merge/{a.pk}/{b.pk}/").content.decode()
    assert 'name="field_city" value="merged" checked' in page  # non-empty wins by default
    response = client.post(f"/data-quality/merge/{a.pk}/{b.pk}/", {"survivor": a.pk, "field_city": "merged"})
    assert response.status_code == 302 and response["Location"].endswith(f"/customers/{a.pk}/")
    pair.refresh_from_db()
    assert pair.status == "merged" and Customer.objects.get(pk=b.pk).merged_into_id == a.pk
    history = client.get(f"/customers/{a.pk}/tab/history/").content.decode()
    assert 'id="merge-history"' in history
    record = a.merges_received.get()
    assert client.post(f"/data-quality/merges/{record.pk}/undo/").status_code == 302
    assert Customer.objects.get(pk=b.pk).deleted_at is None
    assert Customer.objects.get(pk=a.pk).city == ""


def test_reps_cannot_use_the_review_queue(org):
    client = Client()
    assert client.login(username=org.rep_e1.username, password=PASSWORD)
    assert client.get("/data-quality/duplicates/").status_code == 403
    assert client.get("/data-quality/").status_code == 200  # their own data quality
