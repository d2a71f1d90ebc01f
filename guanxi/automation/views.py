"""Automation pages: the rules with their statistics, the template gallery, one rule with its
versions, preview and run log. Thin callers of the actions; settings.manage throughout."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.automation.actions import engine, rules
from guanxi.automation.models import Rule, RuleRun, RunStatus
from guanxi.automation.queries import live_rule, stats_for
from guanxi.automation.templates import TEMPLATES
from guanxi.core.converters import as_id
from guanxi.core.exceptions import NotFound, require
from guanxi.core.permissions import Perm


@login_required
def rule_list(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    found = list(Rule.objects.filter(deleted_at__isnull=True).select_related("owner"))
    stats = stats_for([r.pk for r in found])
    for rule in found:
        rule.stats = stats[rule.pk]
    installed = {r.template_key for r in found if r.template_key}
    return render(request, "automation/rules.html", {
        "rules": found, "templates": [t for t in TEMPLATES if t.key not in installed],
    })  # fmt: skip


@login_required
def rule_detail(request, rule_id: int):
    rule = live_rule(rule_id, user=request.user)
    runs = RuleRun.objects.filter(rule=rule)
    status = request.GET.get("status")
    if status in RunStatus.values:
        runs = runs.filter(status=status)
    try:
        preview = engine.preview(rule, limit=10)
    except ValidationError:
        preview = None  # a field the rule names was deleted since
    return render(request, "automation/rule.html", {
        "rule": rule, "runs": runs[:100], "versions": rule.versions.all()[:20], "preview": preview,
        "statuses": RunStatus.choices, "status": status, "stats": stats_for([rule.pk])[rule.pk],
        "definition": json.dumps({"trigger": rule.trigger, "conditions": rule.conditions, "actions": rule.actions},
                                 ensure_ascii=False, indent=2),
    })  # fmt: skip


@login_required
@require_POST
def set_enabled(request, rule_id: int):
    rule = live_rule(rule_id, user=request.user)
    try:
        rules.set_enabled(rule.pk, request.POST.get("enabled") == "1", actor=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    if request.POST.get("next") == "detail":
        return redirect("automation:rule", rule_id=rule.pk)
    return redirect("automation:rules")


@login_required
@require_POST
def install(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    try:
        rule = rules.install_template(request.POST.get("key", ""), actor=request.user)
    except (ValidationError, NotFound):
        messages.error(request, _("This template cannot be installed."))
        return redirect("automation:rules")
    messages.success(request, _("Installed, disabled: read it, then enable it."))
    return redirect("automation:rule", rule_id=rule.pk)


@login_required
@require_POST
def retry(request, rule_id: int):
    rule = live_rule(rule_id, user=request.user)
    wanted = [i for i in (as_id(v) for v in request.POST.getlist("run_ids")) if i is not None]
    count = engine.retry_now(list(RuleRun.objects.filter(pk__in=wanted, rule=rule).values_list("pk", flat=True)),
                             actor=request.user)  # fmt: skip
    messages.success(request, _("%(count)d run(s) retried.") % {"count": count})
    return redirect("automation:rule", rule_id=rule.pk)
