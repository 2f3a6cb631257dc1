"""Conditions and adapters (with lineage), training/generation/judge runs, any job's progress, cancel
and retry, and the retraining cycle: start, progress, cancel, resume."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response as ApiResponse

from annotation import jobs, pipelines, roles, runs
from annotation.api import serializers as s
from annotation.api.base import StudioView, page_of, paginate, shape
from annotation.api.forms import bound_form, checked, request_serializer
from annotation.api.problems import Conflict
from annotation.forms.pipelines import RetrainForm
from annotation.forms.runs import GenerationRunForm, TrainingRunForm
from annotation.models import Adapter, GenerationRun, JudgeRun, ModelCondition, Pipeline, TrainingRun

ADMIN = (roles.ADMIN,)
TrainingIn = request_serializer("TrainingRunIn", TrainingRunForm)
GenerationIn = request_serializer("GenerationRunIn", GenerationRunForm)
RetrainIn = request_serializer("RetrainIn", RetrainForm, drop=("allow_parallel",))

AdapterOut = shape(
    "AdapterOut",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "base_model": serializers.CharField(),
        "sha256": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
    },
)
ConditionOut = shape(
    "ConditionOut",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "status": serializers.CharField(),
        "base_model": serializers.CharField(),
        "system_prompt": serializers.CharField(),
        "adapter": AdapterOut(allow_null=True),
        "parent": serializers.IntegerField(allow_null=True),
        "lineage": serializers.DictField(),
        "created_at": serializers.DateTimeField(),
    },
)
CycleOut = shape(
    "CycleOut",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "state": serializers.CharField(),
        "stage": serializers.CharField(),
        "finished": serializers.BooleanField(),
        "error": serializers.CharField(allow_blank=True),
        "condition": serializers.IntegerField(allow_null=True),
        "round": serializers.IntegerField(allow_null=True),
        "stages": serializers.ListField(child=serializers.DictField()),
        "events": serializers.ListField(child=serializers.JSONField()),
    },
)


def adapter_json(adapter) -> dict | None:
    if adapter is None:
        return None
    return {
        "id": adapter.pk,
        "name": adapter.name,
        "base_model": adapter.base_model,
        "sha256": adapter.sha256,
        "created_at": adapter.created_at,
    }


AdapterDetailOut = shape(
    "AdapterDetailOut",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "base_model": serializers.CharField(),
        "sha256": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
        "training_run": serializers.IntegerField(allow_null=True),
        "conditions": serializers.ListField(child=serializers.IntegerField()),
        "lineage": serializers.DictField(help_text="As recorded on its condition: run, data hash, config, code."),
        "manifest": serializers.DictField(),
    },
)


def adapter_detail_json(adapter) -> dict:
    conditions = list(adapter.conditions.order_by("pk"))
    return {
        **adapter_json(adapter),
        "training_run": getattr(getattr(adapter, "training_run", None), "pk", None),
        "conditions": [c.pk for c in conditions],
        "lineage": next((c.lineage for c in conditions if c.lineage), {}),
        "manifest": adapter.manifest or {},
    }


def condition_json(condition) -> dict:
    return {
        "id": condition.pk,
        "name": condition.name,
        "status": condition.status,
        "base_model": condition.base_model,
        "system_prompt": str(condition.system_prompt),
        "adapter": adapter_json(condition.adapter),
        "parent": condition.parent_id,
        "lineage": condition.lineage or {},
        "created_at": condition.created_at,
    }


def cycle_json(pipeline: Pipeline) -> dict:
    return {
        "id": pipeline.pk,
        "name": pipeline.name,
        "state": pipeline.state,
        "stage": pipeline.stage,
        "finished": not pipeline.is_active,
        "error": pipeline.error,
        "condition": pipeline.condition_id,
        "round": pipeline.round_id,
        "stages": [
            {
                "key": stage["key"],
                "label": str(stage["label"]),
                "where": stage["where"],
                "jobs": [jobs.status(job) for job in stage["jobs"]],
            }
            for stage in pipelines.timeline(pipeline)
        ],
        "events": list(getattr(pipeline, "events", None) or []),
    }


class ConditionList(StudioView):
    roles = ADMIN

    @extend_schema(responses=page_of(ConditionOut), operation_id="conditions_list")
    def get(self, request):
        queryset = ModelCondition.objects.select_related("adapter", "system_prompt")
        return paginate(self, request, queryset, condition_json)


class ConditionDetail(StudioView):
    roles = ADMIN

    @extend_schema(responses=ConditionOut, operation_id="conditions_read")
    def get(self, request, pk: int):
        condition = get_object_or_404(ModelCondition.objects.select_related("adapter", "system_prompt"), pk=pk)
        return ApiResponse(condition_json(condition))


class AdapterList(StudioView):
    roles = ADMIN

    @extend_schema(responses=page_of(AdapterDetailOut), operation_id="adapters_list")
    def get(self, request):
        queryset = Adapter.objects.select_related("training_run").prefetch_related("conditions")
        return paginate(self, request, queryset, adapter_detail_json)


class AdapterDetail(StudioView):
    roles = ADMIN

    @extend_schema(responses=AdapterDetailOut, operation_id="adapters_read")
    def get(self, request, pk: int):
        return ApiResponse(
            adapter_detail_json(get_object_or_404(Adapter.objects.select_related("training_run"), pk=pk))
        )


def _job(kind: str, pk: int):
    model = jobs.JOB_MODELS.get(kind)
    if model is None:
        raise NotFound("No such kind of job.")
    return get_object_or_404(model.objects.defer("data") if kind == "import" else model, pk=pk)


JOB_KIND = OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=sorted(jobs.JOB_MODELS))


class JobDetail(StudioView):
    roles = ADMIN

    @extend_schema(parameters=[JOB_KIND], responses=s.JobOut)
    def get(self, request, kind: str, pk: int):
        return ApiResponse(jobs.status(_job(kind, pk)))


class JobCancel(StudioView):
    roles = ADMIN

    @extend_schema(parameters=[JOB_KIND], request=None, responses=s.JobOut)
    def post(self, request, kind: str, pk: int):
        job = _job(kind, pk)
        if not job.is_active:
            raise Conflict("This job has finished; there is nothing to cancel.")
        jobs.request_cancel(job)
        job.refresh_from_db()
        return ApiResponse(jobs.status(job))


class JobRetry(StudioView):
    roles = ADMIN

    @extend_schema(parameters=[JOB_KIND], request=None, responses=s.JobOut)
    def post(self, request, kind: str, pk: int):
        job = _job(kind, pk)
        if not jobs.retry(job):
            raise Conflict(
                "This job cannot be queued again now: only a failed or cancelled job can be, a rejected import "
                "never (fix the file instead), and a training run not while another run on its base model is active."
            )
        job.refresh_from_db()
        return ApiResponse(jobs.status(job))


def _job_list(view, request, model):
    return paginate(view, request, model.objects.all(), jobs.status)


class TrainingRuns(StudioView):
    roles = ADMIN

    @extend_schema(responses=page_of(s.JobOut), operation_id="training_runs_list")
    def get(self, request):
        return _job_list(self, request, TrainingRun)

    @extend_schema(request=TrainingIn, responses={202: s.JobOut}, operation_id="training_runs_start")
    def post(self, request):
        form = bound_form(TrainingRunForm, checked(TrainingIn, request.data))
        run = runs.start_training_run(
            name=form.cleaned_data["name"],
            system_prompt=form.cleaned_data["system_prompt"],
            created_by=request.user,
            config=form.config_overrides(),
            base_model=form.cleaned_data["base_model"],
            allow_parallel=form.cleaned_data["allow_parallel"],
        )
        run.refresh_from_db()
        return ApiResponse(jobs.status(run), status=202)


class GenerationRuns(StudioView):
    roles = ADMIN

    @extend_schema(responses=page_of(s.JobOut), operation_id="generation_runs_list")
    def get(self, request):
        return _job_list(self, request, GenerationRun)

    @extend_schema(request=GenerationIn, responses={202: s.JobOut}, operation_id="generation_runs_start")
    def post(self, request):
        form = bound_form(GenerationRunForm, checked(GenerationIn, request.data))
        run = runs.start_generation_run(
            name=form.cleaned_data["name"],
            conditions=list(form.cleaned_data["conditions"]),
            created_by=request.user,
            prompt_split=form.cleaned_data["prompt_split"],
            sampling=form.sampling(),
        )
        run.refresh_from_db()
        return ApiResponse(jobs.status(run), status=202)


class JudgeRuns(StudioView):
    roles = ADMIN

    @extend_schema(responses=page_of(s.JobOut), operation_id="judge_runs_list")
    def get(self, request):
        return _job_list(self, request, JudgeRun)


class Cycles(StudioView):
    roles = ADMIN

    @extend_schema(responses=page_of(CycleOut), operation_id="cycles_list")
    def get(self, request):
        return paginate(self, request, Pipeline.objects.all(), cycle_json)

    @extend_schema(request=RetrainIn, responses={201: CycleOut}, operation_id="cycles_start")
    def post(self, request):
        form = bound_form(RetrainForm, checked(RetrainIn, request.data))
        pipeline = form.start(created_by=request.user)
        return ApiResponse(cycle_json(Pipeline.objects.get(pk=pipeline.pk)), status=201)


def _cycle(pk) -> Pipeline:
    return get_object_or_404(
        Pipeline.objects.select_related("training_run", "generation_run", "round", "condition"), pk=pk
    )


class CycleDetail(StudioView):
    roles = ADMIN

    @extend_schema(responses=CycleOut, operation_id="cycles_read")
    def get(self, request, pk: int):
        return ApiResponse(cycle_json(_cycle(pk)))


class CycleCancel(StudioView):
    roles = ADMIN

    @extend_schema(request=None, responses=CycleOut)
    def post(self, request, pk: int):
        pipeline = _cycle(pk)
        if not pipeline.is_active:
            raise Conflict("This cycle has finished; there is nothing to cancel.")
        pipelines.cancel(pipeline)
        return ApiResponse(cycle_json(_cycle(pk)))


class CycleResume(StudioView):
    roles = ADMIN

    @extend_schema(request=None, responses=CycleOut)
    def post(self, request, pk: int):
        if not pipelines.resume(_cycle(pk)):
            raise Conflict("Only a failed or cancelled cycle can be resumed.")
        return ApiResponse(cycle_json(_cycle(pk)))
