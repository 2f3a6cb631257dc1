"""Admin pages for training and generation runs: start them and follow their progress.

Cancel and retry are the job views' (`annotation.views.jobs`), shared with imports.
"""

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from annotation import plots, roles, runs, splits
from annotation.forms.runs import GenerationRunForm, TrainingRunForm
from annotation.models import GenerationRun, JobState, ModelCondition, Pipeline, RiskDomain, TrainingRun


@roles.role_required(roles.ADMIN)
def run_list(request):
    return render(
        request,
        "annotation/runs/list.html",
        {
            "training_runs": TrainingRun.objects.select_related("adapter", "system_prompt").order_by("-created_at")[
                :50
            ],
            "generation_runs": GenerationRun.objects.prefetch_related("conditions").order_by("-created_at")[:50],
            "pipelines": Pipeline.objects.select_related("condition").order_by("-created_at")[:20],
            "conditions": ModelCondition.objects.select_related("parent", "adapter").order_by("-created_at")[:50],
        },
    )


def train_pairs_by_domain() -> dict[str, int]:
    """Approved train pairs by domain name, every domain listed (those with none too)."""
    counts = dict(runs.approved_train_pairs().values_list("prompt__domain_id").annotate(n=Count("id")).order_by())
    return {domain.name: counts.get(domain.pk, 0) for domain in RiskDomain.objects.order_by("priority", "slug")}


#: How many of the pairs a training form lists; the corpus lists them all.
PAIRS_LISTED = 50


def listed_train_pairs() -> list:
    """The approved train pairs a training form lists, the most recently changed (e.g. approved) first."""
    return list(
        runs.approved_train_pairs().select_related("prompt__domain").order_by("-updated_at", "-pk")[:PAIRS_LISTED]
    )


@roles.role_required(roles.ADMIN)
def training_new(request):
    per_domain = train_pairs_by_domain()
    train_pairs = sum(per_domain.values())
    form = TrainingRunForm(request.POST or None, examples=train_pairs, per_domain=per_domain)
    status = 200
    if request.method == "POST" and form.is_valid() and "check" not in request.POST:
        try:
            run = runs.start_training_run(
                name=form.cleaned_data["name"],
                system_prompt=form.cleaned_data["system_prompt"],
                created_by=request.user,
                config=form.config_overrides(),
                base_model=form.cleaned_data["base_model"],
                allow_parallel=form.cleaned_data["allow_parallel"],
            )
        except runs.TRAINING_REFUSALS as error:
            status = refusal_on_form(form, error)
        else:
            _say_queued(request, run, f"Training run “{run.name}” is queued on {train_pairs} approved pairs.")
            for warning in form.plan.warnings:
                messages.warning(request, warning)
            return redirect("run-list")
    context = {
        "form": form,
        "train_pairs": train_pairs,
        "per_domain": per_domain,
        "pair_list": listed_train_pairs(),
        "plan": form.plan,
        "splits_frozen": splits.is_frozen(),
        "waiting": splits.waiting_prompts().count(),
    }
    return render(request, "annotation/runs/training_new.html", context, status=status)


@roles.role_required(roles.ADMIN)
def generation_new(request):
    form = GenerationRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = runs.start_generation_run(
                name=form.cleaned_data["name"],
                conditions=list(form.cleaned_data["conditions"]),
                created_by=request.user,
                prompt_split=form.cleaned_data["prompt_split"],
                sampling=form.sampling(),
            )
        except runs.RunNameTaken as error:
            form.add_error("name", str(error))
        else:
            _say_queued(request, run, f"Generation run “{run.name}” is queued.")
            return redirect("run-list")
    return render(request, "annotation/runs/generation_new.html", {"form": form})


@roles.role_required(roles.ADMIN)
def training_loss_svg(request, pk: int):
    """The run's loss and learning rate per step so far; the runs page reloads it while it trains."""
    run = get_object_or_404(TrainingRun.objects.only("name", "progress_detail"), pk=pk)
    svg = plots.loss_curve_svg(run.progress_detail.get("loss_history", []), title=f"Training loss · {run.name}")
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"  # it changes at every step
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="loss-training-{run.pk}.svg"'
    return response


def refusal_on_form(form, error: Exception) -> int:
    """Show why a training run was not started on its form; the status the page answers with
    (409 while another run holds the base model)."""
    form.add_error("name" if isinstance(error, runs.RunNameTaken) else None, str(error))
    return 409 if isinstance(error, runs.BaseModelBusy) else 200


def _say_queued(request, run, text: str) -> None:
    """Tell the truth about the start: queued, or not sent because the broker was unreachable."""
    run.refresh_from_db(fields=["state", "error"])
    if run.state == JobState.FAILED:
        messages.error(request, f"“{run.name}” was saved but not started. {run.error}")
    else:
        messages.success(request, text)
