"""Runs: what a training run snapshots and the conversations it trains on."""

from annotation import runs
from annotation.models import Prompt, Response, RiskDomain, SystemPrompt
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
