"""Matching keys of person and company names: titles and legal-form suffixes stripped."""

from __future__ import annotations

import re
import unicodedata

from guanxi.text.chinese import to_simplified
from guanxi.text.cleaning import DROP_INVISIBLE, fold, is_han, is_key_char

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
    return any(is_han(ch) for ch in text)


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


def person_name_key(name: str) -> str:
    """Matching key for a person: "張偉先生" -> "张伟", "  Zhang  Wei " -> "zhangwei".

    Returns "" when nothing usable is left (never raises for a str).
    """
    text = to_simplified(fold(name))
    text = _ENGLISH_TITLE_RE.sub("", text, count=1)
    text = "".join(ch for ch in text if is_key_char(ch))
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
        if is_key_char(ch):
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
    text = unicodedata.normalize("NFKC", name.translate(DROP_INVISIBLE))
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
