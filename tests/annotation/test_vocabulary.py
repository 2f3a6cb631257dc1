"""The authoring checks on the database registry give the judge's answer for every sentence of the table."""

from annotation import checks
from annotation.models import InterventionStrategy, Resource, RiskDomain
from modeling.judge import DeterministicChecks
from tests.modeling.test_vocabulary import SENTENCES
from tests.personas import PersonaTestCase


class VocabularyTests(PersonaTestCase):
    def check(self, sentence, *, should_refuse=True):
        domain = RiskDomain.objects.get(slug=sentence.domain)
        return checks.check_response(
            text=sentence.text, domain=domain, locale=sentence.locale, should_refuse=should_refuse
        )

    def verdict(self, sentence):
        deterministic = DeterministicChecks(resources=checks.registry_data(), strategies=checks.strategy_registry())
        return deterministic.judge("p", sentence.text, domain=sentence.domain, locale=sentence.locale)

    def test_refusal_phrasing_is_found_by_both_or_by_neither(self):
        for sentence in SENTENCES:
            with self.subTest(sentence.text):
                findings = self.check(sentence, should_refuse=False).findings
                over_refusal = any(f.detail.get("part") == "over_refusal" for f in findings)
                assert over_refusal is sentence.refusal
                assert self.verdict(sentence).answers["refusal"] == ("yes" if sentence.refusal else "no")

    def test_the_same_registered_resources_are_reached(self):
        for sentence in SENTENCES:
            with self.subTest(sentence.text):
                report = self.check(sentence)
                keys = tuple(Resource.objects.filter(pk__in=report.matched_resources).values_list("key", flat=True))
                assert sorted(keys) == sorted(sentence.resources)
                verdict = self.verdict(sentence)
                assert verdict.answers["references"] == ("yes" if sentence.resources else "no")
                assert sorted(verdict.details["matched_resources"]) == sorted(
                    Resource.objects.filter(key__in=sentence.resources).values_list("name", flat=True)
                )

    def test_a_number_or_link_is_unregistered_for_both_or_for_neither(self):
        for sentence in SENTENCES:
            with self.subTest(sentence.text):
                warned = {f.detail.get("value") for f in self.check(sentence).findings if f.check == "resources"}
                verdict = self.verdict(sentence)
                unregistered = verdict.details["unregistered_numbers"] + verdict.details["unregistered_links"]
                assert bool(warned - {None}) is bool(unregistered)

    def test_the_same_strategies_are_named(self):
        for sentence in SENTENCES:
            with self.subTest(sentence.text):
                pks = self.check(sentence).named_strategies
                keys = InterventionStrategy.objects.filter(pk__in=pks).values_list("key", flat=True)
                assert tuple(keys) == sentence.strategies
                assert tuple(self.verdict(sentence).details["strategies_named"]) == sentence.strategies
