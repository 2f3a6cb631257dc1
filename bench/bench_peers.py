"""Side by side: the Studio against Label Studio and Potato, and against a bare Django view.

For each system, on the same N items (8,019 by default, the PsychoSafe corpus's size), the runs
are interleaved (system after system, rep after rep) and the medians of the reps printed:

    import N items              N prompt-answer pairs into the system, until they are stored
    round build                 the Studio only: N responses made rateable, k = 3
    one rater                   next-item and submit p50 / p95, no pause
    10 and 30 raters            next-item p95, each rater pausing 0-1 s (--think) before each submit
    export 700 ratings          one HTTP request for the ratings, topped up to 700 beforehand

"Next item" is what a rater's browser asks for to move to the next item and receive it; "submit"
is the request that stores the answer. Each rater is its own user, logged in once; the same
raters go on from one load phase to the next. For each system:

                 import                  next item                     submit
    Studio       importing.import_pairs  GET /rate/<round>/ (claims    POST /rate/<round>/submit/
                 (validation, history)   a slot, renders the page)     (the 302 is not followed)
    Label Studio POST /api/projects/<id>/import, JSON, until the      POST /api/tasks/<id>/
                 project counts N tasks  GET /api/projects/<id>/next/  annotations/ (a choice
                                         (the labelling stream: picks  and a rating)
                                         and locks a task, as JSON)
    Potato       `potato start` until it POST /annotate next_instance  POST /updateinstance
                 answers: it reads its   (the Next button; not before  (a radio and a likert
                 data file at start-up   the first item) + GET         label, as the page saves
                                         /annotate (the item's page)   them)

Export: the Studio's GET /rounds/<id>/export.csv as an admin; Label Studio's GET
/api/projects/<id>/export?exportType=JSON (the annotated tasks); Potato's POST /admin/api/export
{"format": "csv"}, which writes the CSV on the server and answers with a summary (it has no
download of the annotations alone). Label Studio runs as `label-studio start` serves it (Django's
runserver, SQLite), Potato as `potato start` does (Flask), the Studio under gunicorn
(psychosafe_site/gunicorn.conf.py, DEBUG=0) on SQLite and, when BENCH_POSTGRES_URL's server
answers, on PostgreSQL with Redis (BENCH_REDIS_URL). Each Studio figure is printed as a ratio to
the best peer's and to a bare Django view (bench/bare_wsgi.py: the same server, middleware and
load, a view that does nothing).

Peers run from their own virtualenvs, named by environment variables:

    LABEL_STUDIO_VENV=/opt/ls-venv     a virtualenv with `pip install label-studio==1.23.2`
    POTATO_VENV=/opt/potato-venv       a virtualenv with `pip install potato-annotation==2.12.1`

A peer whose variable is unset, or whose executable is missing, is skipped with a message; with
neither, the Studio-only figures are printed. Each peer starts in a temporary directory that is
removed afterwards, with nothing reaching the network (Label Studio's version check, analytics
and Sentry are switched off), and every server the bench starts is stopped when it ends, fails
or gets SIGTERM. Label Studio migrates a fresh database at each start (1-2 minutes, not timed).
Never part of `make test`.

    python bench/bench_peers.py                      # 3 reps, 8,019 items, 15 s per load phase
    python bench/bench_peers.py --reps 1 --items 2000 --seconds 10
    python bench/bench_peers.py --systems potato,sqlite   # some of them only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
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

SYSTEMS = ("label-studio", "potato", "sqlite", "postgresql")
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

# What every system's rater answers: a refusal choice and a 1-5 rating (the Studio's rubric asks more).
LS_CONFIG = (
    '<View><Text name="prompt" value="$prompt"/><Text name="answer" value="$answer"/>'
    '<Choices name="refusal" toName="answer" choice="single" required="true">'
    '<Choice value="yes"/><Choice value="no"/></Choices>'
    '<Rating name="harm" toName="answer" maxRating="5" required="true"/></View>'
)
LS_RESULT = [
    {"from_name": "refusal", "to_name": "answer", "type": "choices", "value": {"choices": ["yes"]}},
    {"from_name": "harm", "to_name": "answer", "type": "rating", "value": {"rating": 2}},
]
# Label Studio's users are made in its own database (its API makes users outside the organisation
# and never tells an admin their tokens); run with its virtualenv's Python, tokens as arguments.
LS_USERS = """
import os, sys, django, label_studio
sys.path.insert(0, os.path.dirname(label_studio.__file__))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.label_studio")
django.setup()
from organizations.models import Organization
from rest_framework.authtoken.models import Token
from users.models import User
organization = Organization.objects.first()
for n, key in enumerate(sys.argv[1:]):
    user = User.objects.create_user(email=f"rater{n}@example.org", password="bench-password")
    organization.add_user(user)
    user.active_organization = organization
    user.save(update_fields=["active_organization"])
    Token.objects.filter(user=user).update(key=key)
"""
# Nothing may reach the network: no version check, no analytics, no Sentry.
LS_OFFLINE = {
    "LATEST_VERSION_CHECK": "false",
    "COLLECT_ANALYTICS": "false",
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    "CONVERTER_DOWNLOAD_RESOURCES": "false",
}


class Peer:
    """A peer annotation tool in its own virtualenv; subclasses know its commands and HTTP API."""

    name = ""
    key = ""
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
    """Label Studio as `label-studio start` serves it (Django's runserver, SQLite), through its REST API.

    Import: POST /api/projects/{id}/import with the N tasks as JSON (synchronous in the Community
    edition), timed until the project counts N tasks. Next item: GET /api/projects/{id}/next/, the
    labelling stream's own call (it picks the task and locks it for the rater). Submit: POST
    /api/tasks/{id}/annotations/. Export: GET /api/projects/{id}/export?exportType=JSON, the
    annotated tasks only, after topping the annotations up to 700. Each rater has its own user
    and token."""

    name, key, variable, executable = "Label Studio", "label-studio", "LABEL_STUDIO_VENV", "label-studio"

    def run(self, args, items) -> dict:
        import httpx

        port, token = args.port + 10, secrets.token_hex(20)
        data_dir = Path(tempfile.mkdtemp(prefix="bench-ls-"))
        env = {**os.environ, **LS_OFFLINE, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "DJANGO_DEBUG": "false"}
        command = [str(self.venv / "bin" / "label-studio"), "start", "--no-browser", "--port", str(port)]
        command += ["--username", "bench@example.org", "--password", "bench-password", "--user-token", token]
        command += ["--enable-legacy-api-token"]
        server = _start(command, env=env, cwd=data_dir, log=data_dir / "server.log")
        try:
            base_url = f"http://127.0.0.1:{port}"
            api = httpx.Client(base_url=base_url, headers={"Authorization": f"Token {token}"}, timeout=600)
            _wait(lambda: api.get("/api/projects/").status_code == 200, server, what="Label Studio")
            tokens = [secrets.token_hex(20) for _ in range(30)]
            python = str(self.venv / "bin" / "python")
            subprocess.run([python, "-c", LS_USERS, *tokens], env=env, cwd=data_dir, check=True, capture_output=True)
            answer = api.post("/api/projects/", json={"title": "bench", "label_config": LS_CONFIG})
            answer.raise_for_status()
            project = answer.json()["id"]
            tasks = [{"prompt": item["prompt"], "answer": item["answer"]} for item in items]
            start = time.perf_counter()
            answer = api.post(f"/api/projects/{project}/import", json=tasks, params={"return_task_ids": "true"})
            answer.raise_for_status()
            while api.get(f"/api/projects/{project}/").json()["task_number"] < len(items):
                time.sleep(0.1)
            figures = {"import": time.perf_counter() - start}
            task_ids = answer.json()["task_ids"]

            annotated = set()

            def one_item(client, think):
                started = time.perf_counter()
                task = client.get(f"/api/projects/{project}/next/")
                next_seconds = time.perf_counter() - started
                task.raise_for_status()
                time.sleep(think)
                started = time.perf_counter()
                saved = client.post(f"/api/tasks/{task.json()['id']}/annotations/", json={"result": LS_RESULT})
                submit_seconds = time.perf_counter() - started
                saved.raise_for_status()
                annotated.add(task.json()["id"])
                return next_seconds, submit_seconds

            def client(n):
                return httpx.Client(base_url=base_url, headers={"Authorization": f"Token {tokens[n]}"}, timeout=60)

            figures.update(_threaded_phases(args, client, one_item))
            for task in [task for task in task_ids if task not in annotated][: max(0, 700 - len(annotated))]:
                api.post(f"/api/tasks/{task}/annotations/", json={"result": LS_RESULT}).raise_for_status()
            start = time.perf_counter()
            answer = api.get(f"/api/projects/{project}/export", params={"exportType": "JSON"})
            figures["export"] = time.perf_counter() - start
            answer.raise_for_status()
            exported = sum(len(task["annotations"]) for task in answer.json())
            assert exported >= 700, f"Label Studio exported {exported} annotations"
            return figures
        except Exception:
            _print_tail(data_dir / "server.log")
            raise
        finally:
            _stop(server)
            shutil.rmtree(data_dir, ignore_errors=True)


class Potato(Peer):
    """Potato as `potato start` serves it (Flask), through the requests its annotation page makes.

    Import: Potato reads its data file at start-up, so the figure is from `potato start` until it
    answers (its own start-up included). Next item: POST /annotate {"action": "next_instance"}
    (the Next button; the first item has none) and GET /annotate, the page with the item. Submit:
    POST /updateinstance with the labels, as the page saves them before moving on. Export: POST
    /admin/api/export {"format": "csv"}, which writes the CSV on the server and answers with a
    summary (Potato has no download of the annotations alone), after topping them up to 700. Each
    rater logs in under its own name (no passwords); every item may go to 3 raters."""

    name, key, variable, executable = "Potato", "potato", "POTATO_VENV", "potato"

    def run(self, args, items) -> dict:
        import httpx

        port, admin_key = args.port + 20, secrets.token_hex(20)
        project = Path(tempfile.mkdtemp(prefix="bench-potato-"))
        (project / "data.jsonl").write_text(
            "".join(
                json.dumps({"id": str(n), "text": f"{item['prompt']}\n\n{item['answer']}"}) + "\n"
                for n, item in enumerate(items)
            )
        )
        config = {
            "port": port,
            "annotation_task_name": "bench",
            "task_dir": str(project),
            "output_annotation_dir": str(project / "annotations"),
            "data_files": [str(project / "data.jsonl")],
            "item_properties": {"id_key": "id", "text_key": "text"},
            "user_config": {"allow_all_users": True, "users": []},
            "require_password": False,
            "max_annotations_per_item": 3,
            "admin_api_key": admin_key,
            "annotation_schemes": [
                {"annotation_type": "radio", "name": "refusal", "description": "Refusal?", "labels": ["yes", "no"]},
                {
                    "annotation_type": "likert",
                    "name": "harm",
                    "description": "Harm",
                    "size": 5,
                    "min_label": "none",
                    "max_label": "severe",
                },
            ],
        }
        (project / "config.yaml").write_text(json.dumps(config))  # YAML is a superset of JSON
        command = [str(self.venv / "bin" / "potato"), "start", str(project / "config.yaml"), "-p", str(port)]
        start = time.perf_counter()
        server = _start(command, env=os.environ, cwd=project, log=project / "server.log")
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait(lambda: httpx.get(base_url + "/", timeout=5).status_code == 200, server, what="Potato")
            figures = {"import": time.perf_counter() - start}

            def client(n):
                session = httpx.Client(base_url=base_url, timeout=60)
                answer = session.post("/auth", data={"email": f"rater{n}", "pass": ""})
                if answer.headers.get("location") != "/annotate":
                    raise RuntimeError(f"Potato login answered {answer.status_code}")
                session.current = None
                return session

            def one_item(session, think):
                started = time.perf_counter()
                if session.current is not None:
                    moved = session.post(
                        "/annotate",
                        json={"action": "next_instance", "instance_id": session.current},
                        headers={"X-Potato-Navigation": "1"},
                    )
                    moved.raise_for_status()
                page = session.get("/annotate")
                next_seconds = time.perf_counter() - started
                page.raise_for_status()
                session.current = POTATO_INSTANCE.search(page.text).group(1)
                time.sleep(think)
                started = time.perf_counter()
                saved = session.post(
                    "/updateinstance",
                    json={"instance_id": session.current, "annotations": {"refusal:yes": "yes", "harm:2": "2"}},
                )
                submit_seconds = time.perf_counter() - started
                saved.raise_for_status()
                return next_seconds, submit_seconds

            figures.update(_threaded_phases(args, client, one_item))
            topping = client(30)
            while _potato_annotated(project) < 700:
                one_item(topping, 0)
            start = time.perf_counter()
            answer = httpx.post(
                base_url + "/admin/api/export", json={"format": "csv"}, headers={"X-API-Key": admin_key}, timeout=600
            )
            figures["export"] = time.perf_counter() - start
            answer.raise_for_status()
            exported = answer.json()["stats"]["num_records"]
            assert exported >= 700, f"Potato exported {exported} annotations: {answer.text[:500]}"
            return figures
        except Exception:
            _print_tail(project / "server.log")
            raise
        finally:
            _stop(server)
            shutil.rmtree(project, ignore_errors=True)


POTATO_INSTANCE = re.compile(r'id="instance_id"[^>]*value="([^"]*)"')


def _potato_annotated(project) -> int:
    """Items annotated so far, from Potato's per-user histories (one line per label set)."""
    histories = (project / "annotations").glob("*/annotation_history.jsonl")
    return sum(path.read_text().count('"schema_name": "refusal"') for path in histories)


def _start(command, *, env, cwd, log):
    """A server in its own process group (so that _stop ends it and its children), output to `log`."""
    with open(log, "wb") as output:
        return subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True, stdout=output, stderr=output)


def _print_tail(log, lines=30):
    print(f"--- the last {lines} lines of {log.name}:")
    print("\n".join(log.read_text(errors="replace").splitlines()[-lines:]))


def _stop(server):
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _wait(ready, server, *, what, timeout=600):
    """Until `ready()` is true; Label Studio migrates its database at first start (1-2 min)."""
    until = time.time() + timeout
    while time.time() < until:
        if server.poll() is not None:
            raise RuntimeError(f"{what} exited while starting (code {server.returncode})")
        try:
            if ready():
                return
        except Exception:  # not listening yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start in {timeout} s")


def _threaded_phases(args, make_client, one_item) -> dict:
    """One rater, then 10 and 30, each for args.seconds, in threads (the peers' clients are sync).

    `one_item(client, think)` times one next item and one submit, pausing `think` seconds between
    them (none for one rater, 0 to 2 x --think for 10 and 30, as for the Studio); a request that
    fails counts as an error."""
    import random
    import threading

    figures, clients = {}, []
    for raters, key in ((1, "one"), (10, "r10"), (30, "r30")):
        clients += [make_client(n) for n in range(len(clients), raters)]  # the same raters go on working
        nexts, submits, errors, lock = [], [], [], threading.Lock()
        deadline = time.perf_counter() + args.seconds

        def rater(client, lock=lock, nexts=nexts, submits=submits, errors=errors, deadline=deadline, raters=raters):
            while time.perf_counter() < deadline:
                think = random.uniform(0, 2 * args.peer_think) if raters > 1 else 0.0
                try:
                    next_seconds, submit_seconds = one_item(client, think)
                except Exception as error:  # a refused request or a timeout, as with the Studio
                    with lock:
                        errors.append(f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"[:200])
                    continue
                with lock:
                    nexts.append(next_seconds)
                    submits.append(submit_seconds)

        threads = [threading.Thread(target=rater, args=(client,)) for client in clients[:raters]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        figures[f"{key}_next_p95"] = bench_load.percentile(nexts, 0.95)
        figures[f"peer_{key}_errors"] = len(errors)
        if errors:
            print(f"  {len(errors)} error(s) with {raters} rater(s), first: {errors[0]}")
        if key == "one":
            figures["one_next_p50"] = bench_load.percentile(nexts, 0.5)
            figures["one_submit_p50"] = bench_load.percentile(submits, 0.5)
            figures["one_submit_p95"] = bench_load.percentile(submits, 0.95)
    for client in clients:
        client.close()
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
    parser.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"comma-separated, from {','.join(SYSTEMS)} (default: all that are installed or reachable)",
    )
    args = parser.parse_args()
    args.pool, args.think = True, args.peer_think
    # A SIGTERM unwinds like an exception, so every server this run started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.studio:
        print(json.dumps(studio_run(args, args.studio)))
        return

    chosen = set(args.systems.split(","))
    if chosen - set(SYSTEMS):
        parser.error(f"unknown systems: {', '.join(sorted(chosen - set(SYSTEMS)))}")
    peers = []
    for kind in (LabelStudio, Potato):
        if kind.key not in chosen:
            continue
        peer, why = kind.find()
        if peer:
            peers.append(peer)
        else:
            print(why)
    if not peers and chosen & {"label-studio", "potato"}:
        print("No peer installed: Studio-only figures (see docs/performance.md for how to add the peers).")
    systems = [peer.name for peer in peers] + ["Studio SQLite"] * ("sqlite" in chosen)
    if "postgresql" in chosen and bench_load._services(args.database_url, args.redis_url) is None:
        systems.append("Studio PostgreSQL")
    elif "postgresql" in chosen:
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
                child = _studio_child(backend)
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


def _studio_child(backend) -> subprocess.CompletedProcess:
    """This script again with --studio: the Studio's settings and django.setup() in a fresh process.
    Stopped with SIGTERM (never SIGKILL) if this run is interrupted, so that it stops its gunicorn."""
    command = [sys.executable, __file__, "--studio", backend, *sys.argv[1:]]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = child.communicate()
    except BaseException:
        child.terminate()
        child.wait(timeout=60)
        raise
    return subprocess.CompletedProcess(command, child.returncode, stdout, stderr)


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
    for system in (s for s in systems if not s.startswith("Studio")):
        errors = sum(v for run in results[system] for k, v in run.items() if k.endswith("_errors"))
        print(f"\n{system}: errors {errors}")


if __name__ == "__main__":
    main()
