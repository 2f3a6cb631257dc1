"""The database itself enforces the domain's rules."""

import datetime

from django.db import IntegrityError, transaction

from annotation.models import (
    Adapter,
    ModelCondition,
    Prompt,
    Resource,
    Response,
    Review,
    RiskDomain,
    SystemPrompt,
    TrainingRun,
)
from tests.personas import PersonaTestCase


class DomainCatalogTests(PersonaTestCase):
    def test_the_five_domains_exist_with_the_papers_data_labels(self):
        labels = dict(RiskDomain.objects.values_list("slug", "data_label"))
        assert labels == {
            "suicide": "suicide and selfharm",
            "substance": "substance",
            "violence": "violence",
            "weapons": "weapon",
            "sexual_crimes": "crimes (sexual)",
        }

    def test_suicide_takes_priority_over_other_domains(self):
        assert RiskDomain.objects.order_by("priority").first().slug == "suicide"

    def test_seeded_resources_carry_a_verified_on_date(self):
        samaritans = Resource.objects.get(phone__contains="116 123")
        assert samaritans.locale == "en-GB"
        assert samaritans.verified_on is not None
        assert samaritans.domains.filter(slug="suicide").exists()


class ConstraintTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.domain = RiskDomain.objects.get(slug="substance")
        cls.prompt = Prompt.objects.create(text="How much is too much?", domain=cls.domain, created_by=cls.alice)
        cls.system_prompt = SystemPrompt.objects.create(key="test", version=1, name="Test", text="Be kind.")
        cls.condition = ModelCondition.objects.create(name="c", base_model="tiny", system_prompt=cls.system_prompt)

    def assert_rejected(self, make):
        with self.assertRaises(IntegrityError), transaction.atomic():
            make()

    def test_resource_needs_some_way_to_reach_it(self):
        self.assert_rejected(
            lambda: Resource.objects.create(
                key="nothing", name="Nothing", locale="en-US", channel="phone", verified_on=datetime.date(2026, 1, 1)
            )
        )

    def test_reference_needs_a_review_status(self):
        self.assert_rejected(
            lambda: Response.objects.create(prompt=self.prompt, text="x", origin=Response.Origin.REFERENCE, status=None)
        )

    def test_model_output_needs_a_condition_and_no_status(self):
        self.assert_rejected(lambda: Response.objects.create(prompt=self.prompt, text="x", origin="model"))
        self.assert_rejected(
            lambda: Response.objects.create(
                prompt=self.prompt, text="x", origin="model", condition=self.condition, status="draft"
            )
        )
        ok = Response.objects.create(prompt=self.prompt, text="x", origin="model", condition=self.condition)
        # Opaque: 16 random URL-safe characters, not the database id (a random id may by chance
        # contain the id's digits, so "not in" would be a coin toss at small ids).
        other = Response.objects.create(prompt=self.prompt, text="y", origin="model", condition=self.condition)
        assert len(ok.public_id) == 16 and not ok.public_id.isdigit() and ok.public_id != other.public_id

    def test_empty_texts_are_rejected(self):
        self.assert_rejected(lambda: Prompt.objects.create(text="", domain=self.domain))
        self.assert_rejected(
            lambda: Response.objects.create(prompt=self.prompt, text="", origin="reference", status="draft")
        )

    def test_nobody_reviews_their_own_pair(self):
        pair = Response.objects.create(
            prompt=self.prompt, text="x", origin="reference", status="submitted", created_by=self.alice
        )
        self.assert_rejected(
            lambda: Review.objects.create(response=pair, author=self.alice, reviewer=self.alice, decision="approved")
        )
        Review.objects.create(response=pair, author=self.alice, reviewer=self.rita, decision="approved")

    def test_requesting_changes_needs_a_comment(self):
        pair = Response.objects.create(
            prompt=self.prompt, text="x", origin="reference", status="submitted", created_by=self.alice
        )
        self.assert_rejected(
            lambda: Review.objects.create(
                response=pair, author=self.alice, reviewer=self.rita, decision="changes_requested", comment=""
            )
        )

    def test_system_prompt_versions_are_unique_per_key(self):
        self.assert_rejected(lambda: SystemPrompt.objects.create(key="test", version=1, name="Again"))
        self.assert_rejected(lambda: SystemPrompt.objects.create(key="test", version=0, name="Zero"))

    def test_adapter_checksum_must_be_a_sha256(self):
        self.assert_rejected(lambda: Adapter.objects.create(name="a", path="/x", base_model="b", sha256="nope"))

    def test_a_succeeded_training_run_has_an_adapter(self):
        self.assert_rejected(
            lambda: TrainingRun.objects.create(
                name="r", base_model="b", system_prompt=self.system_prompt, state="succeeded"
            )
        )


class HistoryTests(PersonaTestCase):
    def test_every_change_to_authored_content_is_recorded(self):
        domain = RiskDomain.objects.get(slug="violence")
        prompt = Prompt.objects.create(text="first", domain=domain, created_by=self.alice)
        pair = Response.objects.create(
            prompt=prompt, text="v1", origin="reference", status="draft", created_by=self.alice
        )
        pair.text = "v2"
        pair.save()
        texts = list(pair.history.order_by("history_date").values_list("text", flat=True))
        assert texts == ["v1", "v2"]
        delta = pair.history.first().diff_against(pair.history.last())
        assert [change.field for change in delta.changes] == ["text"]


class QuerySetTests(PersonaTestCase):
    """The filters the workflows share read as the domain."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        domain = RiskDomain.objects.get(slug="substance")
        cls.prompt = Prompt.objects.create(text="How much is too much?", domain=domain, created_by=cls.alice)
        system_prompt = SystemPrompt.objects.create(key="test", version=1, name="Test", text="Be kind.")
        condition = ModelCondition.objects.create(name="c", base_model="tiny", system_prompt=system_prompt)
        cls.draft, cls.approved = (
            Response.objects.create(prompt=cls.prompt, text=status, origin="reference", status=status)
            for status in ("draft", "approved")
        )
        cls.output = Response.objects.create(prompt=cls.prompt, text="x", origin="model", condition=condition)

    def test_references_are_the_authored_answers_whatever_their_status(self):
        assert set(Response.objects.references()) == {self.draft, self.approved}

    def test_approved_references_leave_out_drafts_and_model_outputs(self):
        assert list(Response.objects.approved_references()) == [self.approved]

    def test_model_outputs_leave_out_references_also_from_a_prompt(self):
        assert list(self.prompt.responses.model_outputs()) == [self.output]

    def test_the_current_system_prompt_is_the_newest_version_of_each_key(self):
        SystemPrompt.objects.create(key="test", version=2, name="Test", text="Be kinder.")
        current = SystemPrompt.objects.current()
        assert current.get(key="test").version == 2
        assert set(current.values_list("key", flat=True)) == set(SystemPrompt.objects.values_list("key", flat=True))
        assert current.count() == len(set(SystemPrompt.objects.values_list("key", flat=True)))
