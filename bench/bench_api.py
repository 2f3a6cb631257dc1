"""Rating through the API against rating through the pages: next item -> submit, 1 and 30 raters.

Both paths run in the same run against one gunicorn server (several worker processes) on
PostgreSQL, each on a fresh round of the same size:

  API   POST /api/v1/rating/<round>/next/ (JSON item), then POST …/submit/ (JSON answers),
        with a personal API token
  HTML  GET /rate/<round>/ (the rating page: claim, progress, rubric form, rendering), then
        the submit form POST with its CSRF token and redirect (not followed)

with 1 rater alone and 30 raters at once (threads in this process, each with its own HTTP
connection; raters rate flat out, no pause). A "cycle" is one next + one submit; figures are
per cycle, p50 and p95, and the HTML/API ratio of the medians.

    python bench/bench_api.py                             # PostgreSQL at BENCH_POSTGRES_URL
    BENCH_POSTGRES_URL=postgres://user@host/db python bench/bench_api.py --workers 4 --cycles 20

The API's per-client limit would stop 30 raters on one address; the server here runs with it
raised. The database server, gunicorn and the 30 client threads share the machine's cores;
their count is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/psychosafe_api"
PASSWORD = "bench-password-not-secret-9f3k"
ANSWERS = {"refusal": "yes", "grounding": "4", "strategy": "other", "references": "yes", "relevance": "3"}
LEASE = re.compile(r'name="lease" value="([^"]+)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def _setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "psychosafe_site.settings")
    os.environ.setdefault("DEBUG", "1")  # the settings require it; a benchmark is a development run
    import django

    django.setup()
    from django.db import connections

    database = connections.databases["default"]
    creation = connections["default"].creation
    name = creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    return database, name


def _raters(n):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from annotation import roles
    from annotation.api import tokens

    group = Group.objects.get(name=roles.RATER)
    users = []
    for i in range(n):
        user = get_user_model().objects.create_user(username=f"bench-rater-{i}", password=PASSWORD)
        group.user_set.add(user)
        users.append((user, tokens.create_token(user=user, name="bench")[1]))
    return users


def _round(name, users, responses):
    from django.utils import timezone

    from annotation import rounds, rubrics
    from annotation.models import ModelCondition, Prompt, Response, RiskDomain, RoundRater, SystemPrompt

    system_prompt = SystemPrompt.objects.filter(key="psychosafe").first()
    condition, _ = ModelCondition.objects.get_or_create(
        name="bench-condition", defaults={"base_model": "bench", "system_prompt": system_prompt}
    )
    domains = list(RiskDomain.objects.all())
    prompts = Prompt.objects.bulk_create(
        Prompt(text=f"{name} prompt {i}", domain=domains[i % len(domains)], split="validation")
        for i in range(responses)
    )
    outputs = Response.objects.bulk_create(
        Response(prompt=p, condition=condition, origin="model", text=f"A supportive refusal {p.pk}.") for p in prompts
    )
    round = rounds.create_round(
        name=name, rater_title="Bench", rubric=rubrics.default_rubric(), k=3, raters=[u for u, _ in users]
    )
    rounds.add_responses(round=round, responses=outputs)
    rounds.open_round(round=round)
    RoundRater.objects.filter(round=round).update(warned_at=timezone.now())
    return round


def _serve(db_name, workers, port):
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{db_name}",
        "PSYCHOSAFE_API_CLIENT_RATE": "1000000/min",
        "PSYCHOSAFE_API_TOKEN_RATE": "1000000/min",
        "DEBUG": "1",
    }
    env.pop("PYTEST_VERSION", None)
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "psychosafe_site.wsgi",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    import httpx

    for _ in range(120):
        try:
            httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
            return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def _api_rater(base, round, secret, cycles, out):
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=60) as client:
        url = f"/api/v1/rating/{round.public_id}/"
        for _ in range(cycles):
            start = time.perf_counter()
            item = client.post(url + "next/").json()["item"]
            if item is None:
                return
            done = client.post(url + "submit/", json={"lease": item["lease"], "answers": ANSWERS})
            assert done.status_code == 200, done.text
            out.append(time.perf_counter() - start)


def _html_rater(base, round, user, cycles, out):
    import httpx

    with httpx.Client(base_url=base, timeout=60) as client:
        login = client.get("/accounts/login/")
        client.post(
            "/accounts/login/",
            data={"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": CSRF.search(login.text)[1]},
        )
        url = f"/rate/{round.public_id}/"
        for _ in range(cycles):
            start = time.perf_counter()
            page = client.get(url)
            lease = LEASE.search(page.text)
            if lease is None:
                return
            data = {"lease": lease[1], "csrfmiddlewaretoken": CSRF.search(page.text)[1], **ANSWERS}
            done = client.post(url + "submit/", data=data)
            assert done.status_code == 302, done.status_code
            out.append(time.perf_counter() - start)


def _warm_up(base, secret, workers):
    """Each gunicorn worker imports the API and the pages on its first requests: not measured."""
    import httpx

    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(2 * workers):
            client.get("/api/v1/schema.json", headers={"Authorization": f"Bearer {secret}"})
            client.get("/accounts/login/")


def _phase(label, target, base, round, users, cycles):
    timings, threads = [], []
    for user, secret in users:
        args = (base, round, secret if target is _api_rater else user, cycles, timings)
        threads.append(threading.Thread(target=target, args=args))
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    p50, p95 = _percentile(timings, 0.5), _percentile(timings, 0.95)
    print(
        f"  {label:<16} {len(timings):5d} cycles  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {len(timings) / wall:6.1f} cycles/s",
        flush=True,
    )
    return p50


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--cycles", type=int, default=15, help="next+submit cycles per rater and phase")
    parser.add_argument("--responses", type=int, default=2000, help="responses per round (k = 3)")
    parser.add_argument("--port", type=int, default=8761)
    options = parser.parse_args()
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    database, db_name = _setup_django()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    print(f"PostgreSQL database {db_name}; gunicorn with {options.workers} workers; {os.cpu_count()} cores")
    from django.db import connections

    try:
        users = _raters(30)
        server = _serve(db_name, options.workers, options.port)
        base = f"http://127.0.0.1:{options.port}"
        try:
            _warm_up(base, users[0][1], options.workers)
            medians = {}
            for raters in (1, 30):
                for label, target in (("API", _api_rater), ("HTML", _html_rater)):
                    round = _round(f"bench {label} {raters}", users[:raters], options.responses)
                    medians[label, raters] = _phase(
                        f"{label}, {raters} rater{'s' if raters > 1 else ''}",
                        target,
                        base,
                        round,
                        users[:raters],
                        options.cycles,
                    )
                print(
                    f"  HTML/API median ratio at {raters} rater(s): {medians['HTML', raters] / medians['API', raters]:.2f}",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        connections["default"].creation.destroy_test_db(db_name, verbosity=0)


if __name__ == "__main__":
    main()
