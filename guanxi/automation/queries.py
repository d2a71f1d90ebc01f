"""Reads of automation shared by the pages and the API: one live rule for an administrator, and the
rules' statistics from the run log."""

from __future__ import annotations

from django.db.models import Count, Max, Q

from guanxi.automation.models import Rule, RuleRun, RunStatus
from guanxi.core.exceptions import NotFound, require
from guanxi.core.permissions import Perm


def live_rule(rule_id: int, *, user) -> Rule:
    """A rule that is not deleted, for a user who may manage settings (else 403 / 404)."""
    require(user, Perm.SETTINGS_MANAGE)
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
