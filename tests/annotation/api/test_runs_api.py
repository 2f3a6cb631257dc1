"""Splits, the retraining cycle and results through the API, as the Retrain and results pages do them."""

from annotation import reporting, rubrics
from annotation.models import JobState, Pipeline, Prompt, TrainingRun
from tests.annotation.api.client import reset_throttles, token_client
from tests.annotation.test_runs import RunFixtures
from tests.annotation.tidy_fixtures import build_tidy_round


class CycleApiTests(RunFixtures):
    def setUp(self):
        reset_throttles()
        self.api = token_client(self.ada)
        self.add_pair(text="train answer")
        self.add_pair(split="validation", text="validation answer")

    def _start(self, **changes):
        body = {
            "name": "cycle 1",
            "system_prompt": self.psychosafe.pk,
            "base_model": "base",
            "rubric": rubrics.default_rubric().pk,
            **changes,
        }
        with self.captureOnCommitCallbacks(execute=False):
            return self.api.post("/api/v1/cycles/", body, format="json")

    def test_a_cycle_starts_with_the_page_defaults_and_reports_its_stages(self):
        response = self._start(epochs=2)
        self.assertEqual(response.status_code, 201, response.content)
        cycle = response.json()
        pipeline = Pipeline.objects.get(name="cycle 1")
        self.assertEqual(pipeline.training_run.config, {"epochs": 2})
        self.assertEqual((cycle["state"], cycle["stage"], cycle["finished"]), ("running", "training", False))
        self.assertEqual([s["key"] for s in cycle["stages"]], ["training", "generation", "judging", "round"])
        self.assertEqual(cycle["stages"][0]["jobs"][0]["kind"], "training")
        self.assertEqual(self.api.get(f"/api/v1/cycles/{pipeline.pk}/").json()["id"], pipeline.pk)

    def test_bad_values_are_400_naming_the_field_and_start_nothing(self):
        response = self._start(unknown=1)
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["errors"][0]["field"], "unknown")
        response = self._start(epochs=0)
        self.assertEqual([e["field"] for e in response.json()["errors"]], ["epochs"])
        self.assertFalse(Pipeline.objects.exists())

    def test_a_busy_base_model_is_409_and_starts_nothing(self):
        TrainingRun.objects.create(name="busy", base_model="base", system_prompt=self.psychosafe, state="running")
        response = self._start()
        self.assertEqual(response.status_code, 409)
        self.assertIn("busy", response.json()["detail"])
        self.assertFalse(Pipeline.objects.exists())

    def test_cancel_then_resume_and_the_job_endpoints(self):
        cycle = self._start().json()
        run = Pipeline.objects.get().training_run
        job = self.api.get(f"/api/v1/jobs/training/{run.pk}/").json()
        self.assertEqual(job["id"], f"training-{run.pk}")
        self.assertEqual(self.api.post(f"/api/v1/cycles/{cycle['id']}/resume/").status_code, 409)
        cancelled = self.api.post(f"/api/v1/cycles/{cycle['id']}/cancel/").json()
        self.assertEqual(cancelled["state"], JobState.CANCELLED)
        self.assertEqual(self.api.post(f"/api/v1/cycles/{cycle['id']}/cancel/").status_code, 409)
        TrainingRun.objects.filter(pk=run.pk).update(state=JobState.CANCELLED)
        with self.captureOnCommitCallbacks(execute=False):
            resumed = self.api.post(f"/api/v1/cycles/{cycle['id']}/resume/")
        self.assertEqual(resumed.json()["state"], JobState.RUNNING)
        self.assertEqual(self.api.get("/api/v1/jobs/nope/1/").status_code, 404)


class SplitsApiTests(RunFixtures):
    def setUp(self):
        reset_throttles()
        self.api = token_client(self.ada)

    def test_build_with_seed_and_sizes_then_read_the_leakage_report(self):
        for i in range(6):
            self.add_pair(split="unassigned", text=f"answer {i}")
        dry = self.api.post("/api/v1/splits/", {"seed": 7, "per_domain": 1, "dry_run": True}, format="json").json()
        self.assertTrue(dry["dry_run"])
        self.assertFalse(Prompt.objects.exclude(split="unassigned").exists())
        built = self.api.post("/api/v1/splits/", {"seed": 7, "per_domain": 1}, format="json").json()
        self.assertEqual(built["counts"]["violence"], {"train": 4, "validation": 1, "test": 1})
        self.assertEqual(built["counts"], dry["counts"])
        current = self.api.get("/api/v1/splits/").json()
        self.assertEqual(current["counts"]["violence"], built["counts"]["violence"])
        self.assertEqual(current["findings"], built["findings"])  # the same check, read back
        bad = self.api.post("/api/v1/splits/", {"per_domain": 0}, format="json")
        self.assertEqual(bad.json()["errors"][0]["field"], "per_domain")


class ResultsApiTests(RunFixtures):
    def test_results_and_agreement_are_the_pages_numbers(self):
        reset_throttles()
        tidy = build_tidy_round(raters=[self.raj, self.rhea])
        api = token_client(self.ada)
        found = api.get(f"/api/v1/rounds/{tidy.round.pk}/results/").json()
        page = reporting.round_results(round=tidy.round)
        self.assertEqual(found["conditions"], list(page.conditions))
        humans = next(s for s in found["sources"] if s["source"] == "humans")
        self.assertTrue(humans["summaries"])
        self.assertIn("alpha", found["agreement"])
        dashboard = api.get(f"/api/v1/rounds/{tidy.round.pk}/").json()
        self.assertEqual(dashboard["round"]["id"], tidy.round.pk)
        self.assertGreater(dashboard["ratings_done"], 0)
        tidy_csv = api.get(f"/api/v1/rounds/{tidy.round.pk}/tidy/", {"format": "csv"})
        self.assertTrue(tidy_csv["Content-Type"].startswith("text/csv"))
        self.assertIn(b"criterion", tidy_csv.content.splitlines()[0])
