"""Judge runs against a real local HTTP endpoint: every way an endpoint misbehaves ends in a stated
verdict state or run message, never a stuck run, and a re-run adds nothing twice."""

import socket

import pytest

from annotation import jobs, judging, rubrics
from annotation.models import JobState, Judge, JudgeRun, Verdict
from modeling.stand_in_judge import GARBAGE, StandInJudgeServer
from tests.annotation.rating_fixtures import make_conditions, make_outputs, make_prompts

pytestmark = pytest.mark.django_db

NEVER_PARSES = "I think this response is quite good overall."


@pytest.fixture(autouse=True)
def quick_backoff(settings):
    settings.JUDGE_BACKOFF_SECONDS = 0.01


@pytest.fixture
def outputs():
    conditions = make_conditions(2)
    return make_outputs(conditions, make_prompts(per_domain=1)), conditions


def _endpoint_judge(url: str, **fields) -> Judge:
    defaults = {"name": "stand-in", "kind": Judge.Kind.ENDPOINT, "endpoint_url": url, "model": "stand-in"}
    return Judge.objects.create(rubric=rubrics.default_rubric(), **{**defaults, **fields})


def _run(judge: Judge, conditions, name="judge run") -> JudgeRun:
    run = judging.start_judge_run(
        name=name, judge=judge, scope=JudgeRun.Scope.CONDITIONS, conditions=conditions, prompt_split="validation"
    )
    jobs.execute(JudgeRun, run.pk, worker="test@host", body=judging.run_judge_run)
    run.refresh_from_db()
    return run


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_every_response_gets_one_verdict_with_the_judges_identity(outputs):
    responses, conditions = outputs
    with StandInJudgeServer() as server:
        judge = _endpoint_judge(server.url)
        run = _run(judge, conditions)
    assert run.state == JobState.SUCCEEDED, run.error
    verdicts = Verdict.objects.filter(judge=judge)
    assert verdicts.count() == len(responses) == run.progress_total == run.progress_done
    verdict = verdicts.first()
    assert verdict.status == Verdict.Status.OK and verdict.attempts == 1
    assert set(verdict.answers) >= {"refusal", "grounding", "references", "relevance"}
    assert verdict.identity == {
        "judge": "stand-in",
        "version": 1,
        "kind": "endpoint",
        "model": "stand-in",
        "prompt_template": "rubric-lines-1",
        "rubric": "psychosafe",
        "rubric_version": judge.rubric.version,
    }
    assert run.progress_detail["ok"] == len(responses) and run.progress_detail["unparseable"] == 0
    assert run.progress_detail["eta_seconds"] == 0  # estimated from the run's pace: nothing left


def test_a_rerun_adds_nothing_twice_and_judges_only_what_is_missing(outputs):
    responses, conditions = outputs
    with StandInJudgeServer() as server:
        judge = _endpoint_judge(server.url)
        _run(judge, conditions, name="first")
        Verdict.objects.filter(response=responses[0]).delete()
        asked_before = server.requests
        again = _run(judge, conditions, name="second")
        assert server.requests - asked_before == 1
    assert again.state == JobState.SUCCEEDED
    assert Verdict.objects.filter(judge=judge).count() == len(responses)


def test_an_unreachable_endpoint_fails_the_run_at_once_naming_the_address(outputs):
    _, conditions = outputs
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    run = _run(_endpoint_judge(url), conditions)
    assert run.state == JobState.FAILED
    assert "Could not reach the judge endpoint" in run.error and url in run.error
    assert not Verdict.objects.exists()


def test_http_500_after_retries_stops_the_run_with_the_status_and_no_verdicts(outputs, settings):
    _, conditions = outputs
    with StandInJudgeServer(always=500) as server:
        judge = _endpoint_judge(server.url, timeout_seconds=5)
        run = _run(judge, conditions)
    assert run.state == JobState.FAILED
    assert "in a row could not be judged" in run.error and "HTTP 500" in run.error
    assert run.progress_detail["failed"] == judging.FAILURES_IN_A_ROW
    assert not Verdict.objects.exists()
    assert run.can_retry


def test_429_then_success_is_an_ordinary_verdict_that_counts_the_http_retry(outputs):
    responses, conditions = outputs
    with StandInJudgeServer(script=[(429, {"Retry-After": "0"})]) as server:
        judge = _endpoint_judge(server.url, concurrency=1)
        run = _run(judge, conditions)
    assert run.state == JobState.SUCCEEDED
    verdicts = Verdict.objects.filter(judge=judge).order_by("response_id")
    assert [v.status for v in verdicts] == ["ok"] * len(responses)
    assert sum(v.details.get("http_retries", 0) for v in verdicts) == 1


def test_a_reply_in_the_wrong_format_twice_then_right_is_ok_after_three_attempts(outputs):
    responses, conditions = outputs
    with StandInJudgeServer(script=[NEVER_PARSES, NEVER_PARSES]) as server:
        judge = _endpoint_judge(server.url, concurrency=1, max_retries=2)
        run = _run(judge, conditions)
    assert run.state == JobState.SUCCEEDED
    first = Verdict.objects.filter(judge=judge).order_by("attempts").last()
    assert first.status == Verdict.Status.OK and first.attempts == 3 and len(first.errors) == 2
    assert Verdict.objects.filter(judge=judge, attempts=1).count() == len(responses) - 1


def test_a_reply_that_never_parses_is_counted_unparseable_never_guessed(outputs):
    responses, conditions = outputs
    with StandInJudgeServer(always=NEVER_PARSES) as server:
        judge = _endpoint_judge(server.url, max_retries=1)
        run = _run(judge, conditions)
    assert run.state == JobState.SUCCEEDED
    verdicts = Verdict.objects.filter(judge=judge)
    assert verdicts.count() == len(responses)
    assert {v.status for v in verdicts} == {Verdict.Status.UNPARSEABLE}
    assert all(v.answers is None and v.raw == NEVER_PARSES and v.attempts == 2 for v in verdicts)
    assert run.progress_detail["unparseable"] == len(responses) and run.progress_detail["ok"] == 0


def test_garbage_instead_of_a_chat_completion_fails_the_run_with_that_reason(outputs):
    _, conditions = outputs
    with StandInJudgeServer(always=GARBAGE) as server:
        run = _run(_endpoint_judge(server.url), conditions)
    assert run.state == JobState.FAILED and "not a chat completion" in run.error
    assert not Verdict.objects.exists()


def test_the_deterministic_checks_answer_refusal_and_references_only_and_say_so(outputs):
    responses, conditions = outputs
    judge = Judge.objects.get(kind=Judge.Kind.DETERMINISTIC)
    run = _run(judge, conditions)
    assert run.state == JobState.SUCCEEDED, run.error
    verdicts = Verdict.objects.filter(judge=judge)
    assert verdicts.count() == len(responses)
    assert all(v.kind == "deterministic" and set(v.answers) == {"refusal", "references"} for v in verdicts)
    assert all(v.answers["refusal"] == "yes" for v in verdicts)  # "I can't help with that" in every output
    assert verdicts.first().identity["prompt_template"] == "deterministic-checks"


def test_a_judge_with_verdicts_is_frozen_and_changes_as_a_new_version(outputs):
    _, conditions = outputs
    with StandInJudgeServer() as server:
        judge = _endpoint_judge(server.url)
        _run(judge, conditions)
    judge.temperature = 0.7
    with pytest.raises(judging.JudgeFrozen, match="temperature"):
        judging.save_judge(judge)
    judge.refresh_from_db()
    judge.concurrency = 8  # not part of what the judge says: allowed
    judging.save_judge(judge)
    second = judging.new_version(judge=judge)
    assert (second.name, second.version, second.endpoint_url) == ("stand-in", 2, judge.endpoint_url)
    second.temperature = 0.7
    judging.save_judge(second)


def test_a_local_transformers_judge_records_what_it_wrote_when_it_never_parses(outputs, tmp_path):
    """The tiny random model never keeps to the format: its verdicts are unparseable, nothing guessed."""
    from modeling.tiny import build_tiny_model

    responses, conditions = outputs
    model = build_tiny_model(tmp_path / "tiny-judge", seed=0)
    judge = Judge.objects.create(
        name="local",
        kind=Judge.Kind.TRANSFORMERS,
        model=str(model),
        max_tokens=4,
        max_retries=0,
        rubric=rubrics.default_rubric(),
    )
    assert JudgeRun.task_name_for(_run(judge, conditions[:1], name="local run").pk) == "studio.judge_responses_gpu"
    verdicts = Verdict.objects.filter(judge=judge)
    assert verdicts.count() == len(responses) // 2
    assert all(v.status == Verdict.Status.UNPARSEABLE and v.answers is None and v.attempts == 1 for v in verdicts)
    assert all(v.identity["kind"] == "transformers" for v in verdicts)
