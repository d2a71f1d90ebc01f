from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "guanxi.core"
    label = "core"
    verbose_name = _("Organisation and audit")

    def ready(self) -> None:
        from guanxi.core import tasks  # noqa: F401  (registers worker tasks)
