"""Import (admin page with a progress bar, run by a Celery task) and export (from the corpus browser)."""

import logging
import tempfile

from django.db import transaction
from django.http import FileResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from annotation import corpus, exporting, roles
from annotation.forms import CorpusFilterForm, ExportForm, ImportForm
from annotation.models import ImportJob, RunState

log = logging.getLogger(__name__)
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
CORPUS_ROLES = (roles.AUTHOR, roles.REVIEWER, roles.ADMIN)


@roles.role_required(*CORPUS_ROLES)
def corpus_export(request):
    """The browser's filtered pairs as a download. Spooled to disk beyond 16 MB, then streamed."""
    filters_form = CorpusFilterForm(request.GET)
    export_form = ExportForm(request.GET)
    if not export_form.is_valid():
        return redirect("corpus")
    filters = corpus.PairFilter.from_data(filters_form.cleaned_data if filters_form.is_valid() else {})
    fmt = export_form.cleaned_data["format"]
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    exporting.export_pairs(
        queryset=corpus.pairs(filters=filters), format=fmt, out=out, condition=export_form.cleaned_data["condition"]
    )
    out.seek(0)
    name = f"psychosafe-pairs-{timezone.now():%Y%m%d-%H%M}.{exporting.EXTENSIONS[fmt]}"
    return FileResponse(out, as_attachment=True, filename=name, content_type=exporting.CONTENT_TYPES[fmt])


@roles.role_required(roles.ADMIN)
def import_page(request):
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_UPLOAD_BYTES:
                form.add_error("file", f"The file is larger than {MAX_UPLOAD_BYTES // 2**20} MB.")
            else:
                job = ImportJob.objects.create(
                    format=form.cleaned_data["format"],
                    filename=upload.name[:255],
                    data=upload.read(),
                    skip_existing=form.cleaned_data["skip_existing"],
                    created_by=request.user,
                )
                transaction.on_commit(lambda: _enqueue(job.pk))
                return redirect("import-job", pk=job.pk)
    else:
        form = ImportForm()
    jobs = ImportJob.objects.defer("data").select_related("created_by")[:10]
    return render(request, "annotation/pairs/import.html", {"form": form, "jobs": jobs})


def _job_state(job: ImportJob) -> dict:
    return {
        "state": job.state,
        "phase": job.phase,
        "phase_label": job.get_phase_display(),
        "percent": job.percent,
        "done": job.progress_done,
        "total": job.progress_total,
        "errors": job.errors[:1000],
        "error_count": len(job.errors),
        "summary": job.summary,
        "error": job.error.splitlines()[0] if job.error else "",
        "finished": job.state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED),
    }


@roles.role_required(roles.ADMIN)
def import_job(request, pk):
    job = get_object_or_404(ImportJob.objects.defer("data").select_related("created_by"), pk=pk)
    return render(request, "annotation/pairs/import_job.html", {"job": job, "state": _job_state(job)})


@roles.role_required(roles.ADMIN)
def import_job_status(request, pk):
    job = get_object_or_404(ImportJob.objects.defer("data"), pk=pk)
    return JsonResponse(_job_state(job))


@roles.role_required(roles.ADMIN)
@require_POST
def import_job_retry(request, pk):
    """Queue a failed job again (e.g. after the worker was down); the file is still in the row."""
    job = get_object_or_404(ImportJob.objects.defer("data"), pk=pk)
    if ImportJob.objects.filter(pk=job.pk, state=RunState.FAILED, errors=[]).update(
        state=RunState.QUEUED, phase=ImportJob.Phase.WAITING
    ):
        transaction.on_commit(lambda: _enqueue(job.pk))
    return redirect("import-job", pk=job.pk)


def _enqueue(job_id: int) -> None:
    """Send the job to the default queue; if the broker is down, say so on the job instead of a 500."""
    from workers.tasks_corpus import import_pairs

    try:
        import_pairs.delay(job_id)
    except Exception as error:  # kombu raises several connection error types
        log.warning("could not enqueue import job %s: %s", job_id, error)
        ImportJob.objects.filter(pk=job_id).update(
            state=RunState.FAILED, error=f"Could not reach the task queue ({type(error).__name__}). Try again."
        )
