"""Runs: what a training run snapshots and the conversations it trains on."""

from annotation import runs
from annotation.audit import audited_update
from annotation.models import Adapter, GenerationRun, Prompt, Response, RiskDomain, SystemPrompt, TrainingRun
from tests.personas import PersonaTestCase


class RunFixtures(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.domain = RiskDomain.objects.get(slug="violence")
        cls.psychosafe = SystemPrompt.objects.get(key="psychosafe", version=1)

    def add_pair(self, *, split="train", status="approved", text="answer"):
        prompt = Prompt.objects.create(text=f"prompt {text}", domain=self.domain, split=split, created_by=self.alice)
        return Response.objects.create(
            prompt=prompt, text=text, origin="reference", status=status, created_by=self.alice
        )


class TrainingDataTests(RunFixtures):
    def test_only_approved_train_pairs_are_snapshotted(self):
        keep = self.add_pair(text="keep")
        self.add_pair(status="submitted", text="draft")
        self.add_pair(split="validation", text="val")
        run = runs.start_training_run(name="t", system_prompt=self.psychosafe, created_by=self.ada)
        assert run.data_snapshot == [keep.pk]
        assert len(run.data_hash) == 64
        conversations = runs.training_conversations(run)
        assert conversations == [
            [
                {"role": "system", "content": self.psychosafe.text},
                {"role": "user", "content": "prompt keep"},
                {"role": "assistant", "content": "keep"},
            ]
        ]

    def test_training_without_approved_train_pairs_is_refused(self):
        self.add_pair(status="draft")
        with self.assertRaises(runs.NoTrainingData):
            runs.start_training_run(name="t", system_prompt=self.psychosafe, created_by=self.ada)


class StartingRunsTests(RunFixtures):
    def start(self, name, base_model="b", **kwargs):
        return runs.start_training_run(
            name=name, system_prompt=self.psychosafe, created_by=self.ada, base_model=base_model, **kwargs
        )

    def test_a_name_taken_by_a_racing_request_is_a_clear_refusal(self):
        """The form's check passed for both requests; the second INSERT fails in the database."""
        self.add_pair()
        self.start("same", base_model="one")
        with self.assertRaisesMessage(runs.RunNameTaken, "name exists"):
            self.start("same", base_model="two")
        runs.start_generation_run(name="g", conditions=[], created_by=self.ada)
        with self.assertRaisesMessage(runs.RunNameTaken, "name exists"):
            runs.start_generation_run(name="g", conditions=[], created_by=self.ada)
        assert TrainingRun.objects.count() == GenerationRun.objects.count() == 1

    def test_a_second_active_run_on_a_base_model_is_refused_naming_the_active_one(self):
        self.add_pair()
        self.start("first")
        with self.assertRaisesMessage(runs.BaseModelBusy, "“first” is already queued on b"):
            self.start("second")
        assert list(TrainingRun.objects.values_list("name", flat=True)) == ["first"]

    def test_an_admin_may_queue_a_parallel_run_explicitly(self):
        self.add_pair()
        self.start("first")
        assert self.start("second", allow_parallel=True).state == "queued"

    def test_a_finished_run_does_not_block_a_new_one(self):
        self.add_pair()
        for state in ("succeeded", "failed", "cancelled"):
            audited_update(
                TrainingRun.objects.filter(pk=self.start(f"old {state}").pk),
                state=state,
                adapter=self.adapter() if state == "succeeded" else None,
            )
        assert self.start("new").state == "queued"

    def adapter(self):
        return Adapter.objects.create(name=f"a{Adapter.objects.count()}", path="/x", base_model="b", sha256="0" * 64)


class RevisedPromptTests(RunFixtures):
    def test_a_generation_run_answers_only_the_current_version_of_a_revised_prompt(self):
        old = self.add_pair(split="validation", text="first").prompt
        new = old.new_version(created_by=self.alice, text="prompt first, reworded")
        other = self.add_pair(split="validation", text="second").prompt
        run = GenerationRun(name="g", prompt_split="validation")
        assert set(runs.run_prompts(run)) == {new, other}
