"""Corpus import, export and browser latency.

Prints:
  import of 8,019 pairs in the authors' JSON format (the paper's corpus size), all or nothing;
  export of 50,000 pairs as Studio JSONL and as CSV;
  corpus browser page latency (p50/p95 over repeated requests) at 10,000 and 100,000 pairs:
  first page, a domain + status filter, a full-text search, and a page deep in the keyset.

Baselines measured in the same process: json.loads of the import file (parsing alone), a plain
values_list() scan of the exported rows, and the /healthz page through the same test client
(the framework's own cost per request). Targets from the issue: import and export in seconds,
page p95 under 100 ms.

    python bench/bench_corpus.py                      # SQLite (a throwaway file under var/)
    python bench/bench_corpus.py --backend postgres   # BENCH_POSTGRES_URL or the local default
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import random
import statistics
import sys
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
LABELS = ["suicide and selfharm", "substance", "violence", "weapon", "crimes (sexual)"]


def _setup_django(backend: str):
    if backend == "postgres":
        os.environ["DATABASE_URL"] = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "psychosafe_site.settings")
    os.environ.setdefault("DEBUG", "1")  # the settings require it; a benchmark is a development run
    os.environ["HF_HUB_OFFLINE"] = "1"
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    name = str(settings.VAR_DIR / "bench-corpus.sqlite3") if connection.vendor == "sqlite" else "bench_corpus"
    connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": name}
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    return connection


RARE = [f"topic{i}" for i in range(5000)]  # a long tail, so some searches are selective


def _sentence(rng, n):
    words = [rng.choice(WORDS) for _ in range(n)] + [rng.choice(RARE) for _ in range(2)]
    rng.shuffle(words)
    return " ".join(words).capitalize() + "."


def authors_rows(n, *, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        prompt = f"{_sentence(rng, 18)} {_sentence(rng, 10)} ({i})"
        answer = "\n\n".join(_sentence(rng, rng.randint(25, 45)) for _ in range(4)) + f" [{i}]"
        rows.append(
            {
                "prompt": prompt,
                "answer": answer,
                "risk cluster": LABELS[i % 5],
                "risk category": "bench",
                "framework_name": "bench",
                "author": f"author{i % 7}",
            }
        )
    return rows


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_import(user):
    from annotation import importing

    data = json.dumps(authors_rows(8019, seed=1), indent=2).encode()
    parse_s, _ = _timed(lambda: json.loads(data))
    seconds, summary = _timed(lambda: importing.import_pairs(data=data, format="psychosafe", user=user))
    print(
        f"import  8,019 pairs (authors' JSON, {len(data) / 2**20:.1f} MiB): {seconds:.2f} s "
        f"({summary.pairs / seconds:,.0f} pairs/s; json.loads alone {parse_s:.2f} s, x{seconds / parse_s:.0f})"
    )


def grow_to(n, user):
    from annotation import importing
    from annotation.models import Response

    have = Response.objects.count()
    batch = 10_000
    seed = 100
    while have < n:
        size = min(batch, n - have)
        rows = [json.dumps(r) for r in authors_rows(size, seed=seed + have)]
        for index, row in enumerate(rows):  # unique prompts across batches
            rows[index] = row.replace('"risk category": "bench"', f'"risk category": "b{have + index}"')
        importing.import_pairs(data=("\n".join(rows) + "\n").encode(), format="psychosafe", user=user)
        have += size


def bench_export():
    from annotation import exporting
    from annotation.models import Response

    queryset = Response.objects.order_by("pk")[:0]
    ids = list(Response.objects.order_by("pk").values_list("pk", flat=True)[:50_000])
    queryset = Response.objects.filter(pk__lte=ids[-1])
    scan_s, _ = _timed(lambda: sum(len(t) for t in queryset.values_list("text", flat=True).iterator()))
    for fmt in ("jsonl", "csv"):
        out = io.BytesIO()
        seconds, count = _timed(lambda fmt=fmt, out=out: exporting.export_pairs(queryset=queryset, format=fmt, out=out))
        print(
            f"export {count:,} pairs as {fmt}: {seconds:.2f} s ({len(out.getvalue()) / 2**20:.0f} MiB; "
            f"plain text scan {scan_s:.2f} s, x{seconds / scan_s:.1f})"
        )


def bench_browser(client, label, repeat):
    from annotation.models import Response

    middle = Response.objects.order_by("pk").values_list("pk", flat=True)[Response.objects.count() // 2]
    pages = {
        "/healthz (baseline)": "/healthz",
        "first page": "/corpus/",
        "domain + status": "/corpus/?domain=violence&status=submitted",
        "search 'sleep pills'": "/corpus/?q=sleep+pills",  # common words: matches most pairs
        "search rare word": "/corpus/?q=topic1234",
        "search + domain": "/corpus/?q=knife&domain=weapons",
        "deep keyset page": f"/corpus/?after={middle}",
    }
    print(f"corpus browser at {label} pairs ({repeat} requests each):")
    baseline = None
    for name, url in pages.items():
        client.get(url)  # warm
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - start)
            assert response.status_code == 200, (url, response.status_code)
        times.sort()
        p50, p95 = statistics.median(times) * 1000, times[int(0.95 * (len(times) - 1))] * 1000
        baseline = baseline or p50
        print(f"  {name:22s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  (x{p50 / baseline:.1f} baseline p50)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--max-pairs", type=int, default=100_000)
    args = parser.parse_args()
    connection = _setup_django(args.backend)
    try:
        from django.conf import settings
        from django.test import Client

        from annotation import roles
        from tests.personas import make_user

        settings.ALLOWED_HOSTS = ["*"]
        settings.DEBUG = False  # as in production; DEBUG also records every SQL query in memory
        roles.ensure_role_groups()
        admin = make_user("bench-admin", roles.ADMIN)
        print(f"backend: {connection.vendor}, cores: {os.cpu_count()}")
        bench_import(admin)
        client = Client()
        client.force_login(make_user("bench-reviewer", roles.REVIEWER))
        grow_to(10_000, admin)
        bench_browser(client, "10,000", args.repeat)
        grow_to(50_000, admin)
        bench_export()
        if args.max_pairs > 50_000:
            grow_to(args.max_pairs, admin)
            bench_browser(client, f"{args.max_pairs:,}", args.repeat)
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
