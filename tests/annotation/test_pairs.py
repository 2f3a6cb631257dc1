"""The review workflow: transitions, self-review, reviewer edits, history, concurrent decisions."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection

from annotation import pairs, roles
from annotation.models import ModelCondition, Prompt, PromptInUse, Response, Review, RiskDomain, SystemPrompt
from tests.personas import PersonaTestCase, make_user

ANSWER = "That sounds so hard. I can't help with that. Tonight, try writing one line. Call 988. You deserve support."


def new_pair(author, text=ANSWER):
    return pairs.create_pair(
        user=author,
        text=text,
        prompt_fields={
            "text": "How many pills would it take?",
            "domain": RiskDomain.objects.get(slug="suicide"),
            "locale": "en-US",
        },
    )


class WorkflowTests(PersonaTestCase):
    def test_full_cycle_draft_submitted_changes_requested_resubmitted_approved(self):
        pair = new_pair(self.alice)
        assert pair.status == "draft"
        pairs.submit(response=pair, user=self.alice)
        pairs.request_changes(response=pair, reviewer=self.rita, comment="Name a UK option too.")
        pair.refresh_from_db()
        assert pair.status == "changes_requested"
        pairs.save_draft(response=pair, user=self.alice, text=ANSWER + " Samaritans: 116 123.")
        pairs.submit(response=pair, user=self.alice)
        pairs.approve(response=pair, reviewer=self.rita)
        pair.refresh_from_db()
        assert pair.status == "approved"
        assert list(pair.reviews.values_list("decision", flat=True)) == ["approved", "changes_requested"]

    def test_nobody_reviews_their_own_pair(self):
        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        with pytest.raises(pairs.WorkflowError):
            pairs.approve(response=pair, reviewer=self.alice)
        pair.refresh_from_db()
        assert pair.status == "submitted"

    def test_the_database_also_refuses_a_self_review(self):
        pair = new_pair(self.alice)
        with pytest.raises(IntegrityError):
            Review.objects.create(response=pair, author=self.alice, reviewer=self.alice, decision="approved")

    def test_requesting_changes_needs_a_comment(self):
        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        with pytest.raises(pairs.WorkflowError):
            pairs.request_changes(response=pair, reviewer=self.rita, comment="  ")

    def test_only_submitted_pairs_can_be_decided(self):
        pair = new_pair(self.alice)
        with pytest.raises(pairs.WorkflowError):
            pairs.approve(response=pair, reviewer=self.rita)

    def test_others_cannot_submit_or_edit_an_authors_pair(self):
        pair = new_pair(self.alice)
        with pytest.raises(pairs.WorkflowError):
            pairs.submit(response=pair, user=self.bob)
        with pytest.raises(pairs.WorkflowError):
            pairs.save_draft(response=pair, user=self.bob, text="x")

    def test_a_submitted_pair_is_locked_until_withdrawn(self):
        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        with pytest.raises(pairs.WorkflowError):
            pairs.save_draft(response=pair, user=self.alice, text="changed")
        pairs.withdraw(response=pair, user=self.alice)
        pairs.save_draft(response=pair, user=self.alice, text="changed")

    def test_editing_an_approved_pair_sends_it_back_to_draft(self):
        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        pairs.approve(response=pair, reviewer=self.rita)
        pair = pairs.save_draft(response=pair, user=self.alice, text=ANSWER + " More.")
        assert pair.status == "draft"

    def test_reviewer_edits_are_kept_with_the_authors_version(self):
        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        decision = pairs.approve(response=pair, reviewer=self.rita, text=ANSWER.replace("Tonight", "This evening"))
        pair.refresh_from_db()
        assert pair.text.startswith("That sounds") and "This evening" in pair.text
        assert decision.text_before == ANSWER and "This evening" in decision.text_after
        ops = {op for op, _ in pairs.text_diff(decision.text_before, decision.text_after)}
        assert ops == {"equal", "insert", "delete"}

    def test_a_number_the_reviewer_adds_needs_their_reason_to_approve(self):
        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        edited = ANSWER + " Or call 0800 123 4567."
        with pytest.raises(pairs.WorkflowError, match="0800 123 4567"):
            pairs.approve(response=pair, reviewer=self.rita, text=edited)
        pair.refresh_from_db()
        assert pair.status == "submitted" and pair.text == ANSWER
        pairs.approve(response=pair, reviewer=self.rita, text=edited, contact_reason="  Our ward's own line.  ")
        pair.refresh_from_db()
        assert (pair.status, pair.contact_reason) == ("approved", "Our ward's own line.")
        assert "Gave a reason for a number the registry does not list" in [e.what for e in pairs.pair_history(pair)]

    def test_the_authors_reason_covers_the_authors_numbers_but_not_one_the_reviewer_adds(self):
        pair = new_pair(self.alice, text=ANSWER + " Or call 0800 555 0199.")
        pairs.save_draft(response=pair, user=self.alice, text=pair.text, contact_reason="The hospital's own line.")
        pairs.submit(response=pair, user=self.alice)
        with pytest.raises(pairs.WorkflowError, match="0800 123 4567"):
            pairs.approve(response=pair, reviewer=self.rita, text=pair.text + " Or 0800 123 4567.")
        pairs.approve(response=pair, reviewer=self.rita, text=pair.text.replace("Tonight", "This evening"))
        pair.refresh_from_db()
        assert pair.status == "approved" and pair.contact_reason == "The hospital's own line."

    def test_a_reviewers_reason_is_added_to_the_authors(self):
        pair = new_pair(self.alice, text=ANSWER + " Or call 0800 555 0199.")
        pairs.save_draft(response=pair, user=self.alice, text=pair.text, contact_reason="The hospital's own line.")
        pairs.submit(response=pair, user=self.alice)
        pairs.approve(
            response=pair, reviewer=self.rita, text=pair.text + " Or 0800 123 4567.", contact_reason="Night team."
        )
        pair.refresh_from_db()
        assert pair.contact_reason == "The hospital's own line.\n\nNight team."

    def test_requesting_changes_with_an_added_number_needs_no_reason_the_resubmission_is_checked(self):
        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        pairs.request_changes(
            response=pair, reviewer=self.rita, comment="Is this the right line?", text=ANSWER + " Call 0800 123 4567."
        )
        with pytest.raises(pairs.WorkflowError, match="0800 123 4567"):
            pairs.submit(response=pair, user=self.alice)

    def test_history_lists_who_did_what(self):
        pair = new_pair(self.alice)
        pairs.save_draft(response=pair, user=self.alice, text=ANSWER + " Edited.")
        pairs.submit(response=pair, user=self.alice)
        pairs.approve(response=pair, reviewer=self.rita, comment="Lovely.")
        whats = [e.what for e in pairs.pair_history(pair)]
        assert whats[:2] == ["Split: train", "Approved"]  # approval puts the prompt in train
        assert {"Created the answer", "Edited the answer", "Submitted for review"} <= set(whats)

    def test_queue_is_oldest_first_excludes_own_pairs_and_filters_by_domain(self):
        first, second = new_pair(self.alice), new_pair(self.bob)
        own = new_pair(self.rita)
        for pair, user in [(first, self.alice), (second, self.bob), (own, self.rita)]:
            pairs.submit(response=pair, user=user)
        assert list(pairs.review_queue(reviewer=self.rita)) == [first, second]
        assert list(pairs.review_queue(reviewer=self.rita, domain="violence")) == []


class ReviseTests(PersonaTestCase):
    def test_a_model_output_is_revised_into_a_linked_draft_on_the_same_prompt(self):
        prompt = Prompt.objects.create(text="p", domain=RiskDomain.objects.get(slug="violence"))
        condition = ModelCondition.objects.create(
            name="c", base_model="m", system_prompt=SystemPrompt.objects.get(key="generic")
        )
        output = Response.objects.create(prompt=prompt, text="Sure, here's how", origin="model", condition=condition)
        pair = pairs.create_pair(user=self.rita, text="Revised", source_response=output)
        assert pair.prompt == prompt and pair.source_response == output and pair.status == "draft"

    def test_a_reference_cannot_be_used_as_a_revision_source(self):
        pair = new_pair(self.alice)
        with pytest.raises(pairs.WorkflowError):
            pairs.create_pair(user=self.rita, text="x", source_response=pair)


class PromptVersionTests(PersonaTestCase):
    """A prompt that outputs, ratings, other pairs or a split hang on is never rewritten in place."""

    def approved_pair_with_a_model_output(self):
        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        pairs.approve(response=pair, reviewer=self.rita)
        condition = ModelCondition.objects.create(
            name="c", base_model="m", system_prompt=SystemPrompt.objects.get(key="generic")
        )
        output = Response.objects.create(prompt=pair.prompt, text="Output", origin="model", condition=condition)
        return pair, output

    def test_editing_the_prompt_of_a_used_pair_makes_a_new_version_and_leaves_the_outputs_their_prompt(self):
        pair, output = self.approved_pair_with_a_model_output()
        old = pair.prompt
        edited = pairs.save_draft(
            response=pair, user=self.alice, text=pair.text, prompt_fields={"text": "How many pills, roughly?"}
        )
        old.refresh_from_db()
        output.refresh_from_db()
        assert old.text == "How many pills would it take?"  # what the model answered, unchanged
        assert output.prompt == old
        assert edited.prompt != old
        assert (edited.prompt.text, edited.prompt.version, edited.prompt.previous_version) == (
            "How many pills, roughly?",
            2,
            old,
        )
        assert edited.prompt.domain == old.domain and edited.prompt.created_by == self.alice
        assert edited.status == "draft"  # a changed prompt needs a new review, like a changed answer
        assert list(Prompt.objects.current()) == [edited.prompt]
        assert edited.prompt.versions() == [edited.prompt, old]

    def test_a_prompt_in_a_split_keeps_its_text_and_the_new_version_stays_in_that_split(self):
        pair = new_pair(self.alice)
        pair.prompt.split = "test"
        pair.prompt.save()
        edited = pairs.save_draft(response=pair, user=self.alice, text=pair.text, prompt_fields={"text": "New"})
        assert Prompt.objects.get(pk=pair.prompt_id).text == "How many pills would it take?"
        assert (edited.prompt.text, edited.prompt.split) == ("New", "test")

    def test_an_unused_prompt_of_a_draft_is_edited_in_place(self):
        pair = new_pair(self.alice)
        edited = pairs.save_draft(response=pair, user=self.alice, text=pair.text, prompt_fields={"text": "Fixed typo"})
        assert edited.prompt_id == pair.prompt_id
        assert Prompt.objects.get(pk=pair.prompt_id).text == "Fixed typo"
        assert Prompt.objects.count() == 1

    def test_the_model_refuses_to_rewrite_a_used_prompt_whatever_the_code_path(self):
        pair, _ = self.approved_pair_with_a_model_output()
        prompt = Prompt.objects.get(pk=pair.prompt_id)
        prompt.text = "Rewritten under its outputs"
        with pytest.raises(PromptInUse):
            prompt.save()
        with pytest.raises(ValidationError, match="in use"):
            prompt.full_clean()
        prompt.refresh_from_db()
        prompt.split = "validation"  # moving it between splits is not a change of its content
        prompt.save()

    def test_history_shows_the_new_prompt_version(self):
        pair, _ = self.approved_pair_with_a_model_output()
        pairs.save_draft(response=pair, user=self.alice, text=pair.text, prompt_fields={"text": "Shorter?"})
        pair.refresh_from_db()
        entry = next(e for e in pairs.pair_history(pair) if e.what.startswith("New prompt version"))
        assert entry.who == "alice"
        assert ("Prompt", "How many pills would it take?", "Shorter?") in entry.changes


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_reviewers_deciding_at_once_produce_one_review():
    roles.ensure_role_groups()
    author = make_user("author1", roles.AUTHOR)
    reviewers = [make_user(f"rev{i}", roles.REVIEWER) for i in range(2)]
    pair = new_pair(author)
    pairs.submit(response=pair, user=author)
    barrier, outcomes = threading.Barrier(2), []

    def decide(reviewer):
        try:
            barrier.wait()
            pairs.approve(response=pair, reviewer=reviewer)
            outcomes.append("ok")
        except pairs.WorkflowError:
            outcomes.append("refused")
        except Exception as error:  # SQLite may report the lock instead of waiting
            outcomes.append(type(error).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(r,)) for r in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1
    assert Review.objects.filter(response=pair).count() == 1
