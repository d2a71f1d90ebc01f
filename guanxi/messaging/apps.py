from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "guanxi.messaging"
    label = "messaging"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from guanxi.messaging import subscribers, tasks  # noqa: F401  (registers worker tasks and subscribers)
