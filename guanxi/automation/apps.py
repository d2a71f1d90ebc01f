from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "guanxi.automation"
    label = "automation"
    verbose_name = _("Automation")

    def ready(self) -> None:
        from guanxi.automation import panels, subscribers, tasks  # noqa: F401  (registers subscribers and worker tasks)

        panels.register()  # "Run a rule" on the selected customers of the customer list
