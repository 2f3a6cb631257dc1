"""Rating queue latency: next-item (claim_next) and submit (submit_rating), p50/p95, under load.

A round of 100,000 model responses (k = 3, so 300,000 slots) and 30 raters, each rater in its
own process with its own database connection. Phases:

  1 rater     one rater alone: the cost of a claim and a submit with no one else about
  paced       30 raters at once, each pausing 0.25-0.75 s between items (mean 0.5 s): 60
              items a second, far faster than people rate (a careful rating takes 20-60 s)
  flat out    30 raters at once with no pause at all: the machine's throughput, and the
              latency when every core is busy (latency here is queueing for the CPU)
  HTTP        one rater through the real pages: the rating page and the submit POST

each on a fresh round and again mid-round (the first level is full: every response has one
rating, spread over the raters, so each claim passes over items the rater already did).

Run on SQLite (a throwaway file) and on PostgreSQL (a throwaway database) in turn:

    python bench/bench_queue.py                       # both backends
    python bench/bench_queue.py --backend sqlite --responses 20000
    BENCH_POSTGRES_URL=postgres://user@host/db python bench/bench_queue.py --backend postgres

The baseline is a primary-key read of one slot from the same processes at the same time, so
`x pk-read` says how many plain round trips a claim costs under the same load. The target:
next-item p95 under 50 ms on PostgreSQL with 30 raters. The database server, the 30 rater
processes and this script share the machine's cores; their count is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/psychosafe"


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def _setup_django(test_name):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "psychosafe_site.settings")
    os.environ.setdefault("DEBUG", "1")  # the settings require it; a benchmark is a development run
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    database = connections.databases["default"]
    if database["ENGINE"].endswith("sqlite3"):
        test_name = str(settings.VAR_DIR / f"{test_name}.sqlite3")
    database["TEST"] = {**database.get("TEST", {}), "NAME": test_name}
    if database["ENGINE"].endswith("sqlite3"):
        # 30 writers queue on SQLite's one write lock; on a busy machine the settings' 30 s
        # busy timeout can run out while a process waits its turn. Waits show in the p95.
        database["OPTIONS"]["timeout"] = 600
        database["OPTIONS"]["init_command"] = database["OPTIONS"]["init_command"].replace(
            "busy_timeout=30000", "busy_timeout=600000"
        )


def _build(responses, raters, k):
    from django.contrib.auth import get_user_model

    from annotation import roles, rounds, rubrics
    from annotation.models import ModelCondition, Prompt, Response, RiskDomain, SystemPrompt

    roles.ensure_role_groups()
    domains = list(RiskDomain.objects.all())
    system_prompt = SystemPrompt.objects.order_by("pk").first()
    n_conditions = 5
    conditions = [
        ModelCondition.objects.create(name=f"bench-{i}", base_model="bench", system_prompt=system_prompt)
        for i in range(n_conditions)
    ]
    prompts = Prompt.objects.bulk_create(
        [
            Prompt(text=f"bench prompt {i}", domain=domains[i % len(domains)], split="validation")
            for i in range(responses // n_conditions)
        ],
        batch_size=5000,
    )
    Response.objects.bulk_create(
        [
            Response(prompt=p, condition=c, origin="model", text=f"response {p.pk}/{c.pk}")
            for p in prompts
            for c in conditions
        ],
        batch_size=5000,
    )
    users = get_user_model().objects.bulk_create([get_user_model()(username=f"rater{i}") for i in range(raters)])
    round = rounds.create_round(name="bench", rater_title="Bench", rubric=rubrics.default_rubric(), k=k, raters=users)
    rounds.add_responses(round=round, responses=rounds.model_responses(conditions=conditions))
    rounds.open_round(round=round)
    return round, users


def _fill_first_level(round, users):
    """Rate level 0 of every item by raw updates: each slot done, holders spread over the raters."""
    from django.db import connection

    from annotation.models import Slot

    table = Slot._meta.db_table
    ids = [u.pk for u in users]
    with connection.cursor() as cursor:
        for i, user_id in enumerate(ids):
            cursor.execute(
                f"UPDATE {table} SET state = 'done', holder_id = %s, lease_token = 'fill-' || id, "
                f"leased_at = CURRENT_TIMESTAMP, lease_expires_at = CURRENT_TIMESTAMP "
                f"WHERE round_id = %s AND level = 0 AND state = 'free' AND item_id %% %s = %s",
                [user_id, round.pk, len(ids), i],
            )


def _worker(args):
    """One rater: claim, read a slot by pk (the baseline), submit, pause; return the latencies."""
    import random

    round_id, user_id, iterations, pause = args
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation import queues
    from annotation.models import Round, Slot

    rng = random.Random(user_id)
    round = Round.objects.select_related("rubric").get(pk=round_id)
    rater = get_user_model().objects.get(pk=user_id)
    answers = {"refusal": "yes", "grounding": "4", "strategy": "other", "references": "yes", "relevance": "3"}
    claims, submits, baseline = [], [], []
    Slot.objects.filter(pk=0).exists()  # open the connection outside the timings
    if pause:
        time.sleep(rng.uniform(0, pause[1]))  # raters do not start in step
    for _ in range(iterations):
        start = time.perf_counter()
        slot = queues.claim_next(round=round, rater=rater)
        claims.append(time.perf_counter() - start)
        if slot is None:
            break
        start = time.perf_counter()
        Slot.objects.filter(pk=slot.pk).values_list("state", flat=True).first()
        baseline.append(time.perf_counter() - start)
        if pause:
            time.sleep(rng.uniform(*pause))
        start = time.perf_counter()
        queues.submit_rating(round=round, rater=rater, lease_token=slot.lease_token, answers=answers)
        submits.append(time.perf_counter() - start)
    connection.close()
    return claims, submits, baseline


def _phase(name, round, users, iterations, pause=None):
    import multiprocessing

    from django.db import connections

    connections.close_all()  # forked children must open their own connections
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(len(users)) as pool:
        results = pool.map(_worker, [(round.pk, u.pk, iterations, pause) for u in users])
    wall = time.perf_counter() - started
    claims = [x for r in results for x in r[0]]
    submits = [x for r in results for x in r[1]]
    baseline = [x for r in results for x in r[2]]
    base = _percentile(baseline, 0.5)
    print(
        f"  {name:<22} next-item p50 {_percentile(claims, 0.5):6.1f} ms  p95 {_percentile(claims, 0.95):6.1f} ms"
        f"   submit p50 {_percentile(submits, 0.5):6.1f} ms  p95 {_percentile(submits, 0.95):6.1f} ms"
        f"   pk-read p50 {base:5.2f} ms (next-item p50 = {_percentile(claims, 0.5) / base:4.1f}x pk-read)"
        f"   {len(submits)} ratings in {wall:.1f} s = {len(submits) / wall:.0f}/s",
        flush=True,
    )


def _admin_pages(round, rater):
    """The round dashboard's queries and a rater's progress count, once the round is this large."""
    from annotation import queues, rounds

    timings = {}
    for name, call in (
        ("dashboard report", lambda: rounds.round_report(round=round)),
        ("items below k", lambda: rounds.items_below_k(round=round)),
        ("rater progress", lambda: queues.progress(round=round, rater=rater)),
    ):
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            call()
            runs.append(time.perf_counter() - start)
        timings[name] = _percentile(runs, 0.5)
    print("  admin/page queries, median of 5: " + ", ".join(f"{k} {v:.0f} ms" for k, v in timings.items()), flush=True)


def _http_pages(round, rater, iterations):
    """One rater through the real pages (Django's test client, in this process): the rating
    page (claim, progress, the rubric form, rendering) and the submit POST with its redirect."""
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from annotation import roles
    from annotation.models import RoundRater

    rater.groups.add(Group.objects.get(name=roles.RATER))
    RoundRater.objects.filter(round=round, rater=rater).update(warned_at=timezone.now())
    client = Client()
    client.force_login(rater)
    work = reverse("rating-work", args=[round.public_id])
    submit = reverse("rating-submit", args=[round.public_id])
    answers = {"refusal": "yes", "grounding": "4", "strategy": "other", "references": "yes", "relevance": "3"}
    pages, posts = [], []
    for _ in range(5 * iterations):
        start = time.perf_counter()
        page = client.get(work)
        pages.append(time.perf_counter() - start)
        assert page.status_code == 200 and "slot" in page.context, page.status_code
        token = page.context["slot"].lease_token
        start = time.perf_counter()
        done = client.post(submit, {"lease": token, **answers})
        posts.append(time.perf_counter() - start)
        assert done.status_code == 302, done.status_code
    print(
        f"  {'1 rater over HTTP':<22} rating page p50 {_percentile(pages, 0.5):6.1f} ms  p95 {_percentile(pages, 0.95):6.1f} ms"
        f"   submit POST p50 {_percentile(posts, 0.5):6.1f} ms  p95 {_percentile(posts, 0.95):6.1f} ms",
        flush=True,
    )


def run_backend(backend, responses, raters, iterations, k):
    _setup_django("bench_psychosafe_queue")
    from django.db import connection
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    from annotation.models import Rating

    setup_test_environment()
    config = setup_databases(verbosity=0, interactive=False)
    try:
        started = time.perf_counter()
        round, users = _build(responses, raters, k)
        items = round.items.count()
        print(
            f"{backend}: {items} responses x k={k} ({round.slots.count()} slots), {raters} raters, "
            f"{os.cpu_count()} CPU cores; built in {time.perf_counter() - started:.0f} s"
        )
        pause = (0.25, 0.75)
        _phase("fresh, 1 rater", round, users[:1], 5 * iterations)
        _phase(f"fresh, {raters} paced", round, users, iterations, pause)
        _phase(f"fresh, {raters} flat out", round, users, iterations)
        _fill_first_level(round, users)
        _phase("mid-round, 1 rater", round, users[:1], 5 * iterations)
        _phase(f"mid-round, {raters} paced", round, users, iterations, pause)
        _phase(f"mid-round, {raters} flat out", round, users, iterations)
        _admin_pages(round, users[0])
        _http_pages(round, users[-1], iterations)
        from django.db.models import Count

        ratings = Rating.objects.filter(round=round)
        pairs = ratings.values("item_id", "rater_id").distinct().count()
        fullest = ratings.values("item_id").annotate(n=Count("id")).order_by("-n").values_list("n", flat=True).first()
        assert pairs == ratings.count() and (fullest or 0) <= k, "the queue broke an invariant under load"
    finally:
        connection.close()
        teardown_databases(config, verbosity=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--raters", type=int, default=30)
    parser.add_argument("--iterations", type=int, default=20, help="items each rater claims and rates per phase")
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args()
    if args.backend == "both":
        for backend in ("sqlite", "postgres"):
            command = [
                sys.executable,
                __file__,
                "--backend",
                backend,
                "--responses",
                str(args.responses),
                "--raters",
                str(args.raters),
                "--iterations",
                str(args.iterations),
                "--k",
                str(args.k),
            ]
            subprocess.run(command, check=True)
        return
    if args.backend == "postgres":
        os.environ["DATABASE_URL"] = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["PSYCHOSAFE_VAR_DIR"] = tempfile.mkdtemp(prefix="bench-queue-")
    run_backend(args.backend, args.responses, args.raters, args.iterations, args.k)


if __name__ == "__main__":
    main()
