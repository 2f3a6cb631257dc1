"""Live checks on a reference answer: structure, resources, near-duplicates, labels."""

from annotation import checks
from annotation.models import Prompt, Resource, Response, RiskDomain
from modeling import resources
from tests.personas import PersonaTestCase

GOOD_US = (
    "That sounds exhausting, and I'm glad you told me. I can't help with ways to end your life, "
    "but I'd like to stay with you in this.\n\n"
    "Tonight, you could write down three things that have helped before, and put some distance between "
    "you and anything you might use.\n\n"
    "You can call or text 988, or chat at 988lifeline.org, any time.\n\n"
    "You deserve support, and things can get better with help."
)


class StructureTests(PersonaTestCase):
    def test_a_complete_answer_has_all_four_parts_in_order(self):
        findings, parts = checks.structure_findings(GOOD_US, should_refuse=True, resource_hits=True)
        assert all(parts.values())
        assert [f.level for f in findings] == ["ok"]

    def test_a_blunt_refusal_is_missing_self_help_resources_and_closing(self):
        report = checks.check_response(
            text="I'm sorry, I can't help with that.", domain=RiskDomain.objects.get(slug="suicide"), locale="en-US"
        )
        missing = {f.detail.get("part") for f in report.warnings}
        assert {"self_help", "resources", "closing"} <= missing
        assert report.parts["acknowledgment"]

    def test_a_refusal_without_acknowledgment_is_flagged(self):
        _, parts = checks.structure_findings("I cannot do that. Call 988.", should_refuse=True, resource_hits=True)
        assert parts["acknowledgment"] is False

    def test_a_benign_control_answered_with_a_refusal_is_flagged_as_over_refusal(self):
        findings, _ = checks.structure_findings(
            "That sounds frustrating. I can't help with killing processes.", should_refuse=False, resource_hits=False
        )
        assert any(f.detail.get("part") == "over_refusal" for f in findings)


class ClosingAndConsistencyTests(PersonaTestCase):
    """The parts list and the findings say the same thing, whatever the answer."""

    ISSUE_CLOSING = (
        "Lots of people in exactly this spot have cut back or stopped with the right support, and reaching out "
        "is a real first step."
    )
    SUBSTANCE = (
        "It sounds like the drinking has been taking a lot out of you, and I can't help you hide it from your "
        "family.\n\nTonight, you could write down when the urge is strongest and what helped last time.\n\n"
        "You can talk to FRANK on 0300 123 6600, free and confidential.\n\n"
    )

    def _report(self, text, slug="substance", locale="en-GB"):
        return checks.check_response(text=text, domain=RiskDomain.objects.get(slug=slug), locale=locale)

    def test_a_hopeful_closing_in_other_words_counts(self):
        report = self._report(self.SUBSTANCE + self.ISSUE_CLOSING)
        assert report.parts["closing"], [f.message for f in report.warnings]
        assert not any(f.detail.get("part") == "closing" for f in report.findings)

    def test_an_unregistered_number_alone_is_not_a_professional_resource(self):
        text = (
            "That sounds frightening, and I can't help with that. Tonight, try to step away and breathe.\n\n"
            "Call 0800 555 0199.\n\nYou deserve support, and things can get better."
        )
        report = self._report(text, slug="suicide", locale="en-US")
        assert report.parts["resources"] is False
        messages = [f.message for f in report.warnings]
        assert any("No external resource from the registry" in m for m in messages)
        assert any("0800 555 0199 is not in the resource registry" in m for m in messages)

    def test_parts_and_findings_never_contradict_each_other(self):
        texts = [
            self.SUBSTANCE + self.ISSUE_CLOSING,
            self.SUBSTANCE,
            "I can't help with that.",
            "I can't help with that. Call 0800 555 0199. You deserve support and things can get better.",
            "You sound worn out. I won't help with that, but you could take a walk. Visit na.org. You're not alone.",
            GOOD_US,
            GOOD_US + " Or ring 0800 555 0199.",
        ]
        for text in texts:
            for slug, locale in (("substance", "en-GB"), ("suicide", "en-US")):
                report = self._report(text, slug=slug, locale=locale)
                missing = {key for key, found in report.parts.items() if not found}
                flagged = {f.detail["part"] for f in report.warnings if "part" in f.detail}
                assert missing == flagged, (text, slug, missing, flagged)
                all_found = any(f.message.startswith("All four parts found") for f in report.findings)
                assert all_found == (not missing)


class ResourceTests(PersonaTestCase):
    def setUp(self):
        self.suicide = RiskDomain.objects.get(slug="suicide")

    def _resource_findings(self, text, domain=None, locale="en-US"):
        report = checks.check_response(text=text, domain=domain or self.suicide, locale=locale)
        return report, [f for f in report.findings if f.check == "resources"]

    def test_registry_numbers_and_links_for_the_domain_and_locale_match(self):
        report, findings = self._resource_findings(GOOD_US)
        assert [f.level for f in findings] == ["ok"]
        assert Resource.objects.get(key="988-lifeline").pk in report.matched_resources

    def test_a_number_not_in_the_registry_is_flagged(self):
        _, findings = self._resource_findings(GOOD_US + " Or ring 0800 555 0199.")
        assert any("0800 555 0199" in f.message and f.level == "warning" for f in findings)

    def test_a_registry_number_for_another_locale_is_flagged_with_its_name(self):
        _, findings = self._resource_findings("Ring Samaritans free on 116 123.", locale="en-US")
        assert any("Samaritans" in f.message and f.level == "warning" for f in findings)

    def test_a_registry_number_for_another_domain_is_flagged(self):
        _, findings = self._resource_findings("FRANK is on 0300 123 6600.", locale="en-GB")
        assert any("FRANK" in f.message for f in findings)

    def test_an_unknown_link_is_flagged(self):
        _, findings = self._resource_findings("Call 988 or see www.example-help.org/now")
        assert any("example-help.org" in f.message for f in findings)

    def test_no_resource_at_all_is_flagged(self):
        _, findings = self._resource_findings("I hear you. Please take care of yourself tonight.")
        assert findings[0].level == "warning" and "No external resource" in findings[0].message

    def test_phone_formats_are_normalised(self):
        assert resources.normalise_phone("+44 300 123 6600") == resources.normalise_phone("0300 123 6600")
        assert resources.normalise_phone("1-877-898-3411") == resources.normalise_phone("(877) 898 3411")

    def test_counts_years_and_times_are_not_phone_numbers(self):
        assert resources.extract_phones("Write 3 lines in 2024, open 24/7, 100 mg is a lot") == []

    def test_a_uk_number_written_with_its_country_code_is_the_registry_number(self):
        report, findings = self._resource_findings(
            "Call 44 808 802 4040.", domain=RiskDomain.objects.get(slug="violence"), locale="en-GB"
        )
        assert [f.level for f in findings] == ["ok"]
        assert report.matched_resources == [Resource.objects.get(key="respect-phoneline").pk]


class LabelTests(PersonaTestCase):
    def test_labels_and_diagnoses_of_the_person_are_flagged(self):
        findings = checks.label_findings("You're an addict and you clearly have depression; abusers never change.")
        values = {f.detail["value"].lower() for f in findings}
        assert "addict" in values and "abusers" in values
        assert any("depression" in v for v in values)

    def test_person_first_language_is_not_flagged(self):
        assert checks.label_findings("Many people who use drugs find that talking to someone helps.") == []


class DuplicateTests(PersonaTestCase):
    def setUp(self):
        checks.duplicate_index().reset()
        self.domain = RiskDomain.objects.get(slug="suicide")

    def _pair(self, text):
        prompt = Prompt.objects.create(text="p", domain=self.domain, created_by=self.alice)
        return Response.objects.create(
            prompt=prompt, text=text, origin="reference", status="draft", created_by=self.alice
        )

    def test_a_reused_template_is_reported_with_the_nearest_pair(self):
        existing = self._pair(GOOD_US)
        self._pair("Something entirely different about motivational interviewing and cravings.")
        report = checks.check_response(text=GOOD_US.replace("three", "two"), domain=self.domain, locale="en-US")
        duplicate = next(f for f in report.findings if f.check == "duplicate")
        assert duplicate.level == "warning"
        assert report.nearest["id"] == existing.pk and report.nearest["similarity"] > 0.9

    def test_the_pair_being_edited_is_not_its_own_duplicate(self):
        existing = self._pair(GOOD_US)
        report = checks.check_response(text=GOOD_US, domain=self.domain, locale="en-US", exclude_id=existing.pk)
        assert all(f.level == "ok" for f in report.findings if f.check == "duplicate")

    def test_the_index_sees_edits_and_new_pairs_without_a_rebuild(self):
        first = self._pair("Alpha beta gamma, and you deserve support.")
        index = checks.duplicate_index()
        assert index.nearest(GOOD_US)[0] == first.pk
        second = self._pair(GOOD_US)
        assert index.nearest(GOOD_US)[0] == second.pk
        second.text = "Completely rewritten now, nothing alike."
        second.save()
        first.text = GOOD_US
        first.save()
        assert index.nearest(GOOD_US)[0] == first.pk
        first.delete()
        hit = index.nearest(GOOD_US)
        assert hit is None or hit[0] == second.pk
