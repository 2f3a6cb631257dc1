"""The statistics' input from the database: a round's ratings in the long frame modeling.stats reads.

Minimal on purpose (the full tidy export is a later piece of work): `ratings_frame` codes every
rating's answers with the same functions the judge's verdicts go through (modeling.stats
`code_answer`), and `criteria_scales` gives the scales of the round's rubric version, whatever
criteria an admin gave it.
"""

import pandas as pd

from annotation import checks, rubrics
from annotation.models import Rating
from modeling.rubric import TEXT
from modeling.stats import code_answer, scales_for

RATINGS_FRAME_COLUMNS = ("response_id", "prompt_id", "rater", "condition", "domain", "criterion", "value")


def criteria_scales(rubric) -> dict:
    """Criterion key -> modeling.stats Scale for a rubric version (pass as `criteria=`)."""
    return scales_for(rubrics.plain_criteria(rubric))


def ratings_frame(*, round) -> pd.DataFrame:
    """One row per rating x criterion of the round's rubric version, coded for modeling.stats.

    Columns RATINGS_FRAME_COLUMNS: response_id and prompt_id are the response's public id and
    the prompt's id, rater the rater's pseudonym in the round, condition the model condition's
    name ("reference" for an authored answer), domain the item's domain slug. Left out: gold
    items (they check raters, they are not study responses), ratings made on another rubric
    version, skipped optional answers, and text criteria (not a statistic).
    """
    if round.rubric is None:
        raise ValueError(f"round {round.name!r} compares pairs: it has no rubric criteria to tabulate")
    criteria = [c for c in rubrics.plain_criteria(round.rubric) if c.kind != TEXT]
    strategies = checks.strategy_registry()
    pseudonyms = dict(round.memberships.values_list("rater_id", "pseudonym"))
    ratings = (
        Rating.objects.filter(round=round, rubric=round.rubric, item__gold__isnull=True)
        .order_by("id")
        .values_list(
            "response__public_id",
            "response__prompt_id",
            "rater_id",
            "response__condition__name",
            "item__domain__slug",
            "answers",
        )
    )
    rows = [
        (response, prompt, pseudonyms[rater], condition or "reference", domain, criterion.key, value)
        for response, prompt, rater, condition, domain, answers in ratings.iterator(chunk_size=2000)
        for criterion in criteria
        if (value := code_answer(criterion, answers.get(criterion.key), strategies=strategies)) is not None
    ]
    return pd.DataFrame(rows, columns=list(RATINGS_FRAME_COLUMNS))
