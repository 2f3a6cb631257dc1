"""Admin pages for automatic judges: the registry (register, edit, next version) and judge runs
(start one, follow it, read its verdicts).

A judge with verdicts is frozen: its answers would change meaning, so its settings change only
by registering its next version. Cancel and retry of a run are the job views' (`annotation.views.jobs`).
Model output (a verdict's raw text, its parse errors) is shown escaped, always.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation import judging, roles
from annotation.forms.judges import JudgeForm, JudgeRunForm
from annotation.models import JobState, Judge, JudgeRun, Verdict

RUNS_LISTED = 50
VERDICTS_PER_PAGE = 50


def _judge_runs():
    return JudgeRun.objects.select_related("judge", "generation_run", "round", "created_by").prefetch_related(
        "conditions"
    )


@roles.role_required(roles.ADMIN)
def judge_list(request):
    judges = Judge.objects.select_related("rubric").annotate(n_verdicts=Count("verdicts"))
    runs = _judge_runs().order_by("-created_at")[:RUNS_LISTED]
    return render(request, "annotation/judges/list.html", {"judges": judges, "runs": runs})


@roles.role_required(roles.ADMIN)
def judge_new(request):
    form = JudgeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.instance.created_by = request.user
        if _saved(form):
            messages.success(request, f"Registered {form.instance}. Run it on a set of responses below.")
            return redirect("judge-list")
    return render(request, "annotation/judges/form.html", {"form": form})


@roles.role_required(roles.ADMIN)
def judge_edit(request, pk):
    judge = get_object_or_404(Judge.objects.select_related("rubric"), pk=pk)
    # The form writes posted values onto `judge`; the page names the judge as it is stored.
    title, name, n_verdicts = str(judge), judge.name, judge.verdicts.count()
    form = JudgeForm(request.POST or None, instance=judge, frozen=bool(n_verdicts))
    if request.method == "POST" and form.is_valid() and _saved(form):
        messages.success(request, f"Saved {judge}.")
        return redirect("judge-list")
    context = {"form": form, "judge_pk": pk, "title": title, "n_verdicts": n_verdicts}
    if n_verdicts:
        context["next_version"] = Judge.objects.filter(name=name).aggregate(latest=Max("version"))["latest"] + 1
    return render(request, "annotation/judges/form.html", context)


def _saved(form) -> bool:
    """Save through the registry's rule; a judge frozen since the page was loaded is a form error."""
    try:
        judging.save_judge(form.instance)
    except judging.JudgeFrozen as error:
        form.add_error(None, str(error))
    except ValidationError as error:
        form.add_error(None, error.messages)
    else:
        return True
    return False


@roles.role_required(roles.ADMIN)
@require_POST
def judge_new_version(request, pk):
    judge = get_object_or_404(Judge, pk=pk)
    try:
        with transaction.atomic():
            copy = judging.new_version(judge=judge, created_by=request.user)
    except IntegrityError:
        messages.error(request, f"Another version of “{judge.name}” was registered at the same moment; try again.")
        return redirect("judge-edit", pk=judge.pk)
    messages.success(
        request,
        f"Registered {copy} with the settings of v{judge.version}. Change them here; v{judge.version} "
        "keeps its verdicts.",
    )
    return redirect("judge-edit", pk=copy.pk)


@roles.role_required(roles.ADMIN)
def judge_run_new(request):
    form = JudgeRunForm(request.POST or None, initial={"judge": request.GET.get("judge")})
    if request.method == "POST" and form.is_valid():
        try:
            run = judging.start_judge_run(
                name=form.cleaned_data["name"],
                judge=form.cleaned_data["judge"],
                created_by=request.user,
                **form.scope(),
            )
        except judging.JudgeRunNameTaken as error:
            form.add_error("name", str(error))
        else:
            _say_queued(request, run)
            return redirect("judge-run-detail", pk=run.pk)
    return render(request, "annotation/judges/run_new.html", {"form": form})


def _say_queued(request, run) -> None:
    """Tell the truth about the start: queued, or saved but not sent because the broker was unreachable."""
    run.refresh_from_db(fields=["state", "error"])
    if run.state == JobState.FAILED:
        messages.error(request, f"“{run.name}” was saved but not started. {run.error}")
    else:
        messages.success(request, f"Judge run “{run.name}” is queued: {run.judge} scores {run.get_scope_display()}.")


@roles.role_required(roles.ADMIN)
def judge_run_detail(request, pk):
    run = get_object_or_404(_judge_runs().select_related("judge__rubric"), pk=pk)
    status = request.GET.get("status", "")
    verdicts = _verdicts(run)
    if status in Verdict.Status.values:
        verdicts = verdicts.filter(status=status)
    else:
        status = ""
    page = Paginator(verdicts, VERDICTS_PER_PAGE).get_page(request.GET.get("page"))
    keys = _answered_keys(run, page)
    context = {
        "run": run,
        "judge": run.judge,
        "identity": judging.identity(run.judge),
        "counts": {**judging.verdict_counts(run), "failed": run.progress_detail.get("failed", 0)},
        "status": status,
        "statuses": Verdict.Status.choices,
        "page": page,
        "keys": keys,
        "rows": [(verdict, [_shown(verdict.answers, key) for key in keys]) for verdict in page],
        "unparseable": [verdict for verdict in page if verdict.status == Verdict.Status.UNPARSEABLE],
    }
    return render(request, "annotation/judges/run_detail.html", context)


def _verdicts(run: JudgeRun):
    """The verdicts `judging.verdict_counts` counts: the run's judge on the run's responses
    (one per response, whichever run of this judge wrote it)."""
    return (
        Verdict.objects.filter(
            judge=run.judge_id, rubric=run.judge.rubric_id, response__in=run.responses().values("pk")
        )
        .select_related("response__prompt", "response__condition")
        .order_by("response_id")
    )


def _answered_keys(run: JudgeRun, page) -> list[str]:
    """The rubric's criterion keys (in rubric order) that some verdict on the page answers; a
    deterministic judge answers only two of them."""
    answered = {key for verdict in page for key in (verdict.answers or {})}
    return [key for key in run.judge.rubric.criteria.values_list("key", flat=True) if key in answered]


def _shown(answers: dict | None, key: str) -> str:
    value = (answers or {}).get(key)
    if value is None:
        return ""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
