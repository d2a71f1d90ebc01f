"""The customer page's panel registry (customers.panels): an app's tabs, cards and timeline entries
show on the page without the customers app knowing the app."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from guanxi.core.permissions import Perm
from guanxi.customers import panels
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).parent / "panel_templates"
WHEN = timezone.make_aware(dt.datetime(2031, 1, 1, 9, 0))  # after everything the fixtures write


@pytest.fixture
def test_app_panels(settings):
    """What a test app would register in its AppConfig.ready(); the registry is restored afterwards."""
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [TEMPLATES]}]
    saved = panels.registry.copy()

    def tab_context(request, customer):
        return {"greeting": "你好"}

    panels.register_tab("test_tab", "测试页签", "panel_test/tab.html", tab_context, order=50)
    panels.register_tab(
        "secret_tab", "机密", "panel_test/tab.html", tab_context, permission=Perm.CUSTOMER_MERGE
    )
    for slot in panels.Slot:
        panels.register_card(
            f"test_{slot}", "panel_test/card.html", lambda r, c, s=slot: {"slot": s}, slot=slot
        )
    panels.register_timeline_source(
        "test_entry", "panel_test/entry.html", lambda r, c, limit: [(WHEN, "测试事件")]
    )
    yield
    panels.registry.tabs, panels.registry.cards, panels.registry.timeline_sources = (
        saved.tabs, saved.cards, saved.timeline_sources
    )  # fmt: skip


def _client(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_the_built_in_panels_come_from_their_apps_in_order():
    assert [
        t.key for t in panels.registry.tabs.values() if t.key in {"timeline", "deals", "orders", "history"}
    ]
    assert [(t.key, t.template.split("/")[0]) for t in sorted(panels.registry.tabs.values(), key=lambda t: t.order)] == [
        ("timeline", "customers"), ("deals", "sales"), ("orders", "sales"), ("history", "customers")
    ]  # fmt: skip
    assert {c.key: c.template.split("/")[0] for c in panels.registry.cards.values()} == {
        "release_to_pool": "engagement", "follow_up_form": "engagement", "open_tasks": "engagement",
        "approvals": "approvals", "automation_run_rule": "automation",  # the last in the list's bulk bar
    }  # fmt: skip
    assert panels.registry.cards["automation_run_rule"].slot == panels.Slot.LIST_BULK
    assert [s.key for s in sorted(panels.registry.timeline_sources.values(), key=lambda s: s.order)] == [
        "follow_up", "order", "change"
    ]  # fmt: skip


def test_a_tab_card_and_timeline_entry_registered_by_an_app_show_on_the_customer_page(org, test_app_panels):
    customer = org.customers["c_e1"]
    client = _client(org.rep_e1)
    html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    # the tab sits between orders (30) and history (90); the default tab is still the timeline
    order = [
        html.index(f'data-tab="{key}"') for key in ("timeline", "deals", "orders", "test_tab", "history")
    ]
    assert order == sorted(order)
    assert "测试页签" in html
    # a card in each slot, each with its own context
    for slot in ("actions", "side", "main"):
        assert f'<div class="card mb-3" id="test-card-{slot}">{slot} card of 客户甲</div>' in html
    assert (
        html.index('id="test-card-actions"')
        < html.index('id="test-card-side"')
        < html.index('id="test-card-main"')
    )
    # the timeline carries the app's entry, newest first
    assert '<div class="test-entry">测试事件</div>' in html
    first, second = (i := html.index("timeline-item")), html.index("timeline-item", i + 1)
    assert first < html.index("测试事件") < second  # 2031: the newest entry

    tab = client.get(reverse("customers:tab", args=[customer.pk, "test_tab"]))
    assert tab.status_code == 200 and '<p id="test-tab-body">你好 客户甲</p>' in tab.content.decode()
    direct = client.get(reverse("customers:detail", args=[customer.pk]), {"tab": "test_tab"}).content.decode()
    assert '<p id="test-tab-body">你好 客户甲</p>' in direct and 'id="tab-test_tab" aria-controls' in direct


def test_a_tab_needing_a_permission_is_hidden_from_users_without_it(org, test_app_panels):
    customer = org.customers["c_e1"]
    rep = _client(org.rep_e1)
    assert not org.rep_e1.has_perm_code(Perm.CUSTOMER_MERGE)
    assert (
        'data-tab="secret_tab"'
        not in rep.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    )
    assert rep.get(reverse("customers:tab", args=[customer.pk, "secret_tab"])).status_code == 404
    # asked for directly, the page falls back to the first tab
    fallback = rep.get(
        reverse("customers:detail", args=[customer.pk]), {"tab": "secret_tab"}
    ).content.decode()
    assert 'aria-labelledby="tab-timeline"' in fallback and "test-tab-body" not in fallback

    admin = _client(org.admin)
    assert (
        'data-tab="secret_tab"' in admin.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    )
    assert admin.get(reverse("customers:tab", args=[customer.pk, "secret_tab"])).status_code == 200


def test_panel_keys_must_be_safe_in_urls_and_ids():
    with pytest.raises(ValueError):
        panels.register_tab("a b", "x", "panel_test/tab.html")
    with pytest.raises(ValueError):
        panels.register_card('x"><script>', "panel_test/card.html")
