"""Inbound webhooks (入站 Webhook): web forms, mini programs, e-commerce orders and POS push to us.

One call is `POST /inbound/<slug>/` with a JSON object body, signed with the source's secret as
Standard Webhooks specifies (see `signing.py`; the deprecated X-Guanxi-Signature scheme with a
separate Idempotency-Key is accepted until `signing.LEGACY_ACCEPTED_UNTIL`):

    webhook-id: <unique per event; retries reuse it: the idempotency key>
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">

`handle_delivery()` checks the call in this order and answers with JSON:
body too large → 413; bad or missing signature, or a timestamp more than 5 minutes off → 401
(nothing stored); not a JSON object → 400; no idempotency key → 400; a key already seen (or, in
the deprecated scheme, a signature already seen) → the stored response again (`replayed`); otherwise the payload is mapped to customer fields and goes
through the identity pipeline (`actions.ingest_customer`), and the delivery row is written in the
same transaction as the customer (and order). A payload the pipeline rejects is answered 422 and
stored as such, so a retry with the same key gets the same 422.

The delivery row is inserted *first* in that transaction: a concurrent duplicate blocks on the
unique (source, idempotency_key) index until the winner commits, then replays the winner's answer
without doing any work itself.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import math
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core.context import current_request_id
from guanxi.customers import actions
from guanxi.customers.inbound import signing
from guanxi.customers.inbound.signing import (  # noqa: F401  (the module's public names)
    LEGACY_ACCEPTED_UNTIL,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TIMESTAMP_TOLERANCE_SECONDS,
    WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    generate_secret,
    signature,
    signed_headers,
    standard_headers,
    verify_signature,
)
from guanxi.customers.models import (
    Channel,
    ContactKind,
    Customer,
    InboundDelivery,
    InboundKind,
    InboundSource,
)
from guanxi.customization import registry as customfields

MAX_BODY_BYTES = 256 * 1024
MAX_KEY_LENGTH = signing.MAX_ID_LENGTH  # InboundDelivery.idempotency_key
MAX_EXTERNAL_ID_LENGTH = 200
ORDER_NUMBER_MAX = 40  # sales.Order.number

IDEMPOTENCY_HEADER = "Idempotency-Key"  # deprecated scheme only; Standard Webhooks uses webhook-id
REPLAYED_HEADER = "Idempotent-Replayed"
logger = logging.getLogger(__name__)

# Orders belong to `sales`, above this app: SalesConfig.ready() registers the writer of a paid order
# (`sales.actions.create_order`, idempotent by the order number) with `register_order_writer`.
_order_writer: Callable[..., tuple[Any, bool]] | None = None


def register_order_writer(writer: Callable[..., tuple[Any, bool]]) -> None:
    global _order_writer
    _order_writer = writer


CHANNEL_FOR_KIND: dict[str, str] = {
    InboundKind.WEB_FORM: Channel.WEBSITE,
    InboundKind.MINI_PROGRAM: Channel.MINI_PROGRAM,
    InboundKind.ECOMMERCE: Channel.ECOMMERCE,
    InboundKind.POS: Channel.POS,
}

# Mapping targets: {target: key in the ingest_customer input}. Text is validated by the pipeline.
CUSTOMER_TARGETS: dict[str, str] = {
    "name": "name",
    "phone": "phone",
    "email": "email",
    "wechat_id": "wechat_id",
    "company": "company_name",
    "title": "title",
    "gender": "gender",
    "birthday": "birthday",
    "industry": "industry",
    "province": "province",
    "city": "city",
    "address": "address",
    "notes": "notes",
    "tags": "tags",
}
CONTACT_TARGETS: dict[str, str] = {
    "wechat_openid": ContactKind.WECHAT_OPENID,
    "wechat_unionid": ContactKind.WECHAT_UNIONID,
}
ORDER_TARGETS = ("order_id", "amount", "currency", "paid_at")
OTHER_TARGETS = ("external_id", "idempotency_key", *ORDER_TARGETS)
TARGETS = frozenset([*CUSTOMER_TARGETS, *CONTACT_TARGETS, *OTHER_TARGETS])
# Custom fields are mapped as "cf.<key>" (the customer's) and "order.cf.<key>" (the order's); the
# field registry validates their values when the delivery is processed.
CUSTOMER_CUSTOM_PREFIX = "cf."
ORDER_CUSTOM_PREFIX = "order.cf."


def is_target(target: Any) -> bool:
    if not isinstance(target, str):
        return False
    if target in TARGETS:
        return True
    for prefix in (ORDER_CUSTOM_PREFIX, CUSTOMER_CUSTOM_PREFIX):
        if target.startswith(prefix):
            return bool(customfields.KEY_RE.match(target[len(prefix) :]))
    return False


_TARGET_FOR_INPUT_KEY = {key: target for target, key in CUSTOMER_TARGETS.items()}

# {target: dotted path in the payload}. A source's own `mapping` overrides these per target
# (an empty path or null switches a default off).
DEFAULT_MAPPINGS: dict[str, dict[str, str]] = {
    InboundKind.WEB_FORM: {
        "name": "name",
        "phone": "phone",
        "email": "email",
        "company": "company",
        "city": "city",
        "notes": "message",
    },
    InboundKind.MINI_PROGRAM: {
        "wechat_openid": "openid",
        "wechat_unionid": "unionid",
        "name": "nickName",
        "phone": "phoneNumber",
    },
    InboundKind.ECOMMERCE: {
        "external_id": "buyer.id",
        "name": "buyer.name",
        "phone": "buyer.mobile",
        "email": "buyer.email",
        "province": "address.province",
        "city": "address.city",
        "address": "address.detail",
        "order_id": "order_id",
        "amount": "amount",
        "currency": "currency",
        "paid_at": "paid_at",
        "idempotency_key": "order_id",
    },
    InboundKind.POS: {
        "external_id": "member_no",
        "phone": "phone",
        "name": "name",
        "tags": "store",
    },
}

GENDER_SYNONYMS = {
    "male": "male",
    "m": "male",
    "1": "male",
    "男": "male",
    "female": "female",
    "f": "female",
    "2": "female",
    "女": "female",
    "0": "",
    "unknown": "",
    "未知": "",
}


class InboundResponse(NamedTuple):
    """What to answer: HTTP status, JSON body, and whether it is a stored answer replayed."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


class PayloadError(Exception):
    """The body cannot be processed at all (400): nothing is stored."""


# --------------------------------------------------------------------------- payload and mapping


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _check_storable(payload: Any) -> None:
    """JSON that PostgreSQL's jsonb cannot hold (NUL, lone surrogates, infinities) is refused."""
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                raise PayloadError(_("The body must not contain NUL characters."))
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise PayloadError(_("The body is not valid JSON."))
        elif isinstance(value, float) and not math.isfinite(value):
            raise PayloadError(_("The body is not valid JSON."))


def parse_payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8-sig"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PayloadError(_("The body is not valid JSON."))
    if not isinstance(payload, dict):
        raise PayloadError(_("The body must be a JSON object."))
    _check_storable(payload)
    return payload


def effective_mapping(source: InboundSource) -> dict[str, str]:
    """The kind's default mapping with the source's own mapping laid over it, per target."""
    mapping = dict(DEFAULT_MAPPINGS.get(source.kind, {}))
    own = source.mapping if isinstance(source.mapping, dict) else {}
    for target, path in own.items():
        if not is_target(target):
            continue
        if path in (None, ""):
            mapping.pop(target, None)
        elif isinstance(path, str):
            mapping[target] = path.strip()
    return mapping


def mapping_errors(mapping: Any) -> list[str]:
    """What is wrong with a source's mapping (for the admin form); [] when it is usable."""
    if not isinstance(mapping, dict):
        return [_("The mapping must be a JSON object of {field: dotted path}.")]
    errors = []
    for target, path in mapping.items():
        if not is_target(target):
            errors.append(
                _("Unknown field %(field)s. Use one of: %(fields)s.")
                % {"field": target, "fields": ", ".join([*sorted(TARGETS), "cf.<key>", "order.cf.<key>"])}
            )
        elif path not in (None, "") and (
            not isinstance(path, str) or any(not part.strip() for part in path.split("."))
        ):
            errors.append(_("The path for %(field)s must be text like buyer.mobile.") % {"field": target})
    return errors


def resolve(payload: Any, path: str) -> Any:
    """The value at a dotted path ("buyer.mobile", "items.0.sku"); None when any step is missing."""
    value = payload
    for part in path.split("."):
        if isinstance(value, dict):
            if part not in value:
                return None
            value = value[part]
        elif isinstance(value, list) and part.isascii() and part.isdigit():
            index = int(part)
            if index >= len(value):
                return None
            value = value[index]
        else:
            return None
    return value


class _NotText(Exception):
    pass


def _text(value: Any) -> str | None:
    """A scalar as text (numbers too: phones and member numbers often arrive as numbers)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _NotText
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value.strip() or None
    raise _NotText


def _amount(value: Any) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError
    amount = decimal.Decimal(str(value).strip().replace(",", ""))
    if not amount.is_finite() or amount < 0 or amount >= 10**12:
        raise ValueError
    return amount.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)


def _moment(value: Any) -> dt.datetime:
    """ISO 8601 date-time or date (local time when no offset is given), or Unix seconds/milliseconds."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10**11 else value
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    if not isinstance(value, str):
        raise ValueError
    text = value.strip()
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise ValueError
        moment = dt.datetime.combine(day, dt.time())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class MappedPayload(NamedTuple):
    customer: dict[str, Any]  # input for actions.ingest_customer
    external_ref: str
    order: dict[str, Any] | None  # {"number", "amount", "currency", "ordered_at"}


def _custom_values(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """{key: raw payload value} of the mapped custom fields under `prefix` that the payload carries."""
    return {
        target[len(prefix) :]: value
        for target, value in values.items()
        if target.startswith(prefix) and value is not None
    }


def map_payload(source: InboundSource, payload: dict[str, Any], mapping: dict[str, str]) -> MappedPayload:
    """Shape a payload into pipeline input. Raises ValidationError keyed by mapping target."""
    errors: dict[str, list[str]] = {}
    values = {target: resolve(payload, path) for target, path in mapping.items() if is_target(target)}
    data: dict[str, Any] = {}

    def text(target: str) -> str | None:
        try:
            return _text(values.get(target))
        except _NotText:
            errors.setdefault(target, []).append(_("Must be text."))
            return None

    for target, key in CUSTOMER_TARGETS.items():
        if target == "tags":
            raw = values.get("tags")
            items = raw if isinstance(raw, list) else [raw]
            try:
                tags = [t for t in (_text(item) for item in items) if t]
            except _NotText:
                errors.setdefault(target, []).append(_("Must be text."))
                continue
            if tags:
                data[key] = tags
            continue
        value = text(target)
        if value is None:
            continue
        if target == "gender":
            value = GENDER_SYNONYMS.get(value.lower(), value)
            if not value:
                continue
        data[key] = value

    points = []
    for target, kind in CONTACT_TARGETS.items():
        value = text(target)
        if value is None:
            continue
        try:
            normalize.normalize_wechat_id(value)
        except normalize.NormalizationError as exc:
            errors.setdefault(target, []).append(actions._error_message(exc, 64))
            continue
        points.append({"kind": kind, "value": value, "source": CHANNEL_FOR_KIND[source.kind]})
    if points:
        data["contact_points"] = points
    custom = _custom_values(values, CUSTOMER_CUSTOM_PREFIX)
    if custom:
        data["custom_fields"] = custom

    external_ref = ""
    external = text("external_id")
    if external is not None:
        if len(external) > MAX_EXTERNAL_ID_LENGTH:
            errors.setdefault("external_id", []).append(
                _("Must be at most %(max)d characters.") % {"max": MAX_EXTERNAL_ID_LENGTH}
            )
        else:
            # Scoped by the source: buyer 123 of one shop is not buyer 123 of another.
            external_ref = f"{source.slug}:{external}"

    if source.default_owner_id and source.default_owner and source.default_owner.is_active:
        data["owner_id"] = source.default_owner_id

    order = None
    order_id = text("order_id")
    if order_id is not None:
        number = f"{source.slug}:{order_id}"
        if len(number) > ORDER_NUMBER_MAX:
            errors.setdefault("order_id", []).append(
                _("Must be at most %(max)d characters.")
                % {"max": max(ORDER_NUMBER_MAX - len(source.slug) - 1, 0)}
            )
        order = {"number": number}
        try:
            if values.get("amount") in (None, ""):
                errors.setdefault("amount", []).append(_("This field is required."))
            else:
                order["amount"] = _amount(values["amount"])
        except (ValueError, ArithmeticError):
            errors.setdefault("amount", []).append(_("Enter a valid amount (a number, not negative)."))
        try:
            paid_at = values.get("paid_at")
            order["ordered_at"] = timezone.now() if paid_at in (None, "") else _moment(paid_at)
        except (ValueError, OverflowError, OSError):
            errors.setdefault("paid_at", []).append(
                _("Enter a valid date and time (ISO 8601 or Unix seconds).")
            )
        currency = text("currency") or "CNY"
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            errors.setdefault("currency", []).append(_("Enter a three-letter currency code such as CNY."))
        order["currency"] = currency.upper()
        order["custom_fields"] = _custom_values(values, ORDER_CUSTOM_PREFIX)

    if errors:
        raise ValidationError(errors)
    return MappedPayload(data, external_ref, order)


def idempotency_key(headers: Mapping[str, str], payload: dict[str, Any], mapping: dict[str, str]) -> str:
    """Deprecated scheme: the Idempotency-Key header, else the payload field the mapping names (e.g.
    the order id). Under Standard Webhooks the signed webhook-id is the key."""
    key = signing.header(headers, IDEMPOTENCY_HEADER)
    if not key and mapping.get("idempotency_key"):
        try:
            key = _text(resolve(payload, mapping["idempotency_key"])) or ""
        except _NotText:
            key = ""
    if not key:
        raise PayloadError(_("Missing Idempotency-Key header."))
    if len(key) > MAX_KEY_LENGTH:
        raise PayloadError(
            _("The idempotency key must be at most %(max)d characters.") % {"max": MAX_KEY_LENGTH}
        )
    return key


def error_items(exc: ValidationError, mapping: dict[str, str]) -> list[dict[str, Any]]:
    """422 detail in the API's shape; `loc` points at the payload path the bad value came from."""
    if not hasattr(exc, "error_dict"):
        return [{"loc": ["body"], "msg": str(m), "type": "value_error"} for m in exc.messages]
    items = []
    for key, messages in exc.message_dict.items():
        if key.startswith("custom_fields."):
            key = CUSTOMER_CUSTOM_PREFIX + key[len("custom_fields.") :]
        target = _TARGET_FOR_INPUT_KEY.get(key, key)
        path = mapping.get(target)
        loc = ["body", *(path.split(".") if path else [target] if is_target(target) else [])]
        for message in messages:
            items.append({"loc": loc, "msg": str(message), "type": "value_error", "field": target})
    return items


# --------------------------------------------------------------------------- writing


def record_order(
    customer: Customer,
    number: str,
    amount: decimal.Decimal,
    ordered_at: dt.datetime,
    channel: str,
    *,
    actor,
    currency: str = "CNY",
    custom_fields: dict[str, Any] | None = None,
) -> tuple[Any, bool]:
    """Record a paid order once through the registered order writer (`sales.actions.create_order`,
    idempotent by its unique number). Returns (order, created). Errors of the order's custom fields are keyed
    "order.cf.<key>", as the mapping names them."""
    data = {"number": number, "amount": amount, "ordered_at": ordered_at, "channel": channel,
            "currency": currency, "custom_fields": custom_fields or {}}  # fmt: skip
    if _order_writer is None:
        raise ImproperlyConfigured("no order writer registered (customers.inbound.register_order_writer)")
    try:
        return _order_writer(customer, data, actor=actor)
    except ValidationError as exc:
        raise ValidationError(
            {ORDER_CUSTOM_PREFIX + k[len("custom_fields.") :] if k.startswith("custom_fields.") else k: v
             for k, v in exc.message_dict.items()}
        ) from exc  # fmt: skip


def _apply(
    source: InboundSource, payload: dict[str, Any], mapping: dict[str, str], delivery: InboundDelivery
) -> tuple[int, dict[str, Any], Customer]:
    channel = CHANNEL_FOR_KIND[source.kind]
    mapped = map_payload(source, payload, mapping)
    customer, outcome = actions.ingest_customer(
        mapped.customer, actor=None, channel=channel, external_ref=mapped.external_ref
    )
    body: dict[str, Any] = {
        "outcome": str(outcome),
        "customer_id": customer.pk,
        "delivery_id": delivery.pk,
        "request_id": current_request_id(),
    }
    if mapped.order is not None:
        order, created = record_order(
            customer,
            mapped.order["number"],
            mapped.order["amount"],
            mapped.order["ordered_at"],
            channel,
            actor=None,
            currency=mapped.order["currency"],
            custom_fields=mapped.order.get("custom_fields"),
        )
        body["order"] = {
            "id": order.pk,
            "number": order.number,
            "outcome": "created" if created else "unchanged",
        }
    status = HTTPStatus.CREATED if outcome == actions.IngestOutcome.CREATED else HTTPStatus.OK
    return int(status), body, customer


def _process(
    source: InboundSource, key: str, payload: dict[str, Any], mapping: dict[str, str], legacy_signature: str
) -> InboundResponse:
    with transaction.atomic():
        # Claim the key (and a deprecated-scheme signature) first: a concurrent duplicate waits here
        # and then fails on the unique index.
        delivery = InboundDelivery.objects.create(
            source=source,
            idempotency_key=key,
            legacy_signature=legacy_signature,
            payload=payload,
            status_code=HTTPStatus.ACCEPTED,
        )
        customer = None
        try:
            with transaction.atomic():
                status, body, customer = _apply(source, payload, mapping, delivery)
        except ValidationError as exc:
            status = int(HTTPStatus.UNPROCESSABLE_ENTITY)
            body = {"detail": error_items(exc, mapping), "delivery_id": delivery.pk}
        delivery.status_code, delivery.response, delivery.customer = status, body, customer
        delivery.save(update_fields=["status_code", "response", "customer"])
    return InboundResponse(status, body)


def _replay(delivery: InboundDelivery) -> InboundResponse:
    return InboundResponse(delivery.status_code, delivery.response, replayed=True)


def _error(status: HTTPStatus, message: str) -> InboundResponse:
    return InboundResponse(int(status), {"detail": message})


def active_source(slug: str) -> InboundSource | None:
    return InboundSource.objects.select_related("default_owner").filter(slug=slug, is_active=True).first()


def _previous(source: InboundSource, key: str, legacy_signature: str) -> InboundDelivery | None:
    """The delivery this call repeats: same key, or (deprecated scheme) the same signed copy."""
    previous = InboundDelivery.objects.filter(source=source, idempotency_key=key).first()
    if previous is None and legacy_signature:
        previous = InboundDelivery.objects.filter(source=source, legacy_signature=legacy_signature).first()
    return previous


def _note_legacy_use(source: InboundSource) -> None:
    logger.warning(
        "Inbound source %s signs with the deprecated X-Guanxi-Signature scheme (accepted until %s); "
        "switch the sender to Standard Webhooks.",
        source.slug,
        signing.LEGACY_ACCEPTED_UNTIL.isoformat(),
    )
    InboundSource.objects.filter(pk=source.pk).update(legacy_signature_used_at=timezone.now())


def handle_delivery(
    source: InboundSource, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> InboundResponse:
    """Check, deduplicate and process one webhook call (see the module docstring for the order)."""
    if len(body) > MAX_BODY_BYTES:
        return _error(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            _("The body is larger than %(max)d KB.") % {"max": MAX_BODY_BYTES // 1024},
        )
    verified = signing.verify(source.secret, headers, body, now=now)
    if verified.failure:
        return _error(HTTPStatus.UNAUTHORIZED, verified.failure)
    mapping = effective_mapping(source)
    try:
        payload = parse_payload(body)
        key = verified.message_id or idempotency_key(headers, payload, mapping)
    except PayloadError as exc:
        return _error(HTTPStatus.BAD_REQUEST, str(exc))
    if verified.legacy_signature:
        _note_legacy_use(source)
    previous = _previous(source, key, verified.legacy_signature)
    if previous is not None:
        return _replay(previous)
    try:
        return _process(source, key, payload, mapping, verified.legacy_signature)
    except IntegrityError:
        previous = _previous(source, key, verified.legacy_signature)
        if previous is None:
            raise
        return _replay(previous)
