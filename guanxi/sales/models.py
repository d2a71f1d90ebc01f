"""Sales: orders (the purchase history behind RFM, churn and LTV). Deals, quotes and contracts come later."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import Channel


class OrderStatus(models.TextChoices):
    PAID = "paid", _("Paid")
    REFUNDED = "refunded", _("Refunded")
    CANCELLED = "cancelled", _("Cancelled")


class Order(models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="orders")
    number = models.CharField(_("order number"), max_length=40, unique=True)
    ordered_at = models.DateTimeField(_("ordered at"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices, default=Channel.MANUAL)
    status = models.CharField(
        _("status"), max_length=20, choices=OrderStatus.choices, default=OrderStatus.PAID
    )
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)

    class Meta:
        ordering = ["-ordered_at"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [models.Index(fields=["customer", "-ordered_at"], name="order_customer_idx")]

    def __str__(self) -> str:
        return self.number
