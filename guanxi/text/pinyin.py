"""Pinyin search keys of names (pypinyin plus a table of surname readings)."""

from __future__ import annotations

import unicodedata
from functools import cache, lru_cache

from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PHRASES_DICT, PINYIN_DICT

from guanxi.text.chinese import to_simplified

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
