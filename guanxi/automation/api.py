"""Automation endpoints: rules CRUD, enable/disable, preview, dry run, manual runs and the run log.
Thin callers of `guanxi.automation.actions`; everything needs settings.manage (rules act for the
whole company)."""

from __future__ import annotations

from django.db.models import Count, Max, Q
from ninja import Query, Router, Status

from guanxi.automation.actions import engine, rules
from guanxi.automation.models import Rule, RuleRun, RuleVersion, RunStatus
from guanxi.automation.schemas import (
    DryRunIn,
    DryRunOut,
    ManualRunIn,
    ManualRunOut,
    PreviewOut,
    RetryIn,
    RuleIn,
    RuleOut,
    RulePatch,
    RunOut,
    RunParams,
    VersionOut,
)
from guanxi.core.exceptions import NotFound, require
from guanxi.core.permissions import Perm

router = Router(tags=["automation"])


def _rule(request, rule_id: int) -> Rule:
    require(request.user, Perm.SETTINGS_MANAGE)
    rule = Rule.objects.filter(pk=rule_id, deleted_at__isnull=True).first()
    if rule is None:
        raise NotFound(rule_id)
    return rule


def stats_for(rule_ids: list[int]) -> dict[int, dict]:
    rows = (
        RuleRun.objects.filter(rule_id__in=rule_ids)
        .values("rule_id")
        .annotate(
            fired=Count("id", filter=Q(status__in=[RunStatus.SUCCEEDED, RunStatus.WAITING])),
            failed=Count("id", filter=Q(status__in=[RunStatus.FAILED, RunStatus.DEAD])),
            last_run_at=Max("created_at"),
        )
    )
    found = {row["rule_id"]: row for row in rows}
    return {pk: found.get(pk, {"fired": 0, "failed": 0, "last_run_at": None}) for pk in rule_ids}


def _out(rule: Rule, stats: dict | None = None) -> dict:
    return {
        "id": rule.pk, "name": rule.name, "description": rule.description, "object_type": rule.object_type,
        "enabled": rule.enabled, "version": rule.version, "trigger": rule.trigger, "conditions": rule.conditions or {},
        "actions": rule.actions, "owner_id": rule.owner_id, "created_at": rule.created_at,
        "updated_at": rule.updated_at, "stats": stats or stats_for([rule.pk])[rule.pk],
    }  # fmt: skip


@router.get("/automation/rules", response=list[RuleOut], summary="Automation rules")
def list_rules(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    found = list(Rule.objects.filter(deleted_at__isnull=True))
    stats = stats_for([r.pk for r in found])
    return [_out(r, stats[r.pk]) for r in found]


@router.post(
    "/automation/rules", response={201: RuleOut}, summary="Create a rule (422 names the part at fault)"
)
def create_rule(request, payload: RuleIn):
    rule = rules.save_rule(payload.model_dump(mode="json"), actor=request.user)
    return Status(201, _out(rule))


@router.get("/automation/rules/{int:rule_id}", response=RuleOut, summary="One rule")
def get_rule(request, rule_id: int):
    return _out(_rule(request, rule_id))


@router.patch("/automation/rules/{int:rule_id}", response=RuleOut, summary="Change a rule (a new version)")
def update_rule(request, rule_id: int, payload: RulePatch):
    rule = _rule(request, rule_id)
    return _out(rules.save_rule(payload.model_dump(mode="json", exclude_unset=True), actor=request.user,
                                rule_id=rule.pk))  # fmt: skip


@router.delete("/automation/rules/{int:rule_id}", response={204: None}, summary="Delete a rule")
def delete_rule(request, rule_id: int):
    rules.delete_rule(_rule(request, rule_id).pk, actor=request.user)
    return Status(204, None)


@router.post("/automation/rules/{int:rule_id}/enable", response=RuleOut, summary="Enable a rule")
def enable_rule(request, rule_id: int):
    return _out(rules.set_enabled(_rule(request, rule_id).pk, True, actor=request.user))


@router.post("/automation/rules/{int:rule_id}/disable", response=RuleOut, summary="Disable a rule")
def disable_rule(request, rule_id: int):
    return _out(rules.set_enabled(_rule(request, rule_id).pk, False, actor=request.user))


@router.get(
    "/automation/rules/{int:rule_id}/versions", response=list[VersionOut], summary="Every saved version"
)
def list_versions(request, rule_id: int):
    return list(RuleVersion.objects.filter(rule=_rule(request, rule_id)))


@router.get("/automation/rules/{int:rule_id}/preview", response=PreviewOut,
            summary="How many and which existing records match the conditions now")  # fmt: skip
def preview_rule(request, rule_id: int):
    return engine.preview(_rule(request, rule_id))


@router.post("/automation/rules/{int:rule_id}/dry-run", response=DryRunOut,
             summary="What each action would do on one record, without doing it")  # fmt: skip
def dry_run_rule(request, rule_id: int, payload: DryRunIn):
    return engine.dry_run(_rule(request, rule_id), payload.object_id)


@router.post("/automation/rules/{int:rule_id}/run", response=ManualRunOut,
             summary="Run the rule on selected records (once per record and request)")  # fmt: skip
def run_rule(request, rule_id: int, payload: ManualRunIn):
    return engine.run_manual(_rule(request, rule_id).pk, payload.object_ids, actor=request.user)


@router.get("/automation/rules/{int:rule_id}/runs", response=list[RunOut], summary="The rule's run log")
def list_runs(request, rule_id: int, params: Query[RunParams]):
    runs = RuleRun.objects.filter(rule=_rule(request, rule_id))
    if params.status:
        runs = runs.filter(status=params.status)
    return list(runs[: params.limit])


@router.post("/automation/runs/retry", response=dict, summary="Retry failed or dead runs now")
def retry_runs(request, payload: RetryIn):
    return {"retried": engine.retry_now(payload.run_ids, actor=request.user)}
