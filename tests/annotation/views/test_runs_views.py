"""Run pages: admins starting, following and cancelling training and generation runs."""

from django.test import override_settings
from django.urls import reverse

from annotation.models import GenerationRun, ModelCondition, TrainingRun
from tests.annotation.test_runs import RunFixtures


@override_settings(BASE_MODELS=["registered", "base"])
class RunPageTests(RunFixtures):
    def test_training_page_explains_what_to_do_when_there_is_nothing_to_train_on(self):
        self.client.force_login(self.ada)
        page = self.client.get(reverse("training-new"))
        assert b"Nothing to train on yet" in page.content

    def test_admin_starts_a_training_run_storing_only_changed_settings(self):
        self.add_pair()
        self.client.force_login(self.ada)
        form = self.client.get(reverse("training-new")).context["form"]
        data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
        data.update(name="first run", system_prompt=self.psychosafe.pk, epochs=2, max_steps="")
        response = self.client.post(reverse("training-new"), data)
        assert response.status_code == 302, response.context["form"].errors
        run = TrainingRun.objects.get(name="first run")
        assert run.config == {"epochs": 2, "warmup_steps": 0}  # one pair: 2 steps, so no warm-up
        assert run.state == "queued"

    def training_data(self, **changes):
        form = self.client.get(reverse("training-new")).context["form"]
        data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
        data.update({"system_prompt": self.psychosafe.pk, "max_steps": "", "base_model": "base", **changes})
        return data

    def test_the_base_model_is_chosen_from_the_registered_ones_never_typed(self):
        """A typed path (a folder with pickled weights, say) is refused; only registered models are offered."""
        self.add_pair()
        self.client.force_login(self.ada)
        form = self.client.get(reverse("training-new")).context["form"]
        assert [value for value, _ in form.fields["base_model"].choices] == ["registered", "base"]
        page = self.client.post(reverse("training-new"), self.training_data(name="evil", base_model="/tmp/evil"))
        assert page.status_code == 200
        assert "Select a valid choice" in page.context["form"].errors["base_model"][0]
        assert not TrainingRun.objects.exists()
        page = self.client.post(reverse("training-new"), self.training_data(name="fine", base_model="registered"))
        assert page.status_code == 302
        assert TrainingRun.objects.get(name="fine").base_model == "registered"

    def test_a_duplicate_training_run_name_is_a_form_error(self):
        self.add_pair()
        TrainingRun.objects.create(name="taken", base_model="other", system_prompt=self.psychosafe, state="failed")
        self.client.force_login(self.ada)
        page = self.client.post(reverse("training-new"), self.training_data(name="taken"))
        assert page.status_code == 200
        assert page.context["form"].errors["name"] == ["A training run with this name exists; choose another."]

    def test_a_second_active_run_on_the_same_base_model_is_a_409_naming_the_active_run(self):
        self.add_pair()
        TrainingRun.objects.create(name="busy", base_model="base", system_prompt=self.psychosafe, state="running")
        self.client.force_login(self.ada)
        page = self.client.post(reverse("training-new"), self.training_data(name="second"))
        assert page.status_code == 409, page.context["form"].errors
        assert "“busy” is already running on base" in page.content.decode()
        assert not TrainingRun.objects.filter(name="second").exists()

    def test_the_checkbox_queues_a_parallel_run(self):
        self.add_pair()
        TrainingRun.objects.create(name="busy", base_model="base", system_prompt=self.psychosafe, state="running")
        self.client.force_login(self.ada)
        page = self.client.post(reverse("training-new"), self.training_data(name="second", allow_parallel="on"))
        assert page.status_code == 302
        run = TrainingRun.objects.get(name="second")
        assert (run.state, run.allow_parallel) == ("queued", True)

    def test_a_duplicate_generation_run_name_is_a_form_error(self):
        condition = ModelCondition.objects.create(name="c", base_model="b", system_prompt=self.psychosafe)
        GenerationRun.objects.create(name="g")
        self.add_pair(split="validation")
        self.client.force_login(self.ada)
        data = {"name": "g", "conditions": [condition.pk], "prompt_split": "validation", "max_new_tokens": 64}
        page = self.client.post(reverse("generation-new"), {**data, "temperature": 0, "seed": 0})
        assert page.context["form"].errors["name"] == ["A generation run with this name exists; choose another."]

    def test_generation_needs_prompts_in_the_split(self):
        condition = ModelCondition.objects.create(name="c", base_model="b", system_prompt=self.psychosafe)
        self.client.force_login(self.ada)
        data = {
            "name": "g",
            "conditions": [condition.pk],
            "prompt_split": "test",
            "max_new_tokens": 64,
            "temperature": 0,
            "seed": 0,
        }
        page = self.client.post(reverse("generation-new"), data)
        assert b"has no prompts yet" in page.content
        self.add_pair(split="test")
        assert self.client.post(reverse("generation-new"), data).status_code == 302
        run = GenerationRun.objects.get(name="g")
        assert run.sampling == {"max_new_tokens": 64, "temperature": 0.0, "seed": 0}
        assert list(run.conditions.all()) == [condition]

    def test_status_feed_and_cancel(self):
        run = TrainingRun.objects.create(
            name="r", base_model="b", system_prompt=self.psychosafe, state="running", progress_done=5, progress_total=20
        )
        self.client.force_login(self.ada)
        page = self.client.get(reverse("run-list"))
        assert f'data-job="training-{run.pk}"'.encode() in page.content
        feed = self.client.get(reverse("job-status", args=["training", run.pk])).json()["jobs"]
        assert {"id": f"training-{run.pk}", "percent": 25, "can_cancel": True}.items() <= feed[0].items()
        self.client.post(reverse("job-cancel", args=["training", run.pk]))
        run.refresh_from_db()
        assert run.cancel_requested and run.state == "running"  # stops after its current step
        feed = self.client.get(reverse("job-status", args=["training", run.pk])).json()["jobs"]
        assert feed[0]["state_label"] == "Cancelling" and not feed[0]["can_cancel"]

    def test_run_list_escapes_error_text(self):
        TrainingRun.objects.create(
            name="r", base_model="b", system_prompt=self.psychosafe, state="failed", error="<script>alert(1)</script>"
        )
        self.client.force_login(self.ada)
        page = self.client.get(reverse("run-list"))
        assert b"<script>alert(1)</script>" not in page.content
        assert b"&lt;script&gt;" in page.content


class TrainingSchedulePageTests(RunFixtures):
    def setUp(self):
        for i in range(6):
            self.add_pair(text=f"answer {i}")
        self.client.force_login(self.ada)

    def data(self, **changes):
        form = self.client.get(reverse("training-new")).context["form"]
        data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
        data.update(system_prompt=self.psychosafe.pk, max_steps="", base_model="base", name="tiny")
        data.update(changes)
        return data

    def test_the_page_shows_the_pairs_per_domain_and_the_fitted_schedule(self):
        page = self.client.get(reverse("training-new"))
        content = page.content.decode()
        assert page.context["per_domain"]["Violence"] == 6
        assert page.context["per_domain"]["Suicide and self-harm"] == 0
        assert "?status=approved&amp;split=train" in content
        plan = page.context["plan"]
        assert (plan.total_steps, plan.warmup_steps) == (10, 1)  # 6 pairs, batch 4: 2 steps x 5 epochs
        assert "Suicide and self-harm: no train pairs" in content
        assert "Violence: only 6 train pairs" in content

    def test_checking_the_settings_recomputes_the_schedule_without_starting(self):
        page = self.client.post(reverse("training-new"), self.data(batch_size=1, check="1"))
        assert page.status_code == 200
        assert page.context["plan"].total_steps == 30
        assert not TrainingRun.objects.exists()

    def test_a_warmup_as_long_as_the_run_is_refused_on_the_form(self):
        page = self.client.post(reverse("training-new"), self.data(warmup_steps=100))
        assert page.status_code == 200
        assert "as long as the whole run (10 steps)" in page.context["form"].errors["warmup_steps"][0]
        assert not TrainingRun.objects.exists()

    def test_a_blank_warmup_is_fitted_and_an_explicit_one_kept(self):
        self.client.post(reverse("training-new"), self.data())
        assert TrainingRun.objects.get(name="tiny").config == {"warmup_steps": 1}
        self.client.post(reverse("training-new"), self.data(name="explicit", warmup_steps=3, allow_parallel="on"))
        assert TrainingRun.objects.get(name="explicit").config == {"warmup_steps": 3}
