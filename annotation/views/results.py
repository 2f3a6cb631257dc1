"""Results pages: a round's scores per condition, criterion and domain (humans and each judge), as
tables and server-rendered SVG plots, and the trend across rounds.

The numbers come from `annotation.reporting`, computed once per round, filters and data version
and kept in the cache, so a page and its plots never compute them twice.
"""

import pandas as pd
from django.core.cache import cache
from django.db.models import Count, Max
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from annotation import plots, reporting, roles
from annotation.models import Rating, Round, RoundItem, Verdict
from modeling.stats import ALL, QUALITY

PLOTS = ("bars", "heatmap", "confusion")


def _get_round(round_id: int) -> Round:
    round = get_object_or_404(Round.objects.select_related("rubric"), pk=round_id)
    if round.rubric is None:
        raise Http404("A pairwise round has no rubric scores; its export holds the preferences.")
    return round


def _data_version(round: Round) -> str:
    """Changes whenever a rating or a verdict of the round is added (or removed)."""
    ratings = Rating.objects.filter(round=round).aggregate(n=Count("id"), last=Max("id"))
    verdicts = Verdict.objects.filter(response__round_items__round=round).aggregate(n=Count("id"), last=Max("id"))
    excluded = RoundItem.objects.filter(round=round, excluded_at__isnull=False).count()
    return f"{ratings['n']}-{ratings['last']}-{verdicts['n']}-{verdicts['last']}-{excluded}"


def results_for(round: Round, request) -> reporting.RoundResults:
    filters = {key: request.GET.get(key, "") for key in ("domain", "locale", "baseline")}
    key = _cache_key(round, filters.values())
    results = cache.get(key)
    if results is None:
        results = reporting.round_results(round=round, **filters)
        cache.set(key, results, timeout=3600)
    return results


def _cache_key(round: Round, filters) -> str:
    """The round (by public id: a pk can come back after a rollback), its data version and the
    filters, hashed so that any filter value makes a key every cache backend accepts."""
    import hashlib

    digest = hashlib.sha256("\x1f".join(filters).encode()).hexdigest()[:32]
    return f"round-results:{round.public_id}:{_data_version(round)}:{digest}"


@roles.role_required(roles.ADMIN)
def round_results(request, round_id: int):
    round = _get_round(round_id)
    results = results_for(round, request)
    criterion = request.GET.get("criterion") or QUALITY
    if criterion not in results.numeric_criteria:
        criterion = QUALITY
    heat_source = results.source(request.GET.get("source", reporting.HUMANS)) or (
        results.sources[0] if results.sources else None
    )
    heat = (
        domain_matrix(heat_source.summaries, criterion=criterion, conditions=results.conditions)
        if heat_source
        else pd.DataFrame()
    )
    context = {
        "round": round,
        "results": results,
        "heat_source": heat_source,
        "heat_rows": [{"domain": d, "values": list(row)} for d, row in heat.iterrows()],
        "sources": [_source_view(results, source) for source in results.sources],
        "side_by_side": _side_by_side(results),
        "criterion": criterion,
        "query": request.GET.urlencode(),
        "quality_definition": QUALITY_DEFINITION,
        "agreement": _agreement_view(results),
    }
    return render(request, "annotation/results/round.html", context)


QUALITY_DEFINITION = (
    "Overall quality is the Studio's own definition (the paper does not publish one): the unweighted mean of "
    "the rubric's yes/no and scale criteria, each scaled to 0..1 (yes = 1, no = 0; a grade g on 1..n becomes "
    "(g − 1) / (n − 1)), per response; a response missing one of them has no overall score."
)


def _rows(frame: pd.DataFrame, *, domain: str = ALL) -> list[dict]:
    if frame.empty:
        return []
    return frame[frame["domain"] == domain].to_dict("records")


def _source_view(results: reporting.RoundResults, source: reporting.SourceResults) -> dict:
    return {
        "source": source.source,
        "label": source.label,
        "summaries": _rows(source.summaries),
        "improvements": _rows(source.improvements),
        "over_refusal": _rows(source.over_refusal),
        "shares": _rows(source.shares),
    }


def _records(frame) -> list[dict]:
    return [] if frame is None or frame.empty else frame.to_dict("records")


def _agreement_view(results: reporting.RoundResults) -> dict | None:
    panel = results.agreement
    if panel is None:
        return None
    confusions = [
        {
            "judge": judge,
            "criterion": criterion,
            "labels": [str(c) for c in matrix.columns],
            "rows": [{"label": str(label), "counts": list(counts)} for label, counts in matrix.iterrows()],
        }
        for (judge, criterion), matrix in panel.confusions.items()
    ]
    return {
        "alpha": _records(panel.alpha),
        "observed": _records(panel.observed),
        "kappa": _records(panel.kappa),
        "raters": _records(panel.raters),
        "gold": _records(panel.gold),
        "judges": _records(panel.judges),
        "confusions": confusions,
    }


def _side_by_side(results: reporting.RoundResults) -> list[dict]:
    """Per condition × criterion, every source's estimate, interval and n, in one row."""
    rows = []
    for condition in results.conditions:
        for criterion in results.numeric_criteria:
            cells = [reporting.cell(s.summaries, condition=condition, criterion=criterion) for s in results.sources]
            if any(cells):
                rows.append({"condition": condition, "criterion": criterion, "cells": cells})
    return rows


@roles.role_required(roles.ADMIN)
def round_results_plot(request, round_id: int, plot: str):
    if plot not in PLOTS:
        raise Http404("No such plot.")
    round = _get_round(round_id)
    results = results_for(round, request)
    source = results.source(request.GET.get("source", reporting.HUMANS)) or (
        results.sources[0] if results.sources else None
    )
    summaries = source.summaries if source else pd.DataFrame()
    label = source.label if source else "no scores"
    if plot == "confusion":
        judge, criterion = request.GET.get("judge", ""), request.GET.get("criterion", "")
        matrix = (results.agreement.confusions if results.agreement else {}).get((judge, criterion))
        if matrix is None:
            raise Http404("No such judge and criterion in this round.")
        svg = plots.confusion_svg(matrix, title=f"{criterion} · {judge.removeprefix('judge:')} vs humans")
    elif plot == "bars":
        svg = plots.bars_svg(
            summaries[summaries["domain"] == ALL] if not summaries.empty else summaries,
            criteria=results.numeric_criteria,
            conditions=results.conditions,
            title=f"{round.name} · {label}" + (f" · {results.domain}" if results.domain else ""),
        )
    else:
        criterion = request.GET.get("criterion") or QUALITY
        svg = plots.heatmap_svg(
            domain_matrix(summaries, criterion=criterion, conditions=results.conditions),
            title=f"{criterion.replace('_', ' ')} by domain · {label}",
        )
    response = HttpResponse(svg, content_type="image/svg+xml")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="round-{round.pk}-{plot}.svg"'
    return response


def domain_matrix(summaries: pd.DataFrame, *, criterion: str, conditions: list[str]) -> pd.DataFrame:
    """Rows: domains; columns: conditions; cells: the criterion's estimate (NaN where unrated)."""
    if summaries.empty:
        return pd.DataFrame()
    rows = summaries[(summaries["criterion"] == criterion) & (summaries["domain"] != ALL)]
    return rows.pivot(index="domain", columns="condition", values="estimate").reindex(columns=conditions)


def _trend(criterion: str, source: str) -> tuple[dict, list[Round]]:
    """Per condition, its estimate on `criterion` (all domains) in each round with scores, oldest first."""
    series: dict[str, list] = {}
    rounds = list(Round.objects.filter(rubric__isnull=False).select_related("rubric").order_by("created_at"))
    shown = []
    for round in rounds:
        key = _cache_key(round, ("", "", ""))
        results = cache.get(key)
        if results is None:
            results = reporting.round_results(round=round)
            cache.set(key, results, timeout=3600)
        scores = results.source(source)
        if scores is None or scores.summaries.empty:
            continue
        shown.append(round)
        for condition in results.conditions:
            c = reporting.cell(scores.summaries, condition=condition, criterion=criterion)
            if c:
                series.setdefault(condition, []).append((round.name, c["estimate"], c["ci_low"], c["ci_high"]))
    return series, shown


@roles.role_required(roles.ADMIN)
def results_overview(request):
    from annotation.models import ModelCondition

    criterion = request.GET.get("criterion") or QUALITY
    source = request.GET.get("source") or reporting.HUMANS
    series, rounds = _trend(criterion, source)
    context = {
        "criterion": criterion,
        "source": source,
        "series": series,
        "rounds": rounds,
        "query": request.GET.urlencode(),
        "conditions": ModelCondition.objects.select_related("parent__parent", "adapter").order_by("created_at"),
        "criteria": sorted({QUALITY, "refusal", "grounding", "references", "relevance"}),
    }
    return render(request, "annotation/results/overview.html", context)


@roles.role_required(roles.ADMIN)
def results_trend_svg(request):
    criterion = request.GET.get("criterion") or QUALITY
    source = request.GET.get("source") or reporting.HUMANS
    series, _ = _trend(criterion, source)
    svg = plots.trend_svg(
        series, title=f"{criterion.replace('_', ' ')} across rounds · {source}", ylabel=criterion.replace("_", " ")
    )
    response = HttpResponse(svg, content_type="image/svg+xml")
    if request.GET.get("download"):
        response["Content-Disposition"] = 'attachment; filename="trend.svg"'
    return response


def _data_uri(svg: str) -> str:
    import base64

    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@roles.role_required(roles.ADMIN)
def round_report(request, round_id: int):
    """The round as one self-contained HTML page (plots embedded), printable to PDF."""
    from django.utils import timezone

    round = _get_round(round_id)
    results = results_for(round, request)
    bars = [
        {
            "label": source.label,
            "uri": _data_uri(
                plots.bars_svg(
                    source.summaries[source.summaries["domain"] == ALL]
                    if not source.summaries.empty
                    else source.summaries,
                    criteria=results.numeric_criteria,
                    conditions=results.conditions,
                    title=source.label,
                )
            ),
        }
        for source in results.sources
    ]
    heatmaps = [
        {
            "label": source.label,
            "uri": _data_uri(
                plots.heatmap_svg(
                    domain_matrix(source.summaries, criterion=QUALITY, conditions=results.conditions),
                    title=f"overall quality by domain · {source.label}",
                )
            ),
        }
        for source in results.sources
        if not source.summaries.empty
    ]
    confusions = [
        {
            "judge": judge,
            "criterion": criterion,
            "uri": _data_uri(plots.confusion_svg(matrix, title=f"{criterion} · {judge}")),
        }
        for (judge, criterion), matrix in (results.agreement.confusions if results.agreement else {}).items()
    ]
    context = {
        "round": round,
        "results": results,
        "sources": [_source_view(results, source) for source in results.sources],
        "agreement": _agreement_view(results),
        "bars": bars,
        "heatmaps": heatmaps,
        "confusions": confusions,
        "provenance": reporting.provenance(round),
        "checksums": reporting.export_checksums(results.frame),
        "n_ratings": _n_ratings(results.frame),
        "quality_definition": QUALITY_DEFINITION,
        "generated_at": timezone.now(),
    }
    response = render(request, "annotation/results/report.html", context)
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="round-{round.pk}-report.html"'
    return response


def _n_ratings(frame: pd.DataFrame) -> int:
    """Human ratings in the tidy table (it has one row per rating × criterion)."""
    if frame.empty:
        return 0
    return len(frame.loc[frame["rater_kind"] == "human", ["rater", "item"]].drop_duplicates())
