"""The heartbeat beats while a step runs longer than the stale window, so no second worker takes the job."""

import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from annotation import jobs
from annotation.models import GenerationRun

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@override_settings(RUN_STALE_AFTER_SECONDS=2)
def test_a_step_longer_than_the_stale_window_never_hands_the_job_to_a_second_worker():
    run = GenerationRun.objects.create(name="long steps")
    seen = {}

    def body(job, context):
        time.sleep(4)  # one "step", twice the stale window, with no progress report
        seen["age"] = timezone.now() - GenerationRun.objects.get(pk=job.pk).heartbeat_at
        seen["second claim"] = jobs.claim(GenerationRun, job.pk, worker="second@host")

    assert jobs.execute(GenerationRun, run.pk, worker="first@host", body=body) == "succeeded"
    assert seen["age"] < timedelta(seconds=2)
    assert seen["second claim"] is None
    run.refresh_from_db()
    assert run.worker == "first@host" and run.attempts == 1
