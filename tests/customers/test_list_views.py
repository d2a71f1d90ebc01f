"""The customer list as a configurable view: filter builder (custom fields, relative dates,
multi-select), sort by a custom field, columns, saved views and who sees them, kanban, bulk tagging,
and a query-count guard. Through the Django client against the real database."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlencode

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guanxi.core.models import AuditAction, AuditEntry, Event
from guanxi.customers import actions, queries
from guanxi.customers.models import Customer
from guanxi.customization import actions as customization
from guanxi.customization import registry as customfields
from guanxi.customization.models import FieldType, SavedView, Tag
from tests.factories import PASSWORD, make_customer

pytestmark = pytest.mark.django_db

GRADES = [
    {"key": "gold", "label_zh": "金牌", "label_en": "Gold"},
    {"key": "silver", "label_zh": "银牌", "label_en": "Silver"},
    {"key": "bronze", "label_zh": "铜牌", "label_en": "Bronze"},
]
CHANNELS = [
    {"key": "wechat", "label_zh": "微信", "label_en": "WeChat"},
    {"key": "expo", "label_zh": "展会", "label_en": "Trade show"},
]


def define(admin, key: str, kind: str, label_en: str, **extra):
    data = {"object_type": "customer", "key": key, "label_zh": f"{label_en}中文", "label_en": label_en}
    return customization.create_custom_field({**data, "type": kind, **extra}, actor=admin)


def set_custom(customer, **values):
    actions.update_customer(customer.pk, {"custom_fields": values}, actor=None)


@pytest.fixture
def fields(org):
    define(org.admin, "grade", FieldType.SINGLE_SELECT, "Grade", options=GRADES)
    define(org.admin, "channels", FieldType.MULTI_SELECT, "Channels", options=CHANNELS)
    define(org.admin, "score", FieldType.NUMBER, "Score")
    define(org.admin, "referrer", FieldType.USER, "Referrer")
    define(org.admin, "met_on", FieldType.DATE, "Met on")
    c = org.customers
    set_custom(c["c_e1"], grade="gold", channels=["wechat", "expo"], score=30, referrer=org.director.pk)
    set_custom(c["c_e2"], grade="gold", channels=["expo"], score=5)
    set_custom(c["c_s1"], grade="silver", channels=["wechat"], score=100)
    set_custom(c["c_mgr"], grade="gold", score=-2)
    set_custom(c["c_dir"], grade="bronze")
    return customfields.Registry("customer")


def client_for(user, language="en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    assert client.login(username=user.username, password=PASSWORD)
    return client


def names_in(html: str, org) -> list[str]:
    """Customer names of the org in the order they appear in the table."""
    found = re.findall(r'class="customer-link[^"]*">([^<]+)</a>', html)
    ours = {c.name for c in org.customers.values()}
    return [n for n in found if n in ours]


def conditions(*rows) -> dict:
    return {"fb": "1", "f_field": [r[0] for r in rows], "f_op": [r[1] for r in rows],
            "f_value": [r[2] if len(r) > 2 else "" for r in rows]}  # fmt: skip


def get(client, **params):
    response = client.get("/customers/", params)
    assert response.status_code == 200
    return response.content.decode()


# --------------------------------------------------------------------------- filters


def test_filter_by_custom_single_select_and_owner(org, fields):
    admin = client_for(org.admin)
    html = get(admin, **conditions(("cf.grade", "eq", "gold")))
    assert set(names_in(html, org)) == {"客户甲", "客户乙", "客户丁"}
    html = get(admin, **conditions(("cf.grade", "eq", "gold"), ("owner", "eq", str(org.rep_e1.pk))))
    assert names_in(html, org) == ["客户甲"]
    # The label of a choice is accepted too, and the quick owner filter combines with conditions.
    html = get(admin, owner=org.rep_e2.pk, **conditions(("cf.grade", "eq", "Gold")))
    assert names_in(html, org) == ["客户乙"]
    # A rep only ever sees their own rows, whatever the conditions.
    html = get(client_for(org.rep_e1), **conditions(("cf.grade", "ne", "silver")))
    assert names_in(html, org) == ["客户甲"]


def test_relative_date_filter_on_created_at_and_a_custom_date(org, fields):
    c = org.customers
    now = timezone.now()
    Customer.objects.filter(pk__in=[c["c_s1"].pk, c["c_dir"].pk]).update(
        created_at=now - dt.timedelta(days=40)
    )
    Customer.objects.filter(pk=c["c_mgr"].pk).update(created_at=now - dt.timedelta(days=5))
    admin = client_for(org.admin)
    html = get(admin, **conditions(("created_at", "last_days", "7")))
    assert set(names_in(html, org)) == {"客户甲", "客户乙", "客户丁", "客户己", "客户庚"}
    html = get(admin, **conditions(("created_at", "older_than_days", "30")))
    assert set(names_in(html, org)) == {"客户丙", "客户戊"}
    set_custom(c["c_e1"], met_on=timezone.localdate().isoformat())
    set_custom(c["c_e2"], met_on=(timezone.localdate() - dt.timedelta(days=400)).isoformat())
    html = get(admin, **conditions(("cf.met_on", "this_year", "")))
    assert names_in(html, org) == ["客户甲"]
    html = get(admin, **conditions(("cf.met_on", "empty", "")))
    assert "客户甲" not in names_in(html, org) and "客户乙" not in names_in(html, org)


def test_multi_select_has_and_in(org, fields):
    admin = client_for(org.admin)
    html = get(admin, **conditions(("cf.channels", "has", "wechat")))
    assert set(names_in(html, org)) == {"客户甲", "客户丙"}
    html = get(admin, **conditions(("cf.channels", "has", "expo"), ("cf.grade", "eq", "gold")))
    assert set(names_in(html, org)) == {"客户甲", "客户乙"}
    html = get(admin, **conditions(("cf.channels", "in", "wechat, expo")))
    assert set(names_in(html, org)) == {"客户甲", "客户乙", "客户丙"}
    html = get(admin, **conditions(("cf.channels", "empty")))
    assert {"客户甲", "客户乙", "客户丙"}.isdisjoint(names_in(html, org))


def test_sort_by_a_custom_number_field(org, fields):
    admin = client_for(org.admin)
    only_scored = conditions(("cf.score", "not_empty"))
    html = get(admin, sort="cf.score", **only_scored)
    assert names_in(html, org) == ["客户丁", "客户乙", "客户甲", "客户丙"]  # -2, 5, 30, 100: numeric
    html = get(admin, sort="-cf.score", **only_scored)
    assert names_in(html, org) == ["客户丙", "客户甲", "客户乙", "客户丁"]
    # Records without a value come last either way; the header link toggles the direction.
    html = get(admin, sort="cf.score", fb="1", col=["name", "cf.score"])
    order = names_in(html, org)
    assert order[:4] == ["客户丁", "客户乙", "客户甲", "客户丙"]
    assert set(order[4:]) == {"客户戊", "客户己", "客户庚"}
    assert 'href="?sort=-cf.score&amp;fb=1&amp;col=name&amp;col=cf.score" aria-sort="ascending"' in html
    # An unknown or unsortable field is ignored (default order, no error).
    assert get(admin, sort="phone") and get(admin, sort="cf.nope")


def test_bad_conditions_are_reported_and_the_good_ones_still_apply(org, fields):
    admin = client_for(org.admin)
    html = get(admin, **conditions(("cf.nope", "eq", "x"), ("cf.grade", "eq", "gold"),
                                   ("cf.score", "gt", "lots"), ("created_at", "last_days", "-3")))  # fmt: skip
    assert 'id="filter-errors"' in html
    assert "Condition 1" in html and "Condition 3" in html and "Condition 4" in html
    assert set(names_in(html, org)) == {"客户甲", "客户乙", "客户丁"}
    # Garbage of every kind is a page, never a 500.
    for params in ({"fb": "1", "f_field": "x" * 500, "f_op": "'; drop", "f_value": "\x00"},
                   {"fb": "1", "f_field": ["owner"], "f_op": ["eq"], "f_value": ["9" * 30]},
                   {"view": "9" * 30, "sort": "-" * 90, "layout": "kanban", "kanban_field": "cf.score"},
                   {"fb": "1", "col": ["cf.nope", "<b>", "phone"] * 30}):  # fmt: skip
        assert admin.get("/customers/", params).status_code == 200


# --------------------------------------------------------------------------- columns


def test_columns_show_custom_values_with_labels_and_names(org, fields):
    admin = client_for(org.admin)
    html = get(admin, fb="1", col=["name", "cf.grade", "cf.channels", "cf.score", "cf.referrer", "phone"])
    header = html[html.index("<thead>") : html.index("</thead>")]
    for label in ("Name", "Grade", "Channels", "Score", "Referrer", "Mobile / phone"):
        assert f">{label}<" in header, label
    row = html[html.index(">客户甲<") :]
    row = row[: row.index("</tr>")]
    assert "Gold" in row and "Trade show、WeChat" in row and ">30<" in row
    assert org.director.username in row  # the user field shows the user's name, not an id
    assert "138 0000 0001" in row or "13800000001" in row  # admin sees phones in full
    # Default columns when nothing is chosen: what the list always showed.
    default = get(admin)
    header = default[default.index("<thead>") : default.index("</thead>")]
    for label in ("Name", "Company", "Mobile / phone", "City", "Owner", "Lifecycle stage", "Tier", "Tags"):
        assert f">{label}<" in header, label
    # The same page in Chinese shows the Chinese labels.
    zh = get(client_for(org.admin, "zh-hans"), fb="1", col=["name", "cf.grade"])
    assert ">Grade中文<" in zh and "金牌" in zh


def test_phone_column_is_masked_for_non_owners_without_permission(org, fields):
    html = get(client_for(org.viewer_e), fb="1", col=["name", "phone"])  # department scope, no sensitive
    assert "138****0001" in html and "13800000001" not in html.replace(" ", "")
    html = get(client_for(org.rep_e1), fb="1", col=["name", "phone"])  # the owner sees it in full
    assert "138 0000 0001" in html


# --------------------------------------------------------------------------- saved views


def save_view(client, name, visibility, query: dict, **extra):
    return client.post(
        "/customers/views/save/", {"name": name, "visibility": visibility, "query": urlencode(query, doseq=True),
                                   **extra})  # fmt: skip


def test_saved_view_visibility_private_team_everyone(org, fields):
    rep_e1, rep_e2, rep_s1 = client_for(org.rep_e1), client_for(org.rep_e2), client_for(org.rep_s1)
    query = {**conditions(("cf.grade", "eq", "gold")), "col": ["name", "cf.grade"], "sort": "-cf.score"}
    response = save_view(rep_e1, "我的金牌", "private", query)
    assert response.status_code == 302
    private = SavedView.objects.get(name="我的金牌")
    assert response["Location"] == f"/customers/?view={private.pk}"
    assert private.owner == org.rep_e1 and private.visibility == "private"
    assert private.columns == ["name", "cf.grade"] and private.sort == "-cf.score"
    assert private.filters == [{"field": "cf.grade", "op": "eq", "value": "gold"}]
    assert save_view(rep_e1, "华东金牌", "team", {**query, "kind": "person"}).status_code == 302
    team = SavedView.objects.get(name="华东金牌")
    assert team.department == org.east
    assert {"field": "kind", "op": "eq", "value": "person"} in team.filters  # quick filters are kept

    def listed(client, view):
        return f'data-view="{view.pk}"' in get(client)

    assert listed(rep_e1, private) and listed(rep_e1, team)
    assert not listed(rep_e2, private) and listed(rep_e2, team)  # same department
    assert not listed(rep_s1, private) and not listed(rep_s1, team)  # another department
    # Using a view one may not see falls back to the plain list (no filter, no columns leak).
    html = get(rep_s1, view=team.pk)
    assert 'id="current-view"' in html and "华东金牌" not in html
    html = get(rep_e2, view=team.pk)
    assert "华东金牌" in html and ">Grade<" in html
    assert names_in(html, org) == ["客户乙"]  # the view's filter, within rep_e2's own scope

    # A rep cannot share with everyone; an administrator can.
    response = save_view(rep_e1, "全员", "everyone", query)
    assert response.status_code == 302 and not SavedView.objects.filter(name="全员").exists()
    follow = rep_e1.get(response["Location"])
    assert "Only administrators share views with everyone." in follow.content.decode()
    assert save_view(client_for(org.admin), "全员", "everyone", query).status_code == 302
    everyone = SavedView.objects.get(name="全员")
    assert listed(rep_s1, everyone) and listed(rep_e2, everyone)
    html = get(rep_s1, view=everyone.pk)
    assert names_in(html, org) == []  # gold customers, none of them rep_s1's

    # Only the owner (or an administrator) updates or deletes a view.
    assert rep_e2.post(f"/customers/views/{team.pk}/delete/").status_code == 404
    response = save_view(rep_e2, "改名", "team", query, update="1", view_id=team.pk)
    assert response.status_code == 404
    assert SavedView.objects.get(pk=team.pk).name == "华东金牌"
    response = save_view(
        rep_e1, "", "team", {"fb": "1", "col": ["name", "tier"]}, update="1", view_id=team.pk
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.name == "华东金牌" and team.columns == ["name", "tier"] and team.filters == []
    assert rep_e1.post(f"/customers/views/{team.pk}/delete/").status_code == 302
    assert not SavedView.objects.filter(pk=team.pk).exists()
    assert AuditEntry.objects.filter(object_id=team.pk, action=AuditAction.DELETE).exists()


def test_a_view_gives_defaults_and_the_form_overrides_them(org, fields):
    admin = client_for(org.admin)
    view = customization.save_view("customer", {
        "name": "v", "visibility": "private", "columns": ["name", "cf.score"],
        "filters": [{"field": "cf.grade", "op": "eq", "value": "gold"}], "sort": "cf.score",
    }, actor=org.admin)  # fmt: skip
    html = get(admin, view=view.pk)
    assert names_in(html, org) == ["客户丁", "客户乙", "客户甲"]
    assert 'name="f_field"' in html and 'value="gold" selected' in html  # the builder shows the view's filter
    # Submitting the form (fb=1) replaces the view's conditions: here, none.
    html = get(admin, view=view.pk, fb="1", col=["name", "cf.score"])
    assert len(names_in(html, org)) == 7


# --------------------------------------------------------------------------- kanban


def kanban_counts(html: str) -> dict[str, int]:
    return {
        key: int(count)
        for key, count in re.findall(
            r'data-key="([^"]+)"[^>]*>\s*<header[^>]*>.*?kanban-count">(\d+)<', html, flags=re.S
        )
    }


def test_kanban_groups_and_counts_by_a_custom_single_select(org, fields):
    admin = client_for(org.admin)
    html = get(admin, layout="kanban", kanban_field="cf.grade")
    assert kanban_counts(html) == {"gold": 3, "silver": 1, "bronze": 1, queries.EMPTY_GROUP: 2}
    assert 'id="kanban"' in html and "Gold" in html
    # Filters apply to the board.
    html = get(admin, layout="kanban", kanban_field="cf.grade", **conditions(("cf.channels", "has", "expo")))
    assert kanban_counts(html) == {"gold": 2, "silver": 0, "bronze": 0, queries.EMPTY_GROUP: 0}
    # A rep's board counts only their own customers.
    html = get(client_for(org.rep_e1), layout="kanban", kanban_field="cf.grade")
    assert kanban_counts(html) == {"gold": 1, "silver": 0, "bronze": 0, queries.EMPTY_GROUP: 0}
    # Built-in single selects work too; the /kanban/ address opens the board.
    response = admin.get("/customers/kanban/", {"kanban_field": "lifecycle_stage"})
    counts = kanban_counts(response.content.decode())
    assert sum(counts.values()) == 7 and counts[queries.EMPTY_GROUP] == 0
    # A multi-select or number field cannot be a kanban: falls back to the lifecycle stage.
    html = get(admin, layout="kanban", kanban_field="cf.channels")
    assert 'data-field="lifecycle_stage"' in html


def test_kanban_shows_the_first_cards_of_each_column_and_the_rest_as_a_count(org, fields):
    registry = customfields.Registry("customer")
    state = queries.list_state(
        QueryDict("layout=kanban&kanban_field=cf.grade&sort=cf.score"), registry, user=org.admin
    )
    qs = queries.view_queryset(org.admin, state, registry)
    board = queries.kanban_board(org.admin, state, registry, qs, per_column=2)
    gold = next(col for col in board["columns"] if col["key"] == "gold")
    assert gold["count"] == 3 and gold["more"] == 1
    assert [c.name for c in gold["cards"]] == ["客户丁", "客户乙"]  # sorted by score within the column
    assert board["total"] == 7


def test_moving_a_card_goes_through_update_customer(org, fields):
    rep = client_for(org.rep_e1)
    c_e1, c_s1 = org.customers["c_e1"], org.customers["c_s1"]
    data = {
        "customer_id": c_e1.pk,
        "kanban_field": "cf.grade",
        "value": "silver",
        "next": "/customers/?layout=kanban",
    }
    response = rep.post("/customers/kanban/move/", data)
    assert response.status_code == 302 and response["Location"] == "/customers/?layout=kanban"
    c_e1.refresh_from_db()
    assert c_e1.custom_fields["grade"] == "silver"
    entry = AuditEntry.objects.filter(object_id=c_e1.pk, action=AuditAction.UPDATE).first()
    assert entry.after["custom_fields"]["grade"] == "silver"
    assert rep.post("/customers/kanban/move/", {**data, "customer_id": c_s1.pk}).status_code == 404
    rep.post("/customers/kanban/move/", {**data, "kanban_field": "tier", "value": "A"})
    c_e1.refresh_from_db()
    assert c_e1.tier == "A"


# --------------------------------------------------------------------------- bulk tags


def test_bulk_tag_and_untag_change_only_visible_customers_and_audit(org, queue):
    c = org.customers
    rep = client_for(org.rep_e1)
    ids = [c["c_e1"].pk, c["c_e2"].pk, c["c_s1"].pk]  # only c_e1 is rep_e1's
    events_before = Event.objects.filter(name="customer.updated").count()
    response = rep.post("/customers/bulk-tag/", {"customer_ids": ids, "tags": "重点, 复购", "mode": "add",
                                                 "next": "/customers/?q=x"})  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/customers/?q=x"
    assert set(c["c_e1"].tags.values_list("name", flat=True)) == {"重点", "复购"}
    assert not c["c_e2"].tags.exists() and not c["c_s1"].tags.exists()
    entries = AuditEntry.objects.filter(object_id__in=ids, action=AuditAction.UPDATE, actor=org.rep_e1)
    assert [(e.object_id, e.before, e.after) for e in entries] == [
        (c["c_e1"].pk, {"tags": []}, {"tags": ["复购", "重点"]})
    ]
    assert Event.objects.filter(name="customer.updated").count() == events_before + 1
    # Again: nothing changes, nothing is written.
    assert actions.bulk_tag(ids, ["重点"], actor=org.rep_e1) == 0
    assert entries.count() == 1
    # A manager tags the whole team, then removes one tag.
    manager_ids = [c["c_e1"].pk, c["c_e2"].pk, c["c_mgr"].pk, c["c_s1"].pk]
    assert actions.bulk_tag(manager_ids, "重点", actor=org.manager_e) == 2
    assert actions.bulk_tag(manager_ids, ["重点", "不存在"], actor=org.manager_e, remove=True) == 3
    assert set(c["c_e1"].tags.values_list("name", flat=True)) == {"复购"}
    assert not Tag.objects.filter(name="不存在").exists()
    last = AuditEntry.objects.filter(object_id=c["c_e1"].pk).first()
    assert last.before == {"tags": ["复购", "重点"]} and last.after == {"tags": ["复购"]}
    assert not c["c_s1"].tags.exists()


def test_bulk_tag_refuses_without_permission_bad_input_and_tags_for_other_objects(org):
    c_e1 = org.customers["c_e1"]
    with pytest.raises(PermissionDenied):
        actions.bulk_tag([c_e1.pk], ["x"], actor=org.marketing)  # no customer.change
    assert (
        client_for(org.marketing)
        .post("/customers/bulk-tag/", {"customer_ids": [c_e1.pk], "tags": "x"})
        .status_code
        == 403
    )
    Tag.objects.create(name="订单专用", object_types=["order"])
    with pytest.raises(ValidationError) as error:
        actions.bulk_tag([c_e1.pk], ["订单专用", "好"], actor=org.rep_e1)
    assert "tags" in error.value.message_dict
    assert not c_e1.tags.exists() and not Tag.objects.filter(name="好").exists()
    for ids, names in (([], ["x"]), ([c_e1.pk], []), ([c_e1.pk], ["<b>"]), (["abc", "9" * 40], ["x"]),
                       (list(range(1, 600)), ["x"])):  # fmt: skip
        with pytest.raises(ValidationError):
            actions.bulk_tag(ids, names, actor=org.rep_e1)
    rep = client_for(org.rep_e1)
    response = rep.post("/customers/bulk-tag/", {"tags": "x"})
    assert response.status_code == 302
    assert "Select at least one customer." in rep.get(response["Location"]).content.decode()
    assert not c_e1.tags.exists()


# --------------------------------------------------------------------------- pages and query counts


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_list_and_kanban_do_not_grow_with_rows(org, fields):
    admin = client_for(org.admin)
    columns = ["name", "company_name", "phone", "email", "owner", "tags", "cf.grade", "cf.channels",
               "cf.referrer", "cf.score", "lifecycle_stage"]  # fmt: skip
    table = {"fb": "1", "col": columns, **conditions(("cf.grade", "ne", "bronze")), "sort": "-cf.score"}
    board = {"layout": "kanban", "kanban_field": "cf.grade"}

    def page():
        assert admin.get("/customers/", table).status_code == 200

    def kanban():
        assert admin.get("/customers/", board).status_code == 200

    page(), kanban()
    small_page, small_kanban = _queries(page), _queries(kanban)
    company = make_customer(org.rep_e1, name="大公司", kind="company")
    for i in range(24):
        customer = make_customer(org.rep_e1 if i % 2 else org.rep_s1, name=f"联系人{i}", phone=f"1390000{i:04d}",
                                 email=f"p{i}@example.com", tags=["VIP", f"t{i % 3}"], company_id=company.pk)  # fmt: skip
        set_custom(customer, grade=["gold", "silver"][i % 2], channels=["wechat"], score=i,
                   referrer=[org.director.pk, org.manager_e.pk, org.rep_e2.pk][i % 3])  # fmt: skip
    assert _queries(page) == small_page
    assert _queries(kanban) == small_kanban
    assert small_page <= 16 and small_kanban <= 16


def test_htmx_search_returns_the_results_with_fresh_export_links(org, fields):
    admin = client_for(org.admin)
    response = admin.get(
        "/customers/", {"q": "客户甲", "fb": "1"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    )
    html = response.content.decode()
    assert "<html" not in html and 'id="customer-table"' in html
    assert 'id="list-links" hx-swap-oob="true"' in html and "export.csv?q=" in html
    assert 'id="save-view-query"' in html
    assert names_in(html, org) == ["客户甲"]


# --------------------------------------------------------------------------- in a real browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_filter_builder_columns_saved_view_bulk_tag_and_kanban_in_the_browser(page, org, fields):
    from playwright.sync_api import expect

    from tests.conftest import login

    login(page, org.admin.username, PASSWORD)
    page.goto("/customers/")
    links = page.locator("#customer-table a.customer-link")
    expect(links).to_have_count(7)
    # Filter builder: add a row, choose a field (the row reloads with its operators and values).
    page.click("#filter-builder-toggle")
    page.click("#add-condition")
    page.wait_for_selector(".filter-row:not(.htmx-added)")  # htmx has wired the new row up
    page.locator(".filter-row select[name=f_field]").select_option("cf.grade")
    page.wait_for_selector(".filter-row select[name=f_value] option[value=gold]", state="attached")
    assert "filter-row" not in page.url  # loading a row does not change the address
    page.locator(".filter-row select[name=f_value]").select_option("gold")
    page.click("#apply-filters")
    expect(links).to_have_count(3)
    assert "f_field=cf.grade" in page.url
    # A second row can be added and removed again.
    page.click("#add-condition")
    expect(page.locator(".filter-row")).to_have_count(2)
    page.locator(".filter-row").nth(1).locator("[data-remove-row]").click()
    expect(page.locator(".filter-row")).to_have_count(1)
    # Column chooser.
    page.click("#column-chooser-toggle")
    page.check("#column-chooser input[value='cf.score']")
    page.click("#apply-columns")
    expect(page.locator("#customer-table th[data-ref='cf.score']")).to_have_count(1)
    # Save what is on screen as a view.
    page.click("#save-view-toggle")
    page.fill("#view-name", "浏览器视图")
    page.click("#save-view-new")
    page.wait_for_url("**/customers/?view=*")
    expect(page.locator("#current-view")).to_have_text("浏览器视图")
    expect(links).to_have_count(3)
    view = SavedView.objects.get(name="浏览器视图")
    assert view.filters == [{"field": "cf.grade", "op": "eq", "value": "gold"}] and "cf.score" in view.columns
    # Bulk tag the ticked rows.
    page.check("#customer-table thead [data-select-all]")
    page.fill("#bulk-tags", "浏览器标签")
    page.click("#bulk-tag-add")
    page.wait_for_load_state()
    tagged = set(Customer.objects.filter(tags__name="浏览器标签").values_list("name", flat=True))
    assert tagged == {"客户甲", "客户乙", "客户丁"}
    assert "view=" in page.url  # back to the same view
    # Kanban of the same view.
    page.click("#layout-kanban")
    page.wait_for_selector("#kanban")
    assert page.locator("#kanban .kanban-card").count() == 3
    assert page.js_errors == []


def test_a_tag_restricted_to_deals_cannot_be_put_on_a_customer_by_any_write(org):
    from django.utils import translation

    from guanxi.customization import actions as customization

    customization.save_tag({"name": "大单", "object_types": ["deal"]}, actor=org.admin)
    customer = org.customers["c_e1"]
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        actions.update_customer(customer.pk, {"tags": ["大单", "VIP"]}, actor=org.rep_e1)
    assert exc.value.message_dict == {"tags": ["These tags cannot be used on customers: 大单."]}
    assert not customer.tags.exists()
    with pytest.raises(ValidationError):
        actions.bulk_tag([customer.pk], ["大单"], actor=org.rep_e1)
    assert not customer.tags.exists()
