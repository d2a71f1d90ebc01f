"""Request and response schemas of the automation API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema

from guanxi.customization.schemas import Input


class RuleIn(Input):
    name: str
    object_type: str = Field(..., description="customer, deal, order, follow_up or task")
    description: str = ""
    enabled: bool = False
    trigger: dict[str, Any] = Field(
        ..., description='e.g. {"type": "field_changed", "field": "tier", "to": "A"}'
    )
    conditions: dict[str, Any] | list[Any] = Field(
        default_factory=dict,
        description='{"all": [...]} / {"any": [...]} of {"field", "op", "value"} (the list filters\' language), '
        "groups nested two levels deep; update triggers may use op changed / changed_to (from, to).",
    )
    actions: list[dict[str, Any]] = Field(
        ..., description='Ordered steps, e.g. {"type": "create_task", "title": "..."}'
    )


class RulePatch(Input):
    name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    trigger: dict[str, Any] | None = None
    conditions: dict[str, Any] | list[Any] | None = None
    actions: list[dict[str, Any]] | None = None


class RuleStats(Schema):
    fired: int
    failed: int
    last_run_at: dt.datetime | None


class RuleOut(Schema):
    id: int
    name: str
    description: str
    object_type: str
    enabled: bool
    version: int
    trigger: dict[str, Any]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    owner_id: int
    created_at: dt.datetime
    updated_at: dt.datetime
    stats: RuleStats


class VersionOut(Schema):
    version: int
    definition: dict[str, Any]
    created_at: dt.datetime
    created_by_id: int | None


class RunOut(Schema):
    id: int
    rule_id: int
    version: int
    object_type: str
    object_id: int
    occurrence: str
    event_id: int | None
    status: str
    seen: dict[str, Any]
    results: list[dict[str, Any]]
    error: str
    attempts: int
    next_attempt_at: dt.datetime | None
    duration_ms: int
    created_at: dt.datetime


class RunParams(Schema):
    status: str | None = None
    limit: int = Field(50, ge=1, le=500)


class PreviewOut(Schema):
    count: int
    sample: list[dict[str, Any]]


class DryRunIn(Input):
    object_id: int


class DryRunOut(Schema):
    matches: bool
    seen: dict[str, Any]
    steps: list[dict[str, Any]]


class ManualRunIn(Input):
    object_ids: list[int] = Field(..., max_length=1000)


class ManualRunOut(Schema):
    selected: int
    matched: int
    fired: int


class RetryIn(Input):
    run_ids: list[int] = Field(..., max_length=500)
