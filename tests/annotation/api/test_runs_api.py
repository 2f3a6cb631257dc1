"""Splits, the retraining cycle and results through the API, as the Retrain and results pages do them."""

from django.test import override_settings

from annotation import reporting, rubrics
from annotation.audit import audited_update
from annotation.models import JobState, Pipeline, Prompt, TrainingRun
from tests.annotation.api.client import reset_throttles, token_client
from tests.annotation.test_runs import RunFixtures
from tests.annotation.tidy_fixtures import build_tidy_round


@override_settings(BASE_MODELS=["base"])
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
        self.assertEqual(pipeline.training_run.config, {"epochs": 2, "warmup_steps": 0})
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
        audited_update(TrainingRun.objects.filter(pk=run.pk), state=JobState.CANCELLED)
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
        self.assertEqual((found["current"], found["missing_ratings"]), (True, 0))
        dashboard = api.get(f"/api/v1/rounds/{tidy.round.pk}/").json()
        self.assertEqual(dashboard["round"]["id"], tidy.round.pk)
        self.assertGreater(dashboard["ratings_done"], 0)
        tidy_csv = api.get(f"/api/v1/rounds/{tidy.round.pk}/tidy/", {"format": "csv"})
        self.assertTrue(tidy_csv["Content-Type"].startswith("text/csv"))
        self.assertIn(b"criterion", tidy_csv.content.splitlines()[0])


class RoundApiTests(RunFixtures):
    def test_an_admin_builds_a_round_adds_responses_and_opens_and_closes_it(self):
        from tests.annotation.rating_fixtures import make_conditions, make_outputs, make_prompts

        reset_throttles()
        api = token_client(self.ada)
        conditions = make_conditions(2)
        make_outputs(conditions, make_prompts(per_domain=1))
        body = {
            "name": "API round",
            "rater_title": "Validation round",
            "rubric": rubrics.default_rubric().pk,
            "conditions": [conditions[0].pk],
            "raters": [self.raj.pk],
            "k": 1,
        }
        created = api.post("/api/v1/rounds/", body, format="json")
        self.assertEqual(created.status_code, 201, created.content)
        round = created.json()
        self.assertEqual((round["state"], round["items"]), ("draft", 5))
        added = api.post(f"/api/v1/rounds/{round['id']}/responses/", {"conditions": [conditions[1].pk]}, format="json")
        self.assertEqual(added.json()["added"], 5)
        raters = api.post(f"/api/v1/rounds/{round['id']}/raters/", {"raters": [self.rhea.pk], "k": 2}, format="json")
        self.assertEqual(raters.json()["k"], 2, raters.content)
        too_many = api.post(f"/api/v1/rounds/{round['id']}/raters/", {"k": 3}, format="json")
        self.assertEqual(too_many.json()["errors"][0]["field"], "k")
        self.assertEqual(
            api.post(f"/api/v1/rounds/{round['id']}/state/", {"action": "open"}, format="json").json()["state"], "open"
        )
        self.assertEqual(
            api.post(f"/api/v1/rounds/{round['id']}/state/", {"action": "close"}, format="json").json()["state"],
            "closed",
        )
        closed = api.post(f"/api/v1/rounds/{round['id']}/responses/", {"conditions": [conditions[1].pk]}, format="json")
        self.assertEqual(closed.status_code, 409)
        self.assertEqual(
            api.post(f"/api/v1/rounds/{round['id']}/raters/", {"raters": [self.rhea.pk]}, format="json").status_code,
            409,
        )
        taken = api.post("/api/v1/rounds/", body, format="json")
        self.assertEqual(taken.status_code, 400)
        self.assertEqual(taken.json()["errors"][0]["field"], "name")
        no_conditions = api.post("/api/v1/rounds/", {**body, "name": "other", "conditions": []}, format="json")
        self.assertEqual(no_conditions.json()["errors"][0]["field"], "conditions")


class ConditionApiTests(RunFixtures):
    def test_conditions_and_adapters_carry_their_lineage(self):
        from tests.annotation.rating_fixtures import make_conditions

        reset_throttles()
        conditions = make_conditions(2)
        conditions[0].lineage = {"data_hash": "abc", "training_run": 7}
        conditions[0].save()
        api = token_client(self.ada)
        condition = api.get(f"/api/v1/conditions/{conditions[0].pk}/").json()
        self.assertEqual(condition["lineage"]["data_hash"], "abc")
        self.assertEqual(condition["adapter"]["sha256"], "a" * 64)
        adapter = api.get(f"/api/v1/adapters/{condition['adapter']['id']}/").json()
        self.assertEqual((adapter["conditions"], adapter["lineage"]["data_hash"]), ([conditions[0].pk], "abc"))
        self.assertEqual(len(api.get("/api/v1/adapters/").json()["results"]), 1)
