"""Benchmark runs in the browser: choose a prompt set and conditions, follow generation and
classification, label the audit queue, read the report. The work is `annotation.benchmarks`'."""

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render

from annotation import benchmarks, roles
from annotation.forms.benchmarks import AuditForm, BenchmarkRunForm
from annotation.models import AuditItem, BenchmarkRun, JobState


def _get_run(pk: int) -> BenchmarkRun:
    return get_object_or_404(BenchmarkRun.objects.select_related("generation_run", "judge", "classification"), pk=pk)


@roles.role_required(roles.ADMIN)
def benchmark_list(request):
    context = {
        "runs": BenchmarkRun.objects.select_related("generation_run", "judge", "classification")
        .annotate(audit_total=Count("audit_items"))
        .order_by("-created_at")[:50],
        "prompt_sets": benchmarks.prompt_sets(),
    }
    return render(request, "annotation/benchmarks/list.html", context)


@roles.role_required(roles.ADMIN)
def benchmark_new(request):
    form = BenchmarkRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = benchmarks.start_benchmark_run(
                name=form.cleaned_data["name"],
                benchmark=form.cleaned_data["benchmark"],
                conditions=form.cleaned_data["conditions"],
                judge=form.cleaned_data["judge"],
                audit_sample=form.cleaned_data["audit_sample"],
                seed=form.cleaned_data["seed"],
                sampling=form.sampling(),
                created_by=request.user,
            )
        except (benchmarks.BenchmarkRunNameTaken, benchmarks.NoBenchmarkPrompts) as error:
            form.add_error("name" if isinstance(error, benchmarks.BenchmarkRunNameTaken) else "benchmark", str(error))
        else:
            generation = run.generation_run
            generation.refresh_from_db(fields=["state", "error"])
            if generation.state == JobState.FAILED:
                messages.error(request, f"“{run.name}” was saved but not started. {generation.error}")
            else:
                messages.success(
                    request, f"Benchmark run “{run.name}” is queued: generation first, then classification."
                )
            return redirect("benchmark-detail", pk=run.pk)
    return render(request, "annotation/benchmarks/new.html", {"form": form, "prompt_sets": benchmarks.prompt_sets()})


@roles.role_required(roles.ADMIN)
def benchmark_detail(request, pk: int):
    run = _get_run(pk)
    classification = getattr(run, "classification", None)
    context = {
        "run": run,
        "classification": classification,
        "classified": classification is not None and classification.state == JobState.SUCCEEDED,
        "responses": run.generation_run.responses.count(),
        "audit": benchmarks.audit_counts(run),
        "kind": benchmarks.kind_of(run.benchmark),
    }
    return render(request, "annotation/benchmarks/detail.html", context)


@roles.role_required(roles.ADMIN)
def benchmark_audit(request, pk: int):
    run = _get_run(pk)
    if request.method == "POST":
        form = AuditForm(request.POST)
        if form.is_valid():
            item = get_object_or_404(AuditItem, pk=form.cleaned_data["item"], run=run)
            if not benchmarks.record_audit(item=item, label=form.cleaned_data["label"], user=request.user):
                messages.info(request, "Someone labelled that response meanwhile; here is the next one.")
            return redirect("benchmark-audit", pk=run.pk)
    item = benchmarks.next_audit_item(run)
    form = AuditForm(initial={"item": item.pk}) if item else None
    context = {"run": run, "item": item, "form": form, "audit": benchmarks.audit_counts(run)}
    return render(request, "annotation/benchmarks/audit.html", context)


@roles.role_required(roles.ADMIN)
def benchmark_report(request, pk: int):
    run = _get_run(pk)
    report = benchmarks.report(run)
    sections = [
        {
            "label": section.label,
            "classifier": section.classifier,
            "labelled": section.labelled,
            "unparseable": section.unparseable,
            "rates": section.rates.to_dict("records") if not section.rates.empty else [],
            "accuracy": section.accuracy,
            "confusion": [{"human": human, "counts": list(row)} for human, row in section.confusion.iterrows()]
            if section.confusion is not None
            else [],
            "confusion_labels": list(section.confusion.columns) if section.confusion is not None else [],
        }
        for section in report.classifiers
    ]
    context = {"run": run, "report": report, "sections": sections}
    return render(request, "annotation/benchmarks/report.html", context)
