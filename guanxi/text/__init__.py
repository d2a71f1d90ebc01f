"""Text normalisation: phones, e-mails, WeChat ids, Chinese names, pinyin and company keys.

Pure Python, below everything else in Guanxi: no Django and no app of the project is imported
here (an import-linter contract in pyproject.toml enforces it), so a CLI, a notebook or the
matcher (`guanxi.matching`) can use it without settings. Import it as a whole, e.g.
``from guanxi import text as normalize`` and ``normalize.normalize_phone("138 1234 5678")``;
the modules inside are how it is organised, this namespace is its interface.

Every ``normalize_*`` function (and ``clean_text``) either returns a str or raises
:class:`NormalizationError`, whose ``code`` says which rule failed; turning that code into a
translated message for a form or the API is the caller's business (the customers app maps the
codes to its messages).

- ``cleaning``: widths, invisible and control characters, ``clean_text`` for free-form names;
- ``phones``: E.164 (libphonenumber), masking, display;
- ``contacts``: e-mail addresses, WeChat ids;
- ``chinese``: traditional -> simplified, character by character;
- ``names``: matching keys of person names (titles stripped) and companies (legal forms stripped);
- ``pinyin``: full pinyin and initials for search, with surname readings.
"""

from guanxi.text.chinese import to_simplified
from guanxi.text.cleaning import clean_free_text, clean_text, fold_width, has_control_chars
from guanxi.text.contacts import normalize_email, normalize_wechat_id
from guanxi.text.errors import (
    REASON_CONTROL_CHARS,
    REASON_EMPTY,
    REASON_INVALID_EMAIL,
    REASON_INVALID_PHONE,
    REASON_INVALID_WECHAT_ID,
    REASON_MARKUP,
    REASON_PHONE_EXTENSION,
    REASON_TOO_LONG,
    NormalizationError,
)
from guanxi.text.names import company_name_key, person_name_key, strip_person_titles
from guanxi.text.phones import format_phone_display, is_cn_mobile, mask_phone, normalize_phone
from guanxi.text.pinyin import pinyin_full, pinyin_initials, search_keys

__all__ = [
    "REASON_CONTROL_CHARS",
    "clean_free_text",
    "has_control_chars",
    "REASON_EMPTY",
    "REASON_INVALID_EMAIL",
    "REASON_INVALID_PHONE",
    "REASON_INVALID_WECHAT_ID",
    "REASON_MARKUP",
    "REASON_PHONE_EXTENSION",
    "REASON_TOO_LONG",
    "NormalizationError",
    "clean_text",
    "company_name_key",
    "fold_width",
    "format_phone_display",
    "is_cn_mobile",
    "mask_phone",
    "normalize_email",
    "normalize_phone",
    "normalize_wechat_id",
    "person_name_key",
    "pinyin_full",
    "pinyin_initials",
    "search_keys",
    "strip_person_titles",
    "to_simplified",
]
