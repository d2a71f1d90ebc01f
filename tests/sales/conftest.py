"""Sales fixtures: the default pipeline and a deal custom field ("budget", a money field)."""

from __future__ import annotations

import pytest

from guanxi.customization import actions as customization
from guanxi.customization.models import CustomObject, FieldType
from guanxi.sales.actions import ensure_default_pipeline


@pytest.fixture
def pipeline(db):
    return ensure_default_pipeline()


@pytest.fixture
def stages(pipeline):
    """The default stages by English name: Qualification, Needs analysis, Proposal, Negotiation, Won, Lost."""
    return {s.name_en: s for s in pipeline.stages.order_by("position")}


@pytest.fixture
def budget_field(org):
    return customization.create_custom_field(
        {"object_type": CustomObject.DEAL, "key": "budget", "label_zh": "预算", "label_en": "Budget",
         "type": FieldType.MONEY},
        actor=org.admin,
    )  # fmt: skip


def require_fields(stage, refs):
    """Make a stage ask for fields (test set-up, not the behaviour under test)."""
    stage.required_fields = list(refs)
    stage.save(update_fields=["required_fields"])
    return stage
