"""Bulk import (the same all-or-nothing importer, as a job you poll) and export (the same formats)."""

import tempfile

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response as ApiResponse

from annotation import corpus, exporting, importing, jobs, roles
from annotation.api import serializers as s
from annotation.api.base import StudioView, shape, valid_form
from annotation.api.problems import Invalid
from annotation.api.views.pairs import CORPUS_ROLES, FILTERS, filters_from
from annotation.forms.transfer import EXPORT_FORMATS, IMPORT_FORMATS, ExportForm, ImportForm
from annotation.models import ImportJob
from annotation.views.transfer import MAX_UPLOAD_BYTES

ImportIn = shape(
    "ImportIn",
    {
        "file": serializers.FileField(),
        "format": serializers.ChoiceField(choices=[v for v, _ in IMPORT_FORMATS]),
        "skip_existing": serializers.BooleanField(required=False),
    },
)
ImportJobOut = shape(
    "ImportJobOut",
    {
        "job": s.JobOut(),
        "filename": serializers.CharField(),
        "format": serializers.CharField(),
        "summary": serializers.DictField(),
        "errors": s.ProblemFieldError(many=True),
    },
)


def import_job_json(job: ImportJob) -> dict:
    return {
        "job": jobs.status(job),
        "filename": job.filename,
        "format": job.format,
        "summary": job.summary or {},
        "errors": [
            {"field": e.get("field"), "message": e.get("message", ""), "line": e.get("line")} for e in job.errors
        ],
    }


class ImportList(StudioView):
    roles = (roles.ADMIN,)
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ImportIn},
        responses={202: ImportJobOut},
        description="Queue an import of a file (multipart). Poll the job until `job.finished`; a rejected "
        "file imports nothing and lists every error with its line and field.",
    )
    def post(self, request):
        form = valid_form(ImportForm(request.data, request.FILES))
        upload = form.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise Invalid("The file is too large.", [{"field": "file", "message": "Too large.", "line": None}])
        job = importing.start_import_job(
            data=upload.read(),
            format=form.cleaned_data["format"],
            filename=upload.name,
            skip_existing=form.cleaned_data["skip_existing"],
            created_by=request.user,
        )
        job.refresh_from_db()
        return ApiResponse(import_job_json(job), status=202, headers={"Location": f"/api/v1/imports/{job.pk}/"})


class ImportDetail(StudioView):
    roles = (roles.ADMIN,)

    @extend_schema(responses=ImportJobOut)
    def get(self, request, pk: int):
        return ApiResponse(import_job_json(get_object_or_404(ImportJob.objects.defer("data"), pk=pk)))


class PairExport(StudioView):
    roles = CORPUS_ROLES

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=[v for v, _ in EXPORT_FORMATS], required=True),
            OpenApiParameter("condition", int, description="JSONL: whose system prompt goes in the messages."),
            *FILTERS,
        ],
        responses={
            (200, media.split(";")[0]): OpenApiResponse(OpenApiTypes.BINARY)
            for media in sorted(set(exporting.CONTENT_TYPES.values()))
        },
    )
    def get(self, request):
        filters = filters_from(request.query_params)
        form = valid_form(ExportForm({k: request.query_params.get(k) for k in ("format", "condition")}))
        fmt = form.cleaned_data["format"]
        out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
        exporting.export_pairs(
            queryset=corpus.pairs(filters=filters), format=fmt, out=out, condition=form.cleaned_data["condition"]
        )
        out.seek(0)
        name = f"psychosafe-pairs-{timezone.now():%Y%m%d-%H%M}.{exporting.EXTENSIONS[fmt]}"
        return FileResponse(out, as_attachment=True, filename=name, content_type=exporting.CONTENT_TYPES[fmt])
