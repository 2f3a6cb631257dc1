"""Judge runs: a registered judge scores a set of responses, one verdict per response.

What the states mean (docs/judging.md says the same to users):

- A verdict is "ok" when the judge's answer followed the rubric lines (perhaps after being sent
  back with the error, `attempts` says how often), "unparseable" when it never did: then no
  answer is guessed, `raw` keeps the last reply and the run counts it.
- A response the judge could not be asked about (the endpoint answered HTTP 5xx or 429 after
  its retries, or garbage instead of a chat completion) gets no verdict: the run counts it and
  fails with the first reason once it is done, and "Try again" judges only what is missing.
- An endpoint that cannot be reached at all fails the run at once, naming the address.
- FAILURES_IN_A_ROW failures with no success between them also end the run, so a broken
  endpoint never keeps a run going through hundreds of responses.

Verdicts are unique per response × judge × rubric version, so a re-run or a second delivery of
the task writes nothing twice, and a worker killed mid-run resumes with what is still missing.
"""

from __future__ import annotations

import os
from collections import Counter

from django.conf import settings
from django.db import IntegrityError, transaction

from annotation import checks, jobs, rubrics
from annotation.models import Judge, JudgeRun, Verdict

#: A run stops after this many responses in a row could not be judged.
FAILURES_IN_A_ROW = 5
#: Verdicts are written (and progress reported) this many at a time.
WRITE_BATCH = 8


class JudgeRunNameTaken(Exception):
    """Another judge run already has this name."""


class JudgeFrozen(Exception):
    """The judge has verdicts: register a new version instead of changing it."""


class JudgeRunFailed(Exception):
    """The run could not judge every response; the message says why and what to do."""


# --- the registry ---------------------------------------------------------------------------


def identity(judge: Judge) -> dict:
    """Who a verdict is from: stored with every verdict and shown beside its answers."""
    from modeling.judge import PROMPT_TEMPLATE_VERSION

    return {
        "judge": judge.name,
        "version": judge.version,
        "kind": judge.kind,
        "model": judge.model or "deterministic-checks",
        "prompt_template": "deterministic-checks" if judge.is_deterministic else PROMPT_TEMPLATE_VERSION,
        "rubric": judge.rubric.key,
        "rubric_version": judge.rubric.version,
    }


def save_judge(judge: Judge) -> Judge:
    """Save a judge's settings; refused once it has verdicts (its answers would change meaning)."""
    if judge.pk is not None:
        stored = Judge.objects.get(pk=judge.pk)
        changed = [f for f in Judge.FROZEN_FIELDS if getattr(stored, f) != getattr(judge, f)]
        if changed and stored.is_frozen:
            raise JudgeFrozen(
                f"“{stored}” has verdicts, so its settings ({', '.join(changed)}) are frozen. "
                "Register a new version to change them."
            )
    judge.full_clean()
    judge.save()
    return judge


def new_version(*, judge: Judge, created_by=None) -> Judge:
    """A copy of the judge as its next version, to change settings a frozen judge cannot."""
    latest = Judge.objects.filter(name=judge.name).order_by("-version").first()
    copy = Judge.objects.get(pk=judge.pk)
    copy.pk = None
    copy.version = latest.version + 1
    copy.created_by = created_by
    copy.save()
    return copy


def build_judge(judge: Judge):
    """The modeling judge for a registry row, on the rubric version the row names."""
    from modeling.judge import DeterministicChecks, OpenAICompatibleJudge, TransformersJudge

    strategies = checks.strategy_registry()
    if judge.kind == Judge.Kind.DETERMINISTIC:
        return DeterministicChecks(resources=checks.registry_data(), strategies=strategies)
    criteria = rubrics.plain_criteria(judge.rubric)
    if judge.kind == Judge.Kind.TRANSFORMERS:
        return TransformersJudge(
            judge.model,
            temperature=judge.temperature,
            max_new_tokens=judge.max_tokens,
            max_retries=judge.max_retries,
            criteria=criteria,
            strategies=strategies,
        )
    return OpenAICompatibleJudge(
        judge.endpoint_url,
        judge.model,
        api_key=os.environ.get(judge.api_key_env) if judge.api_key_env else None,
        temperature=judge.temperature,
        max_retries=judge.max_retries,
        max_tokens=judge.max_tokens,
        timeout=judge.timeout_seconds,
        backoff_seconds=settings.JUDGE_BACKOFF_SECONDS,
        criteria=criteria,
        strategies=strategies,
    )


# --- starting -------------------------------------------------------------------------------


def start_judge_run(
    *,
    name: str,
    judge: Judge,
    scope: str,
    created_by=None,
    generation_run=None,
    round=None,
    conditions=(),
    prompt_split: str = "",
    benchmark: str = "",
    pipeline=None,
) -> JudgeRun:
    """Create a judge run and queue it; raises JudgeRunNameTaken when the name is in use."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                run = JudgeRun.objects.create(
                    name=name,
                    judge=judge,
                    scope=scope,
                    generation_run=generation_run,
                    round=round,
                    prompt_split=prompt_split,
                    benchmark=benchmark,
                    pipeline=pipeline,
                    created_by=created_by,
                )
        except IntegrityError as error:
            if JudgeRun.objects.filter(name=name).exists():
                raise JudgeRunNameTaken("A judge run with this name exists; choose another.") from error
            raise
        if conditions:
            run.conditions.set(conditions)
        jobs.enqueue(run)
    return run


# --- running --------------------------------------------------------------------------------


def pending_responses(run: JudgeRun):
    """The run's responses that have no verdict from its judge on its rubric version yet."""
    judged = Verdict.objects.filter(judge=run.judge_id, rubric=run.judge.rubric_id).values("response")
    return run.responses().exclude(pk__in=judged)


def verdict_counts(run: JudgeRun) -> dict:
    """How many of the run's responses have an ok / unparseable verdict from its judge."""
    counts = Counter(
        Verdict.objects.filter(
            judge=run.judge_id, rubric=run.judge.rubric_id, response__in=run.responses().values("pk")
        ).values_list("status", flat=True)
    )
    return {"ok": counts.get(Verdict.Status.OK, 0), "unparseable": counts.get(Verdict.Status.UNPARSEABLE, 0)}


def run_judge_run(run: JudgeRun, context: jobs.JobContext) -> None:
    """The judge run's job body: judge what is still missing, write verdicts in batches."""
    from modeling.judge import JudgeBackendError, JudgeItem, JudgeUnreachable, judge_concurrently

    judge = run.judge
    total = run.responses().count()
    pending = list(pending_responses(run).select_related("prompt__domain"))
    counts = {**verdict_counts(run), "failed": 0}
    context.report(done=_judged(counts), total=total, detail=_detail(judge, counts))
    if not pending:
        return
    model_judge = build_judge(judge)
    by_key = {str(r.pk): r for r in pending}
    items = [
        JudgeItem(
            key=str(r.pk), prompt=r.prompt.text, response=r.text, domain=r.prompt.domain.slug, locale=r.prompt.locale
        )
        for r in pending
    ]
    who = identity(judge)
    batch, first_failure, in_a_row = [], "", 0
    judge_one = (
        (lambda item: model_judge.judge(item.prompt, item.response, domain=item.domain, locale=item.locale))
        if judge.is_deterministic
        else None
    )
    # Only an endpoint takes requests in parallel; a local model answers one prompt at a time.
    concurrency = judge.concurrency if judge.kind == Judge.Kind.ENDPOINT else 1
    results = judge_concurrently(model_judge, items, concurrency=concurrency, judge_one=judge_one)
    try:
        for item, outcome in results:
            if isinstance(outcome, JudgeUnreachable):
                raise JudgeRunFailed(str(outcome))
            if isinstance(outcome, JudgeBackendError):
                counts["failed"] += 1
                in_a_row += 1
                first_failure = first_failure or str(outcome)
                if in_a_row >= FAILURES_IN_A_ROW:
                    raise JudgeRunFailed(
                        f"Stopped after {in_a_row} responses in a row could not be judged: {first_failure}"
                    )
                continue
            if isinstance(outcome, Exception):
                raise outcome
            in_a_row = 0
            batch.append(_verdict(run, by_key[item.key], outcome, who))
            counts["ok" if outcome.status == "ok" else "unparseable"] += 1
            if len(batch) >= WRITE_BATCH:
                _write(batch)
                batch = []
                context.report(done=_judged(counts), total=total, detail=_detail(judge, counts))
                context.check_cancel()
    finally:
        _write(batch)  # what was judged before a failure or a cancel is kept, and shown
        context.report(done=_judged(counts), total=total, detail=_detail(judge, counts))
        results.close()
        close = getattr(model_judge, "close", None)
        if close:
            close()
    if counts["failed"]:
        raise JudgeRunFailed(
            f"{counts['failed']} of {total} responses could not be judged ({first_failure}). "
            "Their verdicts are missing; “Try again” judges only those."
        )


def _judged(counts: dict) -> int:
    """Responses of the run with a verdict (a response that failed is not done)."""
    return counts["ok"] + counts["unparseable"]


def _detail(judge: Judge, counts: dict) -> dict:
    return {"judge": str(judge), "kind": judge.kind, **counts}


def _verdict(run: JudgeRun, response, outcome, who: dict) -> Verdict:
    return Verdict(
        response=response,
        judge=run.judge,
        rubric_id=run.judge.rubric_id,
        run=run,
        kind=outcome.kind,
        identity=who,
        status=outcome.status,
        answers=outcome.answers,
        justifications=outcome.justifications,
        raw=outcome.raw,
        attempts=outcome.attempts,
        errors=list(outcome.errors),
        details=outcome.details,
        seconds=round(outcome.seconds, 4),
    )


def _write(verdicts: list[Verdict]) -> None:
    # A second delivery racing this one may have written some already: those are skipped.
    Verdict.objects.bulk_create(verdicts, ignore_conflicts=True)
