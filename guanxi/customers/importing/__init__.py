"""Customer import from CSV and Excel files: upload → staging rows → worker.

`stage_import` reads a file (CSV in UTF-8, UTF-8 with BOM or GB18030; XLSX/XLS through
python-calamine) into `ImportRow`s keyed by the column headers, with the row numbers the user sees
in the spreadsheet. `confirm_import` fixes the column mapping (optionally saved per source) and
queues `run_import`, which sends every row through the identity pipeline of
`actions.ingest_customer` (normalise, resolve by the strongest identifier, attach or create) in
chunks: each chunk's customers, audit entries, events and row results commit together, so a
killed worker loses nothing and a re-run processes exactly the rows still pending.

Speed: per-row `ingest_customer` costs a dozen queries per row. The bulk path resolves a whole
chunk with one identifier query, simulates the pipeline row by row in memory (so rows of the same
file see each other exactly as they would one at a time) and writes the new customers, their
contact points, tags, audit entries and events with COPY (PostgreSQL) / executemany (SQLite).
Every row that would change an existing customer, or needs a company created, goes through the
real `ingest_customer` after the pending inserts are flushed, so the outcome is the per-row
outcome; `tests/customers/test_import.py` runs both paths on the same file and compares them.

Custom fields: every live customer custom field is a mapping target "cf.<key>" (`import_fields`,
suggested from its labels or key). Their cells go to `data["custom_fields"]` and are validated by
the field registry (`customfields.Registry`, built once per run) exactly as for the page and the
API. The bulk path replays ingest_customer's custom-field rules too: defaults and required fields
on creation (also of companies created for a row), fill / overwrite on merge, and unique values
against the database and the rows before it (`_load_unique`, `_taken`).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import decimal
import functools
import gc
import hashlib
import io
import itertools
import json
import logging
import re
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import DatabaseError, connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi import text as normalize
from guanxi.core import audit, customfields, settings_store
from guanxi.core.context import current_request_id, request_context
from guanxi.core.events import emit_many
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, CustomObject, FieldType, Tag, User
from guanxi.core.permissions import DataScope, Perm
from guanxi.core.scopes import user_scope_q
from guanxi.core.spreadsheet import safe_cell
from guanxi.customers import actions, identity, ownership, quality
from guanxi.customers.actions import IngestOutcome
from guanxi.customers.events import CustomerEvent
from guanxi.customers.models import (
    Channel,
    ContactKind,
    ContactPoint,
    Customer,
    CustomerKind,
    ImportJob,
    ImportMapping,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
)

log = logging.getLogger(__name__)

CHANNEL = Channel.IMPORT
# Rows per transaction. On PostgreSQL every identifier of a chunk is locked (the identity lock
# of actions.ingest_customer) until commit, and advisory locks share the server's lock table
# (max_locks_per_transaction x max_connections, 6,400 by default): keep chunks small there.
CHUNK_SIZE = {"postgresql": 500}
DEFAULT_CHUNK_SIZE = 2000
MAX_IDENTITY_LOCKS = 1500
PREVIEW_ROWS = 20
MAX_COLUMNS = 200
# Staging rows per transaction: every upload is read by the worker, and each batch commits on its
# own, so that the SQLite write lock is held for a moment at a time, never for the whole file.
STAGE_BATCH = 2000

# --------------------------------------------------------------------------- target fields

# The built-in targets; every live customer custom field is a target too, as "cf.<key>"
# (`import_fields`), so a new custom field can be imported without code.
IMPORT_FIELDS: dict[str, Any] = {
    "name": gettext_lazy("Name"),
    "phone": gettext_lazy("Phone"),
    "email": gettext_lazy("Email"),
    "wechat_id": gettext_lazy("WeChat ID"),
    "wechat_unionid": gettext_lazy("WeChat unionid"),
    "wechat_openid": gettext_lazy("WeChat openid"),
    "company_name": gettext_lazy("Company"),
    "title": gettext_lazy("Job title"),
    "gender": gettext_lazy("Gender"),
    "birthday": gettext_lazy("Birthday"),
    "province": gettext_lazy("Province"),
    "city": gettext_lazy("City"),
    "address": gettext_lazy("Address"),
    "industry": gettext_lazy("Industry"),
    "tags": gettext_lazy("Tags"),
    "notes": gettext_lazy("Notes"),
    "external_id": gettext_lazy("External ID"),
    "owner": gettext_lazy("Owner"),
}
# A file must carry at least one of these, or no row could be created or matched.
KEY_FIELDS = ("name", "phone", "email", "wechat_id", "wechat_unionid", "wechat_openid", "external_id")
_CONTACT_POINT_FIELDS = {"wechat_unionid": "wechat_unionid", "wechat_openid": "wechat_openid"}
# Contact kinds as plain strings in the hot loop (the same values as ContactKind).
_PRIMARY_KINDS = {field: str(kind.value) for field, kind in actions.PRIMARY_CONTACT_FIELDS.items()}
_IDENTIFIER_KINDS = {str(kind.value) for kind in identity.IDENTIFIER_KINDS}
# Fields whose values repeat across a file are cleaned once per distinct value; unique values
# (e-mails, WeChat ids, addresses) go straight to the normaliser clean_customer_input would call.
_MEMO_FIELDS = {"name", "gender", "birthday", "tags", "company_name", "owner_id", "title", "industry",
                "province", "city", "notes"}  # fmt: skip
_DIRECT_FIELDS = {
    "email": normalize.normalize_email,
    "wechat_id": normalize.normalize_wechat_id,
    "address": lambda value: normalize.clean_text(
        value, max_length=actions.TEXT_LIMITS["address"], field="address"
    ),
}
MEMO_LIMIT = 300_000

_ALIASES = {
    "name": "姓名 名称 名字 客户 客户名称 客户姓名 客户名 联系人 联系人姓名 会员姓名 name fullname customer customername contact contactname",
    "phone": "手机 手机号 手机号码 电话 联系电话 电话号码 移动电话 手机电话 联系手机 联系方式 mobile mobilephone phone phonenumber tel telephone cellphone cell",
    "email": "邮箱 电子邮箱 邮件 电子邮件 邮箱地址 email e-mail mail emailaddress",
    "wechat_id": "微信 微信号 微信id wechat wechatid weixin",
    "wechat_unionid": "unionid 微信unionid wechatunionid",
    "wechat_openid": "openid 微信openid wechatopenid",
    "company_name": "公司 单位 公司名称 单位名称 工作单位 所属公司 企业 企业名称 company companyname organization organisation employer",
    "title": "职务 职位 岗位 头衔 title jobtitle position",
    "gender": "性别 gender sex",
    "birthday": "生日 出生日期 出生年月日 birthday birthdate dateofbirth dob",
    "province": "省份 省 所在省份 所在省 province state",
    "city": "城市 所在城市 市 city",
    "address": "地址 详细地址 联系地址 通讯地址 住址 address",
    "industry": "行业 所属行业 industry",
    "tags": "标签 客户标签 tags tag labels",
    "notes": "备注 说明 备注信息 notes note remark remarks comment comments",
    "external_id": "外部编号 客户编号 编号 客户id 会员编号 会员号 会员id id externalid customerid customerno",
    "owner": "负责人 归属人 跟进人 所属销售 销售 客户经理 业务员 owner salesrep",
}
HEADER_ALIASES: dict[str, str] = {alias: f for f, words in _ALIASES.items() for alias in words.split()}
_BRACKETS_RE = re.compile(r"[(（\[【].*?[)）\]】]")

GENDER_WORDS = {
    "男": "male", "男性": "male", "先生": "male", "m": "male", "male": "male",
    "女": "female", "女性": "female", "女士": "female", "f": "female", "female": "female",
    "未知": "", "保密": "", "不详": "", "unknown": "", "-": "",
}  # fmt: skip
_DATE_RE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_SCIENTIFIC_RE = re.compile(r"[+-]?(\d+)(?:\.(\d+))?[eE]\+?(\d+)")
_TAG_SEPARATORS = str.maketrans({"、": ",", ";": ",", "；": ",", "|": ","})


def header_key(header: str) -> str:
    """How a column header is compared with the aliases: folded (width, traditional -> simplified
    characters: 手機號碼 is 手机号码), lowercase, no spaces or notes."""
    text = _BRACKETS_RE.sub("", normalize.to_simplified(normalize.fold_width(header))).lower()
    return "".join(ch for ch in text if ch.isalnum() or ch == "-").replace("-", "") or text.strip()


def customer_registry() -> customfields.Registry:
    return customfields.Registry(CustomObject.CUSTOMER)


def import_fields(registry: customfields.Registry | None = None) -> dict[str, str]:
    """Every mapping target with its label (current language): the built-in fields, then each live
    customer custom field as "cf.<key>"."""
    registry = registry or customer_registry()
    targets = {f: str(label) for f, label in IMPORT_FIELDS.items()}
    for key, spec in registry.custom.items():
        targets[customfields.PREFIX + key] = spec.label
    return targets


def is_custom_target(target: str) -> bool:
    return target.startswith(customfields.PREFIX)


def resolve_target(target: str, registry: customfields.Registry) -> str | None:
    """The live target a (possibly saved) mapping target means: built-in fields as they are, a custom
    field by its key or, while it is being renamed, by its previous key; None when it no longer exists."""
    if not is_custom_target(target):
        return target if target in IMPORT_FIELDS else None
    key = target[len(customfields.PREFIX) :]
    if key in registry.custom:
        return target
    for spec in registry.custom.values():
        if spec.custom.previous_key == key:
            return customfields.PREFIX + spec.key
    return None


def stale_targets(mapping: dict[str, str], registry: customfields.Registry | None = None) -> list[str]:
    """Messages for columns mapped to custom fields that were deleted since the mapping was saved."""
    registry = registry or customer_registry()
    return [
        _("Column %(column)s is mapped to the custom field %(field)s, which no longer exists.")
        % {"column": header, "field": target[len(customfields.PREFIX) :]}
        for header, target in mapping.items()
        if target and is_custom_target(target) and resolve_target(target, registry) is None
    ]


def suggest_mapping(
    headers: list[str], *, allow_owner: bool = True, registry: customfields.Registry | None = None
) -> dict[str, str]:
    """{header: field} from header names in Chinese and English; each field at most once.

    A header equal to a custom field's label (Chinese or English) maps to that field first; then the
    built-in aliases; then a header equal to a custom field's key.
    """
    registry = registry or customer_registry()
    by_label: dict[str, str] = {}
    by_key: dict[str, str] = {}
    for key, spec in registry.custom.items():
        for label in (spec.label_zh, spec.label_en):
            if label and header_key(label):
                by_label.setdefault(header_key(label), customfields.PREFIX + key)
        by_key.setdefault(header_key(key), customfields.PREFIX + key)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        folded = header_key(header)
        for target in (by_label.get(folded), HEADER_ALIASES.get(folded), by_key.get(folded)):
            if target and target not in taken and (allow_owner or target != "owner"):
                mapping[header] = target
                taken.add(target)
                break
    return mapping


def clean_mapping(
    mapping: dict[str, str], headers: list[str], *, actor, registry: customfields.Registry | None = None
) -> dict[str, str]:
    """Validate a {header: field} mapping against the file's headers; raises ValidationError.

    Targets are the built-in fields and "cf.<key>" of live customer custom fields.
    """
    registry = registry or customer_registry()
    targets = import_fields(registry)
    cleaned: dict[str, str] = {}
    seen: dict[str, str] = {}
    errors: list[str] = []
    for header in headers:
        target = (mapping or {}).get(header) or ""
        if not target:
            continue
        live = resolve_target(target, registry) if isinstance(target, str) else None
        if live is None and isinstance(target, str) and is_custom_target(target):
            errors.append(
                _("Column %(column)s is mapped to the custom field %(field)s, which no longer exists.")
                % {"column": header, "field": target[len(customfields.PREFIX) :][:40]}
            )
        elif live is None:
            errors.append(_("Unknown target field for column %(column)s.") % {"column": header})
        elif live in seen:
            errors.append(
                _("Columns %(first)s and %(second)s are both mapped to %(field)s.")
                % {"first": seen[live], "second": header, "field": targets[live]}
            )
        else:
            target = live
            seen[target] = header
            cleaned[header] = target
    if "owner" in seen and actor is not None and not actor.has_perm_code(Perm.CUSTOMER_ASSIGN):
        errors.append(_("You may not assign customers to other users: do not map an owner column."))
    if not any(f in seen for f in KEY_FIELDS):
        errors.append(_("Map at least a name, phone, email, WeChat or external ID column."))
    if errors:
        raise ValidationError({"mapping": errors})
    return cleaned


@transaction.atomic
def save_mapping(name: str, mapping: dict[str, str], *, actor, options: dict | None = None) -> ImportMapping:
    """Save (or replace) the column mapping of one source of files, e.g. "展会名单"."""
    require(actor, Perm.CUSTOMER_IMPORT)
    try:
        name = normalize.clean_text(name or "", max_length=100)
    except normalize.NormalizationError as exc:
        raise ValidationError({"save_as": [actions._error_message(exc, 100)]})
    mapping = {str(h): f for h, f in mapping.items() if f in IMPORT_FIELDS or is_custom_target(f)}
    saved = ImportMapping.objects.select_for_update().filter(name=name).first()
    user = actor if isinstance(actor, User) else None
    if saved is None:
        saved = ImportMapping.objects.create(
            name=name, mapping=mapping, options=options or {}, updated_by=user
        )
        audit.record(AuditAction.CREATE, saved, actor=actor, before=None, after={"mapping": mapping})
    elif saved.mapping != mapping or (options is not None and saved.options != options):
        before = {"mapping": saved.mapping}
        saved.mapping, saved.updated_by = mapping, user
        if options is not None:
            saved.options = options
        saved.save(update_fields=["mapping", "options", "updated_by", "updated_at"])
        audit.record(AuditAction.UPDATE, saved, actor=actor, before=before, after={"mapping": mapping})
    return saved


# --------------------------------------------------------------------------- reading files


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
    from openpyxl import load_workbook

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
    from python_calamine import CalamineError, CalamineWorkbook

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


# --------------------------------------------------------------------------- staging


def _user(actor) -> User | None:
    return actor if isinstance(actor, User) else None


def _job_options(options: dict | None) -> dict:
    return {
        "update_existing": False,
        "language": translation.get_language() or settings.LANGUAGE_CODE,
        **(options or {}),
    }


def _initial_mapping(headers: list[str], *, actor, mapping, saved_mapping) -> dict[str, str]:
    allow_owner = actor is None or actor.has_perm_code(Perm.CUSTOMER_ASSIGN)
    if mapping is not None:
        return {h: f for h, f in mapping.items() if h in headers}
    if saved_mapping is not None:
        registry = customer_registry()
        # A custom field renamed since the mapping was saved is followed to its new key; a deleted
        # one stays, so that the preview (stale_targets) and confirm_import report it.
        known = {
            h: resolve_target(f, registry) or f for h, f in saved_mapping.mapping.items() if h in headers
        }
        if allow_owner:
            return known
        return {h: f for h, f in known.items() if f != "owner"}
    return suggest_mapping(headers, allow_owner=allow_owner)


def _stage_rows(job: ImportJob, table: Table, progress: Callable[[int], None] | None = None) -> int:
    """Insert the file's rows, STAGE_BATCH per transaction (the job's row count follows, for the page)."""
    headers = table.headers
    width = len(headers)
    batch: list[tuple] = []
    total = 0

    def commit() -> None:
        nonlocal total, batch
        with transaction.atomic():
            total += _insert_import_rows(batch)
            ImportJob.objects.filter(pk=job.pk).update(total_rows=total)
        batch = []
        if progress:
            progress(total)

    for number, cells in table.rows:
        data = {headers[i]: cell for i, cell in enumerate(cells[:width]) if cell and cell.strip()}
        if not data:
            continue
        batch.append((job.pk, number, data, ImportRowStatus.PENDING))
        if len(batch) >= STAGE_BATCH:
            commit()
    if batch or progress:
        commit()
    return total


def stage_import(
    file_name: str,
    source: bytes | str | Path,
    *,
    actor,
    mapping: dict[str, str] | None = None,
    saved_mapping: ImportMapping | None = None,
    options: dict | None = None,
    progress: Callable[[int], None] | None = None,
    job: ImportJob | None = None,
) -> ImportJob:
    """Read a file into staging rows (status pending); returns the job, waiting for confirmation.

    The mapping is the given one, else the saved mapping's, else suggested from the headers.
    `job`: the job `stage_later` created for an upload (the worker stages it). Rows are streamed
    from the file and committed in batches (`_stage_rows`); a file found unreadable or too large
    part-way leaves no rows behind (nor the job, unless it was given) and raises ValidationError.
    """
    require(actor, Perm.CUSTOMER_IMPORT)
    if isinstance(source, str):
        source = Path(source)
    table = read_table(file_name, source)
    created = job is None
    with transaction.atomic():
        if job is None:
            job = ImportJob(
                created_by=_user(actor), file_name=Path(file_name).name[:255], options=_job_options(options)
            )
        job.file_sha256 = _sha256(source)
        job.encoding = table.encoding
        job.headers = table.headers
        job.saved_mapping = saved_mapping or job.saved_mapping
        job.mapping = _initial_mapping(
            table.headers, actor=actor, mapping=mapping, saved_mapping=job.saved_mapping
        )
        job.status = ImportStatus.QUEUED  # still being read: is_staging() until the last batch is in
        job.options = {**job.options, "staging": True}
        job.save()
    try:
        total = _stage_rows(job, table, progress)
    except BaseException:
        _discard_rows(job)
        if created:  # a direct call (`guanxi import`) leaves no job behind; the worker marks its own failed
            job.delete()
        raise
    with transaction.atomic():
        job.total_rows = total
        job.status = ImportStatus.STAGED
        job.options = {k: v for k, v in job.options.items() if k != "staging"}
        job.save(update_fields=["total_rows", "status", "options"])
        audit.record(
            AuditAction.CREATE,
            job,
            actor=actor,
            before=None,
            after={"file_name": job.file_name, "file_sha256": job.file_sha256, "rows": job.total_rows},
        )
    return job


def _discard_rows(job: ImportJob) -> None:
    """Remove the rows staged so far of a file that turned out unreadable, batch by batch."""
    while True:
        with transaction.atomic():
            ids = list(job.rows.values_list("pk", flat=True)[:STAGE_BATCH])
            if not ids:
                return
            ImportRow.objects.filter(pk__in=ids).delete()


def _upload_storage():
    from django.core.files.storage import FileSystemStorage, storages

    if getattr(settings, "MEDIA_ROOT", ""):
        return storages["default"]
    return FileSystemStorage(location=settings.DATA_DIR / "uploads")


@transaction.atomic
def stage_later(
    file_name: str, uploaded, *, actor, saved_mapping=None, options: dict | None = None
) -> ImportJob:
    """An upload: keep the file in storage and let the worker stage it (`stage_stored`). The web
    request never reads an uploaded file (an .xlsx of 1 MB can unpack to hundreds of MB)."""
    require(actor, Perm.CUSTOMER_IMPORT)
    job = ImportJob.objects.create(
        created_by=_user(actor),
        file_name=Path(file_name).name[:255],
        status=ImportStatus.QUEUED,
        saved_mapping=saved_mapping,
        options=_job_options(options),
    )
    suffix = Path(file_name).suffix.lower() or ".csv"
    stored = _upload_storage().save(f"imports/{job.pk}/upload{suffix}", uploaded)
    job.options = {**job.options, "staging_file": stored, "request_id": current_request_id()}
    job.save(update_fields=["options"])
    actor_id = actor.pk if actor is not None else None
    transaction.on_commit(lambda: _enqueue("stage_import_task", job.pk, actor_id))
    return job


def stage_stored(job_id: int, *, actor) -> ImportJob:
    """Worker side of `stage_later`: read the stored upload into staging rows."""
    job = ImportJob.objects.get(pk=job_id)
    stored = job.options.get("staging_file")
    if job.status != ImportStatus.QUEUED or not stored:
        return job
    storage = _upload_storage()
    try:
        with request_context(job.options.get("request_id")), translation.override(_language(job)):
            try:
                path = Path(storage.path(stored))
            except NotImplementedError:  # remote storage: read it into memory
                with storage.open(stored, "rb") as fh:
                    path = fh.read()
            job = stage_import(job.file_name, path, actor=actor, saved_mapping=job.saved_mapping, job=job)
    except ValidationError as exc:  # not a readable CSV / Excel file, or too large
        storage.delete(stored)
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportStatus.FAILED,
            failure=" ".join(exc.messages),
            finished_at=timezone.now(),
            options={k: v for k, v in job.options.items() if k not in ("staging_file", "staging")},
        )
        return ImportJob.objects.get(pk=job_id)
    storage.delete(stored)
    job.options = {k: v for k, v in job.options.items() if k != "staging_file"}
    job.save(update_fields=["options"])
    return job


def _language(job: ImportJob) -> str:
    return job.options.get("language") or settings.LANGUAGE_CODE


def is_staging(job: ImportJob) -> bool:
    """Uploaded and not read yet, or being read (by the worker or `guanxi import`)."""
    return job.status == ImportStatus.QUEUED and bool(
        job.options.get("staging_file") or job.options.get("staging")
    )


def preview_rows(job: ImportJob, limit: int = PREVIEW_ROWS) -> list[tuple[int, list[str]]]:
    rows = job.rows.order_by("row_number").values_list("row_number", "data")[:limit]
    return [(number, [data.get(h, "") for h in job.headers]) for number, data in rows]


@transaction.atomic
def confirm_import(
    job_id: int,
    *,
    actor,
    mapping: dict[str, str],
    update_existing: bool = False,
    save_as: str = "",
    enqueue: bool = True,
) -> ImportJob:
    """Fix the mapping and options of a staged job and queue it for the worker."""
    require(actor, Perm.CUSTOMER_IMPORT)
    job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or not _may_see_job(actor, job):
        raise NotFound(job_id)
    if job.status != ImportStatus.STAGED:
        raise ValidationError({"status": [_("This import was already started.")]})
    job.mapping = clean_mapping(mapping, job.headers, actor=actor)
    if save_as.strip():
        job.saved_mapping = save_mapping(save_as, job.mapping, actor=actor)
    job.options = {
        **job.options,
        "update_existing": bool(update_existing),
        "request_id": current_request_id(),
        "actor_id": actor.pk if actor is not None else None,
    }
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["mapping", "saved_mapping", "options", "status"])
    if enqueue:
        actor_id = actor.pk if actor is not None else None
        transaction.on_commit(lambda: _enqueue("run_import_task", job.pk, actor_id))
    return job


def _enqueue(task_name: str, *args) -> None:
    from guanxi.customers import tasks

    getattr(tasks, task_name)(*args)


def _may_see_job(actor, job: ImportJob) -> bool:
    return actor is None or job.created_by_id == actor.pk or actor.data_scope == DataScope.ALL


def jobs_visible_to(actor):
    jobs = ImportJob.objects.all()
    if actor is not None and actor.data_scope != DataScope.ALL:
        jobs = jobs.filter(created_by=actor)
    return jobs


# --------------------------------------------------------------------------- row input


def _scientific_to_digits(text: str) -> str:
    """ "1.3812345678E+10" -> "13812345678" when every digit is written out; otherwise unchanged."""
    match = _SCIENTIFIC_RE.fullmatch(text)
    if not match:
        return text
    value = decimal.Decimal(text)
    if value != value.to_integral_value():
        return text
    digits = str(abs(int(value)))
    mantissa = (match.group(1) + (match.group(2) or "")).lstrip("0")
    return str(int(value)) if len(mantissa) >= len(digits) else text


def _date_text(text: str) -> str:
    match = _DATE_RE.fullmatch(text)
    if match:
        y, m, d = (int(g) for g in match.groups())
        return f"{y:04d}-{m:02d}-{d:02d}"
    if len(text) == 8 and text.isdigit() and text[:2] in ("19", "20"):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


class _Owners:
    """Owner column values -> active user ids, by username or display name."""

    def __init__(self) -> None:
        self.by_name: dict[str, set[int]] = defaultdict(set)
        for pk, username, display_name, first, last in User.objects.filter(is_active=True).values_list(
            "pk", "username", "display_name", "first_name", "last_name"
        ):
            self.by_name[username.lower()].add(pk)
            if display_name:
                self.by_name[display_name.strip().lower()].add(pk)
            full = f"{last}{first}".strip()
            if full:
                self.by_name[full.lower()].add(pk)
        self.cache: dict[str, tuple[int | None, str]] = {}

    def resolve(self, value: str) -> tuple[int | None, str]:
        hit = self.cache.get(value)
        if hit is None:
            ids = self.by_name.get(value.lower(), set())
            if len(ids) == 1:
                hit = (next(iter(ids)), "")
            elif ids:
                hit = (None, _("Several users are called %(name)s; use the username.") % {"name": value})
            else:
                hit = (None, _("No active user is called %(name)s.") % {"name": value})
            self.cache[value] = hit
        return hit


@dataclass(slots=True)
class _Row:
    """One staged row on its way through the pipeline."""

    id: int
    number: int
    raw: dict[str, str]
    data: dict[str, Any] = field(default_factory=dict)  # the input of actions.ingest_customer
    external_ref: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    cleaned: dict[str, Any] | None = None
    idents: list[tuple[str, str]] = field(default_factory=list)
    display: dict[str, str] = field(default_factory=dict)  # normalized phone -> display (fast path)
    custom_new: dict[str, Any] | None = None  # custom values of the customer the row would create


@dataclass(slots=True)
class _Result:
    row_id: int
    status: str
    customer: Any = None  # an id, or a _Cust (its id is known once flushed)
    errors: dict[str, list[str]] | None = None


def _validation_errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {k: list(v) for k, v in exc.message_dict.items()}
    return {NON_FIELD_ERRORS: list(exc.messages)}


def _permission_errors(exc: PermissionDenied) -> dict[str, list[str]]:
    code = str(exc.args[0]) if exc.args else ""
    messages = {
        Perm.CUSTOMER_CREATE: _("You do not have permission to create customers."),
        Perm.CUSTOMER_CHANGE: _("You do not have permission to change existing customers."),
    }
    return {NON_FIELD_ERRORS: [messages.get(code) or code or _("Permission denied.")]}


def _duplicate_errors(exc: identity.DuplicateFound) -> dict[str, list[str]]:
    return {NON_FIELD_ERRORS: [exc.matches[0].describe()] if exc.matches else [_("Duplicate.")]}


# --------------------------------------------------------------------------- fast CN mobiles


def _cn_mobile_digits(text: str) -> str | None:
    """The 11 digits of a plainly written mainland mobile number ("138 1234 5678", "+86-138…",
    "13812345678.0"), else None. Only shapes phonenumbers reads as exactly these digits qualify."""
    if len(text) > 24 or not text.isascii():
        return None
    head, dot, tail = text.rpartition(".")
    if dot and tail and set(tail) == {"0"} and head.isdigit():
        text = head
    if not text.isdigit():
        if text.startswith("+86"):
            text = text[3:]
        text = text.replace(" ", "").replace("-", "")
        if not text.isdigit():
            return None
    if len(text) == 11 and text[0] == "1" and text[1] in "3456789":
        return text
    return None


class _PhoneFastPath:
    """Validity of an 11-digit mobile number is decided by its first five digits in the phone
    metadata (pattern `1(…)\\d{6}`/`\\d{8}`): ask phonenumbers once per prefix, not once per number.
    A prefix whose probe does not come back as "+86" + digits with the usual display is left to
    the normal path."""

    def __init__(self) -> None:
        self.verdicts: dict[str, bool | dict[str, list[str]] | None] = {}

    def clean(self, digits: str, actor) -> tuple[str, str] | dict[str, list[str]] | None:
        prefix = digits[:5]
        verdict = self.verdicts.get(prefix, False)
        if verdict is False:
            try:
                result = actions.clean_customer_input({"phone": digits}, actor=actor, partial=True)["phone"]
            except ValidationError as exc:
                verdict = _validation_errors(exc)
            else:
                ok = result == "+86" + digits and actions.display_contact(
                    ContactKind.PHONE, result
                ) == _mobile_display(digits)
                verdict = True if ok else None
            self.verdicts[prefix] = verdict
        if verdict is None:
            return None
        if verdict is True:
            return "+86" + digits, _mobile_display(digits)
        return verdict


def _mobile_display(digits: str) -> str:
    return f"{digits[:3]} {digits[3:7]} {digits[7:]}"


# --------------------------------------------------------------------------- bulk writing


def _json(value: Any) -> str:
    return _JSON_ENCODER.encode(value)


_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class _Columns:
    """Column list and defaults of a model, for raw multi-row inserts."""

    def __init__(self, model: type[models.Model], *, with_id: bool) -> None:
        fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]
        self.model = model
        self.table = model._meta.db_table
        self.columns = [f.column for f in fields]
        self.index = {f.attname: i for i, f in enumerate(fields)}
        self.defaults = [None if f.primary_key else f.get_default() for f in fields]
        self.json = [isinstance(f, models.JSONField) for f in fields]
        self.kinds = [f.get_internal_type() for f in fields]

    def row(self, values: dict[str, Any]) -> list[Any]:
        row = list(self.defaults)
        index = self.index
        for key, value in values.items():
            row[index[key]] = value
        return row


_COLUMNS: dict[tuple[type[models.Model], bool], _Columns] = {}


def _columns(model: type[models.Model], *, with_id: bool = False) -> _Columns:
    key = (model, with_id)
    if key not in _COLUMNS:
        _COLUMNS[key] = _Columns(model, with_id=with_id)
    return _COLUMNS[key]


def _insert(cols: _Columns, rows: list[list[Any]]) -> None:
    """Insert many rows at once: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    json_positions = [i for i, is_json in enumerate(cols.json) if is_json]
    for row in rows:
        for i in json_positions:
            if row[i] is not None and not isinstance(row[i], str):
                row[i] = _json(row[i])
    names = ", ".join(connection.ops.quote_name(c) for c in cols.columns)
    table = connection.ops.quote_name(cols.table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # noqa: S608
                write = copy.write_row
                for row in rows:
                    write(row)
            return
        adapt = []
        for i, kind in enumerate(cols.kinds):
            if kind == "DateTimeField":
                adapt.append((i, connection.ops.adapt_datetimefield_value))
            elif kind == "DateField":
                adapt.append((i, connection.ops.adapt_datefield_value))
        for row in rows:
            for i, fn in adapt:
                if row[i] is not None:
                    row[i] = fn(row[i])
        marks = ", ".join(["%s"] * len(cols.columns))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608


def _reserve_ids(model: type[models.Model], n: int) -> list[int]:
    """n new primary keys, increasing, for rows inserted with explicit ids in this transaction."""
    if n == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n]
            )
            return sorted(r[0] for r in cursor.fetchall())
        # SQLite: write transactions are IMMEDIATE (one writer at a time), so max(id) is ours.
        quoted = connection.ops.quote_name(table)
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {quoted}")  # noqa: S608
        start = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        seq = cursor.fetchone()
        start = max(start, seq[0] if seq else 0)
        return list(range(start + 1, start + n + 1))


def _insert_import_rows(batch: list[tuple]) -> int:
    cols = _columns(ImportRow)
    _insert(cols, [cols.row({"job_id": j, "row_number": n, "data": d, "status": s}) for j, n, d, s in batch])
    return len(batch)


def _write_row_results(results: list[_Result]) -> None:
    """Store each row's outcome (status, customer, errors) in the chunk's transaction."""
    if not results:
        return
    values = [
        (
            r.row_id,
            r.status,
            r.customer.id if isinstance(r.customer, _Cust) else r.customer,
            _json(r.errors) if r.errors else None,
        )
        for r in results
    ]
    table = connection.ops.quote_name(ImportRow._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            ids, statuses, customers, errors = (list(col) for col in zip(*values, strict=True))
            cursor.execute(
                f"UPDATE {table} AS r SET status = v.status, customer_id = v.customer_id, "  # noqa: S608
                "errors = v.errors::jsonb FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[]) "
                "AS v(id, status, customer_id, errors) WHERE r.id = v.id",
                [ids, statuses, customers, errors],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET status = %s, customer_id = %s, errors = %s WHERE id = %s",  # noqa: S608
                [(s, c, e, i) for i, s, c, e in values],
            )


# --------------------------------------------------------------------------- running


@dataclass(eq=False)
class _Cust:
    """A customer as the bulk path sees it: its current state and what is still to be written.

    `key` is the customer's id, or a placeholder above every id until a new customer is flushed.
    """

    key: int
    fields: dict[str, Any]  # SNAPSHOT_FIELDS + name keys, field_sources, completeness
    tags: set[str]
    held: set[tuple[str, str]]  # (kind, normalized) of every contact point
    primary_kinds: set[str]
    is_new: bool
    # kind, normalized, value (display), source, source_ref, verified, is_primary
    new_contacts: list[tuple[str, str, str, str, str, bool, bool]] = field(default_factory=list)
    new_tags: list[str] = field(default_factory=list)
    touched: bool = False  # fields changed: updated_at moves (as customer.save does)
    dirty: bool = False  # an existing customer to UPDATE at the next flush
    id: int | None = None

    def snapshot(self) -> dict[str, Any]:
        """actions.snapshot() of this state."""
        data = {f: self.fields[f] for f in actions.SNAPSHOT_FIELDS}
        data["tags"] = sorted(self.tags)
        data["contact_points"] = sorted(f"{k}:{v}" for k, v in self.held)
        return data


_PENDING_BASE = 1 << 62  # keys of not-yet-inserted customers sort after every real id
_ABSORB_FIELDS = [f for f in actions.SNAPSHOT_FIELDS if f not in ("owner_id", "custom_fields")]
_STATE_FIELDS = [*actions.SNAPSHOT_FIELDS, "name_pinyin", "name_initials", "field_sources", "completeness"]
_KIND_RANK = {str(kind.value): i for i, kind in enumerate(identity.IDENTIFIER_KINDS)}
_UPDATE_COLUMNS = ["name", "name_pinyin", "name_initials", "title", "gender", "birthday", "industry",
                   "province", "city", "address", "notes", "custom_fields", "field_sources",
                   "completeness"]  # fmt: skip


class _Runner:
    """Processes the pending rows of one job, chunk by chunk."""

    def __init__(self, job: ImportJob, *, actor) -> None:
        self.job = job
        self.actor = actor
        self.overwrite = bool(job.options.get("update_existing"))
        # One field registry for the whole run (custom fields defined when the run started).
        self.registry = customer_registry()
        # A column of a custom field renamed since confirmation follows the new key; one of a deleted
        # field stays, and its values are reported per row as ingest_customer reports them.
        self.pairs = [
            (h, resolve_target(f, self.registry) or f)
            for h, f in job.mapping.items()
            if f in IMPORT_FIELDS or is_custom_target(f)
        ]
        allowed = actor is None or actor.has_perm_code(Perm.CUSTOMER_ASSIGN)
        self.owners = _Owners() if allowed and any(f == "owner" for _h, f in self.pairs) else None
        if not allowed:
            self.pairs = [(h, f) for h, f in self.pairs if f != "owner"]
        self.can_create = actor is None or actor.has_perm_code(Perm.CUSTOMER_CREATE)
        self.can_change = actor is None or actor.has_perm_code(Perm.CUSTOMER_CHANGE)
        self.scope = user_scope_q(actor, "owner__")
        self.default_owner = actor.pk if actor is not None else None
        self.memo: dict[tuple, tuple[dict | None, dict | None]] = {}
        self.name_keys: dict[tuple[str, bool], tuple[str, str]] = {}
        self.locked: list[int] = []  # identity lock keys held until the chunk has committed
        self.phones = _PhoneFastPath()
        self.owner_checks: dict[int | None, dict | None] = {}
        self.customer_defaults = {
            f: Customer._meta.get_field(f).get_default() for f in actions.SNAPSHOT_FIELDS if f != "company_id"
        }
        self.customer_defaults["company_id"] = None
        self.new_seq = 0
        self.timings: dict[str, float] = defaultdict(float)  # seconds per phase (logged at the end)
        required = (settings_store.get("customers.required_fields_by_stage") or {}).get(
            self.customer_defaults["lifecycle_stage"]
        )
        self.stage_required = bool(required)
        # What Registry.clean gives a customer created without custom values (actions._company_for
        # creating a company, and the part of a new row's values the row does not give).
        self.custom_defaults, self.custom_default_errors = self.registry.clean({}, creating=True, actor=actor)
        self.unique_specs = {k: s for k, s in self.registry.custom.items() if s.custom.unique}
        # A unique list value is checked by containment, not equality: such rows take the per-row path.
        self.unique_slow = {k for k, s in self.unique_specs.items() if s.type == FieldType.MULTI_SELECT}
        # value -> keys of the customers holding it, per unique field (see _load_unique)
        self.unique: dict[str, dict[Any, set[int]]] = {}

    # ----------------------------------------------------------------- input

    def prepare(self, row_id: int, number: int, raw: dict[str, str], *, clean: bool) -> _Row:
        row = _Row(row_id, number, raw)
        data: dict[str, Any] = {}
        points = []
        for header, target in self.pairs:
            value = raw.get(header)
            if value is None:
                continue
            value = value.strip()
            if not value:
                continue
            if target == "phone":
                data["phone"] = _scientific_to_digits(value)
            elif target == "external_id":
                value = _scientific_to_digits(value)
                if len(value) > 100:
                    row.errors["external_id"] = [_("Must be at most %(max)d characters.") % {"max": 100}]
                else:
                    row.external_ref = value
            elif target == "gender":
                data["gender"] = GENDER_WORDS.get(value.lower(), value)
            elif target == "birthday":
                data["birthday"] = _date_text(value)
            elif target == "tags":
                data["tags"] = value.translate(_TAG_SEPARATORS)
            elif target in _CONTACT_POINT_FIELDS:
                points.append({"kind": _CONTACT_POINT_FIELDS[target], "value": value, "source": CHANNEL})
            elif target == "owner":
                owner_id, error = self.owners.resolve(value)
                if error:
                    row.errors["owner_id"] = [error]
                else:
                    data["owner_id"] = owner_id
            elif is_custom_target(target):
                data.setdefault("custom_fields", {})[target[len(customfields.PREFIX) :]] = value
            else:
                data[target] = value
        if points:
            data["contact_points"] = points
        row.data = data
        if clean:
            self._clean(row)
        return row

    def _clean(self, row: _Row) -> None:
        """clean_customer_input(row.data, partial=True), field by field (each field is validated on its
        own there): repeating values are memoised, unique ones normalised directly, and any failure is
        passed to clean_customer_input itself so that the messages are exactly its messages."""
        cleaned: dict[str, Any] = {}
        errors = row.errors
        memo = self.memo
        for name, value in row.data.items():
            if name == "phone":
                digits = _cn_mobile_digits(value)
                if digits is not None:
                    fast = self.phones.clean(digits, self.actor)
                    if isinstance(fast, tuple):
                        cleaned["phone"] = fast[0]
                        row.display[fast[0]] = fast[1]
                        continue
                    if fast is not None:
                        errors.update(fast)
                        continue
            elif name in _DIRECT_FIELDS:
                try:
                    cleaned[name] = _DIRECT_FIELDS[name](value)
                    continue
                except normalize.NormalizationError:
                    pass  # the messages come from clean_customer_input below
            elif name == "custom_fields":
                values, custom_errors = self._clean_custom(value)
                errors.update(custom_errors)
                cleaned["custom_fields"] = values
                continue
            elif name == "contact_points":
                try:
                    cleaned[name] = [
                        {
                            "kind": p["kind"],
                            "normalized": normalize.normalize_wechat_id(p["value"]),
                            "source": p["source"],
                            "source_ref": "",
                            "verified": False,
                        }
                        for p in value
                    ]
                    continue
                except normalize.NormalizationError:
                    pass
            key = (name, value) if name in _MEMO_FIELDS else None
            hit = memo.get(key) if key else None
            if hit is None:
                try:
                    hit = (actions.clean_customer_input({name: value}, actor=self.actor, partial=True), None)
                except ValidationError as exc:
                    hit = (None, _validation_errors(exc))
                if key:
                    if len(memo) > MEMO_LIMIT:
                        memo.clear()
                    memo[key] = hit
            if hit[1] is not None:
                errors.update(hit[1])
            else:
                cleaned.update(hit[0])
        if errors:
            return
        if row.external_ref:
            cleaned["contact_points"] = [
                *cleaned.get("contact_points", []),
                self._external_point(row.external_ref),
            ]
        row.cleaned = cleaned
        idents = {(kind, cleaned[f]) for f, kind in _PRIMARY_KINDS.items() if cleaned.get(f)}
        for point in cleaned.get("contact_points") or ():
            if point["kind"] in _IDENTIFIER_KINDS:
                idents.add((point["kind"], point["normalized"]))
        row.idents = list(idents)  # identity.identifiers(cleaned), as plain strings

    def _clean_custom(self, raw: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Registry.clean(raw) as clean_customer_input(partial=True) calls it, one value at a time
        (each value is validated on its own there), memoised per distinct value."""
        values: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        memo = self.memo
        for key in sorted(raw):
            memo_key = ("custom_fields", key, raw[key])
            hit = memo.get(memo_key)
            if hit is None:
                hit = self.registry.clean(
                    {key: raw[key]}, creating=False, actor=self.actor, check_unique=False
                )
                if len(memo) > MEMO_LIMIT:
                    memo.clear()
                memo[memo_key] = hit
            values.update(hit[0])
            errors.update(hit[1])
        return values, errors

    @staticmethod
    def _external_point(ref: str) -> dict[str, Any]:
        return {
            "kind": "external_id",
            "normalized": identity.external_id(CHANNEL, ref),
            "source": CHANNEL,
            "source_ref": ref[:100],
            "verified": True,
        }

    # ----------------------------------------------------------------- the per-row path

    def ingest_one(self, row: _Row) -> _Result:
        """Exactly what one call of actions.ingest_customer does with the row (the reference)."""
        if row.errors:
            errors = dict(row.errors)
            try:
                actions.clean_customer_input(row.data, actor=self.actor, partial=True, registry=self.registry)
            except ValidationError as exc:
                errors.update(_validation_errors(exc))
            return _Result(row.id, ImportRowStatus.ERROR, None, errors)
        try:
            with transaction.atomic():
                customer, outcome = actions.ingest_customer(
                    row.data,
                    actor=self.actor,
                    channel=CHANNEL,
                    external_ref=row.external_ref,
                    overwrite=self.overwrite,
                    registry=self.registry,
                )
        except ValidationError as exc:
            return _Result(row.id, ImportRowStatus.ERROR, None, _validation_errors(exc))
        except identity.DuplicateFound as exc:
            return _Result(row.id, ImportRowStatus.ERROR, None, _duplicate_errors(exc))
        except PermissionDenied as exc:
            return _Result(row.id, ImportRowStatus.ERROR, None, _permission_errors(exc))
        status = {
            IngestOutcome.CREATED: ImportRowStatus.CREATED,
            IngestOutcome.UPDATED: ImportRowStatus.UPDATED,
        }.get(outcome, ImportRowStatus.UNCHANGED)
        return _Result(row.id, status, customer.pk)

    def rows_chunk(self, rows: list[tuple[int, int, dict]]) -> list[_Result]:
        return [self.ingest_one(self.prepare(*r, clean=False)) for r in rows]

    # ----------------------------------------------------------------- the bulk path
    #
    # Rows are simulated one by one in file order against the chunk's state (customers matched in
    # the database, locked, plus the ones created or changed by earlier rows), exactly as
    # ingest_customer would treat them one at a time; the writes are collected and flushed at
    # the end of the chunk (or before a row that must take the per-row path).

    def bulk_chunk(self, raw_rows: list[tuple[int, int, dict]]) -> list[_Result]:
        t = time.perf_counter()
        rows = [self.prepare(*r, clean=True) for r in raw_rows]
        t = self._tick("prepare", t)
        wanted: dict[str, set[str]] = defaultdict(set)
        idents: set[tuple[str, str]] = set()
        for i, row in enumerate(rows):
            if len(idents) + len(row.idents) > MAX_IDENTITY_LOCKS and i:
                rows = rows[:i]  # the rest waits for the next chunk (and its own locks)
                break
            idents.update(row.idents)
            for kind, value in row.idents:
                wanted[kind].add(value)
        self.locked += _lock_identities(idents)
        t = self._tick("db: identity locks", t)
        holders = self._holders(wanted)
        t = self._tick("db: identifiers", t)
        existing = set().union(*holders.values()) if holders else set()
        custs = self._load(existing)
        visible = self._visible(existing)
        companies: dict[str, Any] = self._companies(
            {r.cleaned["company_name"] for r in rows if r.cleaned and r.cleaned.get("company_name")}
        )
        self._load_unique(rows)
        t = self._tick("db: matched customers, companies", t)
        self.now = timezone.now()
        self.ops: list[tuple] = []
        self.news: list[_Cust] = []
        self.dirty: list[_Cust] = []
        results: list[_Result] = []

        def flush() -> None:
            flushed = self._flush()
            for cust in flushed:  # placeholders become ids (keeps "lowest id first" true)
                old = cust.key
                cust.key = cust.id
                custs[cust.id] = custs.pop(old, cust)
                visible.add(cust.id)
                for ident in cust.held:
                    ids = holders.get(ident)
                    if ids is not None and old in ids:
                        ids.discard(old)
                        ids.add(cust.id)

        def real(row: _Row) -> None:
            flush()
            result = self.ingest_one(row)
            results.append(result)
            if result.customer is not None:
                fresh = self._load({result.customer})
                custs.update(fresh)
                visible.add(result.customer)
                for ident in fresh[result.customer].held:
                    if ident[0] in _KIND_RANK:
                        holders.setdefault(ident, set()).add(result.customer)
            name = row.cleaned.get("company_name") if row.cleaned else None
            if name:
                companies.update(self._companies({name}))
            self._load_unique(rows)  # everything is written: the database knows who holds what

        for row in rows:
            cleaned = row.cleaned
            if cleaned is None:
                results.append(_Result(row.id, ImportRowStatus.ERROR, None, row.errors))
                continue
            if self.unique_slow and not self.unique_slow.isdisjoint(cleaned.get("custom_fields") or ()):
                real(row)
                continue
            target = self._match(row.idents, holders)
            if target is None:
                error = self._creation_errors(row)
                if error:
                    results.append(_Result(row.id, ImportRowStatus.ERROR, None, error))
                    continue
                owner_id = cleaned.get("owner_id", self.default_owner)
                company = None
                if cleaned.get("company_name"):
                    company = companies.get(cleaned["company_name"])
                    if company is None:
                        if self.stage_required:  # the company itself might miss required fields
                            real(row)
                            continue
                        if self.custom_default_errors:  # create_customer rejects the new company
                            errors = {k: list(v) for k, v in self.custom_default_errors.items()}
                            results.append(_Result(row.id, ImportRowStatus.ERROR, None, errors))
                            continue
                        company = companies[cleaned["company_name"]] = self._create_company(
                            cleaned["company_name"], owner_id
                        )
                cust = self._create_person(row, owner_id, company)
                custs[cust.key] = cust
                for ident in row.idents:
                    holders.setdefault(ident, set()).add(cust.key)
                results.append(_Result(row.id, ImportRowStatus.CREATED, cust))
                continue
            if target < _PENDING_BASE and target not in visible:
                results.append(self._invisible(row, target))
                continue
            if not self.can_change:
                errors = _permission_errors(PermissionDenied(Perm.CUSTOMER_CHANGE))
                results.append(_Result(row.id, ImportRowStatus.ERROR, None, errors))
                continue
            cust = custs[target]
            merged = self._merged_custom(cust, cleaned)
            errors = self._unique_errors(merged, cust) if merged is not None else None
            if errors:
                results.append(_Result(row.id, ImportRowStatus.ERROR, None, errors))
                continue
            if self._absorb(cust, row, merged):
                for ident in row.idents:
                    holders.setdefault(ident, set()).add(cust.key)
                results.append(_Result(row.id, ImportRowStatus.UPDATED, cust))
            else:
                results.append(_Result(row.id, ImportRowStatus.UNCHANGED, cust))
        t = self._tick("simulate", t)
        flush()
        self._tick("flush", t)
        return results

    def _tick(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.timings[name] += now - started
        return now

    def _holders(self, wanted: dict[str, set[str]]) -> dict[tuple[str, str], set[int]]:
        """Which live customers hold each identifier: one query for the chunk."""
        holders: dict[tuple[str, str], set[int]] = defaultdict(set)
        if not wanted:
            return holders
        if connection.vendor == "postgresql":  # two array parameters instead of thousands of IN items
            kinds = [k for k, values in wanted.items() for _v in values]
            values = [v for vs in wanted.values() for v in vs]
            contact = connection.ops.quote_name(ContactPoint._meta.db_table)
            customer = connection.ops.quote_name(Customer._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT p.customer_id, p.kind, p.normalized FROM {contact} p "  # noqa: S608
                    f"JOIN {customer} c ON c.id = p.customer_id AND c.deleted_at IS NULL "
                    "WHERE (p.kind, p.normalized) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                    [kinds, values],
                )
                for customer_id, kind, value in cursor.fetchall():
                    holders[(kind, value)].add(customer_id)
            return holders
        q = Q()
        for kind, values in wanted.items():
            q |= Q(kind=kind, normalized__in=sorted(values))
        for customer_id, kind, value in ContactPoint.objects.filter(
            q, customer__deleted_at__isnull=True
        ).values_list("customer_id", "kind", "normalized"):
            holders[(kind, value)].add(customer_id)
        return holders

    def _load(self, ids: set[int]) -> dict[int, _Cust]:
        """The state of existing customers, locked for the rest of the chunk's transaction."""
        if not ids:
            return {}
        custs = {
            values["id"]: _Cust(values["id"], values, set(), set(), set(), is_new=False, id=values["id"])
            for values in Customer.objects.select_for_update()
            .filter(pk__in=sorted(ids))
            .order_by("pk")
            .values("id", *_STATE_FIELDS)
        }
        for customer_id, kind, value, primary in ContactPoint.objects.filter(customer_id__in=ids).values_list(
            "customer_id", "kind", "normalized", "is_primary"
        ):
            custs[customer_id].held.add((kind, value))
            if primary:
                custs[customer_id].primary_kinds.add(kind)
        for customer_id, name in Customer.tags.through.objects.filter(customer_id__in=ids).values_list(
            "customer_id", "tag__name"
        ):
            custs[customer_id].tags.add(name)
        return custs

    def _visible(self, ids: set[int]) -> set[int]:
        if self.scope is None or not ids:
            return set(ids)
        return set(Customer.objects.filter(self.scope, pk__in=ids).values_list("pk", flat=True))

    def _companies(self, names: set[str]) -> dict[str, int]:
        """actions._company_for's lookup: the newest visible live company with exactly this name."""
        if not names:
            return {}
        found: dict[str, int] = {}
        for name, pk in (
            Customer.objects.visible_to(self.actor)
            .alive()
            .filter(kind=CustomerKind.COMPANY, name__in=sorted(names))
            .values_list("name", "pk")
        ):
            found[name] = max(pk, found.get(name, 0))
        return found

    @staticmethod
    def _match(idents: list[tuple[str, str]], holders: dict[tuple[str, str], set[int]]) -> int | None:
        """Same choice as identity.exact_matches()[0]: strongest identifier kind, then lowest id."""
        best: dict[int, int] = {}
        for ident in idents:
            ids = holders.get(ident)
            if not ids:
                continue
            rank = _KIND_RANK[ident[0]]
            for customer_id in ids:
                if rank < best.get(customer_id, 99):
                    best[customer_id] = rank
        if not best:
            return None
        return min(best, key=lambda cid: (best[cid], cid))

    def _creation_errors(self, row: _Row) -> dict[str, list[str]] | None:
        """What ingest_customer / _create would reject before writing a new customer."""
        cleaned = row.cleaned
        errors = {} if cleaned.get("name") else {"name": [_("This field is required.")]}
        errors.update(self._creation_custom(row))
        if errors:
            return errors
        if not self.can_create:
            return _permission_errors(PermissionDenied(Perm.CUSTOMER_CREATE))
        owner_id = cleaned.get("owner_id", self.default_owner)
        if owner_id not in self.owner_checks:
            try:
                actions._check_owner_change(self.actor, owner_id, self.default_owner)
                self.owner_checks[owner_id] = None
            except PermissionDenied as exc:
                self.owner_checks[owner_id] = _permission_errors(exc)
            except ValidationError as exc:
                self.owner_checks[owner_id] = _validation_errors(exc)
        if self.owner_checks[owner_id]:
            return self.owner_checks[owner_id]
        if self.stage_required:
            values = {
                f: cleaned.get(f, self.customer_defaults.get(f))
                for f in quality.REQUIRABLE
                if f not in actions.PRIMARY_CONTACT_FIELDS
            }
            values["owner_id"] = owner_id
            values["company_id"] = 1 if cleaned.get("company_name") else None  # found or created
            kinds = {kind for kind, _value in self._contact_specs(cleaned)}
            errors = quality.stage_requirement_errors(
                values, kinds, self.customer_defaults["lifecycle_stage"]
            )
            if errors:
                return errors
        return None

    # -- custom fields

    def _creation_custom(self, row: _Row) -> dict[str, list[str]]:
        """Registry.clean(values, creating=True) as ingest_customer calls it before creating: the row's
        (already valid) values, then defaults or required errors, then unique values. Sets the
        values the new customer gets on the row."""
        given = row.cleaned.get("custom_fields") or {}
        values = dict(given)
        errors: dict[str, list[str]] = {}
        for key in self.registry.custom:
            if key in values:
                continue
            missing = self.custom_default_errors.get(f"custom_fields.{key}")
            if missing:
                errors[f"custom_fields.{key}"] = list(missing)
            elif key in self.custom_defaults:
                values[key] = self.custom_defaults[key]
        for key in sorted(given):
            if key in self.unique_specs and self._taken(key, given[key], None):
                errors.setdefault(f"custom_fields.{key}", []).append(
                    _("Another record already has this value.")
                )
        row.custom_new = values
        return errors

    def _merged_custom(self, cust: _Cust, cleaned: dict[str, Any]) -> dict[str, Any] | None:
        """actions._absorb's custom values: filled in (or overwritten); None when nothing changes."""
        incoming = {k: v for k, v in (cleaned.get("custom_fields") or {}).items() if v not in (None, "", [])}
        if not incoming:
            return None
        stored = cust.fields["custom_fields"] or {}
        current = self.registry.normalize_stored(stored)
        merged = {**current, **{k: v for k, v in incoming.items() if self.overwrite or k not in current}}
        return merged if merged != stored else None

    def _unique_errors(self, merged: dict[str, Any], cust: _Cust) -> dict[str, list[str]] | None:
        """actions._absorb's check: a unique value it writes must not be held by another customer."""
        if not self.unique_specs:
            return None
        current = self.registry.normalize_stored(cust.fields["custom_fields"] or {})
        taken = {
            f"custom_fields.{k}": [_("Another record already has this value.")]
            for k, v in sorted(merged.items())
            if current.get(k) != v and k in self.unique_specs and self._taken(k, v, cust.key)
        }
        return taken or None

    def _taken(self, key: str, value: Any, exclude: int | None) -> bool:
        """Registry.value_taken against the chunk's state (see _load_unique)."""
        try:
            holders = self.unique.get(key, {}).get(value)
        except TypeError:  # not hashable: cannot be a value of a unique field
            return False
        return bool(holders) and any(h != exclude for h in holders)

    def _hold(self, cust: _Cust, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Keep the holders of unique values true when a customer's custom values change."""
        for key in self.unique_specs:
            old, new = before.get(key), after.get(key)
            if old == new:
                continue
            if old is not None:
                with contextlib.suppress(TypeError):
                    self.unique.get(key, {}).get(old, set()).discard(cust.key)
            if new is not None:
                self.unique.setdefault(key, {}).setdefault(new, set()).add(cust.key)

    def _load_unique(self, rows: list[_Row]) -> None:
        """Which live customers hold the unique custom values of the chunk (the rows' values and the
        defaults), with the same condition Registry.value_taken queries; a few queries per chunk."""
        if not self.unique_specs:
            return
        wanted: dict[str, set] = defaultdict(set)
        for row in rows:
            for key, value in ((row.cleaned or {}).get("custom_fields") or {}).items():
                if key in self.unique_specs and isinstance(value, str | int | float):
                    wanted[key].add(value)
        for key, value in self.custom_defaults.items():
            if key in self.unique_specs and isinstance(value, str | int | float):
                wanted[key].add(value)
        self.unique = {key: {} for key in self.unique_specs}
        spec_of = self.registry.object
        scope = spec_of.unique_scope() if spec_of and spec_of.unique_scope else Customer.objects.all()
        for key, values in wanted.items():
            spec = self.unique_specs[key]
            keys = [key, *([spec.custom.previous_key] if spec.custom.previous_key else [])]
            ordered = sorted(values, key=repr)
            for start in range(0, len(ordered), 100):
                q = Q()
                for value in ordered[start : start + 100]:
                    q |= spec.filter_q(customfields.Op.EQ, value)
                for pk, data in scope.filter(q).values_list("pk", "custom_fields"):
                    for stored_key in keys:
                        value = (data or {}).get(stored_key)
                        if isinstance(value, str | int | float) and value in values:
                            self.unique[key].setdefault(value, set()).add(pk)

    @staticmethod
    def _contact_specs(cleaned: dict[str, Any]) -> list[tuple[str, str]]:
        specs = [(p["kind"], p["normalized"]) for p in cleaned.get("contact_points") or []]
        specs += [(kind, cleaned[f]) for f, kind in _PRIMARY_KINDS.items() if cleaned.get(f)]
        return specs

    def _invisible(self, row: _Row, target: int) -> _Result:
        kind = Customer.objects.filter(pk=target).values_list("kind", flat=True).first()
        found = identity.find_duplicates(row.cleaned, kind=kind, actor=self.actor)
        exc = identity.DuplicateFound(
            [m for m in found if m.customer_id == target] or found, blocking=True, policy="ingest"
        )
        return _Result(row.id, ImportRowStatus.ERROR, None, _duplicate_errors(exc))

    def _keys(self, name: str, person: bool) -> tuple[str, str]:
        """normalize.search_keys with a cache as large as an import needs (its own holds 65,536)."""
        key = (name, person)
        keys = self.name_keys.get(key)
        if keys is None:
            if len(self.name_keys) > MEMO_LIMIT:
                self.name_keys.clear()
            keys = self.name_keys[key] = normalize.search_keys(name, person=person)
        return keys

    def _new_cust(self, values: dict[str, Any]) -> _Cust:
        self.new_seq += 1
        pinyin, initials = self._keys(values["name"], values["kind"] == CustomerKind.PERSON)
        values["name_pinyin"], values["name_initials"] = pinyin[:400], initials[:100]
        values["field_sources"] = None
        cust = _Cust(_PENDING_BASE + self.new_seq, values, set(), set(), set(), is_new=True)
        self.news.append(cust)
        return cust

    def _created(self, cust: _Cust, source: str) -> None:
        """The audit entry and event actions._create writes for a new customer."""
        payload = {"owner_id": cust.fields["owner_id"], "source": source}
        self.ops.append(("create", cust, None, cust.snapshot(), payload, cust.fields["name"]))

    def _create_company(self, name: str, owner_id: int | None) -> _Cust:
        """actions._company_for creating a company: create_customer({kind, name, owner_id}) → _create."""
        values = dict(self.customer_defaults)
        values.update(kind=CustomerKind.COMPANY, name=name, owner_id=owner_id, source=Channel.MANUAL)
        values["custom_fields"] = dict(self.custom_defaults)
        cust = self._new_cust(values)
        self._hold(cust, {}, values["custom_fields"])
        self._created(cust, Channel.MANUAL)
        return cust

    def _create_person(self, row: _Row, owner_id: int | None, company: Any) -> _Cust:
        """actions._create for a row that matched nobody (contact points as _apply_contacts adds them)."""
        cleaned = row.cleaned
        values = dict(self.customer_defaults)
        for name in actions.SNAPSHOT_FIELDS:
            if name in cleaned and name != "owner_id":
                values[name] = cleaned[name]
        values["source"] = CHANNEL
        values["owner_id"] = owner_id
        values["company_id"] = company
        values["custom_fields"] = row.custom_new if row.custom_new is not None else {}
        cust = self._new_cust(values)
        self._hold(cust, {}, values["custom_fields"])
        wanted: dict[tuple[str, str], dict] = {}
        for point in cleaned.get("contact_points") or []:
            wanted[(point["kind"], point["normalized"])] = point
        for (kind, norm), point in wanted.items():
            self._add_contact(
                cust, kind, norm, point["source"], point["source_ref"], point["verified"], row.display
            )
        for name, kind in _PRIMARY_KINDS.items():
            if cleaned.get(name):
                self._add_contact(cust, kind, cleaned[name], CHANNEL, "", False, row.display)
        for tag in cleaned.get("tags") or []:
            cust.tags.add(tag)
            cust.new_tags.append(tag)
        self._created(cust, CHANNEL)
        return cust

    @staticmethod
    def _add_contact(
        cust: _Cust, kind: str, norm: str, source: str, ref: str, verified: bool, display: dict[str, str]
    ) -> None:
        shown = display.get(norm) if kind == "phone" else norm
        if shown is None:
            shown = actions.display_contact(kind, norm)
        cust.held.add((kind, norm))
        cust.new_contacts.append((kind, norm, shown, source, ref, verified, kind not in cust.primary_kinds))
        cust.primary_kinds.add(kind)

    def _absorb(self, cust: _Cust, row: _Row, merged_custom: dict[str, Any] | None) -> bool:
        """actions._absorb on the in-memory state; returns whether anything changed.
        `merged_custom`: the customer's new custom values (`_merged_custom`), None if unchanged."""
        cleaned = row.cleaned
        before = cust.snapshot()
        fields = cust.fields
        changed = []
        for name in _ABSORB_FIELDS:
            if name not in cleaned:
                continue
            new, old = cleaned[name], fields[name]
            if new in (None, "") or new == old:
                continue
            if old in (None, "") or self.overwrite:
                fields[name] = new
                changed.append(name)
        if merged_custom is not None:
            self._hold(cust, self.registry.normalize_stored(fields["custom_fields"] or {}), merged_custom)
            fields["custom_fields"] = merged_custom
            changed.append("custom_fields")
        if changed:
            sources = dict(fields["field_sources"] or {})
            stamp = self.now.isoformat()
            for name in changed:
                sources[name] = {"channel": CHANNEL, "at": stamp}
            fields["field_sources"] = sources
            if "name" in changed or "kind" in changed:
                pinyin, initials = self._keys(fields["name"], fields["kind"] == CustomerKind.PERSON)
                fields["name_pinyin"], fields["name_initials"] = pinyin[:400], initials[:100]
            cust.touched = True
        for tag in cleaned.get("tags") or []:
            if tag not in cust.tags:
                cust.tags.add(tag)
                cust.new_tags.append(tag)
        incoming = [
            (kind, cleaned[f], CHANNEL, "", False) for f, kind in _PRIMARY_KINDS.items() if cleaned.get(f)
        ]
        incoming += [
            (
                p["kind"],
                p["normalized"],
                p.get("source") or CHANNEL,
                p.get("source_ref", ""),
                p.get("verified", False),
            )
            for p in cleaned.get("contact_points") or []
        ]
        for kind, norm, source, ref, verified in incoming:
            if (kind, norm) not in cust.held:
                self._add_contact(cust, kind, norm, source, ref, verified, row.display)
        b, a = audit.diff(before, cust.snapshot())
        if not a:
            return False
        if not cust.is_new and not cust.dirty:
            cust.dirty = True
            self.dirty.append(cust)
        payload = {"changed": sorted(a), "channel": CHANNEL}
        self.ops.append(("update", cust, b, a, payload, fields["name"]))
        return True

    def _flush(self) -> list[_Cust]:
        """Write what the simulated rows did: new customers, changed ones, contact points, tags,
        audit entries and events, in the order the per-row pipeline would have written them."""
        news, dirty, ops = self.news, self.dirty, self.ops
        self.news, self.dirty, self.ops = [], [], []
        if not ops:
            return []
        actor = self.actor
        now = self.now
        t = time.perf_counter()
        for cust, pk in zip(news, _reserve_ids(Customer, len(news)), strict=True):
            cust.id = pk
        for cust in dirty:
            cust.id = cust.key
        touched = news + dirty
        tag_ids = self._tag_ids({t for cust in touched for t in cust.new_tags})
        contact_cols = _columns(ContactPoint)
        tag_cols = _columns(Customer.tags.through)
        contacts, tags = [], []
        for cust in touched:
            values = cust.fields
            if isinstance(values["company_id"], _Cust):
                values["company_id"] = values["company_id"].id
            values["completeness"] = quality.completeness_of(
                SimpleNamespace(**values), {kind for kind, _v in cust.held}
            )
            for kind, norm, shown, source, source_ref, verified, primary in cust.new_contacts:
                contacts.append(
                    contact_cols.row(
                        {
                            "customer_id": cust.id,
                            "kind": kind,
                            "value": shown,
                            "normalized": norm,
                            "source": source,
                            "source_ref": source_ref,
                            "verified": verified,
                            "is_primary": primary,
                            "created_at": now,
                        }
                    )
                )
            for name in cust.new_tags:
                tags.append(tag_cols.row({"customer_id": cust.id, "tag_id": tag_ids[name]}))
            cust.new_contacts, cust.new_tags = [], []
        customer_cols = _columns(Customer, with_id=True)
        created_by = actor.pk if isinstance(actor, User) else None
        _insert(
            customer_cols,
            [
                customer_cols.row(
                    {
                        **{f: c.fields[f] for f in _STATE_FIELDS},
                        **ownership.initial_state(c.fields["owner_id"], at=now),
                        "id": c.id,
                        "created_at": now,
                        "updated_at": now,
                        "created_by_id": created_by,
                    }
                )
                for c in news
            ],
        )
        self._update_existing(dirty)
        _insert(contact_cols, contacts)
        _insert(tag_cols, tags)
        t = self._tick("flush: build + write customers, contact points", t)
        for cust in dirty:
            cust.dirty = cust.touched = False
        for cust in news:
            cust.is_new = False
        self._audit_and_events(ops)
        self._tick("flush: audit + events", t)
        return news

    def _update_existing(self, dirty: list[_Cust]) -> None:
        """UPDATE the changed existing customers (locked by _load) with their final state."""
        table = connection.ops.quote_name(Customer._meta.db_table)
        sqlite = connection.vendor != "postgresql"
        for touched in (True, False):
            custs = [c for c in dirty if c.touched == touched]
            if not custs:
                continue
            columns = [*_UPDATE_COLUMNS, "updated_at"] if touched else _UPDATE_COLUMNS
            sets = ", ".join(f"{connection.ops.quote_name(c)} = %s" for c in columns)
            params = []
            for cust in custs:
                values = dict(cust.fields)
                if values["field_sources"] is not None:
                    values["field_sources"] = _json(values["field_sources"])
                values["custom_fields"] = _json(values["custom_fields"] or {})
                values["updated_at"] = self.now
                if sqlite:
                    if values["birthday"] is not None:
                        values["birthday"] = connection.ops.adapt_datefield_value(values["birthday"])
                    values["updated_at"] = connection.ops.adapt_datetimefield_value(self.now)
                params.append([values[c] for c in columns] + [cust.id])
            with connection.cursor() as cursor:
                cursor.executemany(f"UPDATE {table} SET {sets} WHERE id = %s", params)  # noqa: S608

    def _audit_and_events(self, ops: list[tuple]) -> None:
        """One audit entry and one event per created / updated customer, as ingest_customer writes
        them (`audit.record_many` and `events.emit_many`: one bulk insert each); phones and other
        sensitive values are stored protected, as actions.snapshot does."""
        sensitive_types = self.registry.sensitive_types
        audits: dict[str, list[tuple]] = {"create": [], "update": []}
        events: dict[str, list[tuple]] = {"create": [], "update": []}
        for op, cust, before, after, payload, name in ops:
            if op == "create" and isinstance(after["company_id"], _Cust):
                after["company_id"] = after["company_id"].id
            before = actions.protect_snapshot(audit.json_value(before) if before else before, sensitive_types)
            after = actions.protect_snapshot(audit.json_value(after), sensitive_types)
            obj = Customer(pk=cust.id, name=name)
            audits[op].append((obj, before, after))
            events[op].append((obj, payload))
        audit.record_many(AuditAction.CREATE, audits["create"], actor=self.actor)
        audit.record_many(AuditAction.UPDATE, audits["update"], actor=self.actor)
        emit_many(CustomerEvent.CREATED, events["create"], actor=self.actor)
        emit_many(CustomerEvent.UPDATED, events["update"], actor=self.actor)

    @staticmethod
    def _tag_ids(names: set[str]) -> dict[str, int]:
        if not names:
            return {}
        found = dict(Tag.objects.filter(name__in=sorted(names)).values_list("name", "pk"))
        missing = sorted(names - set(found))
        if missing:
            Tag.objects.bulk_create([Tag(name=n) for n in missing], ignore_conflicts=True)
            found.update(Tag.objects.filter(name__in=missing).values_list("name", "pk"))
        return found


def _identity_lock_id(kind: str, value: str) -> int:
    """The advisory lock key identity.lock_identifiers takes for one identifier."""
    digest = hashlib.blake2b(f"identity:{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_identities(idents: Iterable[tuple[str, str]]) -> list[int]:
    """identity.lock_identifiers for a whole chunk in one statement: the same keys, taken in the same
    ascending order (so chunks, webhooks and API upserts never deadlock). Session-level locks,
    released by `_unlock_identities` right after the chunk commits (transaction-level ones would pile
    up in the server's lock table when a caller runs the import inside a transaction)."""
    if connection.vendor != "postgresql":
        return []
    keys = sorted({_identity_lock_id(kind, value) for kind, value in idents})
    if keys:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_advisory_lock(k)) FROM unnest(%s::bigint[]) AS k", [keys])
    return keys


def _unlock_identities(keys: list[int]) -> None:
    if not keys:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_advisory_unlock(k)) FROM unnest(%s::bigint[]) AS k", [keys])
    except DatabaseError:  # a broken connection: its session locks went with it
        log.warning("could not release %d identity locks", len(keys), exc_info=True)


def _pending_rows(job_id: int, limit: int, after: int) -> list[tuple[int, int, dict]]:
    """The next pending rows after row `after`: a range scan from there, never over the entries that
    processed rows leave behind in the (job, status, row_number) index until it is vacuumed."""
    return list(
        ImportRow.objects.filter(job_id=job_id, status=ImportRowStatus.PENDING, row_number__gt=after)
        .order_by("row_number")
        .values_list("id", "row_number", "data")[:limit]
    )


def _count(results: list[_Result], status: str) -> int:
    return sum(1 for r in results if r.status == status)


def _run_chunk(runner: _Runner, job_id: int, chunk_size: int, after: int, *, bulk: bool) -> int | None:
    """One transaction: the next pending rows, their customers, audit entries, events, row results
    and the job's counters commit together. Returns the last row number done (None: nothing left)."""
    with transaction.atomic():
        # One chunk at a time per job, whichever worker runs it.
        locked = ImportJob.objects.select_for_update().get(pk=job_id)
        t = time.perf_counter()
        rows = _pending_rows(job_id, chunk_size, after)
        if not rows:
            return None
        t = runner._tick("db: read staged rows", t)
        results = runner.bulk_chunk(rows) if bulk else runner.rows_chunk(rows)
        t = time.perf_counter()
        _write_row_results(results)
        ImportJob.objects.filter(pk=job_id).update(
            processed_rows=F("processed_rows") + len(results),
            created_count=F("created_count") + _count(results, ImportRowStatus.CREATED),
            updated_count=F("updated_count") + _count(results, ImportRowStatus.UPDATED),
            unchanged_count=F("unchanged_count") + _count(results, ImportRowStatus.UNCHANGED),
            error_count=F("error_count") + _count(results, ImportRowStatus.ERROR),
            options={**locked.options, "heartbeat": time.time()},
        )
        t = runner._tick("db: row results, counters", t)
    runner._tick("db: commit", t)
    return rows[len(results) - 1][1]  # the bulk path may leave a tail of the rows for the next chunk


def chunk_size_default() -> int:
    return CHUNK_SIZE.get(connection.vendor, DEFAULT_CHUNK_SIZE)


def run_import(
    job_id: int,
    *,
    actor,
    chunk_size: int | None = None,
    bulk: bool = True,
    progress: Callable[[ImportJob], None] | None = None,
) -> ImportJob:
    """Process the pending rows of a job. Safe to re-run after a crash: finished chunks stay done."""
    require(actor, Perm.CUSTOMER_IMPORT)
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or not _may_see_job(actor, job):
        raise NotFound(job_id)
    if job.status == ImportStatus.DONE:
        return job
    if job.status == ImportStatus.STAGED or is_staging(job):
        raise ValidationError({"status": [_("This import has not been confirmed yet.")]})
    chunk_size = chunk_size or chunk_size_default()
    with request_context(job.options.get("request_id")), translation.override(_language(job)):
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportStatus.RUNNING, started_at=job.started_at or timezone.now(), failure=""
        )
        job.refresh_from_db()
        runner = _Runner(job, actor=actor)
        # Millions of short-lived objects: the cyclic GC would walk the whole heap again and again.
        # Reference counting frees them; young generations are collected once per chunk.
        gc_enabled = gc.isenabled()
        gc.disable()
        try:
            after = 0  # rows are processed in row order; a re-run starts again from the first pending one
            for chunk_number in itertools.count():
                if chunk_number % 10 == 0:
                    gc.collect(1)
                try:
                    after = _run_chunk(runner, job_id, chunk_size, after, bulk=bulk)
                finally:
                    _unlock_identities(runner.locked)
                    runner.locked = []
                if after is None:
                    break
                if progress:
                    job.refresh_from_db()
                    progress(job)
        except Exception as exc:
            ImportJob.objects.filter(pk=job_id).update(status=ImportStatus.FAILED, failure=repr(exc)[:2000])
            raise
        finally:
            if gc_enabled:
                gc.enable()
        log.info("import %s timings: %s", job_id, {k: round(v, 2) for k, v in runner.timings.items()})
        with transaction.atomic():
            job = ImportJob.objects.select_for_update().get(pk=job_id)
            if job.status != ImportStatus.DONE:
                job.status = ImportStatus.DONE
                job.finished_at = timezone.now()
                job.save(update_fields=["status", "finished_at"])
                audit.record(
                    AuditAction.UPDATE,
                    job,
                    actor=actor,
                    before={"status": ImportStatus.RUNNING},
                    after={
                        "status": ImportStatus.DONE,
                        "created": job.created_count,
                        "updated": job.updated_count,
                        "unchanged": job.unchanged_count,
                        "errors": job.error_count,
                    },
                )
    return job


def can_resume(job: ImportJob) -> bool:
    """A failed or stalled run of a staged file (a file that could not be read has nothing to resume)."""
    return bool(job.headers) and (job.status == ImportStatus.FAILED or is_stalled(job))


def is_stalled(job: ImportJob, *, seconds: int = 300) -> bool:
    """A running job whose worker has not finished a chunk for a while (killed, most likely)."""
    if job.status != ImportStatus.RUNNING:
        return False
    beat = job.options.get("heartbeat") or (job.started_at.timestamp() if job.started_at else 0)
    return time.time() - beat > seconds


@transaction.atomic
def resume_import(job_id: int, *, actor) -> ImportJob:
    """Queue a failed or stalled job again: only its pending rows are processed."""
    require(actor, Perm.CUSTOMER_IMPORT)
    job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or not _may_see_job(actor, job):
        raise NotFound(job_id)
    if not can_resume(job):
        raise ValidationError({"status": [_("Only a failed or stalled import can be resumed.")]})
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["status"])
    # The run continues as the user who confirmed it, whoever resumes it.
    actor_id = job.options.get("actor_id", job.created_by_id)
    transaction.on_commit(lambda: _enqueue("run_import_task", job.pk, actor_id))
    return job


# --------------------------------------------------------------------------- error report


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
