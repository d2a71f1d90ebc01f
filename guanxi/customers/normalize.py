"""Normalization of contact data and names (phones, e-mails, WeChat ids, Chinese names).

Pure Python, no Django imports: safe to use from a CLI without settings.
Every ``normalize_*`` function either returns a str or raises :class:`NormalizationError`.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import cache, lru_cache
from typing import Any

import phonenumbers
from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PHRASES_DICT, PINYIN_DICT

__all__ = [
    "NormalizationError",
    "clean_text",
    "company_name_key",
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


class NormalizationError(ValueError):
    """A value could not be normalized.

    ``reason`` is a constant English sentence per failure kind (safe to mark for translation),
    ``code`` a machine code, ``field`` the optional field name passed by the caller.
    """

    def __init__(self, reason: str, code: str, field: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.field = field

    def __reduce__(self) -> tuple[type[NormalizationError], tuple[str, str, str]]:
        # Keeps the exception picklable (task queues pickle errors).
        return (type(self), (self.reason, self.code, self.field))

    def __repr__(self) -> str:
        return f"NormalizationError(reason={self.reason!r}, code={self.code!r}, field={self.field!r})"


# Constant reasons, one per failure kind.
REASON_EMPTY = "This value is empty"
REASON_TOO_LONG = "This value is too long"
REASON_MARKUP = "This value must not contain < or >"
REASON_CONTROL_CHARS = "This value contains control characters"
REASON_INVALID_PHONE = "Not a valid phone number"
REASON_PHONE_EXTENSION = "Phone extensions are not supported"
REASON_INVALID_EMAIL = "Not a valid e-mail address"
REASON_INVALID_WECHAT_ID = "Not a valid WeChat id"


def _fail(reason: str, code: str, field: str = "") -> NormalizationError:
    return NormalizationError(reason, code, field)


# --------------------------------------------------------------------------- text helpers

# Full-width ASCII (U+FF01..U+FF5E) -> ASCII, ideographic space -> space.
_FULLWIDTH_ALL = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# Only letters, digits and the space (clean_text keeps full-width punctuation such as （）).
_FULLWIDTH_ALNUM = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F) if chr(cp - 0xFEE0).isalnum()} | {
    0x3000: 0x20
}
# Invisible junk from copy/paste that is silently dropped.
_DROP_INVISIBLE = {0x200B: None, 0xFEFF: None}
# Bidi embedding/override/isolate controls (spoofing risk): rejected like control chars.
_BIDI_CONTROLS = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_WHITESPACE_CONTROLS = frozenset("\t\n\v\f\r\x85")


def _has_control_chars(text: str) -> bool:
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs") and ch not in _WHITESPACE_CONTROLS:
            return True
        if ord(ch) in _BIDI_CONTROLS:
            return True
    return False


def _collapse_ws(text: str) -> str:
    return " ".join(text.split())


def _is_key_char(ch: str) -> bool:
    """Letters, numbers and marks are kept in matching keys; punctuation, symbols, spaces are not."""
    return unicodedata.category(ch)[0] in "LNM"


def _is_han(ch: str) -> bool:
    return ch >= "\u2e80" and unicodedata.name(ch, "").startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEO"))


def clean_text(raw: str, *, max_length: int, field: str = "") -> str:
    """Display cleaning for free-form names (no NFKC).

    Strips, collapses whitespace runs, folds full-width ASCII letters/digits/space to half-width
    (CJK and full-width punctuation are kept). Rejects empty, too long, markup and control chars.
    """
    if not isinstance(raw, str):
        raise TypeError("clean_text() expects a str")
    text = raw.translate(_FULLWIDTH_ALNUM).translate(_DROP_INVISIBLE)
    if _has_control_chars(text):
        raise _fail(REASON_CONTROL_CHARS, "control_chars", field)
    text = _collapse_ws(text)
    if not text:
        raise _fail(REASON_EMPTY, "empty", field)
    if "<" in text or ">" in text:
        raise _fail(REASON_MARKUP, "markup", field)
    if len(text) > max_length:
        raise _fail(REASON_TOO_LONG, "too_long", field)
    return text


# --------------------------------------------------------------------------- phones

_MAX_PHONE_INPUT = 64


def _phone_input(raw: Any) -> str:
    if isinstance(raw, bool):
        raise TypeError("normalize_phone() expects a str")
    if isinstance(raw, int | float):  # values straight from a spreadsheet
        raw = str(raw)
    if not isinstance(raw, str):
        raise TypeError("normalize_phone() expects a str")
    text = raw.translate(_FULLWIDTH_ALL).translate(_DROP_INVISIBLE).strip()
    # Excel stores numbers as floats: "13812345678.0" -> "13812345678".
    head, dot, tail = text.rpartition(".")
    if dot and tail and set(tail) == {"0"} and head.isascii() and head.isdigit():
        text = head
    return text


def _parse_phone(raw: Any, default_region: str) -> phonenumbers.PhoneNumber:
    text = _phone_input(raw)
    if not text:
        raise _fail(REASON_EMPTY, "empty")
    # Letters would be read as vanity digits by phonenumbers ("1-800-FLOWERS"); CJK is alpha too.
    if len(text) > _MAX_PHONE_INPUT or any(ch.isalpha() for ch in text):
        raise _fail(REASON_INVALID_PHONE, "invalid_phone")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise _fail(REASON_INVALID_PHONE, "invalid_phone")
    if number.extension:
        raise _fail(REASON_PHONE_EXTENSION, "phone_extension")
    if not phonenumbers.is_valid_number(number):
        raise _fail(REASON_INVALID_PHONE, "invalid_phone")
    return number


def normalize_phone(raw: str, default_region: str = "CN") -> str:
    """Return the E.164 form ("+8613812345678") or raise NormalizationError."""
    number = _parse_phone(raw, default_region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _try_parse(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        return _parse_phone(e164, "CN")
    except (NormalizationError, TypeError):
        return None


def _is_cn_mobile_number(number: phonenumbers.PhoneNumber) -> bool:
    return number.country_code == 86 and phonenumbers.number_type(number) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def is_cn_mobile(e164: str) -> bool:
    """True for a valid mainland China mobile number."""
    number = _try_parse(e164)
    return number is not None and _is_cn_mobile_number(number)


def _mask_digits(digits: str) -> str:
    n = len(digits)
    if n >= 8:  # keep the last 4, mask the 4 before them, keep the prefix
        return digits[: n - 8] + "****" + digits[n - 4 :]
    if n <= 2:
        return "*" * n
    keep = max(1, n // 4)
    return digits[:keep] + "*" * (n - 2 * keep) + digits[n - keep :]


def mask_phone(e164: str) -> str:
    """Mask the middle digits: "+8613812345678" -> "138****5678".

    CN numbers show national format digits (010****5678 for landlines), others keep the
    country code ("+44 79****3456"). Unparseable input gives "****" (never leaks the value).
    """
    number = _try_parse(e164)
    if number is None:
        return "****"
    if number.country_code == 86:
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return _mask_digits("".join(ch for ch in national if ch.isdigit()))
    nsn = phonenumbers.national_significant_number(number)
    return f"+{number.country_code} {_mask_digits(nsn)}"


def format_phone_display(e164: str) -> str:
    """CN mobiles as "138 1234 5678", everything else in international format.

    Unparseable input is returned unchanged (display helper, never raises).
    """
    number = _try_parse(e164)
    if number is None:
        return e164
    if _is_cn_mobile_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# --------------------------------------------------------------------------- e-mail, WeChat

_EMAIL_FORBIDDEN = frozenset('<>()[]\\,;:"')
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def normalize_email(raw: str, provider_rules: bool = False) -> str:
    """Strip, NFKC and lowercase an e-mail address and check its shape.

    With ``provider_rules`` Gmail addresses lose their +tag and dots in the local part.
    """
    if not isinstance(raw, str):
        raise TypeError("normalize_email() expects a str")
    text = unicodedata.normalize("NFKC", raw.translate(_DROP_INVISIBLE)).strip()
    if not text:
        raise _fail(REASON_EMPTY, "empty")
    text = unicodedata.normalize("NFKC", text.lower())
    local, at, domain = text.rpartition("@")
    if (
        not at
        or not local
        or "@" in local
        or len(text) > 254
        or len(local) > 64
        or any(ch.isspace() or ch in _EMAIL_FORBIDDEN for ch in text)
        or _has_control_chars(text)
        or "." not in domain
        or any(not label for label in domain.split("."))
    ):
        raise _fail(REASON_INVALID_EMAIL, "invalid_email")
    if provider_rules and domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            raise _fail(REASON_INVALID_EMAIL, "invalid_email")
        text = f"{local}@{domain}"
    return text


_WECHAT_ID_RE = re.compile(r"[A-Za-z0-9_-]{6,64}")


def normalize_wechat_id(raw: str) -> str:
    """WeChat openid/unionid: 6..64 chars of [A-Za-z0-9_-], case preserved."""
    if not isinstance(raw, str):
        raise TypeError("normalize_wechat_id() expects a str")
    text = raw.strip()
    if not text:
        raise _fail(REASON_EMPTY, "empty")
    if not _WECHAT_ID_RE.fullmatch(text):
        raise _fail(REASON_INVALID_WECHAT_ID, "invalid_wechat_id")
    return text


# --------------------------------------------------------------------------- Chinese text

_converter: Any = None
_converter_lock = threading.Lock()


def _t2s() -> Any:
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    return _converter


def _convert_t2s(text: str) -> str:
    try:
        return _t2s().convert(text)
    except UnicodeEncodeError:  # lone surrogates: convert the encodable pieces only
        parts = re.split(r"([\ud800-\udfff]+)", text)
        return "".join(p if i % 2 else _t2s().convert(p) for i, p in enumerate(parts))


# Characters that are valid simplified characters in their own right (and common in names), which
# OpenCC maps on their own as if traditional: 乾 (qián, 乾隆) is not 干, 著 (zhù) is not 着.
_KEEP_AS_IS = frozenset("乾著")


@lru_cache(maxsize=65536)
def _simplified_char(ch: str) -> str:
    if ch in _KEEP_AS_IS:
        return ch
    # A few OpenCC mappings chain (薴 -> 苧 -> 苎): convert until stable so the result is idempotent.
    for _ in range(4):
        converted = _convert_t2s(ch)
        if converted == ch:
            break
        ch = converted
    return ch


def to_simplified(text: str) -> str:
    """Traditional -> simplified Chinese, character by character (OpenCC t2s): 張偉 -> 张伟.

    Deliberately not phrase by phrase: names are not phrases. OpenCC's phrase table turns the
    name 沈思英 into 沉思英 (沈思 is the traditional spelling of the word 沉思), which would give the
    wrong pinyin and break search and matching.
    """
    if not text or text.isascii():
        return text
    return "".join(_simplified_char(ch) if ord(ch) > 0x2E7F else ch for ch in text)


_TITLE_SUFFIXES = tuple(
    sorted(
        [
            "先生",
            "女士",
            "小姐",
            "总",
            "老师",
            "经理",
            "总经理",
            "董事长",
            "老板",
            "师傅",
            "博士",
            "教授",
            "主任",
            "阿姨",
        ],
        key=len,
        reverse=True,
    )
)
_ENGLISH_TITLE_RE = re.compile(r"^\s*(?:(?:mrs|mr|ms|dr)(?:\.\s*|\s+))+(?=\S)", re.IGNORECASE)


def _has_cjk(text: str) -> bool:
    return any(_is_han(ch) for ch in text)


def _strip_cn_titles(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for suffix in _TITLE_SUFFIXES:
            if name.endswith(suffix) and _has_cjk(name[: -len(suffix)]):
                name = name[: -len(suffix)].rstrip()
                changed = True
                break
    return name


def strip_person_titles(name: str) -> str:
    """Remove honorific suffixes (张先生 -> 张, 王总经理 -> 王) and Mr/Mrs/Ms/Dr prefixes.

    Conservative: a Chinese suffix is removed only if a Chinese character remains.
    """
    name = name.strip()
    name = _ENGLISH_TITLE_RE.sub("", name, count=1)
    return _strip_cn_titles(name)


def _fold(text: str) -> str:
    return _collapse_ws(text.translate(_FULLWIDTH_ALNUM).translate(_DROP_INVISIBLE))


def person_name_key(name: str) -> str:
    """Matching key for a person: "張偉先生" -> "张伟", "  Zhang  Wei " -> "zhangwei".

    Returns "" when nothing usable is left (never raises for a str).
    """
    text = to_simplified(_fold(name))
    text = _ENGLISH_TITLE_RE.sub("", text, count=1)
    text = "".join(ch for ch in text if _is_key_char(ch))
    return _strip_cn_titles(text).lower()


_CN_LEGAL_SUFFIXES = tuple(
    sorted(
        [
            "股份有限公司",
            "有限责任公司",
            "有限公司",
            "集团有限公司",
            "集团",
            "公司",
            "分公司",
            "工作室",
            "商行",
            "厂",
        ],
        key=len,
        reverse=True,
    )
)
_LATIN_LEGAL_SUFFIXES = frozenset(
    {"co", "ltd", "limited", "inc", "corp", "corporation", "llc", "group", "company"}
)
_BRACKETED_RE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|【[^【】]*】")


def _company_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    current: list[str] = []
    for ch in text:
        if _is_key_char(ch):
            current.append(ch)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


def _drop_tail(tokens: list[str], count: int) -> None:
    while count and tokens:
        last = tokens[-1]
        if len(last) <= count:
            count -= len(last)
            tokens.pop()
        else:
            tokens[-1] = last[:-count]
            count = 0


def company_name_key(name: str) -> str:
    """Matching key for a company: "北京字节跳动科技有限公司" -> "北京字节跳动科技", "ABC Co., Ltd." -> "abc".

    Removes bracketed parts such as "（北京）", punctuation and legal-form suffixes.
    Returns "" when nothing usable is left (never raises for a str).
    """
    text = unicodedata.normalize("NFKC", name.translate(_DROP_INVISIBLE))
    text = to_simplified(text).lower()
    without_brackets = text
    while True:
        reduced = _BRACKETED_RE.sub(" ", without_brackets)
        if reduced == without_brackets:
            break
        without_brackets = reduced
    tokens = _company_tokens(without_brackets) or _company_tokens(text)
    changed = True
    while changed:
        changed = False
        if len(tokens) > 1 and tokens[-1] in _LATIN_LEGAL_SUFFIXES:
            tokens.pop()
            changed = True
            continue
        joined = "".join(tokens)
        for suffix in _CN_LEGAL_SUFFIXES:
            if len(joined) > len(suffix) and joined.endswith(suffix):
                _drop_tail(tokens, len(suffix))
                changed = True
                break
    # Removing separators can leave combining marks next to a new base: compose them again.
    return unicodedata.normalize("NFKC", "".join(tokens))


# --------------------------------------------------------------------------- pinyin

_SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    # Compound surnames (read as a unit).
    "欧阳": ("ou", "yang"),
    "司马": ("si", "ma"),
    "诸葛": ("zhu", "ge"),
    "上官": ("shang", "guan"),
    "东方": ("dong", "fang"),
    "皇甫": ("huang", "fu"),
    "尉迟": ("yu", "chi"),
    "公孙": ("gong", "sun"),
    "慕容": ("mu", "rong"),
    "令狐": ("ling", "hu"),
    "长孙": ("zhang", "sun"),
    "宇文": ("yu", "wen"),
    "司徒": ("si", "tu"),
    "夏侯": ("xia", "hou"),
    "轩辕": ("xuan", "yuan"),
    "端木": ("duan", "mu"),
    "独孤": ("du", "gu"),
    "南宫": ("nan", "gong"),
    "西门": ("xi", "men"),
    "闻人": ("wen", "ren"),
    "百里": ("bai", "li"),
    "东郭": ("dong", "guo"),
    "呼延": ("hu", "yan"),
    "万俟": ("mo", "qi"),
    # Single-character surnames whose surname reading differs from the common one.
    **{
        ch: (reading,)
        for ch, reading in {
            "单": "shan",
            "曾": "zeng",
            "解": "xie",
            "仇": "qiu",
            "区": "ou",
            "查": "zha",
            "朴": "piao",
            "盖": "ge",
            "乐": "yue",
            "缪": "miao",
            "种": "chong",
            "覃": "qin",
            "翟": "zhai",
            "繁": "po",
            "黑": "he",
            "员": "yun",
            "重": "chong",
            "便": "pian",
            "秘": "bi",
            "能": "nai",
            "句": "gou",
            "召": "shao",
            "过": "guo",
            "隗": "wei",
            "藏": "zang",
            "折": "she",
            "都": "du",
            "车": "che",
            "沈": "shen",
            "柏": "bai",
            "薄": "bo",
            "纪": "ji",
            "任": "ren",
            "华": "hua",
            "朝": "chao",
            "宿": "su",
            "尚": "shang",
        }.items()
    },
}
_MAX_PHRASE_SCAN = 8


def _pass_through(text: str) -> str:
    return text


@cache
def _char_reading(ch: str) -> str:
    """Default reading of one character that has pinyin (cache bounded by the character set)."""
    return lazy_pinyin(ch, style=Style.NORMAL, errors=_pass_through)[0]


def _may_contain_phrase(run: str) -> bool:
    n = len(run)
    if n > _MAX_PHRASE_SCAN:
        return True
    return any(run[i:j] in PHRASES_DICT for i in range(n - 1) for j in range(i + 2, n + 1))


@lru_cache(maxsize=65536)
def _run_readings(run: str) -> tuple[str, ...]:
    """Readings of a run of characters that all have pinyin.

    Same result as ``lazy_pinyin(run)``, but only calls pypinyin's phrase segmentation
    when the run contains a known phrase; otherwise per-character cached readings.
    """
    if len(run) > 1 and _may_contain_phrase(run):
        return tuple(lazy_pinyin(run, style=Style.NORMAL, errors=_pass_through))
    return tuple(_char_reading(ch) for ch in run)


def _keys(syllables: list[str] | tuple[str, ...], full: list[str], initials: list[str]) -> None:
    for syllable in syllables:
        full.append(syllable)
        initials.append(syllable[:1])


def _convert(text: str, full: list[str], initials: list[str]) -> None:
    """Pinyin for characters with a reading, lowercased letters/digits as-is, the rest dropped."""
    run_start = -1
    for i, ch in enumerate(text):
        if ord(ch) in PINYIN_DICT:
            if run_start < 0:
                run_start = i
            continue
        if run_start >= 0:
            _keys(_run_readings(text[run_start:i]), full, initials)
            run_start = -1
        if ch.isalnum():
            lowered = ch.lower()
            full.append(lowered)
            initials.append(lowered)
    if run_start >= 0:
        _keys(_run_readings(text[run_start:]), full, initials)


@lru_cache(maxsize=65536)
def search_keys(name: str, *, person: bool = True) -> tuple[str, str]:
    """(pinyin_full, pinyin_initials) for a name, e.g. "张伟" -> ("zhangwei", "zw").

    Traditional characters are simplified first; with ``person`` the surname uses
    surname readings (单 -> shan, 曾 -> zeng, 尉迟 -> yuchi). Latin letters/digits pass
    through lowercased in both keys; punctuation and spaces are dropped.
    """
    text = to_simplified(unicodedata.normalize("NFKC", name)).strip()
    full: list[str] = []
    initials: list[str] = []
    if person and text:
        if text[:2] in _SURNAME_READINGS:
            _keys(_SURNAME_READINGS[text[:2]], full, initials)
            text = text[2:]
        elif text[0] in _SURNAME_READINGS:
            _keys(_SURNAME_READINGS[text[0]], full, initials)
            text = text[1:]
        elif ord(text[0]) in PINYIN_DICT:  # the surname is read on its own, not as part of a phrase
            _keys((_char_reading(text[0]),), full, initials)
            text = text[1:]
    _convert(text, full, initials)
    return "".join(full), "".join(initials)


def pinyin_full(name: str, *, person: bool = True) -> str:
    """Full toneless pinyin without separators: "张伟" -> "zhangwei"."""
    return search_keys(name, person=person)[0]


def pinyin_initials(name: str, *, person: bool = True) -> str:
    """Pinyin initials: "张伟" -> "zw"."""
    return search_keys(name, person=person)[1]
