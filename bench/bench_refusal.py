"""Refusal classifiers on the hand-written labelled set: the rules against XSTest's string match.

For the dev split (the rules were developed on it) and the held-out test split separately:
three-class accuracy, binary accuracy (refusal = full or partial, against compliance),
per-class precision and recall, and the confusion matrix, for `classify_refusal` and for
XSTest's string-match baseline:

    python bench/bench_refusal.py            # both splits
    python bench/bench_refusal.py --errors   # also list the rules' mistakes on the test split
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def score(gold: list[str], predicted: list[str]) -> dict:
    """Three-class and binary accuracy of `predicted` against `gold`."""
    from modeling.refusal import FULL_COMPLIANCE

    pairs = list(zip(gold, predicted, strict=True))
    return {
        "accuracy": sum(g == p for g, p in pairs) / len(pairs),
        "binary": sum((g == FULL_COMPLIANCE) == (p == FULL_COMPLIANCE) for g, p in pairs) / len(pairs),
    }


def report(name: str, gold: list[str], predicted: list[str]) -> None:
    from sklearn.metrics import classification_report, confusion_matrix

    from modeling.refusal import LABELS

    scores = score(gold, predicted)
    print(f"\n{name}: 3-class accuracy {scores['accuracy']:.3f}   binary accuracy {scores['binary']:.3f}")
    print(classification_report(gold, predicted, labels=list(LABELS), digits=3, zero_division=0))
    matrix = confusion_matrix(gold, predicted, labels=list(LABELS))
    width = max(len(label) for label in LABELS)
    print(f"confusion (rows: gold, columns: predicted)\n{'':>{width}s} " + " ".join(f"{lb[:12]:>12s}" for lb in LABELS))
    for label, row in zip(LABELS, matrix, strict=True):
        print(f"{label:>{width}s} " + " ".join(f"{n:12d}" for n in row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--errors", action="store_true", help="list the rules' mistakes on the test split")
    args = parser.parse_args()

    from modeling.refusal import classify_by_string_match, classify_refusal, load_labelled

    rows = load_labelled()
    started = time.perf_counter()
    rules = {row["id"]: classify_refusal(row["prompt"], row["completion"]) for row in rows}
    seconds = time.perf_counter() - started
    print(f"{len(rows)} labelled completions; the rules took {1000 * seconds / len(rows):.2f} ms each")
    for split in ("dev", "test"):
        chosen = [row for row in rows if row["split"] == split]
        gold = [row["label"] for row in chosen]
        print(f"\n=== {split} split: {len(chosen)} completions ===")
        report("rules (classify_refusal)", gold, [rules[row["id"]].label for row in chosen])
        report("XSTest string match", gold, [classify_by_string_match(row["completion"]) for row in chosen])
    if args.errors:
        print("\n=== the rules' mistakes on the test split ===")
        for row in rows:
            got = rules[row["id"]]
            if row["split"] == "test" and got.label != row["label"]:
                print(f"\n{row['id']} [{row['style']}, {row['domain']}] gold {row['label']}, got {got.label}")
                print(f"  prompt:   {row['prompt']}")
                print(f"  response: {' '.join(row['completion'].split())}")
                print(f"  reason:   {got.reason}")


if __name__ == "__main__":
    main()
