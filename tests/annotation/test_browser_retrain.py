"""In a real browser, with a real Celery worker: an admin starts a retraining cycle from "Retrain",
follows its timeline to the end (train → generate → judge → next round), opens the promotion
guard and records a decision, which the condition's history and status badge then show."""

import pytest
from playwright.sync_api import expect

from annotation import roles, rubrics
from annotation.models import (
    JobState,
    Judge,
    ModelCondition,
    Pipeline,
    PromotionDecision,
    Response,
    Round,
    SystemPrompt,
    Verdict,
)
from modeling.stand_in_judge import StandInJudgeServer
from tests.annotation.cycle_pages import STAGES, fill_quick_cycle, wait_for_stage_done, watch_console
from tests.personas import PASSWORD, make_user
from tests.workers.conftest import make_corpus, tiny_base, workers  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_admin_retrains_follows_the_cycle_and_decides_on_the_candidate(page, login, workers, tiny_base, settings):  # noqa: F811
    settings.BASE_MODELS = [settings.BASE_MODEL, tiny_base]
    problems = watch_console(page)
    make_user("ada", roles.ADMIN, is_staff=True)
    make_user("raj", roles.RATER)
    make_corpus(n_train=4, n_validation=2)
    baseline = ModelCondition.objects.create(
        name="tiny · none", base_model=tiny_base, system_prompt=SystemPrompt.objects.get(key="none", version=1)
    )
    generic = SystemPrompt.objects.get(key="generic", version=1)
    deterministic = Judge.objects.get(kind=Judge.Kind.DETERMINISTIC)

    with StandInJudgeServer() as server:
        endpoint = Judge.objects.create(
            name="Stand-in endpoint judge",
            kind=Judge.Kind.ENDPOINT,
            endpoint_url=server.url,
            model="stand-in",
            rubric=rubrics.default_rubric(),
        )
        workers.start("gpu-1")

        # Runs → Retrain.
        login("ada", PASSWORD)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs", exact=True).click()
        page.get_by_role("link", name="Retrain", exact=True).click()
        page.wait_for_url("**/runs/retrain/")
        expect(page.get_by_text("Leakage report:")).to_be_visible()
        expect(page.get_by_text("4 approved pairs in the train split")).to_be_visible()

        fill_quick_cycle(page, name="cycle-browser", parent=baseline, system_prompt=generic, base_model=tiny_base)
        expect(page.get_by_label(deterministic.name)).to_be_checked()  # ticked by default
        page.get_by_label(endpoint.name).check()
        page.get_by_role("button", name="Start the cycle").click()
        page.wait_for_url("**/runs/cycles/*/")
        pipeline = Pipeline.objects.get(name="cycle-browser")
        assert page.url.endswith(f"/runs/cycles/{pipeline.pk}/")

        # The timeline: four stages, each done in turn as the page reloads itself.
        stages = page.locator("ol.timeline > li.stage")
        expect(stages).to_have_count(4)
        assert [stages.nth(i).get_attribute("data-stage-key") for i in range(4)] == STAGES
        for key in STAGES:
            wait_for_stage_done(page, key, workers)
        expect(page.locator(".pipeline-head .badge.run-succeeded")).to_have_text("Succeeded", timeout=30_000)
        pipeline.refresh_from_db()
        assert pipeline.state == JobState.SUCCEEDED, pipeline.error + workers.log("gpu-1")
        for key in STAGES:
            expect(page.locator(f'li.stage[data-stage-key="{key}"] h2 .badge')).to_have_text("Done")
        # Each stage job shows its finished progress; judging has one job per ticked judge.
        expect(page.locator('li.stage[data-stage-key="judging"] .job-progress')).to_have_count(2)
        expect(page.locator(".stage .job-progress [data-field=state]")).to_have_text(["Succeeded"] * 4)

        # The loss plot is there and is an SVG.
        plot = page.locator('li.stage[data-stage-key="training"] figure.plot img')
        expect(plot).to_be_visible()
        svg = page.request.get(plot.get_attribute("src"))
        assert svg.ok and svg.headers["content-type"].startswith("image/svg+xml")
        assert "<svg" in svg.text()

        # The next round is a draft with the new responses, linked from the timeline.
        round = pipeline.round
        assert round is not None and round.state == Round.State.DRAFT
        outputs = Response.objects.filter(generation_run=pipeline.generation_run)
        assert outputs.count() == 2 * 2  # the candidate and its parent, on two validation prompts
        assert round.items.count() == outputs.count()
        round_link = page.locator('li.stage[data-stage-key="round"] a')
        expect(round_link).to_have_text(round.name)
        assert round_link.get_attribute("href").endswith(f"/rounds/{round.pk}/")
        assert server.requests == outputs.count()

    # The promotion guard: one row per judge, criterion and comparator.
    condition = pipeline.condition
    assert condition.status == ModelCondition.Status.CANDIDATE and condition.parent == baseline
    assert Verdict.objects.filter(response__in=outputs).count() == 2 * outputs.count()
    page.get_by_role("link", name="Compare and decide: promote or reject").click()
    page.wait_for_url(f"**/conditions/{condition.pk}/")
    expect(page.locator("h1 .badge")).to_have_text("Candidate")
    guard_rows = page.locator("table.guard tbody tr")
    expect(guard_rows.first).to_be_visible()
    sources = set(guard_rows.locator("td:nth-child(1)").all_inner_texts())
    assert any(deterministic.name in s for s in sources), sources
    assert any(endpoint.name in s for s in sources), sources
    assert set(guard_rows.locator("td:nth-child(2)").all_inner_texts()) == {baseline.name}

    # Rejecting needs a reason.
    page.get_by_label("Reject").check()
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_text("Say why you reject it")).to_be_visible()
    assert not PromotionDecision.objects.exists()
    condition.refresh_from_db()
    assert condition.status == ModelCondition.Status.CANDIDATE

    reason = "A four-step smoke adapter on a random model: not for raters."
    page.get_by_label("Reject").check()
    page.fill("#id_reason", reason)
    page.get_by_role("button", name="Record the decision").click()
    expect(page.locator("ul.decisions li")).to_have_count(1)
    expect(page.locator("ul.decisions li")).to_contain_text("Rejected by ada")
    expect(page.locator("ul.decisions li q")).to_have_text(reason)
    expect(page.locator("h1 .badge")).to_have_text("Rejected")
    expect(page.get_by_role("button", name="Record the decision")).to_have_count(0)

    decision = PromotionDecision.objects.get()
    assert decision.condition == condition and decision.reason == reason
    assert decision.decision == PromotionDecision.Decision.REJECTED and decision.decided_by.username == "ada"
    condition.refresh_from_db()
    assert condition.status == ModelCondition.Status.REJECTED
    assert problems == [], problems
