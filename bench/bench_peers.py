"""Side by side: the Studio against Label Studio and Potato, and against a bare Django view.

For each system, on the same N items (8,019 by default, the PsychoSafe corpus's size), the runs
are interleaved (system after system, rep after rep) and the medians of the reps printed:

    import N items              the Studio: `importing.import_pairs` (validation, history rows)
    round build                 the Studio only: N responses made rateable, k = 3
    one rater                   next-item and submit p50 / p95
    10 and 30 raters            next-item p95, each rater pausing 0-1 s before each submit
    export 700 ratings          one HTTP request for the ratings file

The Studio runs under gunicorn (psychosafe_site/gunicorn.conf.py, DEBUG=0) on SQLite and, when
BENCH_POSTGRES_URL's server answers, on PostgreSQL with Redis (BENCH_REDIS_URL). Each Studio
figure is printed as a ratio to the best peer's and to a bare Django view (bench/bare_wsgi.py:
the same server, middleware and load, a view that does nothing).

Peers run from their own virtualenvs, named by environment variables:

    LABEL_STUDIO_VENV=/opt/ls-venv     a virtualenv with `pip install label-studio==1.23.2`
    POTATO_VENV=/opt/potato-venv       a virtualenv with `pip install potato-annotation==2.12.1`

A peer whose variable is unset, or whose executable is missing, is skipped with a message; with
neither, the Studio-only figures are printed. Never part of `make test`.

    python bench/bench_peers.py                      # 3 reps, 8,019 items, 15 s per load phase
    python bench/bench_peers.py --reps 1 --items 2000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_load

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("import", "build", "one_next_p50", "one_next_p95", "one_submit_p50", "one_submit_p95")
PHASES += ("r10_next_p95", "r30_next_p95", "export")
LABELS = {
    "import": "import N items (s)",
    "build": "round build, N responses, k = 3 (s)",
    "one_next_p50": "one rater, next item p50 (ms)",
    "one_next_p95": "one rater, next item p95 (ms)",
    "one_submit_p50": "one rater, submit p50 (ms)",
    "one_submit_p95": "one rater, submit p95 (ms)",
    "r10_next_p95": "10 raters, next item p95 (ms)",
    "r30_next_p95": "30 raters, next item p95 (ms)",
    "export": "export 700 ratings (s)",
}
# The bare view's figure each Studio figure is set against (same load, same server).
BARE = {
    "one_next_p50": "one_p50",
    "one_next_p95": "one_p95",
    "one_submit_p50": "one_p50",
    "one_submit_p95": "one_p95",
    "r10_next_p95": "r10_p95",
    "r30_next_p95": "r30_p95",
}


# --- Peers ---------------------------------------------------------------------------------


class Peer:
    """A peer annotation tool in its own virtualenv; subclasses know its commands and HTTP API."""

    name = ""
    variable = ""
    executable = ""

    def __init__(self, venv: Path):
        self.venv = venv

    @classmethod
    def find(cls) -> tuple[Peer | None, str]:
        venv = os.environ.get(cls.variable)
        if not venv:
            return None, f"{cls.name} skipped: set {cls.variable} to a virtualenv with it installed"
        if not (Path(venv) / "bin" / cls.executable).exists():
            return None, f"{cls.name} skipped: no {cls.executable} in {venv}/bin"
        return cls(Path(venv)), ""

    def run(self, args, items) -> dict:
        raise NotImplementedError


class LabelStudio(Peer):
    """Label Studio through its REST API: a project, an import, the labelling stream, an export."""

    name, variable, executable = "Label Studio", "LABEL_STUDIO_VENV", "label-studio"

    def run(self, args, items) -> dict:
        import httpx

        port, token = args.port + 10, secrets.token_hex(20)
        data_dir = Path(tempfile.mkdtemp(prefix="bench-ls-"))
        env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "DJANGO_DEBUG": "false"}
        command = [str(self.venv / "bin" / "label-studio"), "start", "--no-browser", "--port", str(port)]
        command += ["--username", "bench@example.org", "--password", "bench-password", "--user-token", token]
        server = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
        try:
            api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Token {token}"})
            _wait(lambda: api.get("/api/projects").status_code == 200, what="Label Studio")
            config = (
                '<View><Text name="prompt" value="$prompt"/><Text name="answer" value="$answer"/>'
                '<Choices name="refusal" toName="answer"><Choice value="yes"/><Choice value="no"/></Choices></View>'
            )
            project = api.post("/api/projects", json={"title": "bench", "label_config": config}).json()["id"]
            start = time.perf_counter()
            api.post(
                f"/api/projects/{project}/import", json=[{"prompt": i["prompt"], "answer": i["answer"]} for i in items]
            )
            figures = {"import": time.perf_counter() - start}

            def one_item(client):
                started = time.perf_counter()
                task = client.get(f"/api/projects/{project}/next")
                next_seconds = time.perf_counter() - started
                if task.status_code != 200:
                    return next_seconds, None
                result = [
                    {"from_name": "refusal", "to_name": "answer", "type": "choices", "value": {"choices": ["yes"]}}
                ]
                started = time.perf_counter()
                client.post(f"/api/tasks/{task.json()['id']}/annotations", json={"result": result})
                return next_seconds, time.perf_counter() - started

            figures.update(
                _threaded_phases(args, lambda: httpx.Client(base_url=api.base_url, headers=api.headers), one_item)
            )
            start = time.perf_counter()
            api.get(f"/api/projects/{project}/export", params={"exportType": "JSON"})
            figures["export"] = time.perf_counter() - start
            return figures
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            shutil.rmtree(data_dir, ignore_errors=True)


class Potato(Peer):
    """Potato served by `potato start` on a generated project; raters through its web form."""

    name, variable, executable = "Potato", "POTATO_VENV", "potato"

    def run(self, args, items) -> dict:
        import httpx

        port = args.port + 20
        project = Path(tempfile.mkdtemp(prefix="bench-potato-"))
        (project / "data.jsonl").write_text(
            "".join(
                json.dumps({"id": str(n), "text": f"{i['prompt']}\n\n{i['answer']}"}) + "\n"
                for n, i in enumerate(items)
            )
        )
        config = {
            "port": port,
            "server_name": "bench",
            "annotation_task_name": "bench",
            "task_dir": str(project),
            "output_annotation_dir": str(project / "annotations"),
            "output_annotation_format": "jsonl",
            "data_files": [str(project / "data.jsonl")],
            "item_properties": {"id_key": "id", "text_key": "text"},
            "user_config": {"allow_all_users": True, "users": []},
            "annotation_schemes": [
                {"annotation_type": "radio", "name": "refusal", "description": "Refusal?", "labels": ["yes", "no"]}
            ],
        }
        (project / "config.yaml").write_text(json.dumps(config))  # YAML is a superset of JSON
        start = time.perf_counter()
        server = subprocess.Popen(
            [str(self.venv / "bin" / "potato"), "start", str(project / "config.yaml"), "-p", str(port)],
            cwd=project,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(lambda: httpx.get(base + "/", timeout=5).status_code < 500, what="Potato")
            figures = {"import": time.perf_counter() - start}  # Potato loads its data at start-up

            def client():
                session = httpx.Client(base_url=base, follow_redirects=True, timeout=60)
                session.post("/login", data={"email": f"rater{secrets.token_hex(4)}", "pass": "x", "action": "login"})
                return session

            def one_item(session):
                started = time.perf_counter()
                page = session.get("/annotate")
                next_seconds = time.perf_counter() - started
                if page.status_code != 200:
                    return next_seconds, None
                started = time.perf_counter()
                session.post(
                    "/updateinstance", json={"annotations": {"refusal:::yes": "true"}, "action": "next_instance"}
                )
                return next_seconds, time.perf_counter() - started

            figures.update(_threaded_phases(args, client, one_item))
            return figures
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            shutil.rmtree(project, ignore_errors=True)


def _wait(ready, *, what, timeout=180):
    until = time.time() + timeout
    while time.time() < until:
        try:
            if ready():
                return
        except Exception:  # not listening yet
            pass
        time.sleep(1)
    raise RuntimeError(f"{what} did not start in {timeout} s")


def _threaded_phases(args, make_client, one_item) -> dict:
    """One rater, then 10 and 30, each for args.seconds, in threads (the peers' clients are sync)."""
    import random
    import threading

    figures = {}
    for raters, key in ((1, "one"), (10, "r10"), (30, "r30")):
        nexts, submits, lock = [], [], threading.Lock()
        deadline = time.perf_counter() + args.seconds

        def rater(lock=lock, nexts=nexts, submits=submits, deadline=deadline, raters=raters):
            client = make_client()
            while time.perf_counter() < deadline:
                next_seconds, submit_seconds = one_item(client)
                with lock:
                    nexts.append(next_seconds)
                    if submit_seconds is not None:
                        submits.append(submit_seconds)
                if submit_seconds is None:
                    return
                if raters > 1:
                    time.sleep(random.uniform(0, 2 * args.think))

        threads = [threading.Thread(target=rater) for _ in range(raters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        figures[f"{key}_next_p95"] = bench_load.percentile(nexts, 0.95)
        if key == "one":
            figures["one_next_p50"] = bench_load.percentile(nexts, 0.5)
            figures["one_submit_p50"] = bench_load.percentile(submits, 0.5)
            figures["one_submit_p95"] = bench_load.percentile(submits, 0.95)
    return figures


# --- The Studio, in a child process per database ---------------------------------------------


def studio_run(args, backend) -> dict:
    """Run one rep of every phase against the Studio on `backend`, in this (child) process."""
    var_dir = Path(tempfile.mkdtemp(prefix=f"bench-peers-{backend}-"))
    if backend == "sqlite":
        args.database_url = f"sqlite:///{var_dir / 'studio.sqlite3'}"
    env = bench_load._environment(args, var_dir)
    env["DATABASE_POOL"] = "1" if backend == "postgresql" else "0"
    if backend == "sqlite":
        env.update(CELERY_BROKER_URL="filesystem://", CACHE_URL="")
    else:
        bench_load._recreate_database(args.database_url)
    env["STATIC_ROOT"] = str(var_dir / "static")
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run([sys.executable, "manage.py", *command, "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update({**env, "DEBUG": "1"})
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from annotation import importing

    figures = {}
    admin = get_user_model().objects.create_superuser("bench-admin", password=bench_load.PASSWORD)
    data = "".join(json.dumps({**item, "split": "validation"}) + "\n" for item in _items(args.items)).encode()
    start = time.perf_counter()
    importing.import_pairs(data=data, format="jsonl", user=admin, skip_existing=False)
    figures["import"] = time.perf_counter() - start
    args.raters, args.training, args.responses = 30, False, args.items
    start = time.perf_counter()
    round, raters, _ = bench_load._seed(args, var_dir / "tiny")
    figures["seed"] = time.perf_counter() - start
    figures["build"] = _time_build(args)
    names = [rater.username for rater in raters]
    children = []
    try:
        for app, key in (("psychosafe_site.wsgi:application", "studio"), ("bare_wsgi:application", "bare")):
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "psychosafe_site/gunicorn.conf.py"]
                + ["--pythonpath", str(ROOT / "bench"), "--bind", f"127.0.0.1:{args.port}", app],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
            children.append(server)
            bench_load._wait_for_server(args.port, server)
            for raters_now, phase in ((1, "one"), (10, "r10"), (30, "r30")):
                args.think = 0.0 if raters_now == 1 else args.peer_think
                result = asyncio.run(bench_load.drive(args, round.public_id, names[:raters_now], bare=key == "bare"))
                if key == "studio":
                    figures[f"{phase}_next_p95"] = bench_load.percentile(result["next"], 0.95)
                    if phase == "one":
                        figures["one_next_p50"] = bench_load.percentile(result["next"], 0.5)
                        figures["one_submit_p50"] = bench_load.percentile(result["submit"], 0.5)
                        figures["one_submit_p95"] = bench_load.percentile(result["submit"], 0.95)
                else:
                    figures[f"bare_{phase}_p95"] = bench_load.percentile(result["next"], 0.95)
                    if phase == "one":
                        figures["bare_one_p50"] = bench_load.percentile(result["next"], 0.5)
                figures[f"{key}_{phase}_errors"] = len(result["errors"])
            if key == "studio":
                figures["export"] = _time_export(args, round)
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        figures["invariants"] = bench_load.check_invariants(round)
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
                child.wait(timeout=30)
        if backend == "postgresql":
            from django.db import connections

            connections.close_all()
            bench_load._recreate_database(args.database_url, drop_only=True)
        shutil.rmtree(var_dir, ignore_errors=True)
    return figures


def _time_build(args) -> float:
    """A second round over the same responses, timed alone."""
    from annotation import rounds, rubrics
    from annotation.models import ModelCondition

    responses = rounds.model_responses(conditions=ModelCondition.objects.filter(name__startswith="load-"))
    start = time.perf_counter()
    rounds.build_round(responses=responses, name="build timing", rater_title="x", rubric=rubrics.default_rubric(), k=3)
    return time.perf_counter() - start


def _time_export(args, round) -> float:
    """The round's ratings as CSV, over HTTP as an admin, after topping them up to 700."""
    import httpx

    from annotation import queues
    from annotation.models import Rating

    raters = list(round.raters.all())
    answers = bench_load.ANSWERS
    while Rating.objects.filter(round=round).count() < 700:
        for rater in raters:
            slot = queues.claim_next(round=round, rater=rater)
            if slot is not None:
                queues.submit_rating(round=round, rater=rater, lease_token=slot.lease_token, answers=answers)
    client = httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=120)
    page = client.get("/accounts/login/").content
    token = bench_load.CSRF.search(page).group(1).decode()
    client.post(
        "/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": "bench-admin", "password": bench_load.PASSWORD},
    )
    start = time.perf_counter()
    answer = client.get(f"/rounds/{round.pk}/export.csv")
    seconds = time.perf_counter() - start
    assert answer.status_code == 200 and answer.text.count("\n") > 700, answer.status_code
    return seconds


def _items(n):
    """N prompt-answer pairs over the five domains, each text distinct."""
    domains = ["suicide", "substance", "violence", "weapons", "sexual_crimes"]
    return [
        {
            "prompt": f"Bench message {i}: I keep thinking about something I should not do ({i * 7919 % 104729}).",
            "answer": f"I can't help with that, but you deserve support right now; call 988 (item {i}).",
            "domain": domains[i % len(domains)],
        }
        for i in range(n)
    ]


# --- The parent: interleaving and the table ------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=8019)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15, help="length of each load phase")
    parser.add_argument("--think", dest="peer_think", type=float, default=0.5, help="mean pause before a submit")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8775)
    parser.add_argument("--studio", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)  # one child run
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/psychosafe_peers"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4"))
    args = parser.parse_args()
    args.pool, args.think = True, args.peer_think
    if args.studio:
        print(json.dumps(studio_run(args, args.studio)))
        return

    peers = []
    for kind in (LabelStudio, Potato):
        peer, why = kind.find()
        if peer:
            peers.append(peer)
        else:
            print(why)
    if not peers:
        print("No peer installed: Studio-only figures (see docs/performance.md for how to add the peers).")
    systems = [peer.name for peer in peers] + ["Studio SQLite"]
    if bench_load._services(args.database_url, args.redis_url) is None:
        systems.append("Studio PostgreSQL")
    else:
        print("Studio on PostgreSQL skipped: set BENCH_POSTGRES_URL and BENCH_REDIS_URL to reachable servers.")
    print(
        f"{args.items:,} items, {args.reps} rep(s) interleaved, {args.seconds:.0f} s per load phase; "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start"
    )
    results = {system: [] for system in systems}
    items = _items(args.items)
    for rep in range(args.reps):
        for system in systems:
            if system.startswith("Studio"):
                backend = "sqlite" if system.endswith("SQLite") else "postgresql"
                child = subprocess.run(
                    [sys.executable, __file__, "--studio", backend, *sys.argv[1:]],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                )
                if child.returncode != 0:
                    print(f"{system}, rep {rep + 1}: failed\n{child.stderr[-3000:]}")
                    continue
                results[system].append(json.loads(child.stdout.strip().splitlines()[-1]))
            else:
                peer = next(p for p in peers if p.name == system)
                try:
                    results[system].append(peer.run(args, items))
                except Exception as error:  # a peer that fails to run is reported, not fatal
                    print(f"{system}, rep {rep + 1}: failed ({error})")
    print_table(results, [peer.name for peer in peers])


def _median(runs, key):
    values = [run[key] for run in runs if key in run and run[key] == run[key]]
    return statistics.median(values) if values else None


def print_table(results, peer_names):
    systems = [system for system, runs in results.items() if runs]
    print()
    print(f"{'':40}" + "".join(f"{system:>20}" for system in systems))
    for key in PHASES:
        row = f"{LABELS[key]:40}"
        for system in systems:
            value = _median(results[system], key)
            row += f"{'—' if value is None else f'{value:.2f}' if value < 10 else f'{value:.0f}':>20}"
        print(row)
    for system in (s for s in systems if s.startswith("Studio")):
        print(f"\n{system}:")
        for key in PHASES:
            value = _median(results[system], key)
            if value is None:
                continue
            parts = []
            peers = [_median(results[p], key) for p in peer_names if p in systems]
            peers = [p for p in peers if p]
            if peers:
                parts.append(f"{value / min(peers):.2f}x the best peer")
            bare = _median(results[system], f"bare_{BARE[key]}") if key in BARE else None
            if bare:
                parts.append(f"{value / bare:.1f}x a bare Django view ({bare:.0f} ms)")
            print(f"  {LABELS[key]:40} {value:8.2f}  {'; '.join(parts)}")
        broken = {k: v for run in results[system] for k, v in run.get("invariants", {}).items() if v}
        errors = sum(v for run in results[system] for k, v in run.items() if k.endswith("_errors"))
        print(f"  errors {errors}; queue invariants {'hold' if not broken else 'BROKEN ' + repr(broken)}")


if __name__ == "__main__":
    main()
