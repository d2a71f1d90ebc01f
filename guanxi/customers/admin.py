"""Customers in the admin are read-only: every customer write goes through the actions (pages, API)."""

from django.contrib import admin

from guanxi.customers.models import ContactPoint, Customer


class ContactPointInline(admin.TabularInline):
    model = ContactPoint
    extra = 0
    fields = ("kind", "value", "normalized", "source", "verified", "is_primary")
    readonly_fields = fields
    can_delete = False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "kind",
        "owner",
        "lifecycle_stage",
        "tier",
        "city",
        "created_at",
        "deleted_at",
    )
    list_filter = ("kind", "lifecycle_stage", "tier", "source")
    search_fields = ("name", "name_initials", "name_pinyin")
    list_select_related = ("owner",)
    inlines = [ContactPointInline]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Inbound webhooks: sources are configured here; deliveries are read-only -------------------
import hashlib  # noqa: E402
import json  # noqa: E402

from django import forms  # noqa: E402
from django.contrib import messages  # noqa: E402
from django.db import transaction  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils.html import format_html  # noqa: E402
from django.utils.translation import gettext  # noqa: E402
from django.utils.translation import gettext_lazy as _  # noqa: E402

from guanxi.core import audit, crypto  # noqa: E402
from guanxi.core.admin import AuditedAdmin  # noqa: E402
from guanxi.core.models import AuditAction  # noqa: E402
from guanxi.customers import inbound  # noqa: E402
from guanxi.customers.models import InboundDelivery, InboundSource  # noqa: E402


def _secret_fingerprint(secret: str) -> str:
    """What the audit log keeps of a secret: enough to see that it changed, nothing to sign with."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12] if secret else ""


class InboundSourceForm(forms.ModelForm):
    """The secret is never shown again once saved (it is stored encrypted): the field starts empty,
    empty keeps the current secret, and a new one is shown once in a message."""

    secret = forms.CharField(
        label=_("secret"),
        required=False,
        max_length=128,
        help_text=_(
            "Senders sign every call with it. Leave empty to generate one (Standard Webhooks form whsec_…)."
        ),
        widget=forms.PasswordInput(attrs={"size": 60, "autocomplete": "new-password"}, render_value=False),
    )

    class Meta:
        model = InboundSource
        fields = ("name", "slug", "kind", "is_active", "default_owner", "secret", "mapping")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["secret"] = ""
        if self.instance.pk and self.instance.secret:
            self.fields["secret"].help_text = _(
                "Stored encrypted and not shown again (ends with %(tail)s). Leave empty to keep it; "
                "type a new one to replace it, or use the action “Generate new secrets”."
            ) % {"tail": crypto.mask(self.instance.secret)}

    def clean_secret(self) -> str:
        secret = (self.cleaned_data.get("secret") or "").strip()
        if secret and len(secret) < 16:
            raise forms.ValidationError(_("Use at least 16 characters, or leave it empty to generate one."))
        if not secret and self.instance.pk and self.instance.secret:
            return self.instance.secret
        if not secret:
            self.generated_secret = inbound.generate_secret()
            return self.generated_secret
        return secret

    def clean_mapping(self) -> dict:
        mapping = self.cleaned_data.get("mapping")
        if mapping is None:
            return {}
        errors = inbound.mapping_errors(mapping)
        if errors:
            raise forms.ValidationError(errors)
        return mapping


@admin.register(InboundSource)
class InboundSourceAdmin(AuditedAdmin):
    form = InboundSourceForm
    list_display = ("slug", "name", "kind", "is_active", "default_owner", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("slug", "name")
    list_select_related = ("default_owner",)
    fields = (
        "name",
        "slug",
        "kind",
        "is_active",
        "default_owner",
        "secret",
        "mapping",
        "endpoint",
        "defaults",
    )
    readonly_fields = ("endpoint", "defaults")
    actions = ["regenerate_secret"]

    def _snapshot(self, obj):
        data = super()._snapshot(obj)
        if "secret" in data:
            data["secret"] = _secret_fingerprint(data["secret"])
        return data

    @admin.display(description=_("endpoint"))
    def endpoint(self, obj) -> str:
        return reverse("inbound:receive", args=[obj.slug]) if obj.pk else "—"

    @admin.display(description=_("default mapping"))
    def defaults(self, obj):
        mapping = inbound.DEFAULT_MAPPINGS if obj.pk is None else inbound.DEFAULT_MAPPINGS.get(obj.kind, {})
        return format_html("<pre>{}</pre>", json.dumps(mapping, indent=2, ensure_ascii=False))

    def response_add(self, request, obj, post_url_continue=None):
        # Shown this once (it is stored encrypted and never echoed by the form).
        self.message_user(
            request,
            gettext("Give the sender this secret (it is not shown again): %(secret)s")
            % {"secret": obj.secret},
            messages.INFO,
        )
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description=_("Generate new secrets (senders must be updated)"))
    def regenerate_secret(self, request, queryset):
        generated = []
        with transaction.atomic():
            for source in queryset.select_for_update():
                before = _secret_fingerprint(source.secret)
                source.secret = inbound.generate_secret()
                generated.append(f"{source.slug}: {source.secret}")
                source.save(update_fields=["secret"])
                audit.record(
                    AuditAction.UPDATE,
                    source,
                    actor=request.user,
                    before={"secret": before},
                    after={"secret": _secret_fingerprint(source.secret)},
                )
        # Shown this once (they are stored encrypted and never echoed by the form).
        self.message_user(
            request,
            gettext("New secrets generated; give them to the senders (they are not shown again): %(secrets)s")
            % {"secrets": "; ".join(generated)},
            messages.INFO,
        )


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(admin.ModelAdmin):
    list_display = ("received_at", "source", "idempotency_key", "status_code", "customer")
    list_filter = ("source", "status_code")
    search_fields = ("idempotency_key",)
    list_select_related = ("source", "customer")
    readonly_fields = [f.name for f in InboundDelivery._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
