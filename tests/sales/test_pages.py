"""Deal pages: the board (only visible deals, column counts and sums), moving a card (htmx and plain
POST, with the stage's missing fields and the lost reason), create/edit/detail, the customer's deals tab
and the pipeline settings page (admins only)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import translation

from guanxi.core.models import AuditEntry
from guanxi.sales import actions
from guanxi.sales.models import Deal, Pipeline, Stage
from tests.sales.conftest import require_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for():
    def make(user):
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        return client

    return make


def _deal(org, key, owner, name, amount=None, **extra):
    data = {"name": name, "amount": amount, **extra}
    return actions.create_deal(org.customers[key].pk, data, actor=owner)


def _columns(html: str) -> dict[int, dict]:
    """stage id -> {"count", "total", "deals": [deal ids]} from the board's markup."""
    result = {}
    for chunk in html.split("<section")[1:]:
        stage = int(re.search(r'data-stage="(\d+)"', chunk).group(1))
        result[stage] = {
            "count": int(re.search(r'class="column-count">(\d+)<', chunk).group(1)),
            "total": Decimal(re.search(r'class="column-total">([\d,.]+)<', chunk).group(1).replace(",", "")),
            "deals": [int(pk) for pk in re.findall(r'data-deal="(\d+)"', chunk)],
        }
    return result


@pytest.fixture
def deals(org, pipeline, stages):
    q, p = stages["Qualification"], stages["Proposal"]
    return {
        "e1a": _deal(org, "c_e1", org.rep_e1, "甲一", "100"),
        "e1b": _deal(org, "c_e1", org.rep_e1, "甲二", "250.50"),
        "e2": _deal(org, "c_e2", org.rep_e2, "乙一", "1000"),
        "s1": _deal(org, "c_s1", org.rep_s1, "丙一", "7", stage_id=p.pk),
        "q": q,
        "p": p,
    }


def test_board_shows_only_visible_deals_with_column_sums(org, deals, client_for):
    response = client_for(org.rep_e1).get("/deals/")
    assert response.status_code == 200
    columns = _columns(response.content.decode())
    qualification = columns[deals["q"].pk]
    assert qualification["count"] == 2 and qualification["total"] == Decimal("350.50")
    assert sorted(qualification["deals"]) == sorted([deals["e1a"].pk, deals["e1b"].pk])
    assert columns[deals["p"].pk] == {"count": 0, "total": Decimal("0"), "deals": []}
    assert "乙一" not in response.content.decode() and "丙一" not in response.content.decode()

    columns = _columns(client_for(org.manager_e).get("/deals/").content.decode())
    assert columns[deals["q"].pk]["count"] == 3 and columns[deals["q"].pk]["total"] == Decimal("1350.50")
    assert columns[deals["p"].pk]["count"] == 0

    columns = _columns(client_for(org.admin).get("/deals/").content.decode())
    assert columns[deals["p"].pk]["count"] == 1 and columns[deals["p"].pk]["total"] == Decimal("7")

    # Filters: owner, "mine", and a registry condition.
    manager = client_for(org.manager_e)
    columns = _columns(manager.get(f"/deals/?owner={org.rep_e2.pk}").content.decode())
    assert columns[deals["q"].pk]["deals"] == [deals["e2"].pk]
    assert _columns(manager.get("/deals/?mine=1").content.decode())[deals["q"].pk]["count"] == 0
    columns = _columns(manager.get("/deals/?field=amount&op=gt&value=200").content.decode())
    assert sorted(columns[deals["q"].pk]["deals"]) == sorted([deals["e1b"].pk, deals["e2"].pk])
    bad = manager.get("/deals/?field=amount&op=contains&value=x")
    assert bad.status_code == 200 and 'id="filter-errors"' in bad.content.decode()


def test_board_query_count_does_not_grow_with_deals(org, pipeline, client_for, django_assert_max_num_queries):
    client = client_for(org.admin)
    _deal(org, "c_admin", org.admin, "一", "1")
    with django_assert_max_num_queries(40) as few:
        client.get("/deals/")
    for n in range(20):
        _deal(org, "c_admin", org.admin, f"多{n}", str(n))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/deals/")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/deals/?layout=list")


def test_list_layout_paginates_visible_deals(org, deals, client_for, settings):
    settings.GUANXI_PAGE_SIZE = 2
    client = client_for(org.manager_e)
    first = client.get("/deals/?layout=list&sort=amount").content.decode()
    assert "3 deals" in first and 'id="deal-row-' in first
    rows = re.findall(r'id="deal-row-(\d+)"', first)
    assert rows == [str(deals["e1a"].pk), str(deals["e1b"].pk)]
    second = client.get("/deals/?layout=list&sort=amount&page=2").content.decode()
    assert re.findall(r'id="deal-row-(\d+)"', second) == [str(deals["e2"].pk)]
    assert "丙一" not in first + second
    by_stage = client_for(org.admin).get("/deals/?layout=list&sort=-stage").content.decode()
    assert re.findall(r'id="deal-row-(\d+)"', by_stage)[0] == str(deals["s1"].pk)  # Proposal comes after


def test_move_from_the_board_with_htmx(org, deals, stages, budget_field, client_for):
    client = client_for(org.rep_e1)
    deal = deals["e1a"]
    response = client.post(
        f"/deals/{deal.pk}/move/",
        {"stage_id": stages["Needs analysis"].pk, "board": "layout=board"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="deal-board",
    )
    assert response.status_code == 200 and 'id="deal-board"' in response.content.decode()
    columns = _columns(response.content.decode())
    assert columns[stages["Needs analysis"].pk]["deals"] == [deal.pk]
    assert columns[stages["Needs analysis"].pk]["total"] == Decimal("100")
    deal.refresh_from_db()
    assert deal.stage == stages["Needs analysis"]

    # A stage asking for a custom field the deal lacks: the card shows why, nothing changes.
    require_fields(stages["Proposal"], ["cf.budget"])
    response = client.post(
        f"/deals/{deal.pk}/move/", {"stage_id": stages["Proposal"].pk, "board": ""}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200 and response["HX-Retarget"] == f"#deal-{deal.pk}"
    assert "move-error" in html and "Budget" in html and f"?stage={stages['Proposal'].pk}" in html
    deal.refresh_from_db()
    assert deal.stage == stages["Needs analysis"]

    # The move page asks for that field and finishes the move.
    page = client.get(f"/deals/{deal.pk}/move/?stage={stages['Proposal'].pk}")
    assert page.status_code == 200 and 'name="cf_budget"' in page.content.decode()
    bad = client.post(
        f"/deals/{deal.pk}/move/", {"full": "1", "stage_id": stages["Proposal"].pk, "cf_budget": "x"}
    )
    assert bad.status_code == 422 and "Enter a number." in bad.content.decode()
    done = client.post(
        f"/deals/{deal.pk}/move/", {"full": "1", "stage_id": stages["Proposal"].pk, "cf_budget": "5,000"}
    )
    assert done.status_code == 302
    deal.refresh_from_db()
    assert deal.stage == stages["Proposal"] and deal.custom_fields == {"budget": 5000}


def test_move_to_lost_asks_for_the_reason(org, deals, stages, client_for):
    client = client_for(org.rep_e1)
    deal = deals["e1b"]
    response = client.post(f"/deals/{deal.pk}/move/", {"stage_id": stages["Lost"].pk})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'name="lost_reason"' in html and "Choose why the deal was lost." in html
    response = client.post(f"/deals/{deal.pk}/move/", {"full": "1", "stage_id": stages["Lost"].pk,
                                                       "lost_reason": "price"})  # fmt: skip
    assert response.status_code == 302 and response["Location"] == f"/deals/{deal.pk}/"
    deal.refresh_from_db()
    assert deal.stage == stages["Lost"] and deal.lost_reason == "price" and deal.closed_at is not None
    # Someone who cannot see the deal gets a 404 and changes nothing.
    other = client_for(org.rep_e2).post(f"/deals/{deal.pk}/move/", {"stage_id": stages["Won"].pk})
    assert other.status_code == 404
    deal.refresh_from_db()
    assert deal.stage == stages["Lost"]


def test_create_from_the_customer_page_with_custom_field_errors(
    org, pipeline, stages, budget_field, client_for
):
    client = client_for(org.rep_e1)
    customer = org.customers["c_e1"]
    tab = client.get(f"/customers/{customer.pk}/tab/deals/").content.decode()
    assert f"/deals/new/?customer={customer.pk}" in tab and "No deals." in tab
    form = client.get(f"/deals/new/?customer={customer.pk}").content.decode()
    assert 'name="cf_budget"' in form and 'name="name"' in form and customer.name in form

    response = client.post("/deals/new/", {"customer": customer.pk, "name": "新商机", "amount": "3000",
                                           "pipeline": pipeline.pk, "stage": "", "owner": "", "cf_budget": "abc"})  # fmt: skip
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'name="cf_budget"[^>]*is-invalid', html) and "Enter a number." in html
    assert Deal.objects.count() == 0

    response = client.post("/deals/new/", {"customer": customer.pk, "name": "新商机", "amount": "3000",
                                           "pipeline": pipeline.pk, "stage": "", "owner": "", "cf_budget": "8000"})  # fmt: skip
    deal = Deal.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/deals/{deal.pk}/"
    assert deal.stage == stages["Qualification"] and deal.owner == org.rep_e1
    assert deal.amount == Decimal("3000") and deal.custom_fields == {"budget": 8000}

    tab = client.get(f"/customers/{customer.pk}/tab/deals/").content.decode()
    assert "新商机" in tab and "Qualification" in tab
    assert (
        "新商机"
        not in client_for(org.rep_e2)
        .get(f"/customers/{org.customers['c_e2'].pk}/tab/deals/")
        .content.decode()
    )

    detail = client.get(f"/deals/{deal.pk}/").content.decode()
    assert 'id="history-table"' in detail and "Created" in detail and "8,000.00" in detail
    # Another rep cannot open it or create a deal for a customer they cannot see.
    assert client_for(org.rep_e2).get(f"/deals/{deal.pk}/").status_code == 404
    assert client_for(org.rep_e2).get(f"/deals/new/?customer={customer.pk}").status_code == 404


def test_choose_customer_searches_visible_customers(org, pipeline, client_for):
    client = client_for(org.rep_e1)
    html = client.get("/deals/new/?q=客户").content.decode()
    assert f"?customer={org.customers['c_e1'].pk}" in html
    assert f"?customer={org.customers['c_e2'].pk}" not in html


def test_edit_sends_only_what_changed(org, deals, stages, client_for):
    deal = deals["e1a"]
    # The deal's stage now asks for a date it lacks; editing the amount alone still works.
    require_fields(stages["Qualification"], ["expected_close_date"])
    client = client_for(org.rep_e1)
    form = client.get(f"/deals/{deal.pk}/edit/").content.decode()
    assert 'value="甲一"' in form
    post = {"name": "甲一", "pipeline": deal.pipeline_id, "stage": deal.stage_id, "amount": "150.00",
            "owner": org.rep_e1.pk, "expected_close_date": "", "lost_reason": ""}  # fmt: skip
    response = client.post(f"/deals/{deal.pk}/edit/", post)
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.amount == Decimal("150.00")
    entry = AuditEntry.objects.filter(content_type__model="deal", object_id=deal.pk).order_by("id").last()
    assert entry.after == {"amount": "150.00"}
    # Moving it where a lost reason is needed, without one: the error is on the form.
    response = client.post(f"/deals/{deal.pk}/edit/", {**post, "stage": stages["Lost"].pk})
    assert response.status_code == 200 and "Choose why the deal was lost." in response.content.decode()


def _formset_post(pipeline, rows, **extra):
    data = {"name_zh": pipeline.name_zh, "name_en": pipeline.name_en, "is_default": "on",
            "stages-TOTAL_FORMS": str(len(rows)), "stages-INITIAL_FORMS": str(len(rows)),
            "stages-MIN_NUM_FORMS": "0", "stages-MAX_NUM_FORMS": "1000"}  # fmt: skip
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"stages-{i}-{key}"] = value
    data.update(extra)
    return data


def _rows(pipeline):
    return [
        {"id": str(s.pk), "name_zh": s.name_zh, "name_en": s.name_en, "probability": str(s.probability),
         "color": s.color, "outcome": s.outcome}
        for s in pipeline.stages.filter(is_active=True).order_by("position")
    ]  # fmt: skip


def test_settings_page_saves_stages(org, pipeline, stages, budget_field, client_for):
    client = client_for(org.admin)
    listing = client.get("/settings/pipelines/").content.decode()
    assert pipeline.name_zh in listing
    page = client.get(f"/settings/pipelines/{pipeline.pk}/").content.decode()
    assert 'value="cf.budget"' in page and "stages-5-name_zh" in page

    rows = _rows(pipeline)
    rows[2]["name_en"] = "Quote"
    rows[2]["required_fields"] = ["amount", "cf.budget"]
    rows[1]["DELETE"] = "on"  # remove "Needs analysis"
    rows.append({"id": "", "name_zh": "合同签署", "name_en": "Contract", "probability": "90", "color": "success",
                 "outcome": "open"})  # fmt: skip
    rows.append(
        {"id": "", "name_zh": "", "name_en": "", "probability": "0", "color": "secondary", "outcome": "open"}
    )
    response = client.post(f"/settings/pipelines/{pipeline.pk}/", _formset_post(pipeline, rows, save="1"))
    assert response.status_code == 302, response.content.decode()[:3000]
    active = list(pipeline.stages.filter(is_active=True).order_by("position"))
    assert [s.name_en for s in active] == ["Qualification", "Quote", "Negotiation", "Won", "Lost", "Contract"]
    assert active[1].required_fields == ["amount", "cf.budget"]
    assert not Stage.objects.get(pk=stages["Needs analysis"].pk).is_active

    # Moving a row up re-renders the form in the new order without saving.
    rows = _rows(pipeline)
    response = client.post(f"/settings/pipelines/{pipeline.pk}/", _formset_post(pipeline, rows, up="5"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index('value="合同签署"') < html.index('value="输单"')
    assert pipeline.stages.get(name_zh="合同签署").position == 5
    response = client.post(f"/settings/pipelines/{pipeline.pk}/", _formset_post(pipeline, rows, add_row="1"))
    assert "stages-6-name_zh" in response.content.decode()

    # Errors are shown, nothing is written.
    _deal(org, "c_e1", org.rep_e1, "占用", stage_id=stages["Qualification"].pk)
    rows = _rows(pipeline)
    rows[0]["DELETE"] = "on"
    with translation.override("en"):
        response = client.post(f"/settings/pipelines/{pipeline.pk}/", _formset_post(pipeline, rows, save="1"))
    assert response.status_code == 422 and "still holds 1 open deals" in response.content.decode()
    assert Stage.objects.get(pk=stages["Qualification"].pk).is_active

    # A new pipeline.
    new = {"name_zh": "渠道", "name_en": "", "stages-TOTAL_FORMS": "2", "stages-INITIAL_FORMS": "0",
           "stages-0-name_zh": "开始", "stages-0-outcome": "open", "stages-0-color": "info",
           "stages-1-name_zh": "成交", "stages-1-outcome": "won", "stages-1-color": "success", "save": "1"}  # fmt: skip
    assert client.get("/settings/pipelines/new/").status_code == 200
    assert client.post("/settings/pipelines/new/", new).status_code == 302
    created = Pipeline.objects.get(name_zh="渠道")
    assert [s.name_zh for s in created.stages.order_by("position")] == ["开始", "成交"]


def test_rep_cannot_open_the_settings(org, pipeline, client_for):
    client = client_for(org.rep_e1)
    assert client.get("/settings/pipelines/").status_code == 403
    assert client.get(f"/settings/pipelines/{pipeline.pk}/").status_code == 403
    rows = _rows(pipeline)[:1]
    response = client.post(f"/settings/pipelines/{pipeline.pk}/", _formset_post(pipeline, rows, save="1"))
    assert response.status_code == 403
    assert pipeline.stages.filter(is_active=True).count() == 6
    assert not AuditEntry.objects.filter(content_type__model="pipeline").exists()
    assert 'href="/deals/"' in client.get("/today/").content.decode()  # the nav entry
