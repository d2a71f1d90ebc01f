from importlib import import_module

from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "guanxi.core"
    label = "core"
    verbose_name = _("Organisation and audit")

    def ready(self) -> None:
        from guanxi.core import tasks  # noqa: F401  (registers worker tasks)

        # The test / extension hook `GUANXI_EXTRA_SUBSCRIBER_MODULES` (settings): modules whose
        # `@events.subscribe` handlers are registered like the apps' own; empty by default.
        for module in settings.EXTRA_SUBSCRIBER_MODULES:
            import_module(module)
