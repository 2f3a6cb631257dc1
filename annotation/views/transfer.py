"""Import (admin page with a progress bar, run as a background job) and export (from the corpus browser)."""

import tempfile

from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from annotation import corpus, exporting, importing, roles
from annotation.forms.corpus import CorpusFilterForm
from annotation.forms.transfer import ExportForm, ImportForm
from annotation.models import ImportJob

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
CORPUS_ROLES = (roles.AUTHOR, roles.REVIEWER, roles.ADMIN)


@roles.role_required(*CORPUS_ROLES)
def corpus_export(request):
    """The browser's filtered pairs as a download. Spooled to disk beyond 16 MB, then streamed."""
    filters_form = CorpusFilterForm(request.GET)
    export_form = ExportForm(request.GET)
    if not export_form.is_valid():
        return redirect("corpus")
    filters = filters_form.valid_filters()
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
                job = importing.start_import_job(
                    data=upload.read(),
                    format=form.cleaned_data["format"],
                    filename=upload.name,
                    skip_existing=form.cleaned_data["skip_existing"],
                    created_by=request.user,
                )
                return redirect("import-job", pk=job.pk)
    else:
        form = ImportForm()
    jobs = ImportJob.objects.defer("data").select_related("created_by")[:10]
    return render(request, "annotation/pairs/import.html", {"form": form, "jobs": jobs})


@roles.role_required(roles.ADMIN)
def import_job(request, pk):
    job = get_object_or_404(ImportJob.objects.defer("data").select_related("created_by"), pk=pk)
    shown = job.errors[:1000]
    return render(request, "annotation/pairs/import_job.html", {"job": job, "errors": shown})
