from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    name = "guanxi.approvals"
    label = "approvals"
    verbose_name = _("Approvals")

    def ready(self) -> None:
        from guanxi.approvals import gates, panels, tasks  # noqa: F401  (registers worker tasks)

        gates.register()  # the edit guard (locked while pending) and the stage-move gate
        panels.register()  # the approvals panel on deal and customer pages
