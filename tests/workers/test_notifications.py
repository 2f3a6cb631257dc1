"""Notices from real Celery workers: a run's outcome reaches the admin who started it, and the beat
task tells raters that a round closes soon."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation import roles, rounds, rubrics, runs
from annotation.models import JobState, ModelCondition, Notification, SystemPrompt
from psychosafe_site.celery import app as celery_app
from tests.annotation.rating_fixtures import make_conditions, make_outputs, make_prompts
from tests.personas import make_user
from tests.workers.conftest import make_corpus, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

Kind = Notification.Kind


def test_a_failed_generation_run_tells_the_admin_who_started_it(workers, tmp_path):
    roles.ensure_role_groups()
    admin = make_user("ada", roles.ADMIN)
    make_corpus(n_train=0, n_validation=2)
    missing = ModelCondition.objects.create(
        name="no such model",
        base_model=str(tmp_path / "no-such-model"),
        system_prompt=SystemPrompt.objects.get(key="none", version=1),
    )
    workers.start("gpu-1")
    run = runs.start_generation_run(name="val-missing", conditions=[missing], created_by=admin)
    notice = wait_for(
        lambda: Notification.objects.filter(recipient=admin).first(), timeout=180, what="the admin's notice"
    )
    run.refresh_from_db()
    assert run.state == JobState.FAILED
    assert (
        notice.kind == Kind.RUN_FAILED and "val-missing" in notice.title and notice.body.startswith("The run failed:")
    )


def test_the_beat_task_tells_raters_a_round_closes_soon(workers):
    roles.ensure_role_groups()
    raj = make_user("raj", roles.RATER)
    round = rounds.create_round(
        name="r",
        rater_title="Week 3 ratings",
        rubric=rubrics.default_rubric(),
        k=1,
        raters=[raj],
        deadline=timezone.now() + timedelta(hours=3),
    )
    rounds.add_responses(round=round, responses=make_outputs(make_conditions(1), make_prompts(1)))
    rounds.open_round(round=round)
    workers.start("default-1")
    celery_app.send_task("studio.notify_rounds_closing_soon")
    wait_for(
        lambda: Notification.objects.filter(recipient=raj, kind=Kind.ROUND_CLOSING).exists(),
        timeout=120,
        what="the closing-soon notice",
    )
    assert set(Notification.objects.filter(recipient=raj).values_list("kind", flat=True)) == {
        Kind.ROUND_OPENED,
        Kind.ROUND_CLOSING,
    }
