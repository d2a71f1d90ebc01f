"""Renaming a custom field points every stored reference at the new key, in the same transaction."""

from __future__ import annotations

import pytest

from guanxi.customers import importing
from guanxi.customization import actions as customization
from guanxi.customization.models import FormLayout, SavedView
from guanxi.sales import actions as sales_actions

pytestmark = pytest.mark.django_db


def test_layouts_views_stages_and_import_mappings_follow_a_rename(org):
    admin = org.admin
    grade = customization.create_custom_field(
        {"object_type": "customer", "key": "grade", "label_zh": "等级", "type": "single_select",
         "options": "金|Gold\n银|Silver"},
        actor=admin,
    )  # fmt: skip
    budget = customization.create_custom_field(
        {"object_type": "deal", "key": "budget", "label_zh": "预算", "type": "money"}, actor=admin
    )
    customization.save_form_layout(
        "customer",
        [{"title_zh": "基本", "fields": ["kind", "name", "cf.grade"]}],
        actor=admin,
    )
    view = customization.save_view(
        "customer",
        {"name": "金牌", "columns": ["name", "cf.grade"], "sort": "-cf.grade", "kanban_field": "cf.grade",
         "filters": [{"field": "cf.grade", "op": "eq", "value": "金"}]},
        actor=admin,
    )  # fmt: skip
    pipeline = sales_actions.ensure_default_pipeline()
    stages = [
        {"id": s.pk, "name_zh": s.name_zh, "probability": s.probability, "outcome": s.outcome,
         "required_fields": ["cf.budget"] if s.outcome == "won" else []}
        for s in pipeline.stages.order_by("position")
    ]  # fmt: skip
    sales_actions.save_pipeline({"stages": stages}, actor=admin, pipeline_id=pipeline.pk)
    saved = importing.save_mapping("展会名单", {"姓名": "name", "等级": "cf.grade"}, actor=admin)

    customization.rename_custom_field(grade.pk, "tier_level", actor=admin)
    customization.rename_custom_field(budget.pk, "deal_budget", actor=admin)

    layout = FormLayout.objects.get(object_type="customer", role__isnull=True)
    assert layout.sections[0]["fields"] == ["kind", "name", "cf.tier_level"]
    view = SavedView.objects.get(pk=view.pk)
    assert view.columns == ["name", "cf.tier_level"]
    assert view.sort == "-cf.tier_level" and view.kanban_field == "cf.tier_level"
    assert view.filters == [{"field": "cf.tier_level", "op": "eq", "value": "金"}]
    assert pipeline.stages.get(outcome="won").required_fields == ["cf.deal_budget"]
    saved.refresh_from_db()
    assert saved.mapping == {"姓名": "name", "等级": "cf.tier_level"}
    # The saved view is still valid for the registry (its filter resolves to the renamed field).
    customization.clean_view(
        "customer", {"columns": view.columns, "filters": view.filters, "sort": view.sort}, actor=None
    )
