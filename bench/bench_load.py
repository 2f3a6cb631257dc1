"""Load test: a crowd of raters on the production server while a model trains.

50 raters (asyncio + httpx, one client and cookie jar each) log in, pass the content warning, then
fetch the next item and submit it, again and again, for a bounded time, against gunicorn
(psychosafe_site/gunicorn.conf.py, several workers) on PostgreSQL with Redis as broker and cache,
DEBUG=0, while a LoRA training run on a tiny model is active in a real Celery worker. Afterwards
the database is checked: no item rated twice by one rater, none rated more than its slots allow,
no rater holding two items, every rating on its own slot, and as many ratings as submits answered.

    python bench/bench_load.py                            # 50 raters, 60 s, 4 workers x 4 threads
    python bench/bench_load.py --raters 20 --seconds 30 --workers 2
    BENCH_POSTGRES_URL=postgres://user@host:5432/psychosafe_load BENCH_REDIS_URL=redis://host:6379/4 \\
        python bench/bench_load.py

The database named in BENCH_POSTGRES_URL is dropped and created afresh (and dropped at the end);
without PostgreSQL or Redis the bench says so and exits. Think time: each rater pauses a random
0-2x `--think` seconds (mean 1 s) before each submit, far faster than a person rates. Requests
only go to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "load-test-password-7f3a"
ANSWERS = {"refusal": "yes", "grounding": "4", "strategy": "other", "references": "yes", "relevance": "3"}
LEASE = re.compile(rb'name="lease" value="([^"]+)"')
CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def _services(database_url, redis_url) -> str | None:
    """Why the bench cannot run here, or None."""
    import psycopg
    import redis

    parts = urlsplit(database_url)
    try:
        psycopg.connect(urlunsplit(parts._replace(path="/postgres")), connect_timeout=3).close()
    except psycopg.Error as error:
        return f"PostgreSQL at {parts.hostname}:{parts.port} is not reachable ({error})"
    try:
        redis.Redis.from_url(redis_url, socket_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis at {redis_url} is not reachable ({error})"
    return None


def _recreate_database(database_url, *, drop_only=False):
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            connection.execute(f'CREATE DATABASE "{name}"')


def _environment(args, var_dir):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "psychosafe_site.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on the loopback: no HTTPS redirect or HTTPS-only cookies.
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": args.database_url,
        "DATABASE_POOL": "1" if args.pool else "0",
        "CELERY_BROKER_URL": args.redis_url,
        "CACHE_URL": args.redis_url,
        "PSYCHOSAFE_QUEUE_PREFIX": f"load{os.getpid()}-",
        "PSYCHOSAFE_VAR_DIR": str(var_dir),
        "PSYCHOSAFE_ADAPTERS_DIR": str(var_dir / "adapters"),
        "GUNICORN_BIND": f"127.0.0.1:{args.port}",
        "GUNICORN_WORKERS": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
        "GUNICORN_ACCESS_LOG": str(var_dir / "access.log"),
        "GUNICORN_LOG_LEVEL": "warning",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "LOG_LEVEL": "WARNING",
    }


def _seed(args, tiny_dir):
    """Raters, a round over `args.responses` model outputs (k = 3), train pairs, a training run."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from annotation import roles, rounds, rubrics, runs
    from annotation.models import ModelCondition, Prompt, Response, RiskDomain, SystemPrompt
    from modeling.tiny import build_tiny_model

    roles.ensure_role_groups()
    User = get_user_model()
    raters = [User(username=f"rater{i:02d}") for i in range(args.raters)]
    for rater in raters:
        rater.set_password(PASSWORD)
    raters = User.objects.bulk_create(raters)
    Group.objects.get(name=roles.RATER).user_set.add(*raters)
    admin = User.objects.create_user("load-admin", password=PASSWORD)
    domains = list(RiskDomain.objects.all())
    system_prompt = SystemPrompt.objects.order_by("pk").first()
    conditions = [
        ModelCondition.objects.create(name=f"load-{i}", base_model="load", system_prompt=system_prompt)
        for i in range(5)
    ]
    prompts = Prompt.objects.bulk_create(
        Prompt(text=f"load prompt {i}", domain=domains[i % len(domains)], split="validation")
        for i in range(args.responses // len(conditions))
    )
    Response.objects.bulk_create(
        Response(prompt=p, condition=c, origin="model", text=f"I can't help with that ({p.pk}/{c.pk}).")
        for p in prompts
        for c in conditions
    )
    round = rounds.build_round(
        responses=rounds.model_responses(conditions=conditions),
        name="load",
        rater_title="Load test",
        rubric=rubrics.default_rubric(),
        k=3,
        raters=raters,
        open_now=True,
    )
    train = Prompt.objects.bulk_create(
        Prompt(text=f"train prompt {i}", domain=domains[i % len(domains)], split="train") for i in range(40)
    )
    Response.objects.bulk_create(
        Response(prompt=p, origin="reference", status="approved", text=f"A kind refusal, with help ({p.pk}).")
        for p in train
    )
    run = None
    if args.training:
        base = build_tiny_model(tiny_dir, seed=0)
        # Far more steps than the test lasts: the run is still training when the raters stop.
        run = runs.start_training_run(
            name="load-training",
            system_prompt=system_prompt,
            created_by=admin,
            config={"max_steps": 100000, "epochs": 100000, "warmup_steps": 0},
            base_model=str(base),
        )
    return round, raters, run


class Rater:
    def __init__(self, base_url, username, round_id, figures):
        import httpx

        self.client = httpx.AsyncClient(base_url=base_url, timeout=60, follow_redirects=False)
        self.username, self.round_id, self.figures = username, round_id, figures

    def error(self, what):
        self.figures["errors"].append(what)

    async def post(self, url, data, *, page):
        match = CSRF.search(page)
        return await self.client.post(url, data={"csrfmiddlewaretoken": match.group(1).decode(), **data})

    async def start(self):
        page = (await self.client.get("/accounts/login/")).content
        answer = await self.post("/accounts/login/", {"username": self.username, "password": PASSWORD}, page=page)
        self.figures["requests"] += 2
        if answer.status_code != 302:
            return self.error(f"login {answer.status_code}")
        work = f"/rate/{self.round_id}/"
        page = (await self.client.get(work)).content
        answer = await self.post(f"{work}start/", {}, page=page)
        self.figures["requests"] += 2
        if answer.status_code != 302:
            return self.error(f"warning {answer.status_code}")
        return True

    async def bare(self, deadline, think):
        """The same pace against a view that does nothing (bench/bare_wsgi.py): Django's own cost."""
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                page = await self.client.get("/bench/bare/")
            except Exception as error:
                self.error(f"bare {type(error).__name__}")
                continue
            self.figures["next"].append(time.perf_counter() - start)
            self.figures["requests"] += 1
            if page.status_code != 200:
                self.error(f"bare {page.status_code}")
            await asyncio.sleep(random.uniform(0, 2 * think))

    async def work(self, deadline, think):
        work = f"/rate/{self.round_id}/"
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                page = await self.client.get(work)
            except Exception as error:  # a timeout or a refused connection is an error like a 500
                self.error(f"next {type(error).__name__}")
                continue
            self.figures["next"].append(time.perf_counter() - start)
            self.figures["requests"] += 1
            lease = LEASE.search(page.content)
            if page.status_code != 200 or lease is None:
                if b"Nothing left" in page.content:
                    self.figures["ran_out"] += 1
                    return
                self.error(f"next {page.status_code}")
                continue
            await asyncio.sleep(random.uniform(0, 2 * think))
            start = time.perf_counter()
            try:
                answer = await self.post(
                    f"{work}submit/", {"lease": lease.group(1).decode(), **ANSWERS}, page=page.content
                )
            except Exception as error:
                self.error(f"submit {type(error).__name__}")
                continue
            self.figures["submit"].append(time.perf_counter() - start)
            self.figures["requests"] += 1
            if answer.status_code == 302:
                self.figures["submitted"] += 1
            else:
                self.error(f"submit {answer.status_code}")


async def drive(args, round_id, usernames, *, bare=False):
    """Each rater logs in and works until args.seconds have passed; returns the figures.
    With `bare`, they fetch bench/bare_wsgi.py's do-nothing view at the same pace instead."""
    figures = {"next": [], "submit": [], "errors": [], "requests": 0, "submitted": 0, "ran_out": 0}
    base_url = f"http://127.0.0.1:{args.port}"
    raters = [Rater(base_url, name, round_id, figures) for name in usernames]
    started = [True] * len(raters) if bare else await asyncio.gather(*(rater.start() for rater in raters))
    deadline = time.perf_counter() + args.seconds
    began = time.perf_counter()
    await asyncio.gather(
        *(
            (rater.bare if bare else rater.work)(deadline, args.think)
            for rater, ok in zip(raters, started, strict=True)
            if ok
        )
    )
    figures["seconds"] = time.perf_counter() - began
    await asyncio.gather(*(rater.client.aclose() for rater in raters))
    return figures


def _wait_for_server(port, process, timeout=120):
    import httpx

    until = time.time() + timeout
    while time.time() < until:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited while starting; see its output above")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("gunicorn did not answer in time")


def _wait_for_training(run, timeout=300):
    from annotation.models import JobState

    until = time.time() + timeout
    while time.time() < until:
        run.refresh_from_db()
        if run.state == JobState.RUNNING:
            return
        if run.state != JobState.QUEUED:
            raise SystemExit(f"the training run ended before the load test started: {run.state} {run.error}")
        time.sleep(1)
    raise SystemExit("the training run did not start in time")


def check_invariants(round) -> dict:
    """Counts that must all be zero, read from the database after the run."""
    from django.db.models import Count, F

    from annotation.models import Rating, RoundItem, Slot

    ratings = Rating.objects.filter(round=round)
    return {
        "ratings of one item by one rater, beyond the first": sum(
            row["n"] - 1
            for row in ratings.values("item_id", "rater_id").annotate(n=Count("id")).filter(n__gt=1).order_by()
        ),
        "items with more ratings than slots": RoundItem.objects.filter(round=round)
        .annotate(n=Count("ratings"))
        .filter(n__gt=F("capacity"))
        .count(),
        "slots with a second holder or rating": ratings.values("slot_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by()
        .count(),
        "raters holding two items at once": Slot.objects.leased()
        .filter(round=round)
        .values("holder_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by()
        .count(),
        "items held or rated twice by one rater": Slot.objects.filter(round=round, holder__isnull=False)
        .values("item_id", "holder_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by()
        .count(),
        "done slots without a rating": Slot.objects.filter(round=round, state="done", rating__isnull=True).count(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--think", type=float, default=0.5, help="mean pause before each submit, seconds")
    parser.add_argument("--responses", type=int, default=20000, help="model outputs in the round (k = 3)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--no-pool", dest="pool", action="store_false", help="no psycopg pool (DATABASE_POOL=0)")
    parser.add_argument("--no-training", dest="training", action="store_false")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/psychosafe_load"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4"))
    args = parser.parse_args()

    reason = _services(args.database_url, args.redis_url)
    if reason:
        print(f"bench_load skipped: {reason}. Set BENCH_POSTGRES_URL and BENCH_REDIS_URL.")
        return
    var_dir = Path(tempfile.mkdtemp(prefix="psychosafe-load-"))
    env = _environment(args, var_dir)
    _recreate_database(args.database_url)
    env["STATIC_ROOT"] = str(var_dir / "static")
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run([sys.executable, "manage.py", *command, "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update({**env, "DEBUG": "1"})  # this process only reads and checks the database
    import django

    django.setup()
    children = []
    try:
        round, raters, run = _seed(args, var_dir / "tiny-base")
        if run is not None:
            worker_log = open(var_dir / "worker.log", "w")  # noqa: SIM115 - closed with the process
            from django.conf import settings

            children.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "psychosafe_site", "worker", "-Q", settings.GPU_QUEUE]
                    + ["--concurrency", "1", "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
                    cwd=ROOT,
                    env=env,
                    stdout=worker_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            _wait_for_training(run)
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "psychosafe_site/gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        children.append(server)
        _wait_for_server(args.port, server)
        load_before = os.getloadavg()[0]
        figures = asyncio.run(drive(args, round.public_id, [rater.username for rater in raters]))
        training = "none"
        if run is not None:
            run.refresh_from_db()
            training = f"{run.state} after the test, {run.progress_done} of {run.progress_total} steps done"
        report(args, figures, check_invariants(round), load_before, training)
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        from django.db import connections

        connections.close_all()
        _recreate_database(args.database_url, drop_only=True)


def report(args, figures, invariants, load_before, training):
    import django
    import gunicorn

    requests = figures["requests"]
    errors = len(figures["errors"])
    print(
        f"{args.raters} raters for {figures['seconds']:.0f} s against gunicorn {gunicorn.__version__} "
        f"({args.workers} workers x {args.threads} threads, pool {'on' if args.pool else 'off'}), "
        f"Django {django.__version__}, PostgreSQL + Redis, DEBUG=0; {os.cpu_count()} cores, load {load_before:.1f} "
        f"before; think time {args.think} s mean"
    )
    print(f"  training run: {training}")
    print(
        f"  next item   p50 {percentile(figures['next'], 0.5):6.0f} ms   p95 {percentile(figures['next'], 0.95):6.0f} ms"
        f"   p99 {percentile(figures['next'], 0.99):6.0f} ms   ({len(figures['next'])} pages)"
    )
    print(
        f"  submit      p50 {percentile(figures['submit'], 0.5):6.0f} ms   p95 {percentile(figures['submit'], 0.95):6.0f} ms"
        f"   ({figures['submitted']} ratings saved)"
    )
    print(
        f"  {requests} requests, {requests / figures['seconds']:.0f}/s; errors {errors} "
        f"({100 * errors / max(requests, 1):.2f}%){': ' + ', '.join(sorted(set(figures['errors']))) if errors else ''}"
    )
    from annotation.models import Rating

    saved = Rating.objects.count()
    invariants["ratings saved that no submit was answered for, or the reverse"] = abs(saved - figures["submitted"])
    broken = {name: n for name, n in invariants.items() if n}
    print(f"  invariants: {'all hold' if not broken else 'BROKEN ' + repr(broken)} ({saved} ratings in the database)")


if __name__ == "__main__":
    main()
