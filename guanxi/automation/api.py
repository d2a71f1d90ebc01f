"""Automation endpoints: rules CRUD, enable/disable, preview, dry run, manual runs and the run log.
Thin callers of `guanxi.automation.actions`; everything needs settings.manage (rules act for the
whole company)."""

from __future__ import annotations

from ninja import Query, Router, Status

from guanxi.automation.actions import engine, rules
from guanxi.automation.models import Rule, RuleRun, RuleVersion
from guanxi.automation.queries import live_rule, stats_for
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
from guanxi.core.exceptions import require
from guanxi.core.permissions import Perm

router = Router(tags=["automation"])


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
    return _out(live_rule(rule_id, user=request.user))


@router.patch("/automation/rules/{int:rule_id}", response=RuleOut, summary="Change a rule (a new version)")
def update_rule(request, rule_id: int, payload: RulePatch):
    rule = live_rule(rule_id, user=request.user)
    return _out(rules.save_rule(payload.model_dump(mode="json", exclude_unset=True), actor=request.user,
                                rule_id=rule.pk))  # fmt: skip


@router.delete("/automation/rules/{int:rule_id}", response={204: None}, summary="Delete a rule")
def delete_rule(request, rule_id: int):
    rules.delete_rule(live_rule(rule_id, user=request.user).pk, actor=request.user)
    return Status(204, None)


@router.post("/automation/rules/{int:rule_id}/enable", response=RuleOut, summary="Enable a rule")
def enable_rule(request, rule_id: int):
    return _out(rules.set_enabled(live_rule(rule_id, user=request.user).pk, True, actor=request.user))


@router.post("/automation/rules/{int:rule_id}/disable", response=RuleOut, summary="Disable a rule")
def disable_rule(request, rule_id: int):
    return _out(rules.set_enabled(live_rule(rule_id, user=request.user).pk, False, actor=request.user))


@router.get(
    "/automation/rules/{int:rule_id}/versions", response=list[VersionOut], summary="Every saved version"
)
def list_versions(request, rule_id: int):
    return list(RuleVersion.objects.filter(rule=live_rule(rule_id, user=request.user)))


@router.get("/automation/rules/{int:rule_id}/preview", response=PreviewOut,
            summary="How many and which existing records match the conditions now")  # fmt: skip
def preview_rule(request, rule_id: int):
    return engine.preview(live_rule(rule_id, user=request.user))


@router.post("/automation/rules/{int:rule_id}/dry-run", response=DryRunOut,
             summary="What each action would do on one record, without doing it")  # fmt: skip
def dry_run_rule(request, rule_id: int, payload: DryRunIn):
    return engine.dry_run(live_rule(rule_id, user=request.user), payload.object_id)


@router.post("/automation/rules/{int:rule_id}/run", response=ManualRunOut,
             summary="Run the rule on selected records (once per record and request)")  # fmt: skip
def run_rule(request, rule_id: int, payload: ManualRunIn):
    return engine.run_manual(live_rule(rule_id, user=request.user).pk, payload.object_ids, actor=request.user)


@router.get("/automation/rules/{int:rule_id}/runs", response=list[RunOut], summary="The rule's run log")
def list_runs(request, rule_id: int, params: Query[RunParams]):
    runs = RuleRun.objects.filter(rule=live_rule(rule_id, user=request.user))
    if params.status:
        runs = runs.filter(status=params.status)
    return list(runs[: params.limit])


@router.post("/automation/runs/retry", response=dict, summary="Retry failed or dead runs now")
def retry_runs(request, payload: RetryIn):
    return {"retried": engine.retry_now(payload.run_ids, actor=request.user)}
