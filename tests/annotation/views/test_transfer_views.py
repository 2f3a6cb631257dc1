"""Import and export pages: the admin import page (an ImportJob row, its task on the default queue,
progress and errors) and the corpus browser's export download."""

import json
from datetime import timedelta
from io import StringIO

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from annotation import importing, jobs
from annotation.models import ImportJob, JobState, Prompt, Response
from psychosafe_site.celery import app as celery_app
from tests.annotation.test_corpus import CorpusFixtures
from tests.personas import PersonaTestCase
from workers import tasks

GOOD = (
    json.dumps(
        {
            "prompt": "p",
            "answer": "a",
            "risk cluster": "violence",
            "risk category": "",
            "framework_name": "f",
            "author": "x",
        }
    )
    + "\n"
).encode()
BAD = GOOD + (json.dumps({"prompt": "", "answer": "a", "risk cluster": "gardening"}) + "\n").encode()


class ImportJobTests(PersonaTestCase):
    def _upload(self, data, **extra):
        self.client.force_login(self.ada)
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            response = self.client.post(
                reverse("import-pairs"),
                {"file": SimpleUploadedFile("pairs.jsonl", data), "format": "psychosafe", **extra},
            )
        job = ImportJob.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse("import-job", args=[job.pk])
        assert len(callbacks) == 1  # enqueued only once the job row is committed
        return job

    def test_the_task_is_routed_by_settings_to_the_prefixed_default_queue(self):
        assert tasks.import_pairs.name == "studio.import_pairs"
        route = celery_app.amqp.router.route({}, "studio.import_pairs", args=(1,))
        assert route["queue"].name == settings.DEFAULT_QUEUE == f"{settings.QUEUE_PREFIX}default"

    def _status(self, job):
        return self.client.get(reverse("job-status", args=["import", job.pk])).json()["jobs"][0]

    def test_a_good_file_is_imported_by_the_task_and_the_status_says_so(self):
        job = self._upload(GOOD)
        status = self._status(job)
        assert status["phase"] == "waiting" and not status["finished"] and status["kind"] == "import"
        assert tasks.import_pairs.run(job.pk) == "succeeded"
        status = self._status(job)
        assert status["finished"] and status["percent"] == 100 and not status["can_retry"]
        job.refresh_from_db()
        assert job.summary["pairs"] == 1 and job.phase == "done"
        assert Response.objects.get().created_by == self.ada

    def test_a_bad_file_lists_every_error_and_writes_nothing(self):
        job = self._upload(BAD)
        assert tasks.import_pairs.run(job.pk) == "failed"
        page = self.client.get(reverse("import-job", args=[job.pk]))
        assert b"Rejected: nothing was imported" in page.content
        assert [(e["line"], e["field"]) for e in page.context["errors"]] == [(2, "prompt"), (2, "risk cluster")]
        assert not Prompt.objects.exists()
        assert not self._status(job)["can_retry"]  # the same file would fail the same way

    def test_a_job_runs_once_even_if_the_message_is_delivered_twice(self):
        job = self._upload(GOOD)
        assert tasks.import_pairs.run(job.pk) == "succeeded"
        assert tasks.import_pairs.run(job.pk) == "not claimed"
        assert Response.objects.count() == 1

    def _upload_state(self, job):
        job.refresh_from_db()
        return bytes(job.data), job.upload_deleted_at is not None

    def test_the_uploaded_file_is_deleted_when_the_import_succeeds(self):
        job = self._upload(GOOD)
        assert self._upload_state(job) == (GOOD, False)
        assert tasks.import_pairs.run(job.pk) == "succeeded"
        assert self._upload_state(job) == (b"", True)

    def test_a_rejected_file_is_deleted_when_its_job_ends(self):
        job = self._upload(BAD)
        assert tasks.import_pairs.run(job.pk) == "failed"
        assert self._upload_state(job) == (b"", True)

    @override_settings(IMPORT_UPLOAD_RETENTION_HOURS=24)
    def test_a_retryable_job_keeps_its_file_for_the_retry_window_only(self):
        job = self._upload(GOOD)
        # It failed for another reason than its rows (here: the broker was down), so it can be retried.
        ImportJob.objects.filter(pk=job.pk).update(state=JobState.FAILED, finished_at=timezone.now(), error="down")
        # The next import sweeps, but this job is still in its window.
        importing.start_import_job(data=GOOD, format="psychosafe", filename="x", skip_existing=False, created_by=None)
        job.refresh_from_db()
        assert bytes(job.data) == GOOD and jobs.status(job)["can_retry"]
        ImportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(hours=25))
        out = StringIO()
        call_command("delete_import_uploads", stdout=out)
        assert "Deleted 1 uploaded file(s)" in out.getvalue()
        assert self._upload_state(job) == (b"", True)
        assert not jobs.status(job)["can_retry"] and not jobs.retry(job)
        page = self.client.get(reverse("import-job", args=[job.pk]))
        assert b"The uploaded file was deleted when its retry window ended" in page.content

    @override_settings(IMPORT_UPLOAD_RETENTION_HOURS=1)
    def test_the_next_import_deletes_files_whose_window_ended(self):
        job = self._upload(GOOD)
        ImportJob.objects.filter(pk=job.pk).update(
            state=JobState.CANCELLED, finished_at=timezone.now() - timedelta(hours=2)
        )
        importing.start_import_job(data=GOOD, format="psychosafe", filename="x", skip_existing=False, created_by=None)
        assert self._upload_state(job) == (b"", True)

    def test_only_admins_import(self):
        self.client.force_login(self.rita)
        assert self.client.get(reverse("import-pairs")).status_code == 403


class CorpusExportTests(CorpusFixtures):
    def test_export_download_applies_the_filters(self):
        self.client.force_login(self.rita)
        response = self.client.get(reverse("corpus-export") + "?format=jsonl&domain=violence")
        body = b"".join(response.streaming_content)
        assert response["Content-Disposition"].startswith("attachment") and len(body.splitlines()) == 3

    def test_export_keeps_the_valid_filters_when_one_is_bad(self):
        self.client.force_login(self.rita)
        response = self.client.get(reverse("corpus-export") + "?format=jsonl&domain=suicide&status=bogus")
        records = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
        assert len(records) == 4 and {record["domain"] for record in records} == {"suicide"}
