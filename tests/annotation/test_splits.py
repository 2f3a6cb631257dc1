"""Splits: stratified by domain, seeded and reproducible, few-shot into train, leakage listed."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotation import pairs, splits
from annotation.audit import audited_update
from annotation.models import Prompt, Response, RiskDomain, SplitBuild, SystemPrompt
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


class SplitSettingsTests(PersonaTestCase):
    def test_sizes_may_differ_per_domain(self):
        make_pairs(self.alice)
        report = splits.make_splits(seed=42, per_domain={"suicide": 4, "violence": 1})
        assert report.counts["suicide"] == {"train": 4, "validation": 4, "test": 4}
        assert report.counts["violence"] == {"train": 10, "validation": 1, "test": 1}
        assert report.counts["weapons"] == {"train": 12, "validation": 0, "test": 0}

    def test_benign_controls_can_be_held_out_as_their_own_stratum(self):
        make_pairs(self.alice)
        audited_update(Prompt.objects.filter(text__regex=r"number ([0-5])$"), should_refuse=False)  # 6 of 12 per domain
        splits.make_splits(seed=42, per_domain=1, benign_per_domain=2)
        for domain in RiskDomain.objects.all():
            benign = Prompt.objects.filter(domain=domain, should_refuse=False)
            risky = Prompt.objects.filter(domain=domain, should_refuse=True)
            assert benign.filter(split="validation").count() == 2 and benign.filter(split="test").count() == 2
            assert risky.filter(split="validation").count() == 1 and risky.filter(split="test").count() == 1


class SplitHistoryTests(PersonaTestCase):
    def test_every_prompt_moved_by_a_build_gets_a_history_row_naming_who_and_why(self):
        make_pairs(self.alice, per_domain=3)
        splits.make_splits(seed=42, per_domain=1, user=self.ada)
        for prompt in Prompt.objects.all():
            latest = prompt.history.order_by("-history_date", "-history_id").first()
            assert latest.split == prompt.split != "unassigned"
            assert latest.history_user == self.ada
            assert latest.history_change_reason == "Splits rebuilt with seed 42"

    def test_a_rebuild_records_only_the_prompts_it_moves_and_keeps_a_build_row(self):
        make_pairs(self.alice, per_domain=3)
        splits.make_splits(seed=42, per_domain=1)
        rows = sum(p.history.count() for p in Prompt.objects.all())
        report = splits.make_splits(seed=42, per_domain=1)
        assert report.moved == 0
        assert sum(p.history.count() for p in Prompt.objects.all()) == rows
        assert SplitBuild.objects.count() == 2
        assert SplitBuild.objects.current().counts["suicide"] == {"train": 1, "validation": 1, "test": 1}

    def test_a_dry_run_writes_no_history_and_no_build(self):
        make_pairs(self.alice, per_domain=3)
        report = splits.make_splits(seed=42, per_domain=1, dry_run=True)
        assert report.moved == 15
        assert not SplitBuild.objects.exists()
        assert all(p.history.count() == 1 for p in Prompt.objects.all())


def submitted_pair(author, text="A new prompt about a rope", domain="suicide"):
    pair = pairs.create_pair(
        user=author, text="A kind answer.", prompt_fields={"text": text, "domain": RiskDomain.objects.get(slug=domain)}
    )
    return pairs.submit(response=pair, user=author)


class SplitPolicyTests(PersonaTestCase):
    def test_a_pair_approved_after_a_build_goes_to_train_with_a_history_row(self):
        make_pairs(self.alice, per_domain=3)
        splits.make_splits(seed=42, per_domain=1)
        pair = submitted_pair(self.alice)
        pairs.approve(response=pair, reviewer=self.rita)
        prompt = Prompt.objects.get(pk=pair.prompt_id)
        assert prompt.split == "train"
        latest = prompt.history.order_by("-history_date", "-history_id").first()
        assert (latest.split, latest.history_user, latest.history_change_reason) == (
            "train",
            self.rita,
            "Approved: new pairs go to train",
        )

    def test_a_prompt_already_in_a_split_keeps_it_when_another_pair_is_approved(self):
        make_pairs(self.alice, per_domain=3)
        splits.make_splits(seed=42, per_domain=1)
        held_out = Prompt.objects.filter(split="validation").first()
        pair = pairs.create_pair(user=self.bob, text="Another answer", prompt=held_out)
        pairs.submit(response=pair, user=self.bob)
        pairs.approve(response=pair, reviewer=self.rita)
        assert Prompt.objects.get(pk=held_out.pk).split == "validation"

    def test_while_frozen_new_pairs_wait_and_nothing_can_rebuild_or_move_them(self):
        make_pairs(self.alice, per_domain=3)
        splits.make_splits(seed=42, per_domain=1)
        splits.set_frozen(frozen=True, user=self.ada)
        before = dict(Prompt.objects.values_list("pk", "split"))
        pair = submitted_pair(self.alice)
        pairs.approve(response=pair, reviewer=self.rita)
        assert Prompt.objects.get(pk=pair.prompt_id).split == "unassigned"
        assert list(splits.waiting_prompts()) == [pair.prompt]
        with pytest.raises(splits.SplitsFrozen):
            splits.make_splits(seed=7, per_domain=1)
        with pytest.raises(splits.SplitsFrozen):
            splits.add_waiting_to_train(user=self.ada)
        with pytest.raises(CommandError, match="frozen"):
            call_command("make_splits", "--seed", "7", "--per-domain", "1", stdout=StringIO())
        assert {pk: s for pk, s in Prompt.objects.values_list("pk", "split") if pk in before} == before
        splits.set_frozen(frozen=False, user=self.ada)
        assert splits.add_waiting_to_train(user=self.ada) == 1
        assert Prompt.objects.get(pk=pair.prompt_id).split == "train"

    def test_freezing_needs_a_build(self):
        with pytest.raises(splits.NoSplitsYet):
            splits.set_frozen(frozen=True, user=self.ada)
