from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EngagementConfig(AppConfig):
    name = "guanxi.engagement"
    label = "engagement"
    verbose_name = _("Follow-up")

    def ready(self) -> None:
        from guanxi.engagement import fields, tasks, tasks_assignment, tasks_pool  # noqa: F401  (registers worker tasks)

        fields.register()

        from guanxi.engagement import panels

        panels.register()  # the customer page: follow-up form, open tasks, release button, timeline

        from guanxi.customers.ownership import register_policy
        from guanxi.engagement.actions.pool import PoolOwnershipPolicy

        # Pool rules and the ownership history join every owner change (customers.ownership).
        register_policy(PoolOwnershipPolicy())
