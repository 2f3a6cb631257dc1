"""Rubric criteria as plain data, and the PsychoSafe rubric (see docs/paper.md).

A criterion is what one question of a rubric asks and how it is answered. Its kind is one of
the kinds of `annotation.models.Criterion.Kind`:

  yes_no    answers "yes" / "no"
  scale     answers "1" .. str(scale_points)
  choice    answers one of its options' values
  strategy  answers a strategy key, "other" or "none" (see modeling.strategies)
  text      answers free text

Answers take these same string forms wherever they are stored: a rater's `Rating.answers`, a
judge's verdict, a gold item. The PsychoSafe rubric's criteria live in
modeling/data/psychosafe_rubric.json, one wording of every anchor for raters and the judge alike;
the annotation app seeds its rubric version 1 from a frozen copy of them, and the statistics
read their scales from the same criteria.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

YES_NO = "yes_no"
SCALE = "scale"
CHOICE = "choice"
STRATEGY = "strategy"
TEXT = "text"
KINDS = (YES_NO, SCALE, CHOICE, STRATEGY, TEXT)

PSYCHOSAFE_FILE = Path(__file__).resolve().parent / "data" / "psychosafe_rubric.json"


@dataclass(frozen=True)
class Option:
    """One answer of a criterion: its stored value, a label and the anchor text that describes it."""

    value: str
    label: str = ""
    anchor: str = ""

    @classmethod
    def from_data(cls, data: Mapping) -> Option:
        return cls(value=str(data["value"]), label=str(data.get("label") or ""), anchor=str(data.get("anchor") or ""))

    def as_data(self) -> dict:
        return {"value": self.value, **({"label": self.label} if self.label else {}), "anchor": self.anchor}


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    kind: str
    question: str = ""
    scale_points: int | None = None
    options: tuple[Option, ...] = ()
    required: bool = True

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"criterion {self.key!r}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind == SCALE and not (self.scale_points and self.scale_points >= 2):
            raise ValueError(f"criterion {self.key!r}: a scale needs 2 or more points")

    @classmethod
    def from_data(cls, data) -> Criterion:
        """From a mapping, or anything with the same attributes (a `Criterion` model row)."""
        get = data.get if isinstance(data, Mapping) else lambda name, default=None: getattr(data, name, default)
        return cls(
            key=str(get("key")),
            label=str(get("label") or get("key")),
            kind=str(get("kind")),
            question=str(get("question") or ""),
            scale_points=get("scale_points"),
            options=tuple(Option.from_data(o) for o in get("options") or ()),
            required=bool(get("required", True)),
        )

    def as_data(self) -> dict:
        """The plain-data form (the shape `annotation.models.Criterion` rows are created from)."""
        return {
            "key": self.key,
            "label": self.label,
            "question": self.question,
            "kind": self.kind,
            "scale_points": self.scale_points,
            "options": [o.as_data() for o in self.options],
            "required": self.required,
        }

    def answer_options(self) -> list[Option]:
        """Every answer of a closed criterion in order, labelled and anchored; [] for strategy and text.

        Yes/no and scale answers are fixed by the kind; their stored options only add labels
        and anchors (as in `annotation.models.Criterion.choices`).
        """
        given = {o.value: o for o in self.options}

        def option(value: str, label: str) -> Option:
            stored = given.get(value, Option(value))
            return Option(value, stored.label or label, stored.anchor)

        if self.kind == YES_NO:
            return [option("yes", "Yes"), option("no", "No")]
        if self.kind == SCALE:
            return [option(str(n), str(n)) for n in range(1, self.scale_points + 1)]
        if self.kind == CHOICE:
            return [option(o.value, o.value) for o in self.options]
        return []


def read_criteria(rows) -> list[Criterion]:
    """Criteria from plain data or model rows, in the order given."""
    return [row if isinstance(row, Criterion) else Criterion.from_data(row) for row in rows]


def read_psychosafe() -> list[dict]:
    """The PsychoSafe rubric's criteria as plain data (a fresh copy each call)."""
    return json.loads(PSYCHOSAFE_FILE.read_text(encoding="utf-8"))


@cache
def psychosafe() -> tuple[Criterion, ...]:
    """The PsychoSafe rubric's criteria, in rubric order."""
    return tuple(read_criteria(read_psychosafe()))
