from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "guanxi.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from guanxi.sales import fields, panels

        fields.register()
        fields.register_deals()
        panels.register()  # the customer page: deals and orders tabs, orders on the timeline

        from guanxi.customers.inbound import register_order_writer
        from guanxi.sales.actions import create_order

        register_order_writer(create_order)  # paid orders arriving by inbound webhook
