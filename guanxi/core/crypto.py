"""Secrets at rest: values encrypted with keys from configuration (Fernet, via `cryptography`).

`GUANXI_ENCRYPTION_KEY` holds one or more Fernet keys separated by commas: the first encrypts, all
decrypt (MultiFernet), so a key is rotated by putting a new one first (rows are re-encrypted with it
when saved; `rotate()` re-encrypts a stored value), and dropping the old key once none uses it.
Without it the embedded default generates a key into the data dir (0600), like the secret key.

`EncryptedCharField` / `EncryptedURLField` store "enc:v1:<fernet token>" in a text column and give
the plain value in Python, so actions, channels and the webhook check read `source.secret` as
before and nothing can forget to encrypt. A column value without the prefix (a row written before
the data migration) is read as it is.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import migrations, models

PREFIX = "enc:v1:"


def generate_key() -> str:
    return Fernet.generate_key().decode()


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "GUANXI_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64-encoded bytes), comma-separated."
        ) from exc


def _keys() -> tuple[str, ...]:
    keys = tuple(k.strip() for k in settings.ENCRYPTION_KEYS if k.strip())
    if not keys:
        raise ImproperlyConfigured("No encryption key: set GUANXI_ENCRYPTION_KEY.")
    return keys


def is_encrypted(value: str) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt(value: str) -> str:
    """The stored form of a secret ("" stays "": nothing to hide, and blank checks keep working)."""
    if not value or is_encrypted(value):
        return value
    return PREFIX + _fernet(_keys()).encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    """The plain value of a stored secret; a value without the prefix is returned as it is."""
    if not is_encrypted(value):
        return value
    try:
        return _fernet(_keys()).decrypt(value.removeprefix(PREFIX).encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with GUANXI_ENCRYPTION_KEY (was the key changed "
            "without keeping the old one after it?)."
        ) from exc


def rotate(value: str) -> str:
    """Re-encrypt a stored value with the first key (for key rotation)."""
    if not is_encrypted(value):
        return encrypt(value)
    return PREFIX + _fernet(_keys()).rotate(value.removeprefix(PREFIX).encode()).decode()


def mask(value: str, *, keep: int = 4) -> str:
    """How a settings page shows a secret: never in full ("…" and its last characters)."""
    if not value:
        return ""
    return "…" + value[-keep:] if len(value) > 3 * keep else "…"


class _Encrypted:
    """Model field mixin: encrypted in the column (text, no length limit), plain in Python. The
    field's max_length still limits the plain value (forms and full_clean)."""

    def get_internal_type(self) -> str:
        return "TextField"

    def db_type(self, connection):
        return models.TextField().db_type(connection)

    def from_db_value(self, value, expression, connection):
        return value if value is None else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value if value is None else encrypt(str(value))


class EncryptedCharField(_Encrypted, models.CharField):
    pass


class EncryptedURLField(_Encrypted, models.URLField):
    pass


def encrypt_rows_operation(app_label: str, model_name: str, fields: list[str]):
    """A migration step encrypting the `fields` of rows written before they were encrypted (and, in
    reverse, writing them back in clear). Saving through the encrypted field encrypts; values
    already encrypted are left as they are."""

    def forward(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        for row in model.objects.all():
            row.save(update_fields=fields)

    def backward(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        for row in model.objects.all():  # read decrypted; written back in clear as a plain text value
            model.objects.filter(pk=row.pk).update(
                **{name: models.Value(getattr(row, name), output_field=models.TextField()) for name in fields}
            )

    return migrations.RunPython(forward, backward)
