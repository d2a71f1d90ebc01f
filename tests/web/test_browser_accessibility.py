"""Accessibility: axe-core (vendored in guanxi/web/static/vendor/axe-core, WCAG 2 A/AA rules) runs in
Chromium over every main page, the customer page with each of its tabs; any violation fails."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from guanxi.customers import panels
from tests.factories import PASSWORD
from tests.web.conftest import login
from tests.web.pages import main_pages

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = "/static/vendor/axe-core/axe.min.js"
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page) -> list[dict]:
    """Inject the vendored axe-core (same origin: the Content-Security-Policy allows it) and run it."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE)
    result = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_A_AA,
    )
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:5]],
            "count": len(v["nodes"]),
        }
        for v in result["violations"]
    ]


def check_page(page, label: str, found: dict) -> None:
    violations = axe_violations(page)
    if violations:
        found[label] = violations


def test_every_main_page_passes_axe(page, org, world):
    found: dict[str, list] = {}
    page.goto(reverse("login"))
    check_page(page, "login", found)
    login(page, org.admin.username, PASSWORD)
    for label, url in main_pages(world).items():
        response = page.goto(url)
        assert response is not None and response.status == 200, (label, url)
        check_page(page, label, found)

    # the customer page, each tab loaded as a user does (htmx)
    customer = world["customer"]
    page.goto(reverse("customers:detail", args=[customer.pk]))
    check_page(page, "customer", found)
    for key in [tab.key for tab in panels.shown_tabs(org.admin)]:
        page.click(f"a[data-tab={key}]")
        expect(page.locator(f"a[data-tab={key}]")).to_have_attribute("aria-selected", "true")
        page.wait_for_load_state("networkidle")
        expect(page.locator("#tab-content")).to_have_attribute("aria-labelledby", f"tab-{key}")
        check_page(page, f"customer, tab {key}", found)
    assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)
    assert page.js_errors == []


def test_a_reps_pages_pass_axe(page, org, world):
    """What a sales rep sees differs (masked phones, claim buttons, no settings): checked too."""
    found: dict[str, list] = {}
    login(page, org.rep_e1.username, PASSWORD)
    for label, url in {
        "today": reverse("today"),
        "customers": reverse("customers:list"),
        "customer": reverse("customers:detail", args=[org.customers["c_e1"].pk]),
        "pool": reverse("pool:index"),
        "deals board": reverse("deals:board"),
        "deals list": reverse("deals:board") + "?layout=list",
        "notifications": reverse("messaging:center"),
    }.items():
        assert page.goto(url).status == 200, (label, url)
        check_page(page, label, found)
    assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)
    assert page.js_errors == []
