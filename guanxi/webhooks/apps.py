from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "guanxi.webhooks"
    label = "webhooks"
    verbose_name = _("Outgoing webhooks")

    def ready(self) -> None:
        from guanxi.webhooks import subscribers, tasks  # noqa: F401  (registers the subscriber and tasks)
