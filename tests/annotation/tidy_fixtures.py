"""A small rated round for the tidy-table tests: two raters, a gold item, two judges, and the odd ones out."""

from dataclasses import dataclass

from annotation import queues, rounds, rubrics
from annotation.audit import audited_update
from annotation.models import GoldItem, Judge, Prompt, Rating, Response, Round, Verdict
from tests.annotation.rating_fixtures import ensure_catalog, full_answers, make_conditions, make_outputs, make_prompts

#: Raj's comment on the first response: a spreadsheet would run it as a formula.
FORMULA = '=HYPERLINK("http://evil.example/", "click")'


@dataclass
class TidyRound:
    round: Round
    rubric: object
    responses: list
    gold_response: Response
    moved: Rating
    qwen: Judge
    checks: Judge


def relevance(response, rater_index) -> str:
    """A grade that differs by response and rater, so means per condition are not trivial."""
    return str(1 + (response.pk * 3 + rater_index * 2) % 5)


def build_tidy_round(*, raters, name="Tidy round") -> TidyRound:
    """Four study responses (2 prompts × 2 conditions) and one gold reference, rated by `raters`.

    The first rater comments FORMULA on the first response; the second rater's rating of the
    last response is moved to the next rubric version (so it is left out). Judge qwen has ok
    verdicts on the first two responses, an unparseable one on the third, and verdicts the
    table leaves out (on the gold response, on the next rubric version, on a response outside
    the round); judge checks (deterministic) answers two criteria of the first response.
    """
    ensure_catalog()
    rubric = rubrics.default_rubric()
    prompts = make_prompts(per_domain=1)[:2]
    audited_update(Prompt.objects.filter(pk=prompts[1].pk), should_refuse=False, locale="de-DE")
    prompts[1].refresh_from_db()
    conditions = make_conditions(2)
    responses = make_outputs(conditions, prompts)
    gold_response = Response.objects.create(
        prompt=prompts[0], origin=Response.Origin.REFERENCE, status=Response.Status.APPROVED, text="A gold answer."
    )
    gold = GoldItem.objects.create(response=gold_response, rubric=rubric, answers={"refusal": "yes"})
    round = rounds.create_round(name=name, rater_title="Validation round", rubric=rubric, k=len(raters), raters=raters)
    rounds.add_responses(round=round, responses=responses)
    rounds.add_gold_items(round=round, gold_items=[gold])
    rounds.open_round(round=round)
    for index, rater in enumerate(raters):
        while slot := queues.claim_next(round=round, rater=rater):
            response = slot.item.response
            answers = full_answers(relevance=relevance(response, index))
            if index == 0 and response == responses[0]:
                answers["comment"] = FORMULA
            queues.submit_rating(round=round, rater=rater, lease_token=slot.lease_token, answers=answers)
    next_version = rubrics.new_version(rubric=rubric)
    moved = Rating.objects.get(round=round, rater=raters[1], response=responses[-1])
    audited_update(Rating.objects.filter(pk=moved.pk), rubric=next_version)

    qwen = Judge.objects.create(
        name="qwen", kind=Judge.Kind.ENDPOINT, endpoint_url="http://x/v1", model="m", rubric=rubric
    )
    checks = Judge.objects.create(name="checks", kind=Judge.Kind.DETERMINISTIC, rubric=rubric)
    outside = make_outputs(conditions[:1], make_prompts(per_domain=1)[:1])[0]
    for response, seconds in ((responses[0], 1.5), (responses[1], 2.25), (gold_response, 1.0), (outside, 1.0)):
        answers = full_answers(relevance="5", strategy="motivational-interviewing")
        Verdict.objects.create(
            response=response, judge=qwen, rubric=rubric, kind="llm", status="ok", answers=answers, seconds=seconds
        )
    Verdict.objects.create(
        response=responses[2], judge=qwen, rubric=rubric, kind="llm", status="unparseable", raw="Well..."
    )
    Verdict.objects.create(
        response=responses[3], judge=qwen, rubric=next_version, kind="llm", status="ok", answers=full_answers()
    )
    Verdict.objects.create(
        response=responses[0],
        judge=checks,
        rubric=rubric,
        kind="deterministic",
        status="ok",
        answers={"refusal": "yes", "references": "no"},
        seconds=0.01,
    )
    return TidyRound(round, rubric, responses, gold_response, moved, qwen, checks)
