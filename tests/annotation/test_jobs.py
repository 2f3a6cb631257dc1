"""The one job lifecycle: claim, progress, cancel, retry, recovery and the status shape, for every kind."""

from datetime import timedelta

from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from annotation import jobs
from annotation.audit import audited_update
from annotation.models import GenerationRun, ImportJob, JobState, SystemPrompt, TrainingRun, WorkerHeartbeat
from tests.personas import PersonaTestCase


class JobFixtures(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.prompt = SystemPrompt.objects.get(key="psychosafe", version=1)

    def training(self, **fields):
        n = TrainingRun.objects.count()
        fields.setdefault("base_model", f"model-{n}")  # one active run per base model
        return TrainingRun.objects.create(name=f"r{n}", system_prompt=self.prompt, **fields)


class ClaimTests(JobFixtures):
    def test_only_one_worker_claims_a_queued_job_of_any_kind(self):
        for job in (self.training(), GenerationRun.objects.create(name="g"), ImportJob.objects.create(format="csv")):
            assert jobs.claim(type(job), job.pk, worker="a@host").worker == "a@host"
            assert jobs.claim(type(job), job.pk, worker="b@host") is None

    @override_settings(RUN_STALE_AFTER_SECONDS=60)
    def test_a_job_whose_worker_went_silent_is_taken_over_and_the_history_says_so(self):
        run = self.training(
            state="running", worker="a@host", heartbeat_at=timezone.now() - timedelta(minutes=5), attempts=1
        )
        claimed = jobs.claim(TrainingRun, run.pk, worker="b@host")
        assert claimed.attempts == 2 and claimed.worker == "b@host"
        assert "taken over by b@host: a@host went silent" in claimed.events[-1]["message"]

    @override_settings(RUN_STALE_AFTER_SECONDS=60)
    def test_a_live_job_is_never_handed_to_a_second_worker(self):
        run = self.training(state="running", worker="a@host", heartbeat_at=timezone.now() - timedelta(seconds=30))
        assert jobs.claim(TrainingRun, run.pk, worker="b@host") is None

    def test_finished_and_cancelled_jobs_are_never_claimed(self):
        done = self.training(state="failed")
        assert jobs.claim(TrainingRun, done.pk, worker="a") is None
        queued = self.training()
        jobs.request_cancel(queued)
        queued.refresh_from_db()
        assert queued.state == "cancelled" and queued.finished_at
        assert jobs.claim(TrainingRun, queued.pk, worker="a") is None

    def test_an_outcome_is_recorded_only_for_the_claim_that_holds_the_job(self):
        run = self.training()
        first = jobs.claim(TrainingRun, run.pk, worker="a")
        TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(days=1))
        jobs.claim(TrainingRun, run.pk, worker="b")
        jobs.finish(first, state=JobState.FAILED, error="late news from a zombie")
        run.refresh_from_db()
        assert run.state == "running" and run.worker == "b"


class ExecuteTests(JobFixtures):
    def test_the_body_reports_progress_and_success_is_recorded(self):
        run = GenerationRun.objects.create(name="g")  # (a training run succeeds only with its adapter)

        def body(job, context):
            context.report(done=3, total=4, detail={"loss": 1.5})

        assert jobs.execute(GenerationRun, run.pk, worker="w", body=body) == "succeeded"
        run.refresh_from_db()
        assert (run.state, run.progress_done, run.progress_total, run.progress_detail) == (
            "succeeded",
            3,
            4,
            {"loss": 1.5},
        )
        assert run.percent == 100 and run.finished_at

    def test_a_failing_body_fails_the_job_with_the_reason(self):
        run = self.training()

        def body(job, context):
            raise ValueError("the base model folder is missing")

        assert jobs.execute(TrainingRun, run.pk, worker="w", body=body) == "failed"
        run.refresh_from_db()
        assert run.state == "failed" and run.error == "ValueError: the base model folder is missing"
        assert jobs.status(run)["can_retry"]

    def test_should_cancel_is_a_plain_flag_and_the_body_stops_on_it(self):
        run = self.training()
        seen = []

        def body(job, context):
            seen.append(context.should_cancel())
            jobs.request_cancel(job)
            context._checked_at = 0  # the flag is re-read at most once a second
            seen.append(context.should_cancel())
            context.check_cancel()

        assert jobs.execute(TrainingRun, run.pk, worker="w", body=body) == "cancelled"
        assert seen == [False, True]
        run.refresh_from_db()
        assert run.state == "cancelled"


class RetryAndRecoveryTests(JobFixtures):
    def test_a_failed_job_can_be_retried_once_and_is_queued_again(self):
        run = self.training(state="failed", error="boom")
        with self.captureOnCommitCallbacks(execute=False) as sent:
            assert jobs.retry(run)
            assert not jobs.retry(run)  # already queued
        run.refresh_from_db()
        assert (run.state, run.error, len(sent)) == ("queued", "", 1)
        assert run.events[-1]["message"] == "queued again"

    def test_a_training_run_is_not_queued_again_while_another_on_its_base_model_is_active(self):
        self.training(base_model="b", state="running")
        failed = self.training(base_model="b", state="failed")
        with self.captureOnCommitCallbacks(execute=False) as sent:
            assert not jobs.retry(failed)
        failed.refresh_from_db()
        assert (failed.state, len(sent)) == ("failed", 0)

    def test_a_rejected_import_cannot_be_retried(self):
        job = ImportJob.objects.create(
            format="csv", state="failed", errors=[{"line": 2, "field": "prompt", "message": "x"}]
        )
        assert not jobs.retry(job)

    @override_settings(RUN_STALE_AFTER_SECONDS=60)
    def test_recovery_resends_silent_and_lost_jobs_only(self):
        old = timezone.now() - timedelta(minutes=5)
        silent = self.training(state="running", heartbeat_at=old)
        lost = self.training(enqueued_at=old)
        waiting = self.training(enqueued_at=timezone.now())
        live = self.training(state="running", heartbeat_at=timezone.now())
        abandoned = self.training(state="running", heartbeat_at=old, cancel_requested=True)
        assert jobs.recover() == 2
        for run in (silent, lost, waiting, live, abandoned):
            run.refresh_from_db()
        assert silent.enqueued_at > old and lost.enqueued_at > old
        assert abandoned.state == "cancelled"
        assert waiting.state == "queued" and live.state == "running"


class StatusTests(JobFixtures):
    @override_settings(RUN_STALE_AFTER_SECONDS=60)
    def test_every_kind_answers_in_one_shape_and_silence_is_reported(self):
        keys = None
        for job in (self.training(), GenerationRun.objects.create(name="g"), ImportJob.objects.create(format="csv")):
            shape = set(jobs.status(job))
            keys = keys or shape
            assert shape == keys
        run = self.training(state="running", heartbeat_at=timezone.now() - timedelta(minutes=3))
        assert jobs.status(run)["silent_since"]

    def test_a_queued_job_counts_the_jobs_ahead_of_it_on_its_own_queue(self):
        start = timezone.now() - timedelta(minutes=10)
        running = GenerationRun.objects.create(name="running", state="running", heartbeat_at=timezone.now())
        earlier = self.training()
        other_queue = ImportJob.objects.create(format="csv")  # the default queue: not in the way
        waiting = GenerationRun.objects.create(name="waiting")
        later = GenerationRun.objects.create(name="later")
        for minutes, job in enumerate((running, earlier, other_queue, waiting, later)):
            audited_update(type(job).objects.filter(pk=job.pk), created_at=start + timedelta(minutes=minutes))
            job.refresh_from_db()
        assert jobs.jobs_ahead(waiting) == 2
        assert jobs.status(waiting)["waiting_text"] == "Waiting for a worker on the gpu queue — 2 jobs ahead."
        assert jobs.status(later)["ahead"] == 3
        assert jobs.status(other_queue)["waiting_text"].endswith("default queue — next in line.")
        assert jobs.status(running)["waiting_text"] == "" and jobs.status(running)["ahead"] is None

    def test_a_queued_job_says_when_no_live_worker_takes_its_queue(self):
        waiting = GenerationRun.objects.create(name="waiting")
        assert "No worker is taking jobs from the gpu queue" in jobs.status(waiting)["silent_text"]
        last_beat = timezone.now() - timedelta(minutes=10)
        beat = WorkerHeartbeat.objects.create(hostname="gpu1@host", queues=[settings.GPU_QUEUE], last_seen=last_beat)
        text = jobs.status(waiting)["silent_text"]
        assert text.startswith("Worker gpu1@host silent since ") and "gpu queue" in text
        WorkerHeartbeat.objects.create(hostname="cpu1@host", queues=[settings.DEFAULT_QUEUE], last_seen=timezone.now())
        assert jobs.status(waiting)["silent_text"].startswith("Worker gpu1@host silent since")  # wrong queue
        WorkerHeartbeat.objects.filter(pk=beat.pk).update(last_seen=timezone.now())
        assert jobs.status(waiting)["silent_text"] == ""

    @override_settings(RUN_STALE_AFTER_SECONDS=300)
    def test_a_running_job_says_when_its_worker_was_heard_from_or_since_when_it_is_silent(self):
        run = self.training(state="running", worker="gpu1@host", heartbeat_at=timezone.now())
        shown = jobs.status(run)
        assert shown["alive_text"].startswith("Worker gpu1@host heard from") and shown["silent_text"] == ""
        # Three missed beats (one every 10 s) are noticed long before the job is taken over.
        TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=45))
        run.refresh_from_db()
        shown = jobs.status(run)
        assert shown["alive_text"] == "" and shown["silent_since"]
        assert shown["silent_text"].startswith("Worker gpu1@host silent since ")
        assert "if it stays silent for 300 s, another worker takes the job over" in shown["silent_text"]
        TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=6))
        run.refresh_from_db()
        assert jobs.status(run)["silent_text"].endswith("the job will be taken over when a worker is free.")

    def test_a_running_job_shows_its_eta_and_cancelling_until_the_worker_stops(self):
        run = self.training(state="running", heartbeat_at=timezone.now(), progress_detail={"eta_seconds": 125})
        assert jobs.status(run)["eta_text"] == "about 2 min left"
        jobs.request_cancel(run)
        run.refresh_from_db()
        shown = jobs.status(run)
        assert (shown["state_label"], shown["badge"], shown["state"]) == ("Cancelling…", "cancelling", "running")
        assert shown["eta_text"] == "" and run.events[-1]["message"] == "cancel requested"
        jobs.finish(run, state=JobState.CANCELLED)
        run.refresh_from_db()
        assert jobs.status(run)["state_label"] == "Cancelled"

    def test_eta_text_reads_naturally(self):
        assert [jobs.eta_text(s) for s in (None, 40, 600, 7300, -60)] == [
            "",
            "about 40 s left",
            "about 10 min left",
            "about 2 h 02 min left",
            "taking longer than estimated",
        ]

    def test_the_eta_counts_down_from_when_it_was_estimated(self):
        made = (timezone.now() - timedelta(seconds=60)).isoformat()
        run = self.training(state="running", progress_detail={"eta_seconds": 300, "eta_at": made})
        assert 235 <= jobs.status(run)["eta_seconds"] <= 240
        assert jobs.status(run)["eta_text"] == "about 4 min left"
        run.progress_detail = {"eta_seconds": 30, "eta_at": made}
        assert jobs.status(run)["eta_text"] == "taking longer than estimated"
