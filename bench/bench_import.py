"""Import speed: the importer's bulk writer against the ORM path it replaced, in the same process.

Prints, for each database (SQLite; PostgreSQL when one is reachable, otherwise "skipped") and for
8,019 pairs (the paper's corpus size) and 50,000 pairs of synthetic Studio JSONL (TRL messages,
tags, metadata, authors with and without a Studio account, source ids):
  import_pairs: seconds and pairs/s with full validation, history rows and one transaction, and
                the peak RSS of the process during it (and its growth over the start of the run);
  ORM path:     the same file through the previous write path (ORM bulk_create + simple-history's
                bulk_create_with_history, tests/annotation/importing_orm.py), measured right after
                in the same process, and the speed-up of import_pairs over it.
The tables are emptied between runs, so both write into the same empty corpus. The figures are
wall-clock on whatever else the machine is doing: run it on an idle machine.

    python bench/bench_import.py                         # SQLite, then PostgreSQL if reachable
    python bench/bench_import.py --sizes 8019 --backends sqlite
    BENCH_POSTGRES_URL=postgres://user@host:5432/db python bench/bench_import.py

PostgreSQL: BENCH_POSTGRES_URL, else DATABASE_URL when it is a PostgreSQL URL, else the local
default below; a throwaway database (bench_import) is created and dropped.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

print = functools.partial(print, flush=True)  # noqa: A001 - figures appear as they are measured
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/psychosafe"
WORDS = (
    "feel tired night sleep pills friend family work anger partner hurt safe help call talk plan tonight "
    "worried drink drug knife gun school money alone scared stop want need wish change life better hope "
    "support someone message walk breathe listen reason choice future kids home car phone week month"
).split()
DOMAINS = ["suicide", "substance", "violence", "weapons", "sexual_crimes"]
STRATEGIES = ["safety-planning", "motivational-interviewing", "green-dot"]
RESOURCES = ["988-lifeline", "samaritans"]
STATUSES = ["submitted", "approved", "draft"]


def postgres_url() -> str:
    url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_POSTGRES


def studio_jsonl(n: int, *, seed: int) -> bytes:
    rng = random.Random(seed)

    def sentence(words):
        return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."

    lines = []
    for i in range(n):
        prompt = f"{sentence(18)} {sentence(10)} ({i})"
        answer = "\n\n".join(sentence(rng.randint(25, 45)) for _ in range(4))
        row = {
            "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
            "domain": DOMAINS[i % 5],
            "risk_category": "bench",
            "locale": "en-GB" if i % 3 else "en-US",
            "should_refuse": i % 10 != 0,
            "source_name": "bench",
            "source_ref": str(i),
            "split": "unassigned",
            "status": STATUSES[i % 3],
            "strategies": STRATEGIES[: 1 + i % 3],
            "resources": RESOURCES[: i % 3],
            "author": f"author{i % 6}",  # author0-2 have Studio accounts, author3-5 do not
            "metadata": {"batch": i // 1000, "tags": ["bench", DOMAINS[i % 5]]},
        }
        lines.append(json.dumps(row, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


class PeakRSS:
    """The process's resident memory, sampled every 5 ms while a block runs (Linux /proc)."""

    def __init__(self):
        self.start = self.peak = self._now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _now() -> int:
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux: the all-time peak is the best there is
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._now())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._now())


def _setup_django(backend: str):
    if backend == "postgresql":
        os.environ["DATABASE_URL"] = postgres_url()
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "psychosafe_site.settings")
    os.environ.setdefault("DEBUG", "1")  # the settings require it; a benchmark is a development run
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.DEBUG = False  # as in production; DEBUG also records every SQL query in memory
    name = str(settings.VAR_DIR / "bench-import.sqlite3") if connection.vendor == "sqlite" else "bench_import"
    connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": name}
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    return connection


def _empty_corpus(connection):
    from annotation.models import Prompt, Response

    models = [
        Response.strategies.through,
        Response.resources.through,
        Response.history.model,
        Response,
        Prompt.history.model,
        Prompt,
    ]
    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")


def _timed(fn):
    """(wall seconds, CPU seconds of this process, PeakRSS, result). On a busy machine the CPU
    seconds are the steadier figure; on SQLite they include the database's own work."""
    with PeakRSS() as rss:
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return seconds, cpu, rss, result


def run_backend(backend: str, sizes: list[int]) -> None:
    connection = _setup_django(backend)
    try:
        from annotation import importing, roles
        from tests.annotation.importing_orm import import_with_orm
        from tests.personas import make_user

        roles.ensure_role_groups()
        admin = make_user("bench-admin", roles.ADMIN)
        for i in range(3):
            make_user(f"author{i}", roles.AUTHOR)
        if connection.vendor == "postgresql":
            version = f"server {connection.pg_version // 10000}.{connection.pg_version % 10000}, psycopg {connection.Database.__version__}"
        else:
            version = f"SQLite {connection.Database.sqlite_version}"
        print(f"{connection.vendor} ({version})")
        for size in sizes:
            data = studio_jsonl(size, seed=size)
            label = f"  {size:>6,} pairs ({len(data) / 2**20:.0f} MiB JSONL)"
            fast_s, fast_cpu, fast_rss, summary = _timed(
                lambda data=data: importing.import_pairs(data=data, format="jsonl", user=admin)
            )
            assert summary.pairs == size, summary
            _empty_corpus(connection)
            orm_s, orm_cpu, orm_rss, pairs = _timed(
                lambda data=data: import_with_orm(data=data, format="jsonl", user=admin)
            )
            assert pairs == (size, size), pairs
            _empty_corpus(connection)
            mib = 2**20
            print(
                f"{label}: import_pairs {fast_s:6.2f} s (CPU {fast_cpu:5.2f} s) {size / fast_s:7,.0f} pairs/s, peak RSS "
                f"{fast_rss.peak / mib:5.0f} MiB (+{(fast_rss.peak - fast_rss.start) / mib:.0f})"
            )
            print(
                f"{' ' * len(label)}  ORM path     {orm_s:6.2f} s (CPU {orm_cpu:5.2f} s) {size / orm_s:7,.0f} pairs/s, peak RSS "
                f"{orm_rss.peak / mib:5.0f} MiB (+{(orm_rss.peak - orm_rss.start) / mib:.0f}); "
                f"import_pairs is {orm_s / fast_s:.1f}x faster (CPU {orm_cpu / fast_cpu:.1f}x)"
            )
            del data
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


def postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        # The server's maintenance database: the bench creates its own and needs none to exist.
        psycopg.connect(postgres_url(), dbname="postgres", connect_timeout=3).close()
    except Exception as error:  # any connection failure means: skip, and say why
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0][:120]}"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8019,50000", help="comma-separated numbers of pairs")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.child:
        run_backend(args.child, sizes)
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"import benchmark: {os.cpu_count()} cores, load average {load:.1f} at start")
    for backend in args.backends.split(","):
        if backend == "postgresql" and (why := postgres_reachable()):
            print(f"postgresql: skipped ({why})")
            continue
        # One process per database: Django binds its database at start-up, and each gets a clean RSS.
        command = [sys.executable, __file__, "--child", backend, "--sizes", args.sizes]
        subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


if __name__ == "__main__":
    main()
