"""The API does what the pages do: the same workflow functions, validation and errors."""

from django.core.files.uploadedfile import SimpleUploadedFile

from annotation import pairs
from annotation.models import ImportJob, Prompt, Response, RiskDomain
from tests.annotation.api.client import reset_throttles, token_client
from tests.annotation.views.test_transfer_views import BAD, GOOD
from tests.catalog import ensure_catalog
from tests.personas import PersonaTestCase
from workers import tasks

PROBLEM = "application/problem+json"


class PairApiTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        ensure_catalog()
        cls.domain = RiskDomain.objects.get(slug="substance")

    def setUp(self):
        reset_throttles()
        self.alice_api, self.bob_api = token_client(self.alice), token_client(self.bob)
        self.rita_api, self.raj_api = token_client(self.rita), token_client(self.raj)

    def _create(self, client=None, **fields):
        body = {
            "prompt_text": "How much is too much?",
            "domain": "substance",
            "locale": "en-US",
            "text": "I can't help with amounts, but FRANK can: 0300 123 6600.",
            **fields,
        }
        return (client or self.alice_api).post("/api/v1/pairs/", body, format="json")

    def test_an_author_creates_reads_edits_and_submits_a_pair_with_its_history(self):
        created = self._create(should_refuse=True)
        self.assertEqual(created.status_code, 201, created.content)
        pair = created.json()
        self.assertEqual((pair["status"], pair["author"], pair["prompt"]["domain"]), ("draft", "alice", "substance"))
        edited = self.alice_api.patch(f"/api/v1/pairs/{pair['id']}/", {"text": "Better answer."}, format="json")
        self.assertEqual(edited.json()["text"], "Better answer.")
        submitted = self.alice_api.post(f"/api/v1/pairs/{pair['id']}/submit/")
        self.assertEqual(submitted.json()["status"], "submitted")
        history = self.alice_api.get(f"/api/v1/pairs/{pair['id']}/").json()["history"]
        self.assertEqual(
            [h["what"] for h in history], ["Submitted for review", "Edited the answer", "Created the answer"]
        )

    def test_an_unlisted_number_needs_a_reason_to_be_submitted_as_on_the_page(self):
        unlisted = "I can't help with amounts, but ring 0800 555 0199 tonight."
        refused = self._create(should_refuse=True, text=unlisted, submit=True)
        self.assertEqual(refused.status_code, 400, refused.content)
        self.assertEqual([e["field"] for e in refused.json()["errors"]], ["contact_reason"])
        self.assertFalse(Response.objects.exists())
        reason = "Our local crisis team, checked today."
        created = self._create(should_refuse=True, text=unlisted, submit=True, contact_reason=reason)
        self.assertEqual(created.status_code, 201, created.content)
        self.assertEqual((created.json()["status"], created.json()["contact_reason"]), ("submitted", reason))

    def test_bad_input_names_every_field_and_saves_nothing(self):
        response = self._create(text="   ", domain="gardening", strategies=["nope"])
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response["Content-Type"], PROBLEM)
        problem = response.json()
        self.assertEqual(problem["type"], "urn:psychosafe:problem:invalid")
        self.assertEqual({e["field"] for e in problem["errors"]}, {"domain", "strategies"})
        response = self._create(text="   ")
        self.assertEqual([e["field"] for e in response.json()["errors"]], ["text"])
        self.assertFalse(Response.objects.exists())

    def test_another_authors_pair_is_404_to_edit_or_submit(self):
        pair = self._create().json()
        for response in (
            self.bob_api.patch(f"/api/v1/pairs/{pair['id']}/", {"text": "mine now"}, format="json"),
            self.bob_api.post(f"/api/v1/pairs/{pair['id']}/submit/"),
        ):
            self.assertEqual(response.status_code, 404)
            self.assertEqual(response["Content-Type"], PROBLEM)
        self.assertEqual(Response.objects.get().text, pair["text"])

    def test_a_state_conflict_is_409(self):
        pair = self._create(submit=True).json()
        self.assertEqual(pair["status"], "submitted")
        response = self.alice_api.patch(f"/api/v1/pairs/{pair['id']}/", {"text": "late"}, format="json")
        self.assertEqual(response.status_code, 409)
        self.assertIn("waiting for review", response.json()["detail"])

    def test_a_reviewer_approves_or_sends_back_but_never_their_own(self):
        pair = self._create(submit=True).json()
        queue = self.rita_api.get("/api/v1/review-queue/").json()
        self.assertEqual([p["id"] for p in queue["results"]], [pair["id"]])
        no_comment = self.rita_api.post(
            f"/api/v1/pairs/{pair['id']}/review/", {"decision": "changes_requested"}, format="json"
        )
        self.assertEqual(no_comment.status_code, 400)
        self.assertEqual(no_comment.json()["errors"][0]["field"], "comment")
        approved = self.rita_api.post(
            f"/api/v1/pairs/{pair['id']}/review/", {"decision": "approved", "text": "Edited."}, format="json"
        )
        self.assertEqual(approved.json()["status"], "approved")
        self.assertEqual(Response.objects.get().reviews.get().text_after, "Edited.")
        again = self.rita_api.post(f"/api/v1/pairs/{pair['id']}/review/", {"decision": "approved"}, format="json")
        self.assertEqual(again.status_code, 409)
        own = self._create(client=token_client(self.rita, "own"), submit=True).json()
        response = self.rita_api.post(f"/api/v1/pairs/{own['id']}/review/", {"decision": "approved"}, format="json")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(Response.objects.get(pk=own["id"]).status, pairs.Status.SUBMITTED)

    def test_a_number_the_reviewer_adds_needs_their_reason_to_approve_as_on_the_page(self):
        pair = self._create(submit=True).json()
        edited = pair["text"] + " Or call 0800 123 4567."
        url = f"/api/v1/pairs/{pair['id']}/review/"
        refused = self.rita_api.post(url, {"decision": "approved", "text": edited}, format="json")
        self.assertEqual(refused.status_code, 400, refused.content)
        self.assertEqual([e["field"] for e in refused.json()["errors"]], ["contact_reason"])
        self.assertIn("0800 123 4567", refused.json()["errors"][0]["message"])
        self.assertEqual(Response.objects.get().status, pairs.Status.SUBMITTED)
        reason = "The night team's direct line."
        approved = self.rita_api.post(
            url, {"decision": "approved", "text": edited, "contact_reason": reason}, format="json"
        )
        self.assertEqual((approved.json()["status"], approved.json()["contact_reason"]), ("approved", reason))

    def test_the_list_filters_searches_and_pages_by_cursor(self):
        for i in range(5):
            self._create(text=f"answer number {i}", risk_category=f"c{i}")
        self._create(client=self.bob_api, text="bob's answer")
        page = self.alice_api.get("/api/v1/pairs/", {"author": "alice", "page_size": 2}).json()
        self.assertEqual(len(page["results"]), 2)
        seen = [row["id"] for row in page["results"]]
        while page["next"]:
            page = self.alice_api.get(page["next"]).json()
            seen += [row["id"] for row in page["results"]]
        self.assertEqual(len(seen), 5)
        self.assertEqual(seen, sorted(seen, reverse=True))
        bad = self.alice_api.get("/api/v1/pairs/", {"status": "nonsense"})
        self.assertEqual(bad.status_code, 400)
        self.assertEqual(bad.json()["errors"][0]["field"], "status")


class ImportApiTests(PersonaTestCase):
    def setUp(self):
        reset_throttles()
        self.api = token_client(self.ada)

    def _upload(self, data):
        with self.captureOnCommitCallbacks(execute=False):
            response = self.api.post(
                "/api/v1/imports/",
                {"file": SimpleUploadedFile("pairs.jsonl", data), "format": "psychosafe"},
                format="multipart",
            )
        self.assertEqual(response.status_code, 202, response.content)
        return response

    def test_an_import_is_a_job_whose_progress_is_polled(self):
        response = self._upload(GOOD)
        job = ImportJob.objects.get()
        self.assertEqual(response["Location"], f"/api/v1/imports/{job.pk}/")
        self.assertFalse(response.json()["job"]["finished"])
        self.assertEqual(tasks.import_pairs.run(job.pk), "succeeded")
        status = self.api.get(response["Location"]).json()
        self.assertTrue(status["job"]["finished"])
        self.assertEqual(status["summary"]["pairs"], 1)

    def test_a_rejected_file_lists_errors_with_line_numbers_and_imports_nothing(self):
        response = self._upload(BAD)
        job = ImportJob.objects.get()
        tasks.import_pairs.run(job.pk)
        errors = self.api.get(response["Location"]).json()["errors"]
        self.assertEqual([(e["line"], e["field"]) for e in errors], [(2, "prompt"), (2, "risk cluster")])
        self.assertFalse(Prompt.objects.exists())

    def test_a_missing_file_or_format_is_400_naming_the_field(self):
        response = self.api.post("/api/v1/imports/", {"format": "nope"}, format="multipart")
        self.assertEqual(response.status_code, 400)
        self.assertEqual({e["field"] for e in response.json()["errors"]}, {"file", "format"})
        self.assertFalse(ImportJob.objects.exists())

    def test_export_answers_a_file_in_the_asked_format(self):
        response = self.api.get("/api/v1/pairs/export/", {"format": "csv"})
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response["Content-Type"].startswith("text/csv"))
        self.assertEqual(self.api.get("/api/v1/pairs/export/", {"format": "doc"}).status_code, 400)

    def test_an_unknown_route_is_a_json_404(self):
        response = self.api.get("/api/v1/nothing-here/")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response["Content-Type"], PROBLEM)

    def test_api_responses_carry_the_security_headers_of_every_response(self):
        for url in ("/api/v1/pairs/", "/api/v1/schema/", "/api/v1/nothing-here/"):
            response = self.api.get(url)
            self.assertIn("default-src 'self'", response["Content-Security-Policy"], url)
            self.assertIn("camera=()", response["Permissions-Policy"], url)
            self.assertEqual(response["X-Content-Type-Options"], "nosniff", url)
