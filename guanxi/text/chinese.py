"""Traditional -> simplified Chinese, character by character (OpenCC)."""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

import opencc

_converter: Any = None
_converter_lock = threading.Lock()


def _t2s() -> Any:
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
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
