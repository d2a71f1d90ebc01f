from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from guanxi import text as normalize


class CustomersConfig(AppConfig):
    name = "guanxi.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        # Imported here, not at the top: models (and modules importing them) cannot be imported
        # before the app registry is ready, which it is when ready() runs.
        from guanxi.core import sensitive
        from guanxi.customers import fields, panels, tasks, tasks_quality  # noqa: F401  (registers worker tasks)
        from guanxi.customization.models import FieldType

        fields.register()
        panels.register()  # the customer page's own tabs; other apps add theirs (customers.panels)
        # Phones (contact points and phone-type custom fields) are masked as 138****5678.
        sensitive.register_type(
            FieldType.PHONE, mask=normalize.mask_phone, display=normalize.format_phone_display
        )
