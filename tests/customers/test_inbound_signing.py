"""Hole (issue 9 §8): the inbound webhook signature did not cover the Idempotency-Key.

The old scheme signed only "<timestamp>.<body>"; the key travelled beside it, so a captured call
re-sent within the 5-minute window under a new Idempotency-Key was processed a second time (a
second customer, order, event). Now senders use Standard Webhooks (the signed webhook-id is the
key), and the deprecated scheme, accepted until 2027-06-30, answers a re-sent signed copy as a
replay whatever its key."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from guanxi.customers import inbound
from guanxi.customers.inbound import signing
from guanxi.customers.models import Customer, InboundDelivery, InboundKind, InboundSource
from tests.factories import PASSWORD

FORM = {"name": "王小明", "phone": "138 1234 5678", "message": "想了解报价"}

# The Standard Webhooks specification's own test vector (also in its reference libraries' tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _source(**kwargs) -> InboundSource:
    return InboundSource.objects.create(
        slug="site", name="Site", kind=InboundKind.WEB_FORM, secret=inbound.generate_secret(), **kwargs
    )


def _post(source, body: bytes, headers: dict):
    return Client(HTTP_ACCEPT_LANGUAGE="en").post(
        f"/inbound/{source.slug}/", data=body, content_type="application/json", headers=headers
    )


def test_the_spec_test_vector():
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    assert signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    assert signing.verify_standard(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP) == (None, SPEC_ID, "")
    # Several signatures (key rotation on the sender's side): one valid is enough.
    rotated = {**headers, "webhook-signature": "v1,Ym9ndXM= v2,whatever " + SPEC_SIGNATURE}
    assert signing.verify_standard(SPEC_SECRET, rotated, SPEC_BODY, now=SPEC_TIMESTAMP).failure is None
    assert signing.verify_standard(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 301).failure
    assert signing.verify_standard(SPEC_SECRET, headers, SPEC_BODY + b" ", now=SPEC_TIMESTAMP).failure
    assert signing.generate_secret().startswith("whsec_")


@pytest.mark.parametrize(
    "signature",
    ["v1", "v1,", "v1,not base64!", "v1,,,", "", "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="],
)
def test_malformed_signatures_are_refused_not_crashed(signature):
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": signature,
    }
    assert signing.verify_standard(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP).failure
    assert signing.verify_standard(SPEC_SECRET, headers, b"\xff\xfe", now=SPEC_TIMESTAMP).failure


@pytest.mark.django_db
def test_standard_webhooks_delivery_the_id_is_the_idempotency_key():
    source = _source()
    body = json.dumps(FORM, ensure_ascii=False).encode()
    headers = signing.standard_headers(source.secret, body, message_id="evt-1")
    first = _post(source, body, headers)
    assert first.status_code == 201, first.content
    again = _post(source, body, headers)  # a retry: the same id
    assert again.json() == first.json() and again[inbound.REPLAYED_HEADER] == "true"
    # A captured copy re-sent under another id: the signature covers the id, so it is refused.
    forged = {**headers, "webhook-id": "evt-2"}
    assert _post(source, body, forged).status_code == 401
    # An Idempotency-Key header beside a Standard Webhooks signature changes nothing.
    assert _post(source, body, {**headers, "Idempotency-Key": "other"}).json() == first.json()
    assert Customer.objects.count() == 1 and InboundDelivery.objects.get().idempotency_key == "evt-1"
    assert InboundSource.objects.get().legacy_signature_used_at is None


@pytest.mark.django_db
def test_deprecated_scheme_a_signed_copy_under_a_new_key_is_a_replay():
    """Old code: the copy under "evt-2" was processed again (a second delivery row and work)."""
    source = _source()
    body = json.dumps(FORM, ensure_ascii=False).encode()
    headers = inbound.signed_headers(source.secret, body)
    first = _post(source, body, {**headers, "Idempotency-Key": "evt-1"})
    assert first.status_code == 201, first.content
    replay = _post(source, body, {**headers, "Idempotency-Key": "evt-2"})
    assert replay.json() == first.json() and replay[inbound.REPLAYED_HEADER] == "true"
    assert InboundDelivery.objects.count() == 1 and Customer.objects.count() == 1
    # Deprecated use is flagged on the source.
    assert InboundSource.objects.get().legacy_signature_used_at is not None


@pytest.mark.django_db
def test_deprecated_scheme_is_refused_after_its_date():
    source = _source()
    body = json.dumps(FORM, ensure_ascii=False).encode()
    after = dt.datetime.combine(signing.LEGACY_ACCEPTED_UNTIL + dt.timedelta(days=1), dt.time(12)).timestamp()
    headers = {**inbound.signed_headers(source.secret, body, timestamp=int(after)), "Idempotency-Key": "k"}
    result = inbound.handle_delivery(source, headers, body, now=after)
    assert result.status == 401 and "no longer accepted" in result.body["detail"]
    before = after - 2 * 86400
    headers = {**inbound.signed_headers(source.secret, body, timestamp=int(before)), "Idempotency-Key": "k"}
    assert inbound.handle_delivery(source, headers, body, now=before).status == 201


@pytest.mark.django_db
def test_the_sources_page_marks_a_source_still_on_the_deprecated_scheme(org):
    source = _source()
    body = json.dumps(FORM, ensure_ascii=False).encode()
    _post(source, body, {**inbound.signed_headers(source.secret, body), "Idempotency-Key": "evt-1"})
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=org.admin.username, password=PASSWORD)
    html = client.get("/inbound/").content.decode()
    assert "Deprecated signature" in html and "2027-06-30" in html


# --------------------------------------------------------------------------- the secret at rest (issue 9 §3)


def _raw_secret(pk: int) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM customers_inboundsource WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_source_secret_is_encrypted_at_rest_and_verification_still_works():
    """Old code: the column held the secret in clear (anyone with a backup could sign calls)."""
    source = _source()
    secret = source.secret
    assert secret not in _raw_secret(source.pk) and _raw_secret(source.pk).startswith("enc:v1:")
    source = InboundSource.objects.get(pk=source.pk)
    body = json.dumps(FORM, ensure_ascii=False).encode()
    assert _post(source, body, signing.standard_headers(secret, body)).status_code == 201


@pytest.mark.django_db
def test_the_admin_never_echoes_the_source_secret(org):
    source = _source()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=org.admin.username, password=PASSWORD)
    html = client.get(f"/admin/customers/inboundsource/{source.pk}/change/").content.decode()
    assert source.secret not in html and source.secret[-4:] in html  # only its last characters
    form = {"name": "Site 2", "slug": "site", "kind": "web_form", "is_active": "on", "default_owner": "",
            "secret": "", "mapping": "{}"}  # fmt: skip
    response = client.post(f"/admin/customers/inboundsource/{source.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert InboundSource.objects.get(pk=source.pk).secret == source.secret  # empty keeps it


@pytest.mark.django_db
def test_the_data_migration_encrypts_source_secrets_written_in_clear():
    import importlib

    from django.apps import apps
    from django.db import connection
    from django.db.migrations import RunPython

    source = _source()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE customers_inboundsource SET secret = %s WHERE id = %s", ["plain-secret-1234", source.pk]
        )
    migration = importlib.import_module(
        "guanxi.customers.migrations.0008_inbound_standard_webhooks_encrypted_secrets"
    ).Migration
    (encrypt,) = [op for op in migration.operations if isinstance(op, RunPython)]
    encrypt.code(apps, None)
    assert "plain-secret-1234" not in _raw_secret(source.pk)
    assert InboundSource.objects.get(pk=source.pk).secret == "plain-secret-1234"
