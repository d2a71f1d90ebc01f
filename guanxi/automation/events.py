"""Events of the automation app: names and payload fields (the catalogue, see core/events.py)."""

from django.db import models

from guanxi.core.events import declare


class AutomationEvent(models.TextChoices):
    RULE_SAVED = "automation.rule_saved"


declare(AutomationEvent.RULE_SAVED, "version", "enabled")
