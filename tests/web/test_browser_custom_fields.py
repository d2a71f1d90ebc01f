"""Issue 5, acceptance 1, in a real browser: a custom field from the admin's settings to the rep's export.

An admin adds the required single-select field 客户来源细分 to customers and puts it in a new form
section; a rep creating a customer must fill it, filters the list by it, saves the view for the
team, and exports the list with the field. A teammate then finds the shared view.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from guanxi.core.permissions import Perm
from guanxi.customers.models import Customer
from guanxi.customization.models import CustomField, SavedView, ViewVisibility
from tests.conftest import login
from tests.factories import PASSWORD, make_customer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_out(page) -> None:
    page.context.clear_cookies()


def test_admin_adds_a_required_select_and_a_rep_fills_filters_shares_and_exports_it(page, org):
    from playwright.sync_api import expect

    # This company lets its sales reps export their own customers.
    role = org.rep_e1.role
    role.permissions = sorted({*role.permissions, Perm.CUSTOMER_EXPORT})
    role.save(update_fields=["permissions"])
    make_customer(org.rep_e1, name="老客户", phone="13700000009")

    # --- the admin defines the field and places it in a new form section
    login(page, org.admin.username, PASSWORD)
    page.click("#user-menu")
    page.click("#menu-customization")
    page.click("#new-field")
    page.fill("#id_key", "source_detail")
    page.fill("#id_label_zh", "客户来源细分")
    page.fill("#id_label_en", "Source detail")
    page.select_option("#id_type", "single_select")
    page.check("#id_required")
    page.fill("#id_options", "展会|Trade fair\n官网|Website\n转介绍|Referral")
    page.click("#save-field")
    expect(page.locator("#field-table tr[data-key=source_detail]")).to_contain_text("客户来源细分")
    field = CustomField.objects.get(object_type="customer", key="source_detail")
    assert field.required and field.type == "single_select"

    page.click("#tab-layouts")
    page.fill("#id_section-4-title_zh", "来源信息")
    page.fill("#id_section-4-title_en", "Source")
    page.select_option("#id_place-cf-source_detail-section", "4")
    page.fill("#id_place-cf-source_detail-position", "1")
    page.click("#save-layout")
    expect(page.locator(".alert-success")).to_be_visible()
    assert page.js_errors == []
    _log_out(page)

    # --- the rep must fill it when creating a customer
    login(page, org.rep_e1.username, PASSWORD)
    page.goto("/customers/new/")
    section = page.locator("fieldset, .card").filter(has_text="来源信息")
    expect(section.locator("[name=cf_source_detail]")).to_have_count(1)
    page.fill("#id_name", "欧阳娜娜")
    page.fill("#id_phone", "139 0000 1111")
    page.click("#save-customer")
    expect(page.locator("[name=cf_source_detail].is-invalid")).to_have_count(1)
    assert not Customer.objects.filter(name="欧阳娜娜").exists()
    page.select_option("[name=cf_source_detail]", "官网")
    page.click("#save-customer")
    page.wait_for_url("**/customers/*/")
    created = Customer.objects.get(name="欧阳娜娜")
    assert created.custom_fields == {"source_detail": "官网"}
    expect(page.locator("body")).to_contain_text("客户来源细分")

    # --- filters the list by it and saves the view for the team
    page.goto("/customers/")
    expect(page.locator("#customer-table a.customer-link")).to_have_count(
        3
    )  # the org gave rep_e1 one, plus 老客户 and the new one
    page.click("#filter-builder-toggle")
    page.click("#add-condition")
    page.wait_for_selector(".filter-row:not(.htmx-added)")
    page.locator(".filter-row select[name=f_field]").select_option("cf.source_detail")
    page.wait_for_selector(".filter-row select[name=f_value] option[value='官网']", state="attached")
    page.locator(".filter-row select[name=f_value]").select_option("官网")
    page.click("#apply-filters")
    page.wait_for_url("**f_field=cf.source_detail**")
    expect(page.locator("#customer-table a.customer-link")).to_have_count(1)
    expect(page.locator("#customer-table")).to_contain_text("欧阳娜娜")
    page.click("#column-chooser-toggle")
    page.check("#column-chooser input[value='cf.source_detail']")
    page.click("#apply-columns")
    expect(page.locator("#customer-table th[data-ref='cf.source_detail']")).to_have_count(1)
    page.click("#save-view-toggle")
    page.fill("#view-name", "官网线索")
    page.select_option("#view-visibility", ViewVisibility.TEAM)
    page.click("#save-view-new")
    page.wait_for_url("**/customers/?view=*")
    view = SavedView.objects.get(name="官网线索")
    assert view.visibility == ViewVisibility.TEAM and view.department_id == org.rep_e1.department_id
    assert {"field": "cf.source_detail", "op": "eq", "value": "官网"} in view.filters

    # --- exports the list with the field
    page.click("#export-menu button")
    with page.expect_download() as download_info:
        page.click("#export-csv")
    content = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    header, body = rows[0], rows[1:]
    assert "客户来源细分" in header
    assert len(body) == 1
    assert body[0][header.index("客户来源细分")] == "官网"
    assert body[0][header.index("名称")] == "欧阳娜娜"
    assert page.js_errors == []
    _log_out(page)

    # --- a teammate in the same department finds the shared view (and sees only what is theirs to see)
    login(page, org.rep_e2.username, PASSWORD)
    page.goto(f"/customers/?view={view.pk}")
    expect(page.locator("#current-view")).to_have_text("官网线索")
    expect(page.locator("#customer-table a.customer-link")).to_have_count(0)  # rep_e2 owns none of them
    assert page.js_errors == []
