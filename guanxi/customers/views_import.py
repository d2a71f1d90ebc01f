"""Import pages: upload → preview and column mapping → progress → error report.

Thin callers of `guanxi.customers.importing` (the import actions).
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from guanxi.core.exceptions import require
from guanxi.core.permissions import Perm
from guanxi.customers import importing
from guanxi.customers.models import ImportJob, ImportMapping, ImportStatus

ALLOWED_SUFFIXES = {".csv", ".txt", ".xlsx", ".xlsm", ".xls"}
MAX_UPLOAD_BYTES = 300 * 1024 * 1024
ERROR_ROWS_SHOWN = 50


class UploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("File (CSV or Excel)"))
    mapping = forms.ModelChoiceField(
        ImportMapping.objects.all(),
        required=False,
        label=gettext_lazy("Saved column mapping"),
        empty_label=gettext_lazy("Suggest from the column names"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if Path(upload.name).suffix.lower() not in ALLOWED_SUFFIXES:
            raise ValidationError(_("Upload a .csv, .xlsx or .xls file."))
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(_("The file is larger than %(mb)d MB.") % {"mb": MAX_UPLOAD_BYTES // 2**20})
        return upload


def _job_or_404(request, pk: int) -> ImportJob:
    job = importing.jobs_visible_to(request.user).filter(pk=pk).first()
    if job is None:
        raise Http404
    return job


@login_required
@require_http_methods(["GET", "POST"])
def index(request):
    require(request.user, Perm.CUSTOMER_IMPORT)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload, saved = form.cleaned_data["file"], form.cleaned_data["mapping"]
        # The request only stores the file: the worker reads it (the job page shows its progress and
        # moves on to the preview once the rows are staged).
        job = importing.stage_later(upload.name, upload, actor=request.user, saved_mapping=saved)
        return redirect("imports:job", pk=job.pk)
    jobs = importing.jobs_visible_to(request.user).select_related("created_by", "saved_mapping")[:20]
    return render(request, "customers/import_index.html", {"form": form, "jobs": jobs})


def _field_choices(user, registry) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(built-in targets, custom field targets "cf.<key>") for the column selects."""
    allow_owner = user.has_perm_code(Perm.CUSTOMER_ASSIGN)
    targets = importing.import_fields(registry)
    builtin = [("", _("— do not import —"))] + [
        (value, label)
        for value, label in targets.items()
        if not importing.is_custom_target(value) and (allow_owner or value != "owner")
    ]
    custom = [(value, label) for value, label in targets.items() if importing.is_custom_target(value)]
    return builtin, custom


@login_required
@require_http_methods(["GET", "POST"])
def preview(request, pk: int):
    require(request.user, Perm.CUSTOMER_IMPORT)
    job = _job_or_404(request, pk)
    if job.status != ImportStatus.STAGED:
        return redirect("imports:job", pk=job.pk)
    registry = importing.customer_registry()
    mapping = dict(job.mapping)
    errors: list[str] = importing.stale_targets(mapping, registry)
    update_existing = bool(job.options.get("update_existing"))
    save_as = job.saved_mapping.name if job.saved_mapping_id else ""
    if request.method == "POST":
        mapping = {h: request.POST.get(f"map-{i}", "") for i, h in enumerate(job.headers)}
        update_existing = request.POST.get("update_existing") == "on"
        save_as = request.POST.get("save_as", "")[:100]
        try:
            importing.confirm_import(
                job.pk, actor=request.user, mapping=mapping, update_existing=update_existing, save_as=save_as
            )
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, _("The import has started."))
            return redirect("imports:job", pk=job.pk)
    columns = [{"index": i, "header": h, "selected": mapping.get(h, "")} for i, h in enumerate(job.headers)]
    choices, custom_choices = _field_choices(request.user, registry)
    earlier = (
        ImportJob.objects.filter(file_sha256=job.file_sha256, status=ImportStatus.DONE)
        .exclude(pk=job.pk)
        .order_by("-finished_at")
        .first()
    )
    context = {
        "job": job,
        "columns": columns,
        "choices": choices,
        "custom_choices": custom_choices,
        "rows": importing.preview_rows(job),
        "errors": errors,
        "update_existing": update_existing,
        "save_as": save_as,
        "earlier": earlier,
    }
    return render(request, "customers/import_preview.html", context)


def _progress_context(job: ImportJob) -> dict:
    total = job.total_rows or 0
    percent = 100 if job.status == ImportStatus.DONE else (job.processed_rows * 100 // total if total else 0)
    return {
        "job": job,
        "percent": percent,
        "staging": importing.is_staging(job),
        "finished": job.status in (ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.STAGED),
        "can_resume": importing.can_resume(job),
    }


@login_required
def job_detail(request, pk: int):
    require(request.user, Perm.CUSTOMER_IMPORT)
    job = _job_or_404(request, pk)
    error_rows = [
        (number, [data.get(h, "") for h in job.headers], reasons)
        for number, data, reasons in islice(importing.error_rows(job), ERROR_ROWS_SHOWN)
    ]
    context = {**_progress_context(job), "error_rows": error_rows, "shown": ERROR_ROWS_SHOWN}
    return render(request, "customers/import_job.html", context)


@login_required
def progress(request, pk: int):
    require(request.user, Perm.CUSTOMER_IMPORT)
    job = _job_or_404(request, pk)
    if request.htmx and job.status == ImportStatus.STAGED:
        return HttpResponseClientRedirect(reverse("imports:preview", args=[job.pk]))
    return render(request, "customers/import_progress.html", _progress_context(job))


@login_required
def error_report(request, pk: int):
    require(request.user, Perm.CUSTOMER_IMPORT)
    job = _job_or_404(request, pk)
    response = HttpResponse(importing.error_report_csv(job), content_type="text/csv; charset=utf-8")
    name = f"{Path(job.file_name).stem or 'import'}.errors.csv"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
    return response


@login_required
@require_POST
def resume(request, pk: int):
    require(request.user, Perm.CUSTOMER_IMPORT)
    job = _job_or_404(request, pk)
    try:
        importing.resume_import(job.pk, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("imports:job", pk=job.pk)
