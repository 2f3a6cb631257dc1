"""The results page of a round with 100,000 ratings: the computation behind it, cold and warm.

    python bench/bench_results.py                    # the issue's 100,000 ratings (see below)
    python bench/bench_results.py --ratings 100000   # five times that: 100,000 Rating rows
    python bench/bench_results.py --profile 30       # also: cProfile's top 30 of the computation

What "100,000 ratings" counts here: 100,000 rated criteria, i.e. 20,000 Rating rows (--ratings),
each answering the five measured criteria of the PsychoSafe rubric (refusal, references,
grounding, relevance, strategy; the free-text comment is left blank). The round: 4 conditions
x 1,250 prompts (spread over the five risk domains, one in five a benign control the model
should not refuse) = 5,000 responses, k = 4 ratings each from a pool of 20 raters, every slot
done; plus one verdict of the deterministic judge (refusal and references) per response.
Answers are drawn from a seeded rng with a condition effect and rater noise, so alpha and kappa
are neither 0 nor 1. --ratings scales the prompts (k, raters and conditions stay).

Everything lives in a temporary folder (a fresh SQLite database under PSYCHOSAFE_VAR_DIR),
removed at the end; DATABASE_URL and CELERY_BROKER_URL are unset for this process. The cache is
not used: the figures are stored in the database (annotation.figures).

Timed (wall clock, this process):

  tidy read     annotation.results.tidy_ratings(round=...) alone: the round's answers read from
                the database into the tidy table, the first step of the computation.
  computation   reporting.round_results(round=...): the tidy table read from the database and
                every statistic of the page (pandas, scipy, krippendorff) - the baseline; every
                other figure is also printed as a ratio to it.
  precompute    annotation.figures.compute: the computation plus storing its figures (what the
                background task `studio.warm_round_results` spends, off the request path).
  page cold     GET /rounds/<id>/results/ as an admin with no stored figures (3 times: median
                and worst): the first view ever of the round computes them in the request.
  page warm     the same GET 20 times with current stored figures (p50, p95): every view once
                the background task has computed them.
  page stale    20 GETs after one more verdict (p50, p95): the stored figures are shown as old
                and one recomputation is queued; the page does not wait for it.
  plots         the bars and heatmap SVGs with current stored figures.

Wall-clock time is the figure; the CPU column (this process's CPU time) shows how much of it
was this process working rather than waiting for a core another process held.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONDITIONS = 4
RATERS = 20
K = 4
WARM_REQUESTS = 20
COLD_REQUESTS = 3
TARGET_SECONDS = 1.0


def _setup(tmp: Path) -> None:
    """Django on a fresh, migrated SQLite database in `tmp`; the test client's host allowed."""
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="psychosafe_site.settings",
        PSYCHOSAFE_VAR_DIR=str(tmp / "var"),
        PSYCHOSAFE_ADAPTERS_DIR=str(tmp / "adapters"),
    )
    os.environ.setdefault("DEBUG", "1")  # the settings require it; a benchmark is a development run
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", verbosity=0)


def build_round(n_ratings: int):
    """A done round of `n_ratings` ratings (see the module docstring) and one judge's verdicts."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from annotation import roles, rounds, rubrics
    from annotation.models import (
        InterventionStrategy,
        Judge,
        ModelCondition,
        Prompt,
        Rating,
        Response,
        RiskDomain,
        RoundItem,
        Slot,
        SystemPrompt,
        Verdict,
    )

    rng = np.random.default_rng(0)
    roles.ensure_role_groups()
    admin = get_user_model().objects.create_user("bench-admin", password="x", is_staff=True)
    admin.groups.add(Group.objects.get(name=roles.ADMIN))
    raters = [get_user_model().objects.create_user(f"bench-rater-{i:02d}", password="x") for i in range(RATERS)]
    system_prompt = SystemPrompt.objects.get(key="none", version=1)
    conditions = [
        ModelCondition.objects.create(name=f"bench-condition-{i}", base_model="bench-base", system_prompt=system_prompt)
        for i in range(CONDITIONS)
    ]
    domains = list(RiskDomain.objects.order_by("slug"))
    strategies = [*InterventionStrategy.objects.values_list("key", flat=True)[:5], "other", "none"]
    n_prompts = -(-n_ratings // (CONDITIONS * K))

    prompts = Prompt.objects.bulk_create(
        [
            Prompt(text=f"bench prompt {i}", domain=domains[i % len(domains)], should_refuse=i % 5 != 0)
            for i in range(n_prompts)
        ],
        batch_size=2000,
    )
    responses = Response.objects.bulk_create(
        [
            Response(prompt=p, condition=c, origin=Response.Origin.MODEL, text=f"bench answer {p.pk}/{c.pk}")
            for p in prompts
            for c in conditions
        ],
        batch_size=2000,
    )
    round = rounds.create_round(
        name="bench-results", rater_title="Bench", rubric=rubrics.default_rubric(), k=K, raters=raters
    )
    rounds.add_responses(round=round, responses=responses)
    rounds.open_round(round=round)

    items = {item.response_id: item for item in RoundItem.objects.filter(round=round)}
    slots = {}
    for slot in Slot.objects.filter(round=round).only("id", "item_id", "number"):
        slots[(slot.item_id, slot.number)] = slot
    quality = {c.pk: q for c, q in zip(conditions, np.linspace(-0.6, 0.6, CONDITIONS), strict=True)}
    now = timezone.now()
    ratings, done, served = [], [], [0] * RATERS
    for response in responses:
        if len(ratings) >= n_ratings:
            break
        item = items[response.pk]
        latent = quality[response.condition_id] + rng.normal(0, 0.8)
        who = rng.choice(RATERS, size=K, replace=False)
        for number, rater_index in enumerate(who):
            if len(ratings) >= n_ratings:
                break
            slot = slots[(item.pk, number)]
            slot.state, slot.holder, slot.lease_token = Slot.State.DONE, raters[rater_index], f"bench-{slot.pk}"
            done.append(slot)
            noisy = latent + rng.normal(0, 0.7)
            answers = {
                "refusal": "yes" if noisy + rng.normal(0, 0.5) > 0 else "no",
                "references": "yes" if noisy + rng.normal(0, 0.8) > 0.3 else "no",
                "grounding": str(int(np.clip(np.rint(3 + noisy), 1, 5))),
                "relevance": str(int(np.clip(np.rint(3 + 0.8 * noisy + rng.normal(0, 0.5)), 1, 5))),
                "strategy": strategies[int(abs(latent * 3)) % len(strategies)]
                if rng.random() < 0.7
                else strategies[int(rng.integers(len(strategies)))],
            }
            served[rater_index] += 1
            ratings.append(
                Rating(
                    round=round,
                    item=item,
                    slot=slot,
                    response=response,
                    rater=raters[rater_index],
                    rubric=round.rubric,
                    answers=answers,
                    display_position=served[rater_index],
                    shown_at=now,
                    submitted_at=now,
                    seconds_on_item=30.0,
                    idempotency_key=slot.lease_token,
                )
            )
    Slot.objects.bulk_update(done, ["state", "holder", "lease_token"], batch_size=2000)
    Rating.objects.bulk_create(ratings, batch_size=2000)

    judge = Judge.objects.get(kind=Judge.Kind.DETERMINISTIC)
    judged = {rating.response.pk: rating.answers for rating in ratings[::K]}
    Verdict.objects.bulk_create(
        [
            Verdict(
                response_id=response_id,
                judge=judge,
                rubric=judge.rubric,
                kind="deterministic",
                status=Verdict.Status.OK,
                answers={
                    "refusal": answers["refusal"] if rng.random() < 0.85 else "no",
                    "references": answers["references"] if rng.random() < 0.75 else "yes",
                },
            )
            for response_id, answers in judged.items()
        ],
        batch_size=2000,
    )
    return round, admin, len(ratings), len(judged)


def _timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _cpu_timed(call) -> tuple[float, float, object]:
    """(wall, CPU seconds of this process, result): CPU time reads through other load on the machine."""
    cpu = time.process_time()
    wall, result = _timed(call)
    return wall, time.process_time() - cpu, result


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def measure(round, admin, *, profile: int) -> dict:
    """Every timing of the table, in seconds."""
    from django.test import Client
    from django.urls import reverse

    from annotation import figures, reporting
    from annotation.models import Judge, RoundFigures, Verdict
    from annotation.results import tidy_ratings

    tidy, tidy_cpu, _ = _cpu_timed(lambda: tidy_ratings(round=round))
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
    computation, computation_cpu, results = _cpu_timed(lambda: reporting.round_results(round=round))
    if profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
    client = Client()
    client.force_login(admin)
    page = reverse("round-results", args=[round.pk])
    precompute, _ = _timed(lambda: figures.compute(round, {}, version=figures.data_version(round)))
    version, _ = _timed(lambda: figures.data_version(round))
    cold, cold_cpu = [], []
    for _ in range(COLD_REQUESTS):
        RoundFigures.objects.all().delete()
        seconds, cpu, response = _cpu_timed(lambda: client.get(page))
        assert response.status_code == 200, response.status_code
        cold.append(seconds)
        cold_cpu.append(cpu)
    warm, warm_cpu = [], []
    for _ in range(WARM_REQUESTS):
        seconds, cpu, response = _cpu_timed(lambda: client.get(page))
        assert response.status_code == 200
        warm.append(seconds)
        warm_cpu.append(cpu)
    stale = []
    # A live worker on the default queue (its heartbeat row), as in a deployment: stale figures are
    # shown and their recomputation queued, not computed in the request.
    from django.conf import settings
    from django.utils import timezone

    from annotation.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(hostname="bench@host", queues=[settings.DEFAULT_QUEUE], last_seen=timezone.now())
    # One more verdict (a second judge on one response): the stored figures are now one version old.
    first = Verdict.objects.filter(response__round_items__round=round).select_related("judge").first()
    second = Judge.objects.create(name="bench-second-judge", kind=Judge.Kind.DETERMINISTIC, rubric=first.judge.rubric)
    Verdict.objects.create(
        response=first.response,
        judge=second,
        rubric=first.rubric,
        kind="deterministic",
        status="ok",
        answers={"refusal": "no"},
    )
    for _ in range(WARM_REQUESTS):
        seconds, response = _timed(lambda: client.get(page))
        assert response.status_code == 200 and b"figures-stale" in response.content
        stale.append(seconds)
    figures.warm(round.pk, {})  # what the queued task does
    plots = {}
    for plot in ("bars", "heatmap"):
        url = reverse("round-results-plot", args=[round.pk, plot])
        times = []
        for _ in range(5):
            seconds, response = _timed(lambda url=url: client.get(url))
            assert response.status_code == 200
            times.append(seconds)
        plots[plot] = statistics.median(times)
    return {
        "tidy": tidy,
        "tidy_cpu": tidy_cpu,
        "computation": computation,
        "computation_cpu": computation_cpu,
        "page_cold": statistics.median(cold),
        "page_cold_cpu": statistics.median(cold_cpu),
        "page_cold_worst": max(cold),
        "warm_p50": statistics.median(warm),
        "warm_p95": _p95(warm),
        "warm_cpu_p50": statistics.median(warm_cpu),
        "warm_cpu_p95": _p95(warm_cpu),
        "stale_p50": statistics.median(stale),
        "stale_p95": _p95(stale),
        "precompute": precompute,
        "data_version": version,
        "plots": plots,
        "sources": len(results.sources),
        "tidy_rows": results.n_rows,
    }


def report(figures: dict, n_ratings: int, n_verdicts: int, build_seconds: float) -> None:
    base = figures["computation"]

    def line(what: str, seconds: float, cpu: float | None = None) -> None:
        cpu_ms = f"{cpu * 1000:10.1f}" if cpu is not None else f"{'':10s}"
        print(f"{what:38s} {seconds * 1000:10.1f} {seconds / base:10.3f} {cpu_ms}")

    print(
        f"\n{n_ratings:,} Rating rows x 5 criteria = {5 * n_ratings:,} rated criteria ({K} ratings per response,"
        f" {RATERS} raters, {CONDITIONS} conditions), {n_verdicts:,} judge verdicts; tidy table"
        f" {figures['tidy_rows']:,} rows; built in {build_seconds:.1f} s; {os.cpu_count()} CPUs"
    )
    print(f"{'':38s} {'ms':>10s} {'/ comput.':>10s} {'CPU ms':>10s}")
    line("computation (round_results, cold)", base, figures["computation_cpu"])
    line("  of which the tidy table read", figures["tidy"], figures["tidy_cpu"])
    line("precompute (background task)", figures["precompute"])
    line("  data version query (every view)", figures["data_version"])
    line(f"page cold median ({COLD_REQUESTS}, nothing stored)", figures["page_cold"], figures["page_cold_cpu"])
    line(f"page cold worst ({COLD_REQUESTS})", figures["page_cold_worst"])
    line(f"page warm p50 ({WARM_REQUESTS} requests)", figures["warm_p50"], figures["warm_cpu_p50"])
    line(f"page warm p95 ({WARM_REQUESTS} requests)", figures["warm_p95"], figures["warm_cpu_p95"])
    line(f"page stale p50 ({WARM_REQUESTS}, one verdict newer)", figures["stale_p50"])
    line(f"page stale p95 ({WARM_REQUESTS}, one verdict newer)", figures["stale_p95"])
    for plot, seconds in figures["plots"].items():
        line(f"plot {plot}.svg warm (median of 5)", seconds)
    for what, seconds in (
        ("page warm p95", figures["warm_p95"]),
        ("page stale p95", figures["stale_p95"]),
        ("page cold (worst)", figures["page_cold_worst"]),
    ):
        verdict = "under" if seconds < TARGET_SECONDS else "NOT under"
        print(
            f"{what}: {seconds:.3f} s ({seconds / base:.3f} x the computation), {verdict} the {TARGET_SECONDS:.0f} s target"
        )
    print(
        "Views read stored figures (warm, or stale while the background task recomputes them); only the first"
        " view ever of a round and filters, before any stored figures exist, computes in the request (cold)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=20_000, help="Rating rows (x 5 criteria answered)")
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N of the computation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-results-") as tmp_name:
        _setup(Path(tmp_name))
        from django.db import connections

        build_seconds, (round, admin, n_ratings, n_verdicts) = _timed(lambda: build_round(args.ratings))
        figures = measure(round, admin, profile=args.profile)
        report(figures, n_ratings, n_verdicts, build_seconds)
        connections.close_all()


if __name__ == "__main__":
    main()
