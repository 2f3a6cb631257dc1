"""In a real browser, with a real Celery worker: a generation run speaks while it works (progress
per batch, an ETA, the worker heard from) and a cancel pressed mid-run takes effect mid-run:
the page says "Cancelling…" until the worker stops, then "Cancelled", and no further batch is
stored."""

import re

import pytest
from playwright.sync_api import expect

from annotation import roles, runs
from annotation.models import JobState, ModelCondition, SystemPrompt
from tests.personas import PASSWORD, make_user
from tests.workers.conftest import make_corpus, tiny_base, workers  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PROMPTS = 48
BATCH = 8  # workers.tasks.GENERATION_BATCH["transformers"]


def test_cancel_during_generation_stops_it_mid_run(page, login, workers, tiny_base):  # noqa: F811
    make_user("ada", roles.ADMIN, is_staff=True)
    user = make_corpus(n_train=0, n_validation=PROMPTS)
    condition = ModelCondition.objects.create(
        name="tiny · none", base_model=tiny_base, system_prompt=SystemPrompt.objects.get(key="none", version=1)
    )
    # Long answers from a random tiny model: each batch takes a while, so the run is cancelled mid-way.
    run = runs.start_generation_run(
        name="to cancel",
        conditions=[condition],
        created_by=user,
        prompt_split="validation",
        sampling={"max_new_tokens": 4000, "temperature": 0.0, "seed": 0},
    )
    login("ada", PASSWORD)
    page.goto("/runs/")
    box = page.locator(f'[data-job="generation-{run.pk}"]')
    expect(box.locator('[data-field="waiting"]')).to_contain_text("Waiting for a worker on the gpu queue")
    workers.start("gpu-1")

    # Progress per stored batch, with an ETA from the pace so far and the worker's last word.
    expect(box.locator('[data-field="text"]')).to_have_text(re.compile(rf"^(8|16) / {PROMPTS}$"), timeout=240_000)
    expect(box.locator('[data-field="eta"]')).to_contain_text("left")
    expect(box.locator('[data-field="alive"]')).to_contain_text("Worker gpu-1@test heard from")
    expect(box.locator('[data-field="waiting"]')).to_be_hidden()

    box.get_by_role("button", name="Cancel").click()
    box = page.locator(f'[data-job="generation-{run.pk}"]')
    expect(box.locator('[data-field="state"]')).to_have_text(re.compile(r"^(Cancelling…|Cancelled)$"))
    expect(box.locator('[data-field="state"]')).to_have_text("Cancelled", timeout=60_000)

    run.refresh_from_db()
    assert run.state == JobState.CANCELLED
    stored = run.responses.count()
    assert 0 < stored < PROMPTS and stored % BATCH == 0  # whole batches only, and it stopped mid-run
    assert run.progress_done == stored
    assert any(e["message"] == f"cancelled after {stored} of {PROMPTS} responses" for e in run.events)
