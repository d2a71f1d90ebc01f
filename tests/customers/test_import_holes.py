"""Holes of the customer import found by trying to break it (issue 9, section 8), each with the
failure it showed on the code before the fix:

- an .xlsx zip bomb (1.4 MB unpacking to 362 MB) read inside the web request, all in memory, with the
  SQLite write lock held for the whole file;
- Big5 and Shift-JIS CSV files silently decoded as GB18030 into garbage;
- formula injection through the header row of an import file into the error report.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from guanxi.core.spreadsheet import safe_cell
from guanxi.customers import exporting, importing
from guanxi.customers.models import Customer, ImportJob, ImportRow, ImportStatus
from tests.conftest import drain
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def _xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zip_bomb_xlsx(unpacked_mb: int) -> bytes:
    """A valid .xlsx whose first sheet unpacks to `unpacked_mb` MB of rows but is tiny on disk."""
    small = _xlsx([["姓名", "手机"], ["张伟", "13812345678"]])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(small)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info, src.read(info))
                continue
            head, _sep, tail = src.read(info).decode().partition("</sheetData>")
            row = '<row><c t="inlineStr"><is><t>张伟</t></is></c><c><v>13812345678</v></c></row>'
            block = (row * (2**20 // len(row.encode()))).encode()
            with dst.open(info.filename, "w", force_zip64=True) as member:
                member.write(head.encode())
                for _ in range(unpacked_mb):
                    member.write(block)
                member.write(("</sheetData>" + tail).encode())
    return out.getvalue()


@pytest.fixture
def director_page(org):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=org.director.username, password=PASSWORD)
    return client


def _upload(client, data: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(reverse("imports:index"), {"file": SimpleUploadedFile(name, data)})


# --------------------------------------------------------------------------- the zip bomb


def test_an_xlsx_zip_bomb_is_refused_from_the_zip_directory_before_anything_is_unpacked(org):
    """Before: python-calamine unpacked and loaded the whole 210 MB sheet into memory and staged
    it (failed with DID NOT RAISE)."""
    bomb = zip_bomb_xlsx(210)
    assert len(bomb) < 2 * 2**20  # small on disk, like the 1.4 MB file of the report
    started = time.perf_counter()
    with pytest.raises(ValidationError) as caught:
        importing.stage_import("bomb.xlsx", bomb, actor=org.admin, options={"language": "en"})
    assert time.perf_counter() - started < 5
    assert "unpacks to 2" in " ".join(caught.value.messages)
    assert not ImportJob.objects.exists() and not ImportRow.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_every_upload_is_only_stored_by_the_request_and_read_by_the_worker(
    org, director_page, queue, settings, tmp_path
):
    """Before: uploads under 2 MB (the zip bomb among them) were read inside the web request; the
    response went straight to the preview with the rows already staged (failed with
    '/imports/1/preview/' != '/imports/1/')."""
    settings.MEDIA_ROOT = str(tmp_path)
    settings.GUANXI_IMPORT_MAX_XLSX_BYTES = 2**20
    response = _upload(director_page, zip_bomb_xlsx(3), "名单.xlsx")
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("imports:job", args=[job.pk])
    assert importing.is_staging(job) and not job.rows.exists()  # nothing read in the request
    drain(queue)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and not job.rows.exists()
    assert "This Excel file unpacks to 3 MB, more than the 1 MB an import may read." in job.failure
    assert not list(tmp_path.rglob("*.xlsx"))  # the stored upload is gone
    page = director_page.get(reverse("imports:job", args=[job.pk])).content.decode()
    assert "unpacks to 3 MB" in page


def test_rows_past_the_cap_are_refused_with_a_clear_message_and_leave_nothing(org, settings):
    """Before: no cap; every row of any file was staged (DID NOT RAISE)."""
    settings.GUANXI_IMPORT_MAX_ROWS = 5
    rows = [["姓名", "手机"]] + [[f"客户{i}", f"138{i:08d}"] for i in range(6)]
    for name, data in (("a.csv", _csv(rows)), ("a.xlsx", _xlsx(rows))):
        with pytest.raises(ValidationError) as caught:
            importing.stage_import(name, data, actor=org.admin, options={"language": "en"})
        assert caught.value.messages == [
            "The file has more than 5 rows. Split it into files of at most 5 rows."
        ]
        assert not ImportJob.objects.exists() and not ImportRow.objects.exists()
    job = importing.stage_import("a.csv", _csv(rows[:6]), actor=org.admin)
    assert job.total_rows == 5 and job.status == ImportStatus.STAGED


@pytest.mark.django_db(transaction=True)
def test_staging_commits_in_short_transactions(org, monkeypatch):
    """Before: stage_import was one transaction around the whole file (the SQLite write lock held
    for over 20 s on a large file): between batches the connection was still inside it (failed
    with assert not True)."""
    monkeypatch.setattr(importing.staging, "STAGE_BATCH", 3)
    rows = [["姓名", "手机"]] + [[f"客户{i}", f"138{i:08d}"] for i in range(10)]
    seen = []

    def progress(n: int) -> None:
        seen.append((n, connection.in_atomic_block))

    job = importing.stage_import("a.csv", _csv(rows), actor=org.admin, progress=progress)
    assert job.total_rows == 10 and job.rows.count() == 10
    assert [n for n, _ in seen] == [3, 6, 9, 10]
    assert not any(in_transaction for _, in_transaction in seen)


def test_xlsx_rows_are_streamed_not_loaded(org, monkeypatch):
    """The sheet is read row by row (openpyxl read-only), never loaded whole. Before: python-calamine
    loaded the whole sheet into memory first (failed with the AssertionError below)."""
    import python_calamine

    def whole_sheet_loader(*args, **kwargs):
        raise AssertionError("an .xlsx must be streamed, not loaded whole")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_filelike", whole_sheet_loader)
    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_path", whole_sheet_loader)
    rows = [["姓名", "手机"]] + [[f"客户{i}", 13800000000 + i] for i in range(3000)]
    table = importing.read_table("a.xlsx", _xlsx(rows))
    assert next(table.rows) == (2, ["客户0", "13800000000"])
    assert sum(1 for _ in table.rows) == 2999


# --------------------------------------------------------------------------- encodings

TRADITIONAL = [
    ["客戶名稱", "手機號碼", "城市", "備註"],
    ["張偉", "13812345678", "台北", "老客戶、重點跟進"],
    ["陳美玲", "13912345678", "高雄", "需要報價單"],
    ["林志明", "15012345678", "台中", "展覽名單"],
]


def test_a_big5_csv_is_decoded_as_big5(org):
    """Before: read as GB18030 into garbled names without a word (failed with 'GB18030' == 'Big5')."""
    data = _csv(TRADITIONAL, "cp950")
    table = importing.read_table("台灣客戶.csv", data)
    assert table.encoding == "Big5" and table.headers == TRADITIONAL[0]
    job = importing.stage_import("台灣客戶.csv", data, actor=org.admin, options={"language": "en"})
    assert job.mapping == {"客戶名稱": "name", "手機號碼": "phone", "城市": "city", "備註": "notes"}
    importing.confirm_import(job.pk, actor=org.admin, mapping=job.mapping, enqueue=False)
    job = importing.run_import(job.pk, actor=org.admin)
    assert (job.created_count, job.error_count) == (3, 0)
    zhang = Customer.objects.get(name="張偉")
    assert zhang.city == "台北" and zhang.notes == "老客戶、重點跟進"


def test_traditional_chinese_saved_as_gbk_stays_gb18030(org):
    table = importing.read_table("a.csv", _csv(TRADITIONAL, "gb18030"))
    assert table.encoding == "GB18030" and table.headers == TRADITIONAL[0]


def test_a_shift_jis_csv_is_refused_with_a_message_naming_it(org):
    """Before: decoded as GB18030 into garbage without a word (failed with DID NOT RAISE)."""
    rows = [
        ["氏名", "電話", "住所"],
        ["田中太郎", "090-1234-5678", "東京都"],
        ["さとう はなこ", "080-1111-2222", "大阪府"],
    ]
    with pytest.raises(ValidationError) as caught:
        importing.stage_import("顧客.csv", _csv(rows, "cp932"), actor=org.admin)
    assert "Shift-JIS" in " ".join(caught.value.messages)
    assert not ImportJob.objects.exists()


def test_bytes_in_no_chinese_encoding_are_refused_not_garbled(org):
    data = "姓名,手机\n".encode() + bytes(range(0x81, 0xFF)) * 4 + b",13812345678\n"
    with pytest.raises(ValidationError) as caught:
        importing.read_table("a.csv", data)
    assert "encoding was not recognised" in " ".join(caught.value.messages)


# --------------------------------------------------------------------------- formula injection


def test_headers_and_reasons_in_the_error_report_are_never_formulas(org):
    """Before: the report's header row carried `=HYPERLINK(...)` as it was, a live formula in Excel,
    and the reasons named the column the same way (failed with "=CMD|' /C calc'!A0" !=
    "'=CMD|' /C calc'!A0")."""
    evil_link = '=HYPERLINK("http://evil.example/x","点我")'
    evil_phone = "=CMD|' /C calc'!A0"
    rows = [["姓名", evil_phone, evil_link, "@SUM(1)"], ["张伟", "12345", "x", "y"]]
    job = importing.stage_import("a.csv", _csv(rows), actor=org.admin, options={"language": "en"})
    importing.confirm_import(
        job.pk, actor=org.admin, mapping={"姓名": "name", evil_phone: "phone"}, enqueue=False
    )
    job = importing.run_import(job.pk, actor=org.admin)
    report = list(csv.reader(io.StringIO(importing.error_report_csv(job).decode("utf-8-sig"))))
    assert report[0] == ["Row", "姓名", "'" + evil_phone, "'" + evil_link, "'@SUM(1)", "Errors"]
    assert report[1][-1].startswith("'" + evil_phone + ": Enter a valid phone number")
    for cell in (c for row in report for c in row):
        assert cell == safe_cell(cell) or cell.startswith("'")


def test_one_formula_neutraliser_for_exports_and_import_reports():
    assert exporting.safe_cell is safe_cell
    assert not hasattr(exporting, "_safe_text") and not hasattr(importing.report, "_safe_cell")
    assert safe_cell("=1+1") == "'=1+1" and safe_cell("@x") == "'@x" and safe_cell("\t=x") == "'\t=x"
    assert safe_cell("+86 138 1234 5678") == "+86 138 1234 5678" and safe_cell("-12.5") == "-12.5"
    assert safe_cell("-x") == "'-x" and safe_cell("") == "" and safe_cell("张伟") == "张伟"


def test_staging_again_after_a_killed_worker_duplicates_no_row(org, monkeypatch, settings, tmp_path):
    """Staging commits batch by batch now, so a worker killed part-way leaves rows behind: staging
    the job again starts over instead of adding the file's rows a second time."""
    from django.core.files.base import ContentFile

    settings.MEDIA_ROOT = str(tmp_path)
    monkeypatch.setattr(importing.staging, "STAGE_BATCH", 2)
    rows = [["姓名", "手机"]] + [[f"客户{i}", f"138{i:08d}"] for i in range(5)]
    job = importing.stage_later("a.csv", ContentFile(_csv(rows)), actor=org.admin)
    real = importing.staging._insert_import_rows
    calls = []

    def killed_on_the_second_batch(batch):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the worker process dies
        return real(batch)

    monkeypatch.setattr(importing.staging, "_insert_import_rows", killed_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        importing.stage_stored(job.pk, actor=org.admin)
    monkeypatch.setattr(importing.staging, "_insert_import_rows", real)
    ImportRow.objects.bulk_create([ImportRow(job=job, row_number=2, data={"姓名": "客户0"})])  # a leftover
    job = importing.stage_stored(job.pk, actor=org.admin)
    assert job.status == ImportStatus.STAGED and job.total_rows == 5
    assert sorted(job.rows.values_list("row_number", flat=True)) == [2, 3, 4, 5, 6]
