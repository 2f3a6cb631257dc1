"""The training schedule that fits the data: total optimiser steps, and a warm-up that fits in them.

The released PsychoSafe configuration warms the learning rate up over 100 steps. On the paper's
corpus (about 7,000 train pairs, batch 4, 5 epochs: some 8,750 steps) that is about 1% of the run.
On a small corpus it is not: 44 pairs give 55 steps, and a 100-step warm-up never reaches the
target learning rate. So, unless a warm-up is given explicitly, the paper's 100 steps are capped
at a tenth of the run (`WARMUP_SHARE`); the paper's data keeps the paper's 100 steps. An
explicit warm-up is kept, but one as long as the whole run is refused, and one above a tenth
of the run is warned about.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

PAPER_WARMUP_STEPS = 100
WARMUP_SHARE = 0.1
#: Fewer train pairs than this in a risk domain: the adapter sees too little of it to learn it.
MIN_PAIRS_PER_DOMAIN = 20


def total_steps(*, examples: int, batch_size: int, epochs: int, max_steps: int | None = None) -> int:
    """Optimiser steps of a run: batches per epoch x epochs, or max_steps if that is fewer
    (as modeling.training counts them; chats dropped for length make it a little less)."""
    steps = math.ceil(examples / batch_size) * epochs
    return steps if max_steps is None else min(steps, max_steps)


def fitted_warmup(*, total: int, warmup_steps: int = PAPER_WARMUP_STEPS) -> int:
    """The paper's warm-up, capped at WARMUP_SHARE of the run's steps."""
    return min(warmup_steps, math.floor(total * WARMUP_SHARE))


@dataclass
class Plan:
    examples: int
    total_steps: int
    warmup_steps: int
    warmup_note: str
    errors: list[str] = field(default_factory=list)  # refuse to start
    warnings: list[str] = field(default_factory=list)  # start, but say so


def plan(
    *,
    examples: int,
    batch_size: int,
    epochs: int,
    max_steps: int | None = None,
    warmup_steps: int | None = None,
    per_domain: dict[str, int] | None = None,
) -> Plan:
    """The run's steps and warm-up for this data and these settings, with what is wrong with them.

    `warmup_steps` None: the paper's warm-up, fitted to the run; a number: exactly that.
    `per_domain`: train pairs by domain name (domains with none included), for the warnings.
    """
    total = total_steps(examples=examples, batch_size=batch_size, epochs=epochs, max_steps=max_steps)
    result = Plan(examples=examples, total_steps=total, warmup_steps=0, warmup_note="")
    if warmup_steps is None:
        result.warmup_steps = fitted_warmup(total=total)
        result.warmup_note = (
            f"the paper's {PAPER_WARMUP_STEPS} steps"
            if result.warmup_steps == PAPER_WARMUP_STEPS
            else f"the paper's {PAPER_WARMUP_STEPS} steps capped at a tenth of the run"
        )
    else:
        result.warmup_steps = warmup_steps
        result.warmup_note = "as set"
        if total and warmup_steps >= total:
            result.errors.append(
                f"Warm-up ({warmup_steps} steps) is as long as the whole run ({total} steps): the learning rate "
                f"would never reach its target. Choose fewer than {total} steps, or leave warm-up blank to fit it "
                "to the run."
            )
        elif total and warmup_steps > total * WARMUP_SHARE:
            result.warnings.append(
                f"Warm-up takes {warmup_steps} of the run's {total} steps ({warmup_steps / total:.0%}): the "
                "learning rate is at its target for only part of the run."
            )
    for domain, n in (per_domain or {}).items():
        if n < MIN_PAIRS_PER_DOMAIN:
            result.warnings.append(
                f"{domain}: {'no' if n == 0 else f'only {n}'} train pair{'' if n == 1 else 's'} (fewer than "
                f"{MIN_PAIRS_PER_DOMAIN}); the adapter learns little about this domain."
            )
    return result
