"""Export of a customer list view (CSV and XLSX): the rows and columns the user sees on the page.

The rows come from `queries.view_queryset` (the user's data scope, the quick filters, the view's
conditions and sort), read in chunks with their relations prefetched per chunk (no N+1). Cells are
the registry's presenter (`queries.cell_text`), so phones and phone-type custom fields are masked
exactly as on the page.
Headers are the column labels in the current language. Every export writes an audit entry (who,
which format, which columns and conditions) before the first row leaves the server.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator

from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit, sensitive
from guanxi.core.exceptions import require
from guanxi.core.models import AuditAction
from guanxi.core.permissions import Perm
from guanxi.core.spreadsheet import safe_cell
from guanxi.customers import queries
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject, FieldType

CHUNK = 2000
FORMATS = ("csv", "xlsx")
BOM = "\ufeff"
XLSX_MAX_ROWS = 1_048_576


def _audited_conditions(conditions: list[dict]) -> list[dict]:
    """Conditions as the export's audit entry stores them: values of sensitive fields protected."""
    kinds = customfields.sensitive_custom_types(CustomObject.CUSTOMER)
    result = []
    for condition in conditions:
        ref = str(condition.get("field") or "")
        kind = kinds.get(ref[len(customfields.PREFIX) :]) if ref.startswith(customfields.PREFIX) else None
        if kind is not None and condition.get("value") not in (None, ""):
            condition = {**condition, "value": sensitive.protect(kind, str(condition["value"]))}
        result.append(condition)
    return result


def _audited_search(text: str) -> str:
    """The search text as the audit entry stores it: a phone number (or its digits) protected."""
    compact = text.replace(" ", "").replace("-", "")
    if compact.lstrip("+").isdigit():
        return sensitive.protect(FieldType.PHONE, text)
    return text


def start_export(user, state: queries.ListState, *, fmt: str) -> None:
    """Check the permission and record the export (called before any row is sent)."""
    require(user, Perm.CUSTOMER_EXPORT)
    filters = state.filters
    audit.record(
        AuditAction.EXPORT,
        user,
        actor=user,
        before=None,
        after={
            "export": "customer",
            "format": fmt,
            "columns": list(state.columns),
            "conditions": _audited_conditions(state.conditions + queries.quick_conditions(filters)),
            "search": _audited_search(filters.q),
            "sort": state.sort,
            "view_id": state.view.pk if state.view is not None else None,
        },
    )


def headers(specs) -> list[str]:
    return [spec.label for spec in specs]


def _chunks(qs) -> Iterator[list]:
    batch: list = []
    for customer in qs.iterator(chunk_size=CHUNK):
        batch.append(customer)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def rows(user, state: queries.ListState, registry, *, typed: bool = False) -> Iterator[list]:
    """One list of cell values per customer of the view; `typed` keeps numbers as numbers (XLSX)."""
    specs = queries.column_specs(state, registry)
    qs = queries.view_queryset(user, state, registry)
    for batch in _chunks(qs):
        names = registry.names_for(batch, specs, user=user)
        for customer in batch:
            row: list = []
            for spec in specs:
                if typed and spec.type in (FieldType.NUMBER, FieldType.MONEY):
                    value = spec.value_of(customer)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        row.append(value)
                        continue
                row.append(queries.cell_text(user, customer, spec, names))
            yield row


def file_name(fmt: str) -> str:
    return f"customers-{timezone.localtime():%Y%m%d-%H%M}.{fmt}"


def csv_chunks(user, state: queries.ListState, registry) -> Iterator[str]:
    """The CSV text in pieces (UTF-8 with a byte order mark so that Excel reads Chinese correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    specs = queries.column_specs(state, registry)
    writer.writerow([safe_cell(str(label)) for label in headers(specs)])  # labels are user-defined text
    yield BOM + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for n, row in enumerate(rows(user, state, registry), start=1):
        writer.writerow([safe_cell(str(cell)) for cell in row])
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_file(user, state: queries.ListState, registry):
    """An XLSX workbook in an anonymous temporary file (removed when closed), positioned at 0."""
    # openpyxl is loaded on first use (only exports need it), not to dodge an import cycle.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    specs = queries.column_specs(state, registry)
    money = {n for n, spec in enumerate(specs) if spec.type == FieldType.MONEY}
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Customers")[:31])
    header_cells = [
        WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", str(label))) for label in headers(specs)
    ]
    for cell in header_cells:
        cell.data_type = "s"  # a custom field's label "=HYPERLINK(...)" is text, never a formula
    sheet.append(header_cells)
    for n, row in enumerate(rows(user, state, registry, typed=True), start=1):
        if n >= XLSX_MAX_ROWS:  # a worksheet holds 1,048,576 rows, the header included
            break
        cells = []
        for column, value in enumerate(row):
            if isinstance(value, str):
                value = ILLEGAL_CHARACTERS_RE.sub("", value)
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str) and cell.data_type == "f":
                cell.data_type = "s"  # text that starts with "=" is text, never a formula
            elif column in money:
                cell.number_format = "#,##0.00"
            cells.append(cell)
        sheet.append(cells)
    # Not a context manager: the caller streams the file and FileResponse closes (and so removes) it.
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115
    workbook.save(handle)
    handle.seek(0)
    return handle
