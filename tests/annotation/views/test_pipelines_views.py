"""Retrain, the cycle timeline and the promotion guard page, as an admin uses them."""

from django.test import override_settings
from django.urls import reverse

from annotation import pipelines, rubrics
from annotation.audit import audited_update
from annotation.models import (
    JobState,
    Judge,
    ModelCondition,
    Pipeline,
    PromotionDecision,
    TrainingRun,
)
from tests.annotation.test_runs import RunFixtures


@override_settings(BASE_MODELS=["registered", "base"])
class RetrainPageTests(RunFixtures):
    def retrain_data(self, **changes):
        form = self.client.get(reverse("retrain")).context["form"]
        data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
        data["judges"] = list(data.get("judges", []))
        data.update(
            name="cycle 1",
            system_prompt=self.psychosafe.pk,
            base_model="base",
            max_steps="",
            previous_round="",
            rubric=rubrics.default_rubric().pk,
            **changes,
        )
        return data

    def setUp(self):
        self.add_pair(text="train answer")
        self.add_pair(split="validation", text="validation answer")
        self.client.force_login(self.ada)

    def test_the_page_shows_the_data_and_the_leakage_report_before_starting(self):
        self.add_pair(split="validation", text="train answer")  # the same answer held out: leakage
        page = self.client.get(reverse("retrain")).content.decode()
        assert "2 approved pairs in the train split" not in page  # one train pair
        assert "1 approved pair in the train split" in page
        assert "Leakage report: 2 findings" in page  # the same prompt and the same answer
        assert "the same answer text is in train" in page

    def test_the_deterministic_checks_are_ticked_by_default(self):
        form = self.client.get(reverse("retrain")).context["form"]
        assert list(form.fields["judges"].initial) == [Judge.objects.get(kind="deterministic").pk]

    def test_starting_a_cycle_queues_its_training_run_and_opens_the_timeline(self):
        response = self.client.post(reverse("retrain"), self.retrain_data(epochs=2))
        assert response.status_code == 302, response.context["form"].errors
        pipeline = Pipeline.objects.get(name="cycle 1")
        assert response["Location"] == reverse("pipeline-detail", args=[pipeline.pk])
        assert pipeline.training_run.config == {"epochs": 2, "warmup_steps": 0}  # warm-up fitted to a tiny run
        assert list(pipeline.judges.values_list("kind", flat=True)) == ["deterministic"]
        page = self.client.get(response["Location"]).content.decode()
        for label in (
            "Train the adapter",
            "Generate validation responses",
            "Run the judges",
            "Build the next rating round",
        ):
            assert label in page

    def test_a_busy_base_model_is_a_409_and_starts_nothing(self):
        TrainingRun.objects.create(name="busy", base_model="base", system_prompt=self.psychosafe, state="running")
        page = self.client.post(reverse("retrain"), self.retrain_data())
        assert page.status_code == 409
        assert "“busy” is already running on base" in page.content.decode()
        assert not Pipeline.objects.exists()

    def test_a_taken_name_is_a_form_error(self):
        self.client.post(reverse("retrain"), self.retrain_data())
        audited_update(TrainingRun.objects, state="failed")
        page = self.client.post(reverse("retrain"), self.retrain_data())
        assert page.context["form"].errors["name"] == ["A retraining cycle with this name exists; choose another."]

    def test_the_demo_proposes_a_quick_cycle(self):
        with self.settings(DEMO=True):
            page = self.client.get(reverse("retrain"))
        assert page.context["form"].fields["max_steps"].initial == 12
        assert "Demo: the form proposes a quick cycle" in page.content.decode()


class TimelineTests(RunFixtures):
    def setUp(self):
        self.add_pair(text="train answer")
        self.add_pair(split="validation", text="validation answer")
        self.client.force_login(self.ada)
        self.pipeline = pipelines.start_pipeline(
            name="<b>cycle</b>", system_prompt=self.psychosafe, rubric=rubrics.default_rubric(), base_model="base"
        )

    def test_status_json_changes_key_when_a_stage_job_changes(self):
        url = reverse("pipeline-status", args=[self.pipeline.pk])
        first = self.client.get(url).json()
        assert first["state"] == "running" and first["stage"] == "training" and not first["finished"]
        audited_update(TrainingRun.objects, state=JobState.RUNNING)
        assert self.client.get(url).json()["key"] != first["key"]

    def test_the_loss_plot_is_an_svg_of_the_reported_losses(self):
        TrainingRun.objects.update(progress_detail={"loss_history": [[1, 2.5], [2, 2.1], [3, 1.7]]})
        response = self.client.get(reverse("pipeline-loss", args=[self.pipeline.pk]))
        assert response["Content-Type"] == "image/svg+xml"
        assert response.content.startswith(b"<?xml") and b"<svg" in response.content
        download = self.client.get(reverse("pipeline-loss", args=[self.pipeline.pk]) + "?download=1")
        assert download["Content-Disposition"].startswith("attachment")

    def test_names_are_escaped_and_cancel_then_resume_work_from_the_page(self):
        page = self.client.get(reverse("pipeline-detail", args=[self.pipeline.pk])).content.decode()
        assert "&lt;b&gt;cycle&lt;/b&gt;" in page and "<b>cycle</b>" not in page
        self.client.post(reverse("pipeline-cancel", args=[self.pipeline.pk]))
        self.pipeline.refresh_from_db()
        assert self.pipeline.state == JobState.CANCELLED
        page = self.client.get(reverse("pipeline-detail", args=[self.pipeline.pk])).content.decode()
        assert "Resume from this stage" in page
        self.client.post(reverse("pipeline-resume", args=[self.pipeline.pk]))
        self.pipeline.refresh_from_db()
        assert self.pipeline.state == JobState.RUNNING
        assert self.pipeline.training_run.state == JobState.QUEUED


class ConditionPageTests(RunFixtures):
    def setUp(self):
        self.client.force_login(self.ada)
        self.parent = ModelCondition.objects.create(name="parent", base_model="b", system_prompt=self.psychosafe)
        self.candidate = ModelCondition.objects.create(
            name="candidate",
            base_model="b",
            system_prompt=self.psychosafe,
            parent=self.parent,
            status=ModelCondition.Status.CANDIDATE,
            lineage={"training_run_name": "run <x>", "pairs": 3, "data_hash": "f" * 64, "code_version": "abc"},
        )

    def test_without_scores_the_guard_says_what_to_do(self):
        page = self.client.get(reverse("condition-detail", args=[self.candidate.pk])).content.decode()
        assert "No judge verdicts or ratings on the validation split yet" in page
        assert "run &lt;x&gt;" in page

    def test_a_rejection_without_a_reason_is_refused_then_recorded_with_one(self):
        url = reverse("condition-detail", args=[self.candidate.pk])
        page = self.client.post(url, {"decision": "rejected", "reason": ""})
        assert page.status_code == 200
        assert "Say why you reject it" in page.content.decode()
        assert not PromotionDecision.objects.exists()
        response = self.client.post(url, {"decision": "rejected", "reason": "Worse relevance."})
        assert response.status_code == 302
        self.candidate.refresh_from_db()
        assert self.candidate.status == ModelCondition.Status.REJECTED
        page = self.client.get(url).content.decode()
        assert "Rejected by ada" in page and "Worse relevance." in page


class SystemPromptLengthTests(RunFixtures):
    def test_a_system_prompt_longer_than_max_length_is_refused_before_anything_starts(self):
        import tempfile

        from modeling.tiny import build_tiny_model

        self.client.force_login(self.ada)
        with tempfile.TemporaryDirectory() as folder:
            base = str(build_tiny_model(folder, seed=0))
            form = self.client.get(reverse("training-new")).context["form"]
            data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
            data.update(
                name="too long", system_prompt=self.psychosafe.pk, base_model=base, max_length=128, max_steps=""
            )
            with self.settings(BASE_MODELS=[base]):
                page = self.client.post(reverse("training-new"), data)
        errors = page.context["form"].errors["max_length"]
        assert "alone is" in errors[0] and "tokens for this base model" in errors[0]
        assert not TrainingRun.objects.exists()
