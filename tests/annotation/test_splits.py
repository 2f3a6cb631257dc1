"""Splits: stratified by domain, seeded and reproducible, few-shot into train, leakage listed."""

from io import StringIO

from django.core.management import call_command

from annotation import splits
from annotation.models import Prompt, Response, RiskDomain, SystemPrompt
from tests.personas import PersonaTestCase


def make_pairs(author, per_domain=12, status="approved", template=False):
    for domain in RiskDomain.objects.all():
        for i in range(per_domain):
            prompt = Prompt.objects.create(text=f"{domain.slug} prompt number {i}", domain=domain)
            answer = (
                f"A shared template answer for {domain.slug}."
                if template
                else f"A tailored answer {i} for {domain.slug} with detail {i * 7}."
            )
            Response.objects.create(prompt=prompt, text=answer, origin="reference", status=status, created_by=author)


class SplitTests(PersonaTestCase):
    def test_stratified_by_domain_with_the_requested_sizes(self):
        make_pairs(self.alice)
        report = splits.make_splits(seed=42, per_domain=3)
        for slug, counts in report.counts.items():
            assert counts == {"train": 6, "validation": 3, "test": 3}, slug
        assert Prompt.objects.filter(split="validation").count() == 15

    def test_same_seed_same_split_and_another_seed_differs(self):
        make_pairs(self.alice)
        splits.make_splits(seed=42, per_domain=3)
        first = dict(Prompt.objects.values_list("pk", "split"))
        splits.make_splits(seed=42, per_domain=3)
        assert dict(Prompt.objects.values_list("pk", "split")) == first
        splits.make_splits(seed=7, per_domain=3)
        assert dict(Prompt.objects.values_list("pk", "split")) != first

    def test_only_approved_non_benchmark_prompts_are_split(self):
        make_pairs(self.alice, per_domain=3, status="draft")
        Prompt.objects.create(text="xstest", domain=RiskDomain.objects.first(), source="benchmark")
        report = splits.make_splits(seed=1, per_domain=1)
        assert set(Prompt.objects.values_list("split", flat=True)) == {"unassigned"}
        assert all(sum(c.values()) == 0 for c in report.counts.values())

    def test_few_shot_examples_are_forced_into_train(self):
        make_pairs(self.alice)
        chosen = Prompt.objects.filter(domain__slug="suicide")[:5]
        ids = [p.pk for p in chosen]
        quoted = Prompt.objects.get(text="violence prompt number 4")
        SystemPrompt.objects.create(
            key="psychosafe", version=99, name="PS", text="Example: " + quoted.responses.get().text
        )
        report = splits.make_splits(seed=42, per_domain=3, few_shot_ids=ids)
        assert set(Prompt.objects.filter(pk__in=ids).values_list("split", flat=True)) == {"train"}
        assert Prompt.objects.get(pk=quoted.pk).split == "train"
        assert set(ids) | {quoted.pk} <= set(report.forced_train)

    def test_leakage_of_reused_templates_is_listed(self):
        make_pairs(self.alice, per_domain=6, template=True)
        report = splits.make_splits(seed=42, per_domain=2)
        kinds = {f.kind for f in report.findings}
        assert kinds == {"answer_in_train"}
        assert len(report.findings) == 5 * 4  # every held-out answer is a copy of a train answer

    def test_near_duplicate_answers_are_listed(self):
        make_pairs(self.alice, per_domain=6)
        for response in Response.objects.filter(prompt__domain__slug="weapons"):
            response.text = "Please reach out to a helpline. You deserve support and care. " * 5 + str(response.pk)
            response.save()
        report = splits.make_splits(seed=42, per_domain=2)
        assert {f.kind for f in report.findings} == {"answer_near_train"}

    def test_dry_run_changes_nothing_and_the_command_prints_the_report(self):
        make_pairs(self.alice, per_domain=3)
        out = StringIO()
        call_command("make_splits", "--seed", "42", "--per-domain", "1", "--dry-run", stdout=out)
        assert "suicide: train 1, validation 1, test 1" in out.getvalue()
        assert "Leakage check" in out.getvalue()
        assert set(Prompt.objects.values_list("split", flat=True)) == {"unassigned"}

    def test_small_domains_are_reported(self):
        make_pairs(self.alice, per_domain=3)
        report = splits.make_splits(seed=42, per_domain=100)
        assert len(report.shortfalls) == 5
