from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomizationConfig(AppConfig):
    name = "guanxi.customization"
    label = "customization"
    verbose_name = _("Customization")

    def ready(self) -> None:
        from guanxi.customization import tasks  # noqa: F401  (registers worker tasks)
