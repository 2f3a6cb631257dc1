"""A round's results from the database: the tidy ratings table, and the statistics' frame cut from it.

`tidy_ratings` is the one table of a round's answers: every human rating and every parsed judge
verdict, one row per answered criterion, with who gave it, on what, and how the statistics code
it (modeling.stats `code_answer`, the same function the judge's verdicts go through). The
exports (`write_tidy`: CSV through annotation.spreadsheets, Parquet byte-exact), the round
dashboard and `manage.py export_ratings` all read it; `ratings_frame` is its projection onto the
long frame modeling.stats reads. `criteria_scales` gives the scales of the round's rubric
version, whatever criteria an admin gave it. docs/statistics.md documents every column.
"""

import io

import pandas as pd
from django.db.models import Count, Q

from annotation import checks, rubrics, spreadsheets
from annotation.models import Rating, RoundItem, Verdict
from modeling.rubric import TEXT
from modeling.stats import code_answer, scales_for

RATINGS_FRAME_COLUMNS = ("response_id", "prompt_id", "rater", "condition", "domain", "criterion", "value")

TIDY_COLUMNS = (
    "round",
    "item",
    "response_id",
    "prompt_id",
    "condition",
    "domain",
    "locale",
    "should_refuse",
    "gold",
    "rater",
    "rater_kind",
    "judge_kind",
    "criterion",
    "value",
    "answer",
    "rubric",
    "rubric_version",
    "display_position",
    "seconds_on_item",
    "submitted_at",
)

HUMAN, JUDGE = "human", "judge"

TIDY_FORMATS = ("csv", "parquet")

# What tidy_ratings reads of a response, for ratings and verdicts alike.
_RESPONSE_FIELDS = (
    "response__public_id",
    "response__prompt_id",
    "response__condition__name",
    "response__prompt__locale",
    "response__prompt__should_refuse",
)


def criteria_scales(rubric) -> dict:
    """Criterion key -> modeling.stats Scale for a rubric version (pass as `criteria=`)."""
    return scales_for(rubrics.plain_criteria(rubric))


def _rubric_of(round):
    if round.rubric is None:
        raise ValueError(f"round {round.name!r} compares pairs: it has no rubric criteria to tabulate")
    return round.rubric


def _study_verdicts(round, rubric):
    """Verdicts on the round's study responses (gold items left out) made on the rubric version."""
    study = RoundItem.objects.filter(round=round, gold__isnull=True, excluded_at__isnull=True).values("response_id")
    return Verdict.objects.filter(rubric=rubric, response_id__in=study)


def tidy_ratings(*, round) -> pd.DataFrame:
    """Every answer given in a round, by a rater or a judge: one row per rating × answered criterion.

    Columns TIDY_COLUMNS (docs/statistics.md, "The tidy ratings table"). Human rows are the
    round's ratings made on its rubric version, gold items included (`gold` is True); judge
    rows are the parsed ("ok") verdicts of any judge on the round's study responses on that
    version (unparseable ones have no answers: see `verdict_status_counts`). A criterion with no
    answer (an optional one skipped, one a deterministic judge does not answer) has no row.
    `value` is the answer coded by its criterion's scale (yes/no 1/0, grades int, categories
    as written; free text as written), `answer` the stored string. Raises ValueError for a
    pairwise round. A fixed number of queries, however many ratings.
    """
    rubric = _rubric_of(round)
    criteria = rubrics.plain_criteria(rubric)
    strategies = checks.strategy_registry()

    def coded(head, answers, tail):
        for criterion in criteria:
            answer = answers.get(criterion.key)
            if answer is None or str(answer).strip() == "":
                continue
            value = answer if criterion.kind == TEXT else code_answer(criterion, answer, strategies=strategies)
            yield (*head, criterion.key, value, answer, rubric.key, rubric.version, *tail)

    rows = [
        row
        for rows_of in (_human_rows(round, rubric), _judge_rows(round, rubric))
        for head, answers, tail in rows_of
        for row in coded(head, answers, tail)
    ]
    frame = pd.DataFrame(rows, columns=list(TIDY_COLUMNS))
    return frame.astype({"display_position": "Int64", "seconds_on_item": float, "should_refuse": bool, "gold": bool})


def _human_rows(round, rubric):
    """(columns before the criterion, answers, columns after the rubric) for each rating."""
    pseudonyms = dict(round.memberships.values_list("rater_id", "pseudonym"))
    ratings = (
        Rating.objects.filter(round=round, rubric=rubric, item__excluded_at__isnull=True)
        .order_by("id")
        .values_list(
            "item__token",
            *_RESPONSE_FIELDS,
            "item__domain__slug",
            "item__gold_id",
            "rater_id",
            "answers",
            "display_position",
            "seconds_on_item",
            "submitted_at",
            named=True,
        )
    )
    for r in ratings.iterator(chunk_size=2000):
        head = (
            round.name,
            r.item__token,
            *_response_columns(r, domain=r.item__domain__slug, gold=r.item__gold_id is not None),
            pseudonyms[r.rater_id],
            HUMAN,
            "",
        )
        yield head, r.answers, (r.display_position, r.seconds_on_item, r.submitted_at.isoformat())


def _judge_rows(round, rubric):
    """The same for each parsed verdict on the round's study responses."""
    items = {
        response: (token, domain)
        for response, token, domain in RoundItem.objects.filter(
            round=round, gold__isnull=True, excluded_at__isnull=True
        ).values_list("response_id", "token", "domain__slug")
    }
    verdicts = (
        _study_verdicts(round, rubric)
        .filter(status=Verdict.Status.OK)
        .order_by("judge__name", "judge__version", "id")
        .values_list(
            "response_id",
            *_RESPONSE_FIELDS,
            "judge__name",
            "judge__version",
            "kind",
            "answers",
            "seconds",
            "created_at",
            named=True,
        )
    )
    for v in verdicts.iterator(chunk_size=2000):
        token, domain = items[v.response_id]
        head = (
            round.name,
            token,
            *_response_columns(v, domain=domain, gold=False),
            f"judge:{v.judge__name} v{v.judge__version}",
            JUDGE,
            v.kind,
        )
        yield head, v.answers, (None, v.seconds, v.created_at.isoformat())


def _response_columns(row, *, domain, gold) -> tuple:
    """response_id .. gold, from a row holding _RESPONSE_FIELDS."""
    return (
        row.response__public_id,
        row.response__prompt_id,
        row.response__condition__name or "reference",
        domain,
        row.response__prompt__locale,
        row.response__prompt__should_refuse,
        gold,
    )


def verdict_status_counts(*, round) -> list[dict]:
    """Per judge, its parsed and unparseable verdicts on the round's study responses and rubric version.

    [{"rater": "judge:<name> v<n>", "ok": n, "unparseable": m}], by judge name
    and version: the tidy table holds only the ok ones, so a page shows these beside it.
    """
    counts = (
        _study_verdicts(round, _rubric_of(round))
        .values("judge__name", "judge__version")
        .annotate(
            ok=Count("id", filter=Q(status=Verdict.Status.OK)),
            unparseable=Count("id", filter=Q(status=Verdict.Status.UNPARSEABLE)),
        )
        .order_by("judge__name", "judge__version")
    )
    return [
        {
            "rater": f"judge:{row['judge__name']} v{row['judge__version']}",
            "ok": row["ok"],
            "unparseable": row["unparseable"],
        }
        for row in counts
    ]


def ratings_frame(*, round) -> pd.DataFrame:
    """The tidy table cut to the long frame modeling.stats reads: human ratings of study responses.

    Columns RATINGS_FRAME_COLUMNS: response_id and prompt_id are the response's public id and
    the prompt's id, rater the rater's pseudonym in the round, condition the model condition's
    name ("reference" for an authored answer), domain the item's domain slug. Left out: judge
    verdicts, gold items (they check raters, they are not study responses), ratings made on
    another rubric version, skipped optional answers, and text criteria (not a statistic).
    """
    tidy = tidy_ratings(round=round)
    text = [key for key, scale in criteria_scales(round.rubric).items() if scale.kind == TEXT]
    keep = (tidy["rater_kind"] == HUMAN) & ~tidy["gold"] & ~tidy["criterion"].isin(text)
    return tidy.loc[keep, list(RATINGS_FRAME_COLUMNS)].reset_index(drop=True).infer_objects()


def write_tidy(frame: pd.DataFrame, out, *, format: str) -> None:
    """Write a tidy table to the binary file `out` as CSV or Parquet.

    CSV goes through annotation.spreadsheets, so a text cell that a spreadsheet would run as a
    formula gets an apostrophe in front; missing cells are empty. Parquet keeps every value
    exactly; its `value` column is text, since it mixes numbers and categories.
    """
    if format not in TIDY_FORMATS:
        raise ValueError(f"Unknown format {format!r}; use one of {', '.join(TIDY_FORMATS)}.")
    if format == "parquet":
        frame.astype({"value": "string"}).to_parquet(out, engine="pyarrow", index=False)
        return
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = spreadsheets.writer(text)
    writer.writerow(list(frame.columns))
    cells = frame.astype(object).where(frame.notna(), None)
    for row in cells.itertuples(index=False, name=None):
        writer.writerow(row)
    text.flush()
    text.detach()
