"""Round building: a round over N model responses with k slots each, set-based against row-by-row.

`rounds.add_responses` now makes the items with one INSERT ... SELECT and their slots with
another (domains interleaved, shuffled in the database). The previous path, kept here as
`previous_add_responses` for the comparison, loaded every response with its prompt, made a
RoundItem object each (bulk_create, 2,000 a statement) and then a Slot object per slot
(bulk_create, 5,000 a statement). Each path builds its own round over the same responses.

    python bench/bench_round_build.py                         # SQLite, 100,000 responses, k = 3
    python bench/bench_round_build.py --responses 20000 --skip-previous
    BENCH_POSTGRES_URL=postgres://user@host/db python bench/bench_round_build.py --backend postgres

The target: 100,000 responses with k = 3 (300,000 slots) in under 10 s.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def previous_add_responses(*, round, responses):
    """The row-by-row path this bench compares against (as it was before the set-based one)."""
    from django.db import transaction
    from django.db.models import Max

    from annotation.models import RoundItem, Slot

    present = set(round.items.values_list("response_id", flat=True))
    items = [
        RoundItem(round=round, response=r, domain_id=r.prompt.domain_id, capacity=round.k)
        for r in responses.select_related("prompt")
        if r.pk not in present
    ]
    with transaction.atomic():
        RoundItem.objects.bulk_create(items, batch_size=2000)
        start = (Slot.objects.filter(round=round).aggregate(m=Max("order_key"))["m"] or 0) + 1
        by_domain = defaultdict(list)
        for item in items:
            by_domain[item.domain_id].append(item)
        for group in by_domain.values():
            random.shuffle(group)
        columns = list(by_domain.values())
        random.shuffle(columns)
        ordered = [item for row in itertools.zip_longest(*columns) for item in row if item is not None]
        slots = [
            Slot(round=round, item=item, number=n, level=n, order_key=key, domain_id=item.domain_id)
            for key, item in enumerate(ordered, start=start)
            for n in range(item.capacity)
        ]
        Slot.objects.bulk_create(slots, batch_size=5000)
    return len(items)


def _setup(backend):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "psychosafe_site.settings")
    os.environ.setdefault("DEBUG", "1")  # the settings require it; a benchmark is a development run
    os.environ["CACHE_URL"] = "locmem://"
    if backend == "postgres":
        os.environ["DATABASE_URL"] = os.environ.get(
            "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/psychosafe"
        )
    else:
        os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    database = connections.databases["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database["TEST"] = {**database["TEST"], "NAME": str(settings.VAR_DIR / "bench-round-build.sqlite3")}
    else:
        database["TEST"] = {**database["TEST"], "NAME": "bench_round_build"}
    from django.test.utils import setup_databases

    return setup_databases(verbosity=0, interactive=False)


def _responses(n):
    from annotation.models import ModelCondition, Prompt, Response, RiskDomain, SystemPrompt

    domains = list(RiskDomain.objects.all())
    system_prompt = SystemPrompt.objects.order_by("pk").first()
    conditions = [
        ModelCondition.objects.create(name=f"bench-{i}", base_model="bench", system_prompt=system_prompt)
        for i in range(5)
    ]
    prompts = Prompt.objects.bulk_create(
        [
            Prompt(text=f"bench prompt {i}", domain=domains[i % len(domains)], split="validation")
            for i in range(n // len(conditions))
        ],
        batch_size=5000,
    )
    Response.objects.bulk_create(
        [Response(prompt=p, condition=c, origin="model", text=f"r {p.pk}/{c.pk}") for p in prompts for c in conditions],
        batch_size=5000,
    )
    return conditions


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--skip-previous", action="store_true", help="time only the set-based path")
    args = parser.parse_args()
    old_config = _setup(args.backend)
    try:
        from django.db import connection

        from annotation import rounds, rubrics
        from annotation.models import Slot

        conditions = _responses(args.responses)
        chosen = rounds.model_responses(conditions=conditions)
        n = chosen.count()
        print(
            f"{connection.vendor}: {n:,} responses, k = {args.k}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
        )
        timings = {}
        paths = [("set-based", rounds.add_responses)]
        if not args.skip_previous:
            paths.append(("previous", previous_add_responses))
        for name, add in paths:
            round = rounds.create_round(
                name=f"bench {name}", rater_title="Bench", rubric=rubrics.default_rubric(), k=args.k
            )
            cpu, start = time.process_time(), time.perf_counter()
            added = add(round=round, responses=chosen)
            timings[name] = time.perf_counter() - start
            slots = Slot.objects.filter(round=round).count()
            assert added == n and slots == n * args.k, (added, slots)
            print(
                f"  {name:10} {timings[name]:7.2f} s wall, {time.process_time() - cpu:6.2f} s CPU in this process "
                f"({added:,} items, {slots:,} slots)"
            )
        if "previous" in timings:
            print(f"  set-based is {timings['previous'] / timings['set-based']:.1f}x faster than the previous path")
        print(
            f"  target: under 10 s for 100,000 responses with k = 3 -> {'met' if timings['set-based'] < 10 else 'NOT met'}"
        )
    finally:
        from django.test.utils import teardown_databases

        teardown_databases(old_config, verbosity=0)


if __name__ == "__main__":
    main()
