"""Customer 360 core: the customer record and its contact points."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guanxi.core.crypto import EncryptedCharField
from guanxi.core.permissions import Perm
from guanxi.core.scopes import ScopedQuerySet
from guanxi.customization.models import FieldType


class CustomerKind(models.TextChoices):
    PERSON = "person", _("Person")
    COMPANY = "company", _("Company")


class Gender(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


class Channel(models.TextChoices):
    """Where a customer or contact point came from (来源)."""

    MANUAL = "manual", _("Entered by staff")
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("Email")
    WECHAT = "wechat", _("WeChat")
    WEBSITE = "website", _("Website form")
    MINI_PROGRAM = "mini_program", _("Mini program")
    ECOMMERCE = "ecommerce", _("E-commerce platform")
    POS = "pos", _("Store / POS")
    CALL_CENTER = "call_center", _("Call centre")
    EVENT = "event", _("Event / trade show")
    REFERRAL = "referral", _("Referral")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    WEBHOOK = "webhook", _("Webhook")


class LifecycleStage(models.TextChoices):
    POTENTIAL = "potential", _("Potential")
    NEW = "new", _("New")
    ACTIVE = "active", _("Active")
    SILENT = "silent", _("Silent")
    AT_RISK = "at_risk", _("At risk")
    CHURNED = "churned", _("Churned")
    WON_BACK = "won_back", _("Won back")


class Tier(models.TextChoices):
    NONE = "", _("Not tiered")
    A = "A", _("A (key)")
    B = "B", _("B (regular)")
    C = "C", _("C (low)")


class ContactKind(models.TextChoices):
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("Email")
    WECHAT_OPENID = "wechat_openid", _("WeChat openid")
    WECHAT_UNIONID = "wechat_unionid", _("WeChat unionid")
    WECHAT_ID = "wechat_id", _("WeChat ID")
    ADDRESS = "address", _("Address")
    EXTERNAL_ID = "external_id", _("External ID")


# Contact points whose values are sensitive: kind -> (field type, the permission that reveals them).
# The owner of the customer and holders of the permission see them in full, others masked
# (`queries.present_contact`); audit entries store them protected (`snapshots.protect_snapshot`).
SENSITIVE_CONTACTS = {ContactKind.PHONE: (FieldType.PHONE, Perm.CUSTOMER_VIEW_SENSITIVE)}


class CustomerQuerySet(ScopedQuerySet):
    owner_field = "owner"

    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)


class Customer(models.Model):
    kind = models.CharField(
        _("type"), max_length=10, choices=CustomerKind.choices, default=CustomerKind.PERSON
    )
    name = models.CharField(_("name"), max_length=200)
    # Search keys derived from the name by the actions (never edited by hand).
    name_pinyin = models.CharField(max_length=400, editable=False, default="")
    name_initials = models.CharField(max_length=100, editable=False, default="")
    company = models.ForeignKey(
        "self",
        verbose_name=_("company"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        limit_choices_to={"kind": CustomerKind.COMPANY},
    )
    title = models.CharField(_("job title"), max_length=100, blank=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True, default="")
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    industry = models.CharField(_("industry"), max_length=50, blank=True)
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    source = models.CharField(_("source"), max_length=20, choices=Channel.choices, default=Channel.MANUAL)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_customers",
    )
    lifecycle_stage = models.CharField(
        _("lifecycle stage"), max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.POTENTIAL
    )
    tier = models.CharField(_("tier"), max_length=2, choices=Tier.choices, blank=True, default="")
    tags = models.ManyToManyField(
        "customization.Tag", verbose_name=_("tags"), blank=True, related_name="customers"
    )
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    notes = models.TextField(_("notes"), blank=True, max_length=5000)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set on a customer absorbed by a merge (it is then soft-deleted); cleared by unmerge.
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Provenance: which channel / record gave each field its current value ({field: {...}}).
    field_sources = models.JSONField(_("field sources"), null=True, blank=True)
    # Data completeness 0-100, kept by the actions and recomputed by the quality sweep (stored so
    # that a million records can be listed worst-first and averaged per owner from an index).
    completeness = models.PositiveSmallIntegerField(_("completeness"), default=0, db_default=0)
    # Follow-up engine: kept by the engagement actions, read by the set-based sweeps.
    last_follow_up_at = models.DateTimeField(_("last follow-up"), null=True, blank=True)
    owned_since = models.DateTimeField(_("owned since"), null=True, blank=True)
    pool = models.ForeignKey(
        "engagement.Pool", verbose_name=_("public pool"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="customers",
    )  # fmt: skip
    locked = models.BooleanField(_("locked (never reclaimed)"), default=False, db_default=False)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            models.Index(fields=["owner", "-id"], name="customer_owner_idx"),
            models.Index(
                fields=["name_initials"], name="customer_initials_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(
                fields=["name_pinyin"], name="customer_pinyin_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["name"], name="customer_name_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["lifecycle_stage"], name="customer_stage_idx"),
            models.Index(fields=["completeness", "id"], name="customer_completeness_idx"),
            models.Index(
                fields=["deleted_at"], name="customer_deleted_idx", condition=Q(deleted_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ContactPoint(models.Model):
    """One way to reach a customer, with where it came from (来源) and whether it was verified."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contact_points")
    kind = models.CharField(_("type"), max_length=20, choices=ContactKind.choices)
    value = models.CharField(_("value"), max_length=300)
    normalized = models.CharField(max_length=300, editable=False)
    source = models.CharField(_("source"), max_length=20, choices=Channel.choices, default=Channel.MANUAL)
    source_ref = models.CharField(_("source reference"), max_length=100, blank=True)
    verified = models.BooleanField(_("verified"), default=False)
    is_primary = models.BooleanField(_("primary"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_primary", "id"]
        verbose_name = _("contact point")
        verbose_name_plural = _("contact points")
        indexes = [models.Index(fields=["kind", "normalized"], name="contact_lookup_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind", "normalized"], name="contact_unique_per_customer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class DuplicatePolicy(models.TextChoices):
    """What creation does when an exact identifier (phone, email, WeChat unionid, external id) matches."""

    BLOCK = "block", _("Block: refuse to create")
    WARN = "warn", _("Warn: show the match, create only when confirmed")
    MERGE = "merge", _("Merge: attach the data to the existing customer")


class OwnershipReason(models.TextChoices):
    """Why a customer changed hands (the ownership history's reason; see customers/ownership.py)."""

    CREATED = "created", _("Created")
    ASSIGNED = "assigned", _("Assigned")
    CLAIMED = "claimed", _("Claimed from the pool")
    RECLAIMED = "reclaimed", _("Returned to the pool")
    RELEASED = "released", _("Released to the pool")
    HANDOVER = "handover", _("Handover")
    TRANSFER = "transfer", _("Transferred")
    CHANGED = "changed", _("Owner changed")


class ReviewStatus(models.TextChoices):
    OPEN = "open", _("To review")
    MERGED = "merged", _("Merged")
    NOT_DUPLICATE = "not_duplicate", _("Not a duplicate")
    LATER = "later", _("Later")


class DedupeRun(models.Model):
    """One run of batch duplicate detection."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    customers = models.PositiveIntegerField(default=0)
    pairs_compared = models.BigIntegerField(default=0)
    pairs_found = models.PositiveIntegerField(default=0)
    clusters = models.PositiveIntegerField(default=0)
    stats = models.JSONField(default=dict, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"DedupeRun {self.pk}"


class DuplicateCandidate(models.Model):
    """A pair judged likely to be one customer, waiting in the data steward's review queue."""

    customer_a = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    customer_b = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    cluster_key = models.BigIntegerField(db_index=True, help_text="Smallest customer id in the cluster.")
    score = models.FloatField()
    explanation = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    run = models.ForeignKey(
        DedupeRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="candidates"
    )
    detected_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-score"]
        constraints = [
            models.UniqueConstraint(fields=["customer_a", "customer_b"], name="duplicate_pair_unique"),
            models.CheckConstraint(
                condition=Q(customer_a__lt=models.F("customer_b")), name="duplicate_pair_ordered"
            ),
        ]
        indexes = [models.Index(fields=["status", "-score"], name="duplicate_queue_idx")]

    def __str__(self) -> str:
        return f"{self.customer_a_id}~{self.customer_b_id} ({self.score:.2f})"


class MergeRecord(models.Model):
    """Everything needed to undo a merge: both snapshots and the ids of every moved row."""

    survivor = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merges_received")
    merged = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merges_given")
    survivor_before = models.JSONField()
    merged_before = models.JSONField()
    field_choices = models.JSONField(default=dict)
    moved = models.JSONField(default=dict, help_text="{model label: [row ids moved to the survivor]}")
    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"merge {self.merged_id} -> {self.survivor_id}"


class ImportStatus(models.TextChoices):
    STAGED = "staged", _("Uploaded, waiting for confirmation")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ImportMapping(models.Model):
    """A saved column mapping for one source of files (e.g. "展会名单", "有赞导出")."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    mapping = models.JSONField(_("column mapping"), default=dict)
    options = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportJob(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    encoding = models.CharField(max_length=20, blank=True)
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    saved_mapping = models.ForeignKey(ImportMapping, null=True, blank=True, on_delete=models.SET_NULL)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.STAGED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    failure = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.file_name


class ImportRowStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    UNCHANGED = "unchanged", _("Unchanged")
    ERROR = "error", _("Error")


class ImportRow(models.Model):
    """One staged row of an import: processed at most once, so a re-run after a crash loses nothing."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField()
    data = models.JSONField()
    status = models.CharField(max_length=20, choices=ImportRowStatus.choices, default=ImportRowStatus.PENDING)
    errors = models.JSONField(null=True, blank=True)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["job", "row_number"]
        constraints = [models.UniqueConstraint(fields=["job", "row_number"], name="import_row_unique")]
        indexes = [models.Index(fields=["job", "status", "row_number"], name="import_row_status_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.row_number}"


class InboundKind(models.TextChoices):
    WEB_FORM = "web_form", _("Website form")
    MINI_PROGRAM = "mini_program", _("Mini program")
    ECOMMERCE = "ecommerce", _("E-commerce order")
    POS = "pos", _("Store / POS")


class InboundSource(models.Model):
    """A system that pushes customers to us (webhook): its own secret and payload mapping."""

    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("type"), max_length=20, choices=InboundKind.choices)
    secret = EncryptedCharField(max_length=128)  # encrypted at rest (core/crypto.py)
    mapping = models.JSONField(_("payload mapping"), default=dict, blank=True)
    default_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Last call signed with the deprecated X-Guanxi-Signature scheme (shown on the sources page).
    legacy_signature_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class InboundDelivery(models.Model):
    """One received webhook call; the idempotency key makes retries harmless."""

    source = models.ForeignKey(InboundSource, on_delete=models.CASCADE, related_name="deliveries")
    idempotency_key = models.CharField(max_length=200)
    # Deprecated scheme only: its signature (hex), so a captured call re-sent under a new
    # Idempotency-Key is recognised as the same call (Standard Webhooks signs the id instead).
    legacy_signature = models.CharField(max_length=64, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)
    payload = models.JSONField()
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField(default=dict)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "idempotency_key"], name="inbound_delivery_idempotent"),
            models.UniqueConstraint(
                fields=["source", "legacy_signature"],
                condition=~models.Q(legacy_signature=""),
                name="inbound_delivery_legacy_signature_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.idempotency_key}"


class QualityReport(models.Model):
    """The result of one data-cleansing run: what looks wrong, for people to fix (nothing is deleted)."""

    created_at = models.DateTimeField(auto_now_add=True)
    stats = models.JSONField(default=dict)
    samples = models.JSONField(default=dict)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"QualityReport {self.pk}"
