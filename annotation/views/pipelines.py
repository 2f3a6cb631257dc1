"""The retraining cycle's pages: "Retrain", the stage timeline, and the promotion guard.

Each stage's job keeps its own cancel and retry (the job views); the timeline adds cancel and
resume for the whole cycle.
"""

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation import pipelines, plots, promotion, roles, runs, splits
from annotation.forms.pipelines import DecisionForm, RetrainForm
from annotation.models import ModelCondition, Pipeline
from annotation.views.runs import listed_train_pairs, refusal_on_form


def _get_pipeline(pk: int) -> Pipeline:
    return get_object_or_404(
        Pipeline.objects.select_related("training_run", "generation_run", "round", "condition", "parent", "rubric"),
        pk=pk,
    )


@roles.role_required(roles.ADMIN)
def retrain_new(request):
    form = RetrainForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            pipeline = form.start(created_by=request.user)
        except pipelines.PipelineError as error:
            form.add_error("name", str(error))
        except runs.TRAINING_REFUSALS as error:
            status = refusal_on_form(form, error)
        else:
            messages.success(request, f"Retraining cycle “{pipeline.name}” started.")
            return redirect("pipeline-detail", pk=pipeline.pk)
    context = {
        "form": form,
        "train_pairs": runs.approved_train_pairs().count(),
        "revised_pairs": runs.approved_train_pairs().exclude(source_response__isnull=True).count(),
        "pair_list": listed_train_pairs(),
        "splits": splits.current_split_report(),
        "splits_frozen": splits.is_frozen(),
        "waiting": splits.waiting_prompts().count(),
        "demo": settings.DEMO,
    }
    return render(request, "annotation/pipelines/retrain.html", context, status=status)


@roles.role_required(roles.ADMIN)
def pipeline_detail(request, pk: int):
    pipeline = _get_pipeline(pk)
    context = {
        "pipeline": pipeline,
        "stages": pipelines.timeline(pipeline),
        "status_key": _status_key(pipeline),
        "loss_points": (pipeline.training_run.progress_detail.get("loss_history") if pipeline.training_run else None),
    }
    return render(request, "annotation/pipelines/detail.html", context)


@roles.role_required(roles.ADMIN)
def pipeline_status(request, pk: int):
    """What the timeline polls: it reloads when the stage, state or set of jobs changes."""
    pipeline = _get_pipeline(pk)
    return JsonResponse(
        {
            "state": pipeline.state,
            "stage": pipeline.stage,
            "key": _status_key(pipeline),
            "finished": not pipeline.is_active,
        }
    )


def _status_key(pipeline: Pipeline) -> str:
    """Changes exactly when the timeline needs a reload: the stage, the state or a stage job's state."""
    stage_jobs = [job for stage in pipelines.timeline(pipeline) for job in stage["jobs"]]
    return "|".join([pipeline.state, pipeline.stage, *(f"{job.KIND}-{job.pk}:{job.state}" for job in stage_jobs)])


@roles.role_required(roles.ADMIN)
def pipeline_loss_svg(request, pk: int):
    pipeline = _get_pipeline(pk)
    points = pipeline.training_run.progress_detail.get("loss_history", []) if pipeline.training_run else []
    svg = plots.loss_curve_svg(points, title=f"Training loss · {pipeline.name}")
    response = HttpResponse(svg, content_type="image/svg+xml")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="loss-{pipeline.pk}.svg"'
    return response


@roles.role_required(roles.ADMIN)
@require_POST
def pipeline_cancel(request, pk: int):
    pipeline = _get_pipeline(pk)
    pipelines.cancel(pipeline)
    messages.info(request, f"Asked “{pipeline.name}” to stop; its running stage stops after its current step.")
    return redirect("pipeline-detail", pk=pk)


@roles.role_required(roles.ADMIN)
@require_POST
def pipeline_resume(request, pk: int):
    pipeline = _get_pipeline(pk)
    if pipelines.resume(pipeline):
        messages.success(request, f"“{pipeline.name}” carries on from “{pipeline.get_stage_display()}”.")
    else:
        messages.error(request, "Only a failed or cancelled cycle can be resumed.")
    return redirect("pipeline-detail", pk=pk)


@roles.role_required(roles.ADMIN)
def condition_detail(request, pk: int):
    """A condition's lineage and, for a candidate, the promotion guard and the decision form."""
    condition = get_object_or_404(ModelCondition.objects.select_related("parent", "adapter", "system_prompt"), pk=pk)
    checked = promotion.guard(condition)
    form = DecisionForm(request.POST or None, flagged=checked.flagged)
    if request.method == "POST" and form.is_valid():
        try:
            promotion.decide(
                condition=condition,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
                decided_by=request.user,
            )
        except promotion.DecisionRefused as error:
            form.add_error("reason", str(error))
        else:
            messages.success(request, f"“{condition.name}” is {form.cleaned_data['decision']}.")
            return redirect("condition-detail", pk=pk)
    context = {
        "condition": condition,
        "guard": checked,
        "rows": checked.comparison.to_dict("records"),
        "form": form,
        "decisions": condition.decisions.select_related("decided_by"),
    }
    return render(request, "annotation/pipelines/condition.html", context)
