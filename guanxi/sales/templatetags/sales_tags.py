"""Template helpers for deal pages: localised pipeline/stage names and stage colours."""

from django import template

from guanxi.customization.registry import _localized

register = template.Library()


@register.filter
def loc(obj) -> str:
    """A pipeline's or stage's name in the current language (English when set, else Chinese)."""
    if obj is None:
        return ""
    return _localized(obj.name_zh, obj.name_en)


@register.filter
def is_hex(color: str) -> bool:
    return isinstance(color, str) and color.startswith("#")
