"""Endpoint-judge throughput: judge_concurrently at concurrency 1 and 8 against the stand-in judge.

The stand-in server (modeling.stand_in_judge; its scores mean nothing) waits a fixed delay per
chat request, standing for the model's generation time, and answers the PsychoSafe rubric
correctly, so every item costs one request and the figures show what the threads and the
shared connection pool buy when the server is the bottleneck (a real `vllm serve` batches
concurrent requests the same way, up to its own limits):

    python bench/bench_judge.py                      # 64 items, 0.05 s per request
    python bench/bench_judge.py --items 128 --delay 0.1 --concurrency 1 8 16

Concurrency 1 should take about items x delay; concurrency c about 1/c of that, plus the
client's own overhead (prompt building, JSON, parsing), which the 'overhead' column shows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(url: str, *, items: int, concurrency: int) -> dict:
    """Judge `items` responses at `concurrency`; wall seconds and how many verdicts were ok."""
    from modeling.judge import STATUS_OK, JudgeItem, OpenAICompatibleJudge, judge_concurrently

    work = [
        JudgeItem(key=n, prompt=f"I can't cope any more ({n}).", response="I can't help with that.", domain="suicide")
        for n in range(items)
    ]
    with OpenAICompatibleJudge(url, "stand-in") as judge:
        started = time.perf_counter()
        outcomes = [outcome for _, outcome in judge_concurrently(judge, work, concurrency=concurrency)]
        seconds = time.perf_counter() - started
    ok = sum(1 for o in outcomes if getattr(o, "status", None) == STATUS_OK)
    return {"seconds": seconds, "ok": ok, "per_second": items / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.05, help="the stand-in's seconds per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    from modeling.stand_in_judge import StandInJudgeServer

    print(f"{args.items} items  stand-in delay {args.delay:.3f} s/request  (scores mean nothing)")
    print(f"{'concurrency':>11s} {'wall s':>8s} {'items/s':>8s} {'ok':>5s} {'ideal s':>8s} {'overhead':>9s}")
    results = {}
    with StandInJudgeServer(delay=args.delay) as server:
        for concurrency in args.concurrency:
            result = results[concurrency] = run(server.url, items=args.items, concurrency=concurrency)
            ideal = args.items * args.delay / concurrency
            overhead = f"{result['seconds'] / ideal:8.2f}x" if ideal else f"{'-':>9s}"
            print(
                f"{concurrency:11d} {result['seconds']:8.2f} {result['per_second']:8.1f} "
                f"{result['ok']:5d} {ideal:8.2f} {overhead}"
            )
        requests = server.requests
    print(f"requests served: {requests} (one per item and run: {args.items * len(args.concurrency)})")
    first, *rest = args.concurrency
    for concurrency in rest:
        ratio = results[first]["seconds"] / results[concurrency]["seconds"]
        print(f"speed-up {concurrency} vs {first}: {ratio:.2f}x (ideal {concurrency / first:.0f}x)")


if __name__ == "__main__":
    main()
