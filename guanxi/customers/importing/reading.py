"""Reading CSV and Excel files: encoding detection (UTF-8, GB18030, Big5; Shift-JIS and unknown
encodings refused), streamed .xlsx rows with a cap on the unpacked size, header rows, row caps.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import functools
import hashlib
import io
import logging
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from openpyxl import load_workbook
from python_calamine import CalamineError, CalamineWorkbook

log = logging.getLogger(__name__)

MAX_COLUMNS = 200


@dataclass
class Table:
    """A file's header row and data rows as (row number as the user sees it, cell texts)."""

    format: str  # "csv" | "xlsx"
    encoding: str  # "UTF-8", "UTF-8-BOM", "GB18030", another detected codec, or "" for Excel
    headers: list[str]
    rows: Iterator[tuple[int, list[str]]]


def _file_error(message: str) -> ValidationError:
    return ValidationError({"file": [message]})


def _is_excel(file_name: str, head: bytes) -> bool:
    suffix = Path(file_name).suffix.lower()
    return head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) or suffix in (".xlsx", ".xlsm", ".xls")


_ENCODING_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8-BOM", "gb18030": "GB18030", "cp950": "Big5"}


def _decodes(chunks: Iterable[bytes], encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for chunk in chunks:
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _blocks(source: bytes | Path, size: int = 1 << 20) -> Iterator[bytes]:
    if isinstance(source, bytes):
        for start in range(0, len(source), size):
            yield source[start : start + size]
        return
    with open(source, "rb") as fh:
        while block := fh.read(size):
            yield block


# A sample of this many bytes decides between the Chinese encodings (the whole file must decode).
ENCODING_SAMPLE_BYTES = 1 << 16
# Share of the non-ASCII characters of the sample that may be unusual in Chinese text before a
# decoding is taken for garbage (Big5 read as GB18030 gives kana, Greek, box drawing, rare hanzi).
MAX_ODD_SHARE = 0.05


@functools.cache
def _big5_common() -> frozenset[str]:
    """The 5,401 frequent hanzi of Big5 (level 1, 0xA440-0xC67E): traditional text is made of them."""
    chars = set()
    for lead in range(0xA4, 0xC7):
        for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
            with contextlib.suppress(UnicodeDecodeError):
                chars.add(bytes((lead, trail)).decode("cp950"))
    return frozenset(chars)


def _odd_share(text: str) -> float:
    """How much of the non-ASCII text is unusual in Chinese customer data: anything but frequent hanzi
    (GB2312 or Big5 level 1), CJK and full-width punctuation and general punctuation."""
    big5 = _big5_common()
    odd = total = 0
    for ch in text:
        if ch < "\x80":
            continue
        total += 1
        if (
            ch in big5
            or "\u3000" <= ch <= "\u303f"
            or "\uff00" <= ch <= "\uffef"
            or "\u2000" <= ch <= "\u206f"
        ):
            continue
        try:
            ch.encode("gb2312")
        except UnicodeEncodeError:
            odd += 1
    return odd / total if total else 0.0


def _sample_text(source: bytes | Path, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return decoder.decode(next(_blocks(source, ENCODING_SAMPLE_BYTES), b""), final=False)


def _kana_share(text: str) -> float:
    wide = [ch for ch in text if ch >= "\x80"]
    return sum(1 for ch in wide if "\u3040" <= ch <= "\u30ff") / len(wide) if wide else 0.0


def detect_encoding(source: bytes | Path) -> str:
    """The codec of a CSV file: UTF-8 (with or without BOM), GB18030 or Big5 (traditional Chinese,
    decoded as such). Big5 and Shift-JIS bytes mostly decode as GB18030 too, into garbage: a
    GB18030 reading full of characters unusual in Chinese text is not taken; a Japanese
    (Shift-JIS) file or one in no recognisable encoding is refused with a message saying so."""
    head = next(_blocks(source, 4096), b"")
    if head.startswith(codecs.BOM_UTF8):
        if _decodes(_blocks(source), "utf-8-sig"):
            return "utf-8-sig"
    elif _decodes(_blocks(source), "utf-8"):
        return "utf-8"
    gb18030 = _decodes(_blocks(source), "gb18030")
    if gb18030 and _odd_share(_sample_text(source, "gb18030")) <= MAX_ODD_SHARE:
        return "gb18030"
    if _decodes(_blocks(source), "cp950") and _odd_share(_sample_text(source, "cp950")) <= MAX_ODD_SHARE:
        return "cp950"
    if _decodes(_blocks(source), "cp932") and _kana_share(_sample_text(source, "cp932")) > MAX_ODD_SHARE:
        raise _file_error(
            _(
                "This file seems to be Japanese text (Shift-JIS encoding), which cannot be imported. "
                "Save it as CSV UTF-8 and upload it again."
            )
        )
    raise _file_error(
        _(
            "The file's text encoding was not recognised (it is not UTF-8, GB18030 or Big5): "
            "importing it would garble its Chinese text. Save it as CSV UTF-8 and upload it again."
        )
    )


def _csv_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _number_text(value: float) -> str:
    """An Excel number as the text the user typed: 13812345678.0 -> "13812345678"."""
    if value == value and value not in (float("inf"), float("-inf")) and float(value).is_integer():
        return str(int(value))
    return repr(value)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _headers_from(cells: list[str]) -> list[str]:
    if len(cells) > MAX_COLUMNS:
        raise _file_error(_("The file has more than %(n)d columns.") % {"n": MAX_COLUMNS})
    headers: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(cells, start=1):
        base = " ".join(str(cell).split()) or _("Column %(n)d") % {"n": i}
        header, n = base, 2
        while header in seen:
            header, n = f"{base} ({n})", n + 1
        seen.add(header)
        headers.append(header)
    while headers and not str(cells[len(headers) - 1]).strip():
        headers.pop()  # trailing empty header cells
    return headers


def _split_header(rows: Iterator[tuple[int, list[str]]]) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    for _number, cells in rows:
        if any(c.strip() for c in cells):
            return _headers_from(cells), rows
    raise _file_error(_("The file is empty."))


def _non_empty(rows: Iterable[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    for number, cells in rows:
        if any(c.strip() for c in cells):
            yield number, cells


def max_rows() -> int:
    return settings.GUANXI_IMPORT_MAX_ROWS


def _check_zip_size(source: bytes | Path) -> None:
    """Refuse an .xlsx whose members unpack to more than GUANXI_IMPORT_MAX_XLSX_BYTES, from the zip's
    directory and before any member is opened (a 1.4 MB file can unpack to hundreds of MB). Sizes
    cannot be understated: zipfile stops a member at its stated size and then fails its CRC."""
    limit = settings.GUANXI_IMPORT_MAX_XLSX_BYTES
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise _file_error(_("This Excel file could not be read: %(error)s") % {"error": exc})
    if unpacked > limit:
        raise _file_error(
            _(
                "This Excel file unpacks to %(size)d MB, more than the %(limit)d MB an import may read. "
                "Split it into smaller files or save it as CSV."
            )
            % {"size": unpacked // 2**20, "limit": limit // 2**20}
        )


def _xlsx_rows(file_name: str, source: bytes | Path) -> Iterator[tuple[int, list[str]]]:
    """The rows of the first sheet of an .xlsx / .xlsm file, streamed (openpyxl read-only: the XML is
    parsed as it is read, never the whole sheet in memory)."""
    _check_zip_size(source)
    try:
        book = load_workbook(
            io.BytesIO(source) if isinstance(source, bytes) else source, read_only=True, data_only=True
        )
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # read every row, whatever the file claims its size is
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise _file_error(_("This Excel file could not be read: %(error)s") % {"error": exc})

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, [_cell_text(v) for v in cells]
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, SyntaxError) as exc:
            raise _file_error(_("This Excel file could not be read: %(error)s") % {"error": exc})
        finally:
            book.close()

    return rows()


def _xls_rows(source: bytes | Path) -> Iterator[tuple[int, list[str]]]:
    """The rows of the first sheet of an old binary .xls file (python-calamine; at most 65,536 rows)."""
    try:
        book = (
            CalamineWorkbook.from_filelike(io.BytesIO(source))
            if isinstance(source, bytes)
            else CalamineWorkbook.from_path(str(source))
        )
        raw_rows = book.get_sheet_by_index(0).iter_rows()
    except (CalamineError, ValueError, OSError) as exc:
        raise _file_error(_("This Excel file could not be read: %(error)s") % {"error": exc})
    return ((i, [_cell_text(v) for v in cells]) for i, cells in enumerate(raw_rows, start=1))


def _capped(rows: Iterator[tuple[int, list[str]]], limit: int) -> Iterator[tuple[int, list[str]]]:
    for n, row in enumerate(rows, start=1):
        if n > limit:
            raise _file_error(
                _("The file has more than %(n)s rows. Split it into files of at most %(n)s rows.")
                % {"n": f"{limit:,}"}
            )
        yield row


def read_table(file_name: str, source: bytes | str | Path) -> Table:
    """Open a CSV or Excel file; rows are read lazily and stop with a ValidationError past
    GUANXI_IMPORT_MAX_ROWS data rows."""
    if isinstance(source, str):
        source = Path(source)
    head = next(_blocks(source, 8), b"")
    if _is_excel(file_name, head):
        is_zip = head.startswith(b"PK\x03\x04") or not head.startswith(b"\xd0\xcf\x11\xe0")
        rows = _xlsx_rows(file_name, source) if is_zip else _xls_rows(source)
        headers, rest = _split_header(rows)
        width = len(headers)  # a streamed row ends at its last cell: pad it to the header's width
        padded = ((n, cells + [""] * (width - len(cells))) for n, cells in rest)
        return Table("xlsx", "", headers, _capped(_non_empty(padded), max_rows()))
    encoding = detect_encoding(source)
    if isinstance(source, bytes):
        text = io.StringIO(source.decode(encoding), newline="")
    else:
        text = open(source, encoding=encoding, newline="")  # noqa: SIM115 (closed by the generator)
    first_line = text.readline()
    text.seek(0)
    reader = csv.reader(text, delimiter=_csv_delimiter(first_line))

    def records() -> Iterator[tuple[int, list[str]]]:
        try:
            yield from enumerate(reader, start=1)
        except csv.Error as exc:
            raise _file_error(_("This CSV file could not be read: %(error)s") % {"error": exc})
        finally:
            text.close()

    headers, rest = _split_header(records())
    label = _ENCODING_LABELS.get(codecs.lookup(encoding).name, encoding.upper())
    return Table("csv", label, headers, _capped(_non_empty(rest), max_rows()))


def _sha256(source: bytes | Path) -> str:
    digest = hashlib.sha256()
    for block in _blocks(source):
        digest.update(block)
    return digest.hexdigest()
