"""The error report: each rejected row with its values and the reasons, formula-safe."""

from __future__ import annotations

import codecs
import csv
import io
import logging
from collections.abc import Iterator

from django.core.exceptions import NON_FIELD_ERRORS
from django.utils import translation
from django.utils.translation import gettext as _

from guanxi.core.spreadsheet import safe_cell
from guanxi.customers.importing.fields import (
    _CONTACT_POINT_FIELDS,
    IMPORT_FIELDS,
    customer_registry,
    is_custom_target,
)
from guanxi.customers.importing.staging import _language
from guanxi.customers.models import (
    ImportJob,
    ImportRowStatus,
)
from guanxi.customization import registry as customfields

log = logging.getLogger(__name__)


def _error_labels(job: ImportJob) -> dict[str, str]:
    by_field = {f: h for h, f in job.mapping.items()}
    labels = {f: by_field.get(f) or str(label) for f, label in IMPORT_FIELDS.items()}
    labels["owner_id"] = labels["owner"]
    points = [by_field[f] for f in _CONTACT_POINT_FIELDS if f in by_field]
    labels["contact_points"] = " / ".join(points) or str(IMPORT_FIELDS["wechat_unionid"])
    labels[NON_FIELD_ERRORS] = ""
    # Custom fields by their label; a field deleted since by the column it was mapped from.
    for header, target in job.mapping.items():
        if is_custom_target(target):
            labels[f"custom_fields.{target[len(customfields.PREFIX) :]}"] = header
    for key, spec in customer_registry().custom.items():
        labels[f"custom_fields.{key}"] = spec.label
        if spec.custom.previous_key:
            labels[f"custom_fields.{spec.custom.previous_key}"] = spec.label
    return labels


def describe_errors(errors: dict[str, list[str]] | None, labels: dict[str, str]) -> str:
    """ "手机: 请输入有效的手机号…; 姓名: 此字段为必填项。" """
    parts = []
    for key, messages in (errors or {}).items():
        label = labels.get(key, key)
        for message in messages:
            parts.append(f"{label}: {message}" if label else message)
    return "; ".join(parts)


def error_rows(job: ImportJob) -> Iterator[tuple[int, dict[str, str], str]]:
    labels = _error_labels(job)
    rows = job.rows.filter(status=ImportRowStatus.ERROR).order_by("row_number")
    for number, data, errors in rows.values_list("row_number", "data", "errors").iterator(chunk_size=2000):
        yield number, data, describe_errors(errors, labels)


def error_report_csv(job: ImportJob) -> bytes:
    """Row number, the original values and the reasons, UTF-8 with BOM (Excel opens it correctly)."""
    out = io.StringIO()
    writer = csv.writer(out)
    # Every text cell through safe_cell: the file's own headers and values, and the reasons (which
    # name columns by their headers), so that no cell of the report runs as a formula.
    with translation.override(_language(job)):  # the language the reasons were written in
        writer.writerow([_("Row"), *(safe_cell(h) for h in job.headers), _("Errors")])
    for number, data, reasons in error_rows(job):
        writer.writerow([number, *(safe_cell(data.get(h, "")) for h in job.headers), safe_cell(reasons)])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")
