"""The admin import page: an ImportJob row, a Celery task on the default queue, progress and errors."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotation import importing
from annotation.models import ImportJob, Prompt, Response
from tests.personas import PersonaTestCase
from workers import tasks_corpus

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

    def test_the_task_is_routed_to_the_default_queue_under_a_stable_name(self):
        assert tasks_corpus.import_pairs.name == "studio.import_pairs"
        assert tasks_corpus.import_pairs.queue == "default"

    def test_a_good_file_is_imported_by_the_task_and_the_status_says_so(self):
        job = self._upload(GOOD)
        status = self.client.get(reverse("import-job-status", args=[job.pk])).json()
        assert status["phase"] == "waiting" and not status["finished"]
        assert tasks_corpus.import_pairs.run(job.pk) == "succeeded"
        status = self.client.get(reverse("import-job-status", args=[job.pk])).json()
        assert status["finished"] and status["percent"] == 100 and status["summary"]["pairs"] == 1
        assert Response.objects.get().created_by == self.ada

    def test_a_bad_file_lists_every_error_and_writes_nothing(self):
        job = self._upload(BAD)
        assert importing.run_import_job(job_id=job.pk) == "rejected"
        page = self.client.get(reverse("import-job", args=[job.pk]))
        assert b"Rejected: nothing was imported" in page.content
        assert [(e["line"], e["field"]) for e in page.context["state"]["errors"]] == [
            (2, "prompt"),
            (2, "risk cluster"),
        ]
        assert not Prompt.objects.exists()

    def test_a_job_runs_once_even_if_the_message_is_delivered_twice(self):
        job = self._upload(GOOD)
        assert importing.run_import_job(job_id=job.pk) == "succeeded"
        assert importing.run_import_job(job_id=job.pk) == "not claimed"
        assert Response.objects.count() == 1

    def test_only_admins_import(self):
        self.client.force_login(self.rita)
        assert self.client.get(reverse("import-pairs")).status_code == 403
