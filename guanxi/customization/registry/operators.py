"""Field refs and keys, the groups of field types, and the filter operators each type offers.

The bottom of the registry package: it imports only the customisation models.
"""

from __future__ import annotations

import re

from django.db import models
from django.utils.translation import gettext_lazy, pgettext_lazy

from guanxi.customization.models import FieldStatus, FieldType

PREFIX = "cf."
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LIVE_STATUSES = (FieldStatus.ACTIVE, FieldStatus.RENAMING)
TEXT_TYPES = {FieldType.TEXT, FieldType.LONG_TEXT, FieldType.PHONE, FieldType.EMAIL, FieldType.URL}
NUMERIC_TYPES = {FieldType.NUMBER, FieldType.MONEY}
DATE_TYPES = {FieldType.DATE, FieldType.DATETIME}
ID_TYPES = {FieldType.USER, FieldType.LINKED_RECORD}


# --------------------------------------------------------------------------- operators


class Op(models.TextChoices):
    EQ = "eq", gettext_lazy("is")
    NE = "ne", gettext_lazy("is not")
    IN = "in", gettext_lazy("is any of")
    CONTAINS = "contains", gettext_lazy("contains")
    STARTS = "starts", gettext_lazy("starts with")
    GT = "gt", gettext_lazy("greater than")
    GTE = "gte", gettext_lazy("at least")
    LT = "lt", gettext_lazy("less than")
    LTE = "lte", gettext_lazy("at most")
    BEFORE = "before", pgettext_lazy("filter operator", "before")
    AFTER = "after", pgettext_lazy("filter operator", "after")
    LAST_DAYS = "last_days", gettext_lazy("in the last N days")
    NEXT_DAYS = "next_days", gettext_lazy("in the next N days")
    OLDER_THAN_DAYS = "older_than_days", gettext_lazy("more than N days ago")
    TODAY = "today", gettext_lazy("today")
    THIS_WEEK = "this_week", gettext_lazy("this week")
    THIS_MONTH = "this_month", gettext_lazy("this month")
    LAST_MONTH = "last_month", gettext_lazy("last month")
    THIS_YEAR = "this_year", gettext_lazy("this year")
    HAS = "has", gettext_lazy("includes")
    EMPTY = "empty", gettext_lazy("is empty")
    NOT_EMPTY = "not_empty", gettext_lazy("is not empty")


NO_VALUE_OPS = {Op.EMPTY, Op.NOT_EMPTY, Op.TODAY, Op.THIS_WEEK, Op.THIS_MONTH, Op.LAST_MONTH, Op.THIS_YEAR}
DAY_COUNT_OPS = {Op.LAST_DAYS, Op.NEXT_DAYS, Op.OLDER_THAN_DAYS}
RELATIVE_OPS = DAY_COUNT_OPS | {Op.TODAY, Op.THIS_WEEK, Op.THIS_MONTH, Op.LAST_MONTH, Op.THIS_YEAR}
OPS_BY_TYPE: dict[str, list[str]] = {
    **{t: [Op.EQ, Op.NE, Op.CONTAINS, Op.STARTS, Op.EMPTY, Op.NOT_EMPTY] for t in TEXT_TYPES},
    **{t: [Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.EMPTY, Op.NOT_EMPTY] for t in NUMERIC_TYPES},
    **{t: [Op.EQ, Op.BEFORE, Op.AFTER, *sorted(RELATIVE_OPS), Op.EMPTY, Op.NOT_EMPTY] for t in DATE_TYPES},
    FieldType.BOOLEAN: [Op.EQ],
    FieldType.SINGLE_SELECT: [Op.EQ, Op.NE, Op.IN, Op.EMPTY, Op.NOT_EMPTY],
    FieldType.MULTI_SELECT: [Op.HAS, Op.IN, Op.EMPTY, Op.NOT_EMPTY],
    FieldType.USER: [Op.EQ, Op.NE, Op.IN, Op.EMPTY, Op.NOT_EMPTY],
    FieldType.LINKED_RECORD: [Op.EQ, Op.EMPTY, Op.NOT_EMPTY],
}
