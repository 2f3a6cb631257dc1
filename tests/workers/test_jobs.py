"""The job mechanism on real Celery workers: a closed broker, a lost message, the queue prefix, cancel."""

import json
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from annotation import jobs, runs
from annotation.models import ImportJob, JobState, Prompt, Response, RiskDomain, SystemPrompt, TrainingRun
from psychosafe_site.celery import app as celery_app
from tests.personas import make_user
from tests.workers.conftest import SMALL_CONFIG, make_corpus, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Port 9 (discard) on loopback: nothing listens, so connections are refused at once.
CLOSED_BROKER = "redis://127.0.0.1:9/0"
PAIR = {"prompt": "p", "answer": "a", "risk cluster": "violence", "risk category": "", "framework_name": "f"}


def _drop_pooled_connections():
    # What Celery itself does after a fork: the next publish dials the configured broker anew.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def broker_port_closed():
    original = celery_app.conf.broker_url, celery_app.conf.broker_write_url
    celery_app.conf.broker_url = celery_app.conf.broker_write_url = CLOSED_BROKER
    _drop_pooled_connections()
    try:
        yield
    finally:
        celery_app.conf.broker_url, celery_app.conf.broker_write_url = original
        _drop_pooled_connections()


@pytest.fixture
def admin(client):
    from annotation import roles

    roles.ensure_role_groups()
    user = make_user("ada-w", roles.ADMIN, is_staff=True)
    client.force_login(user)
    return user


def _refresh(job):
    job.refresh_from_db()
    return job


def test_a_closed_broker_gives_a_clear_message_and_try_again_works(client, admin, workers, tmp_path):
    upload = tmp_path / "pairs.jsonl"
    upload.write_text(json.dumps(PAIR) + "\n")
    with broker_port_closed():
        with upload.open("rb") as handle:
            response = client.post(reverse("import-pairs"), {"file": handle, "format": "psychosafe"})
        assert response.status_code == 302
        job = ImportJob.objects.get()
        assert job.state == JobState.FAILED and job.error.startswith("Could not reach the task queue")
        page = client.get(response["Location"])
        assert page.status_code == 200 and b"Could not reach the task queue" in page.content
        assert jobs.status(job)["can_retry"]

    workers.start("default-1")
    response = client.post(reverse("job-retry", args=["import", job.pk]), {"next": response["Location"]})
    assert response.status_code == 302
    wait_for(lambda: _refresh(job).state == JobState.SUCCEEDED, timeout=120, what="the retried import")
    assert Response.objects.filter(prompt__text="p").count() == 1
    assert job.error == "" and [e["message"] for e in job.events][:1] == ["queued again"]


def test_starting_a_training_run_with_the_broker_down_is_never_a_500(client, admin):
    domain = RiskDomain.objects.get(slug="violence")
    prompt = Prompt.objects.create(text="x", domain=domain, split="train", created_by=admin)
    Response.objects.create(prompt=prompt, text="y", origin="reference", status="approved", created_by=admin)
    form = client.get(reverse("training-new")).context["form"]
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    data.update(name="while down", system_prompt=SystemPrompt.objects.get(key="generic", version=1).pk, max_steps="")
    with broker_port_closed():
        response = client.post(reverse("training-new"), data, follow=True)
    assert response.status_code == 200
    assert "was saved but not started. Could not reach the task queue" in response.content.decode()
    run = TrainingRun.objects.get(name="while down")
    assert run.state == JobState.FAILED and jobs.status(run)["can_retry"]


def test_a_queued_job_whose_message_was_lost_is_resent_and_lands_on_the_prefixed_queue(workers):
    user = get_user_model().objects.create_user("importer")
    old = timezone.now() - timedelta(minutes=10)
    # Created without ever being sent: as if the broker lost its message.
    job = ImportJob.objects.create(
        format="psychosafe", filename="lost.jsonl", data=(json.dumps(PAIR) + "\n").encode(), created_by=user
    )
    ImportJob.objects.filter(pk=job.pk).update(created_at=old)
    workers.start("default-1", stale_after=60, queues=None)  # recovery runs when a worker starts
    wait_for(lambda: _refresh(job).state == JobState.SUCCEEDED, timeout=120, what="the recovered import")
    assert job.enqueued_at is not None and job.attempts == 1


def test_cancel_during_training_stops_at_the_next_step(workers, tiny_base):
    user = make_corpus(n_train=40, n_validation=0)
    workers.start("gpu-1")
    config = {**SMALL_CONFIG, "batch_size": 1, "epochs": 20, "log_every": 1}
    run = runs.start_training_run(
        name="to-cancel",
        system_prompt=SystemPrompt.objects.get(key="generic", version=1),
        created_by=user,
        config=config,
        base_model=tiny_base,
    )
    wait_for(lambda: _refresh(run).progress_done >= 3, timeout=240, interval=0.1, what="training to start")
    jobs.request_cancel(run)
    asked = run.progress_done
    wait_for(lambda: _refresh(run).state == JobState.CANCELLED, timeout=60, interval=0.2, what="the cancel")
    assert asked <= run.progress_done < run.progress_total == 800
    assert any(e["message"].startswith("cancelled at step") for e in run.events)
    assert not run.adapter


def test_training_writes_per_step_loss_and_learning_rate_that_the_runs_page_shows_while_running(
    client, admin, workers, tiny_base
):
    from django.urls import reverse

    user = make_corpus(n_train=40, n_validation=0)
    workers.start("gpu-1")
    config = {**SMALL_CONFIG, "batch_size": 1, "epochs": 20, "warmup_steps": 10, "log_every": 1}
    run = runs.start_training_run(
        name="live curve",
        system_prompt=SystemPrompt.objects.get(key="generic", version=1),
        created_by=user,
        config=config,
        base_model=tiny_base,
    )
    wait_for(lambda: _refresh(run).progress_done >= 3, timeout=240, interval=0.2, what="three training steps")
    page = client.get(reverse("run-list")).content.decode()
    svg = client.get(reverse("training-loss", args=[run.pk])).content
    (shown,) = client.get(reverse("job-status", args=["training", run.pk])).json()["jobs"]
    assert shown["state"] == JobState.RUNNING  # so the page and the plot above were read mid-run

    history = shown["detail"]["loss_history"]
    assert [point[0] for point in history[:3]] == [1, 2, 3] and all(len(point) == 3 for point in history)
    assert history[0][2] < history[1][2] < history[2][2]  # warm-up: the learning rate climbs step by step
    assert shown["activity"].startswith("step ") and " · loss " in shown["activity"]
    assert shown["eta_text"].startswith("about ")
    assert f'data-live-plot-for="training-{run.pk}"' in page and " · loss " in page
    assert b"learning rate (dashed)" in svg  # the live plot draws both curves

    jobs.request_cancel(run)
    wait_for(lambda: _refresh(run).state == JobState.CANCELLED, timeout=60, interval=0.2, what="the cancel")
