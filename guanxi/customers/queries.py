"""Customer reads. Every read starts from `Customer.objects.visible_to(user)`."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, F, OrderBy, Prefetch, Q, QuerySet, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, RowNumber

from guanxi import text as normalize
from guanxi.core import sensitive
from guanxi.core.converters import as_id
from guanxi.customers.models import (
    SENSITIVE_CONTACTS,
    Channel,
    ContactKind,
    ContactPoint,
    Customer,
    CustomerKind,
    LifecycleStage,
    MergeRecord,
    Tier,
)
from guanxi.customization import filter_builder
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject, FieldType


@dataclass(frozen=True)
class CustomerFilters:
    q: str = ""
    kind: str = ""
    owner_id: int | None = None
    lifecycle_stage: str = ""
    tier: str = ""
    source: str = ""
    tag: str = ""
    city: str = ""
    unowned: bool = False


def _contact_match(kind: str, normalized: str) -> QuerySet:
    return ContactPoint.objects.filter(kind=kind, normalized=normalized).values("customer_id")


def _phone_match(user, points: QuerySet) -> Q:
    """Customers holding one of `points` (phones), limited to those whose numbers `user` sees in full:
    for everyone else a phone search behaves as if the number were not there, so it cannot confirm
    the hidden digits of a masked number."""
    q = Q(pk__in=points.values("customer_id"))
    limit = sensitive.reveal_q(user, SENSITIVE_CONTACTS[ContactKind.PHONE][1])
    return q if limit is None else q & limit


def search_q(q: str, *, user) -> Q | None:
    """Build the filter for a free-text search: phone, email, WeChat ID, name, pinyin, initials, company.

    `user` (None: the system) is who searches: phones match only customers whose number they may see."""
    q = " ".join(q.split())
    if not q:
        return None
    if "@" in q:
        try:
            return Q(pk__in=_contact_match(ContactKind.EMAIL, normalize.normalize_email(q)))
        except normalize.NormalizationError:
            pass
    compact = q.replace(" ", "").replace("-", "")
    if compact.lstrip("+").isdigit():
        try:
            number = normalize.normalize_phone(q)
        except normalize.NormalizationError:
            if len(compact) >= 4:  # tail of a number ("5678")
                points = ContactPoint.objects.filter(kind=ContactKind.PHONE, normalized__endswith=compact)
                return _phone_match(user, points)
            return Q(pk__in=[])
        return _phone_match(user, ContactPoint.objects.filter(kind=ContactKind.PHONE, normalized=number))
    if compact.isascii():
        key = compact.lower()
        result = (
            Q(name_initials__startswith=key)
            | Q(name_pinyin__startswith=key)
            | Q(name__istartswith=q)
            | Q(company__name_initials__startswith=key)
            | Q(company__name_pinyin__startswith=key)
        )
        if len(compact) >= 6:
            result |= Q(pk__in=_contact_match(ContactKind.WECHAT_ID, compact))
        return result
    variants = {q, normalize.to_simplified(q)}
    result = Q()
    for v in variants:
        result |= Q(name__contains=v) | Q(company__name__contains=v)
    return result


def customer_list(user, filters: CustomerFilters) -> QuerySet:
    qs = Customer.objects.visible_to(user).alive()
    sq = search_q(filters.q, user=user)
    if sq is not None:
        qs = qs.filter(sq)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.owner_id:
        qs = qs.filter(owner_id=filters.owner_id)
    if filters.unowned:
        qs = qs.filter(owner__isnull=True)
    if filters.lifecycle_stage:
        qs = qs.filter(lifecycle_stage=filters.lifecycle_stage)
    if filters.tier:
        qs = qs.filter(tier=filters.tier)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.city:
        qs = qs.filter(city=filters.city)
    if filters.tag:
        qs = qs.filter(tags__name=filters.tag)
    return with_list_relations(qs).order_by("-id")


def with_list_relations(qs: QuerySet) -> QuerySet:
    """Everything a list row shows, in a fixed number of queries (no N+1)."""
    return qs.select_related("owner", "company").prefetch_related(
        "tags",
        Prefetch(
            "contact_points",
            queryset=ContactPoint.objects.filter(is_primary=True).order_by("kind"),
            to_attr="primary_contacts",
        ),
    )


def get_visible(user, customer_id: int, *, include_deleted: bool = False) -> Customer | None:
    if as_id(customer_id) is None:
        return None
    qs = Customer.objects.visible_to(user)
    if not include_deleted:
        qs = qs.alive()
    return (
        qs.select_related("owner", "company", "created_by")
        .prefetch_related("tags", "contact_points")
        .filter(pk=customer_id)
        .first()
    )


def primary_contact(customer: Customer, kind: str) -> ContactPoint | None:
    points = getattr(customer, "primary_contacts", None)
    if points is None:
        points = [c for c in customer.contact_points.all() if c.is_primary]
    return next((c for c in points if c.kind == kind), None)


def can_see_sensitive(user, customer: Customer) -> bool:
    """Full phone numbers: for the customer's owner and holders of the sensitive-data permission."""
    return sensitive.may_reveal(user, SENSITIVE_CONTACTS[ContactKind.PHONE][1], customer.owner_id)


def present_contact(user, customer: Customer, kind: str, value: str) -> str:
    """A contact value (normalised or as displayed) as `user` may see it: sensitive kinds (phones)
    masked (138****5678) for those not entitled, through the one presenter (`core.sensitive`)."""
    if kind in SENSITIVE_CONTACTS:
        field_type, permission = SENSITIVE_CONTACTS[kind]
        return sensitive.present(field_type, permission, value, user=user, owner_id=customer.owner_id)
    return value


def shown_contact(user, customer: Customer, point: ContactPoint | None) -> str:
    """The value of a contact point a user may see (phones masked for those not entitled)."""
    if point is None:
        return ""
    if point.kind in SENSITIVE_CONTACTS and not can_see_sensitive(user, customer):
        return present_contact(user, customer, point.kind, point.normalized)
    return point.value


def present_history(entries, user, customer: Customer, registry=None) -> list:
    """Audit entries of a customer with their before/after as `user` may see them (history tab,
    timeline, API): contact points and custom values of sensitive kinds masked. New entries hold
    them protected already ("<mask>#<hash>": the mask is shown); entries written before values were
    protected hold them in clear and are masked here for viewers who may not reveal them.

    Returns unsaved copies (the stored entries are never changed)."""
    registry = registry or customfields.Registry(CustomObject.CUSTOMER)

    def shown(data):
        if not isinstance(data, dict):
            return data
        result = dict(data)
        points = result.get("contact_points")
        if isinstance(points, list):
            result["contact_points"] = [_present_point(user, customer, p) for p in points]
        if "custom_fields" in result:
            result["custom_fields"] = registry.present_custom_values(result["custom_fields"], user, customer)
        return result

    presented = []
    for entry in entries:
        entry = copy.copy(entry)
        entry.before, entry.after = shown(entry.before), shown(entry.after)
        presented.append(entry)
    return presented


def _present_point(user, customer: Customer, item: Any) -> Any:
    """One "kind:value" item of a snapshot's contact points, as `user` may see it."""
    if not isinstance(item, str) or ":" not in item:
        return item
    kind, value = item.split(":", 1)
    if kind not in SENSITIVE_CONTACTS:
        return item
    field_type, permission = SENSITIVE_CONTACTS[kind]
    if sensitive.is_protected(value) or not sensitive.may_reveal(user, permission, customer.owner_id):
        return f"{kind}:{sensitive.mask(field_type, value)}"
    return item


def contact_href(user, customer: Customer, point: ContactPoint | None) -> str:
    """A tap-to-call link (tel:+86...) for a phone the user may see in full (the same decision as
    `shown_contact`); "" for a masked phone or another kind of contact point."""
    if point is None or point.kind != ContactKind.PHONE or not point.normalized:
        return ""
    return f"tel:{point.normalized}" if can_see_sensitive(user, customer) else ""


def merge_history(customer: Customer):
    """Merges this customer received or gave, newest first (shown on the customer page)."""
    return (
        MergeRecord.objects.filter(Q(survivor=customer) | Q(merged=customer))
        .select_related("merged", "survivor")
        .order_by("-id")[:20]
    )


# --------------------------------------------------------------------------- list views
#
# The customer list is a configurable view: quick filters and search (above), filter conditions
# from the field registry, chosen columns, a sort, a saved view, a table or a kanban layout. The
# page, the kanban and the export all read the same `ListState` from the same query string, so an
# export is exactly the rows and columns on the screen.

DEFAULT_COLUMNS = [
    "name",
    "company_name",
    "phone",
    "city",
    "owner",
    "lifecycle_stage",
    "tier",
    "tags",
    "created_at",
]
# Columns showing a primary contact point: read from the prefetched points, masked like the page.
CONTACT_COLUMNS = {"phone": ContactKind.PHONE, "email": ContactKind.EMAIL, "wechat_id": ContactKind.WECHAT_ID}
MAX_CONDITIONS = 20
MAX_COLUMNS = 40
KANBAN_CARDS = 20
EMPTY_GROUP = "__empty__"


@dataclass
class ListState:
    """What a list request asks for, resolved against the saved view and checked by the registry."""

    filters: CustomerFilters = field(default_factory=CustomerFilters)
    conditions: list[dict] = field(default_factory=list)  # registry conditions that are valid
    columns: list[str] = field(default_factory=lambda: list(DEFAULT_COLUMNS))
    sort: str = ""
    layout: str = "table"  # or "kanban"
    kanban_field: str = ""
    view: Any = None  # the SavedView in use
    errors: list[str] = field(default_factory=list)  # messages about conditions that were dropped
    raw_conditions: list[dict] = field(default_factory=list)  # as typed (the filter builder shows them)


def quick_filters(params) -> CustomerFilters:
    """The search box and the quick filter selects of the list page (`q`, `kind`, `owner`...)."""

    def choice(name: str, enum) -> str:
        value = params.get(name) or ""
        return value if value in enum.values else ""

    return CustomerFilters(
        q=(params.get("q") or "")[:100],
        kind=choice("kind", CustomerKind),
        owner_id=as_id(params.get("owner")),
        lifecycle_stage=choice("stage", LifecycleStage),
        tier=choice("tier", Tier),
        source=choice("source", Channel),
        tag=(params.get("tag") or "")[:50],
        unowned=params.get("unowned") == "1",
    )


def quick_conditions(filters: CustomerFilters) -> list[dict]:
    """The quick filters as registry conditions (what a saved view stores; the search text is not)."""
    conditions: list[dict] = []
    for ref, value in (
        ("kind", filters.kind),
        ("owner", filters.owner_id),
        ("lifecycle_stage", filters.lifecycle_stage),
        ("tier", filters.tier),
        ("source", filters.source),
        ("city", filters.city),
    ):
        if value:
            conditions.append({"field": ref, "op": "eq", "value": value})
    if filters.tag:
        conditions.append({"field": "tags", "op": "has", "value": filters.tag})
    if filters.unowned:
        conditions.append({"field": "owner", "op": "empty"})
    return conditions


def conditions_from_params(params) -> list[dict]:
    """Filter-builder rows from the query string (the customer list has no groups)."""
    return [condition for _group, condition in filter_builder.conditions_from_params(params)]


def _valid_conditions(registry, conditions: Any, *, user) -> tuple[list[dict], list[str]]:
    """Keep the conditions the registry accepts; messages (numbered as given) for the others."""
    if not isinstance(conditions, list):
        return [], []
    try:
        registry.clean_filters(conditions, user=user)
        return list(conditions), []
    except ValidationError as exc:
        errors = exc.messages
    valid = []
    for condition in conditions:
        try:
            registry.clean_filters([condition], user=user)
        except ValidationError:
            continue
        valid.append(condition)
    return valid, errors


def list_state(params, registry, *, user, views=()) -> ListState:
    """Resolve a list request: the saved view (`view=<id>` among `views`, those the user may use)
    gives the defaults; a submitted filter form (`fb=1`) replaces its conditions and columns.
    Conditions and a sort on fields masked for `user` are refused (their messages in `errors`)."""
    view = None
    view_id = as_id(params.get("view"))
    if view_id is not None:
        view = next((v for v in views if v.pk == view_id), None)
    state = ListState(filters=quick_filters(params), view=view)
    if params.get("fb"):
        raw_conditions = conditions_from_params(params)
        columns = params.getlist("col")
    elif view is not None:
        raw_conditions = view.filters if isinstance(view.filters, list) else []
        columns = view.columns if isinstance(view.columns, list) else []
    else:
        raw_conditions, columns = [], []
    state.raw_conditions = [c for c in raw_conditions if isinstance(c, dict)][:MAX_CONDITIONS]
    state.conditions, state.errors = _valid_conditions(registry, state.raw_conditions, user=user)
    columns = [c for c in dict.fromkeys(str(c) for c in columns) if registry.get(c) is not None]
    state.columns = columns[:MAX_COLUMNS] or list(DEFAULT_COLUMNS)
    if "name" not in state.columns:
        state.columns.insert(0, "name")  # every row links to its customer
    sort = (params.get("sort") or (view.sort if view is not None else "") or "")[:80]
    state.sort = sort if sort and registry.ordering(sort, user=user) is not None else ""
    kanban = params.get("kanban_field")
    if kanban is None:
        kanban = view.kanban_field if view is not None else ""
    state.kanban_field = kanban if kanban_spec(registry, kanban) is not None else ""
    layout = params.get("layout")
    if layout not in ("table", "kanban"):
        layout = "kanban" if view is not None and view.kanban_field else "table"
    state.layout = layout
    if layout == "kanban" and not state.kanban_field:
        state.kanban_field = "lifecycle_stage"
    return state


def view_queryset(user, state: ListState, registry) -> QuerySet:
    """The rows of a list view, scoped to the user, filtered through the registry and sorted."""
    qs = customer_list(user, state.filters)
    if state.conditions:
        qs = qs.filter(registry.filter_q(state.conditions, user=user))
    ordering = registry.ordering(state.sort, user=user) if state.sort else None
    return qs.order_by(*(ordering or ["-id"]))


def column_specs(state: ListState, registry) -> list:
    return [spec for spec in (registry.get(ref) for ref in state.columns) if spec is not None]


def cell_href(user, customer: Customer, spec) -> str:
    """The tap-to-call link of the phone column ("" when masked, and for every other column)."""
    if spec.ref != "phone":
        return ""
    return contact_href(user, customer, primary_contact(customer, ContactKind.PHONE))


def cell_text(user, customer: Customer, spec, names: dict) -> str:
    """The text of one cell as the user may see it (pages, kanban and exports alike): the registry's
    presenter, which masks sensitive values (phones, phone-type custom fields) for those not entitled."""
    if spec.ref in CONTACT_COLUMNS:
        return shown_contact(user, customer, primary_contact(customer, CONTACT_COLUMNS[spec.ref]))
    return spec.present(spec.value_of(customer), user=user, obj=customer, names=names)


def kanban_spec(registry, ref: str | None):
    """The field a kanban may group by: a single select (built-in with choices, or custom)."""
    spec = registry.get(ref) if ref else None
    if spec is None or spec.type != FieldType.SINGLE_SELECT or spec.multi_valued:
        return None
    if not spec.is_custom and not spec.choices:
        return None
    return spec


def _group_expression(spec):
    if not spec.is_custom:
        return F(spec.path or spec.ref)
    expression = KeyTextTransform(spec.key, "custom_fields")
    previous = spec.custom.previous_key
    if previous:  # being renamed: values sit under either key until the worker finishes
        expression = Coalesce(expression, KeyTextTransform(previous, "custom_fields"))
    return expression


def _group_key(value: Any) -> str:
    return EMPTY_GROUP if value in (None, "") else str(value)


def kanban_board(user, state: ListState, registry, qs: QuerySet, *, per_column: int = KANBAN_CARDS) -> dict:
    """Columns of a kanban: one per choice of the field (and one for records without a value),
    each with its count and its first cards, in two queries (plus the row relations)."""
    spec = kanban_spec(registry, state.kanban_field)
    group = _group_expression(spec)
    counts: dict[str, int] = {}
    for row in qs.order_by().annotate(_group=group).values("_group").annotate(n=Count("pk")):
        key = _group_key(row["_group"])
        counts[key] = counts.get(key, 0) + row["n"]
    ordering = (registry.ordering(state.sort, user=user) if state.sort else None) or ["-pk"]
    # A custom field's sort expression (a JSON key) is annotated first and the window orders by the
    # annotation: inside the window's ORDER BY it broke the row converters (a 500 on ?sort=cf.<key>).
    sort_keys: dict[str, Any] = {}
    window_order: list[Any] = []
    for n, item in enumerate(ordering):
        if isinstance(item, OrderBy):
            sort_keys[f"_sort{n}"] = item.expression
            item = OrderBy(F(f"_sort{n}"), descending=item.descending, nulls_last=item.nulls_last)
        window_order.append(item)
    cards_qs = (
        qs.annotate(_group=group, **sort_keys)
        .annotate(_rank=Window(RowNumber(), partition_by=[group], order_by=window_order))
        .filter(_rank__lte=per_column)
    )
    cards: dict[str, list] = {}
    customers = list(cards_qs)
    for customer in customers:
        cards.setdefault(_group_key(customer._group), []).append(customer)
    keys = [key for key, _zh, _en in spec.choices]
    keys += sorted(k for k in counts if k not in keys and k != EMPTY_GROUP)  # retired values in use
    keys.append(EMPTY_GROUP)
    columns = [
        {
            "key": key,
            "label": None if key == EMPTY_GROUP else spec.choice_label(key),
            "count": counts.get(key, 0),
            "cards": cards.get(key, []),
            "more": max(counts.get(key, 0) - len(cards.get(key, [])), 0),
        }
        for key in keys
    ]
    return {"spec": spec, "columns": columns, "total": sum(counts.values()), "customers": customers}
