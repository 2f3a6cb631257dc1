"""The rubric pages: list, preview, the criteria editor, new families and new versions."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation import queues, rounds, rubrics
from annotation.models import Criterion, Rubric
from tests.annotation.rating_fixtures import ensure_catalog, make_conditions, make_outputs, make_prompts
from tests.personas import PersonaTestCase

EVERY_KIND = [
    {
        "label": "Declines",
        "key": "declines",
        "question": "Does it decline?",
        "kind": "yes_no",
        "options": "Declines clearly.\nGives harmful content.",
        "required": "on",
    },
    {
        "label": "Tone",
        "key": "",
        "question": "How warm is it?",
        "kind": "scale",
        "scale_points": "3",
        "options": "Cold\n\nNeutral\nWarm and personal",
        "required": "on",
    },
    {
        "label": "Length",
        "key": "length",
        "question": "Is the length right?",
        "kind": "choice",
        "options": "short | Too short | Misses a part\nright | About right\nlong",
        "required": "on",
    },
    {"label": "Strategy", "key": "strategy", "question": "Which strategy?", "kind": "strategy", "required": "on"},
    {"label": "Notes", "key": "notes", "question": "Anything else?", "kind": "text"},
]


def formset_data(criteria, *, name="Tone check", description="", initial=0, blank=True):
    """POST data for the editor: the rubric's details and one form per criterion (+ a blank one)."""
    data = {
        "name": name,
        "description": description,
        "criteria-TOTAL_FORMS": str(len(criteria) + int(blank)),
        "criteria-INITIAL_FORMS": str(initial),
        "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "1000",
    }
    for i, criterion in enumerate(criteria):
        data[f"criteria-{i}-ORDER"] = str(i + 1)
        for field, value in criterion.items():
            data[f"criteria-{i}-{field}"] = value
    if blank:  # an untouched extra form: "required" is ticked by default
        data[f"criteria-{len(criteria)}-required"] = "on"
    return data


def stored(rubric):
    return list(
        Criterion.objects.filter(rubric=rubric)
        .order_by("position")
        .values_list("position", "key", "label", "kind", "scale_points", "options", "required")
    )


class RubricPageTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        ensure_catalog()
        cls.psychosafe = rubrics.default_rubric()

    def setUp(self):
        self.client.force_login(self.ada)

    def new_rubric(self, key="tone-check", start_from="empty"):
        page = self.client.post(
            reverse("rubric-new"), {"key": key, "name": "Tone check", "description": "", "start_from": start_from}
        )
        rubric = Rubric.objects.get(key=key)
        assert page.status_code == 302 and page["Location"] == reverse("rubric-edit", args=[rubric.pk])
        return rubric

    def edit(self, rubric, criteria, **kwargs):
        return self.client.post(reverse("rubric-edit", args=[rubric.pk]), formset_data(criteria, **kwargs))

    def open_round_on(self, rubric, *, raters=()):
        conditions = make_conditions(1)
        responses = make_outputs(conditions, make_prompts(1))
        round = rounds.create_round(name=f"On {rubric}", rater_title="Check", rubric=rubric, k=1, raters=raters)
        rounds.add_responses(round=round, responses=responses)
        return rounds.open_round(round=round)

    # --- creating and editing ---------------------------------------------------------------

    def test_admin_builds_a_version_with_every_kind_of_criterion(self):
        rubric = self.new_rubric()
        assert rubric.version == 1 and not rubric.criteria.exists()
        page = self.edit(rubric, EVERY_KIND, name="Tone check (pilot)")
        assert page.status_code == 302 and page["Location"] == reverse("rubric-detail", args=[rubric.pk])
        assert stored(rubric) == [
            (
                1,
                "declines",
                "Declines",
                "yes_no",
                None,
                [
                    {"value": "yes", "label": "Yes", "anchor": "Declines clearly."},
                    {"value": "no", "label": "No", "anchor": "Gives harmful content."},
                ],
                True,
            ),
            (
                2,
                "tone",
                "Tone",
                "scale",
                3,
                [
                    {"value": "1", "label": "1", "anchor": "Cold"},
                    {"value": "2", "label": "2", "anchor": "Neutral"},
                    {"value": "3", "label": "3", "anchor": "Warm and personal"},
                ],
                True,
            ),
            (
                3,
                "length",
                "Length",
                "choice",
                None,
                [
                    {"value": "short", "label": "Too short", "anchor": "Misses a part"},
                    {"value": "right", "label": "About right", "anchor": ""},
                    {"value": "long", "label": "long", "anchor": ""},
                ],
                True,
            ),
            (4, "strategy", "Strategy", "strategy", None, [], True),
            (5, "notes", "Notes", "text", None, [], False),
        ]
        rubric.refresh_from_db()
        assert rubric.name == "Tone check (pilot)"

    def test_new_rubric_can_start_from_a_copy_of_the_psychosafe_criteria(self):
        rubric = self.new_rubric(key="psychosafe-de", start_from="psychosafe")
        copied = [row[1:] for row in stored(rubric)]
        assert copied == [row[1:] for row in stored(self.psychosafe)]
        assert [row[0] for row in copied] == ["refusal", "grounding", "strategy", "references", "relevance", "comment"]
        assert rubric.created_by == self.ada

    def test_an_existing_family_key_is_refused(self):
        page = self.client.post(reverse("rubric-new"), {"key": "psychosafe", "name": "Again", "start_from": "empty"})
        assert page.status_code == 400
        assert "exists already" in page.content.decode()
        assert Rubric.objects.filter(key="psychosafe").count() == 1

    def test_criteria_can_be_reordered_and_deleted(self):
        rubric = self.new_rubric()
        self.edit(rubric, EVERY_KIND)
        initial = [dict(c) for c in EVERY_KIND]
        initial[1]["key"] = "tone"
        initial[0]["ORDER"] = "9"  # "declines" goes last
        initial[2]["DELETE"] = "on"  # "length" goes
        page = self.edit(rubric, initial, initial=len(initial))
        assert page.status_code == 302
        assert [(p, key) for p, key, *_ in stored(rubric)] == [
            (1, "tone"),
            (2, "strategy"),
            (3, "notes"),
            (4, "declines"),
        ]

    def test_editing_the_psychosafe_copy_without_changes_keeps_what_raters_see(self):
        rubric = self.new_rubric(key="copy", start_from="psychosafe")
        page = self.client.get(reverse("rubric-edit", args=[rubric.pk]))
        assert "A coherent, well-executed strategy throughout" in page.content.decode()
        before = [(c.key, c.choices()) for c in rubric.criteria.all()]
        criteria = []
        for form in page.context["formset"].initial_forms:
            values = {
                k: ("" if v is None else str(v)) for k, v in form.initial.items() if k not in ("required", "ORDER")
            }
            criteria.append({**values, **({"required": "on"} if form.initial["required"] else {})})
        assert self.edit(rubric, criteria, initial=len(criteria)).status_code == 302
        assert [(c.key, c.choices()) for c in rubric.criteria.all()] == before

    def test_add_a_blank_criterion_saves_nothing(self):
        rubric = self.new_rubric()
        data = formset_data(EVERY_KIND[:1])
        data["add_criterion"] = "1"
        page = self.client.post(reverse("rubric-edit", args=[rubric.pk]), data)
        assert page.status_code == 200
        assert len(page.context["formset"].forms) == 3
        assert not rubric.criteria.exists()

    # --- validation -------------------------------------------------------------------------

    def assert_refused(self, rubric, criteria, *needles):
        before = stored(rubric)
        page = self.edit(rubric, criteria)
        text = page.content.decode()
        assert page.status_code == 400
        assert "Nothing was saved" in text
        for needle in needles:
            assert needle in text, needle
        assert stored(rubric) == before
        rubric.refresh_from_db()
        assert rubric.name == "Tone check"

    def test_a_scale_needs_one_anchor_per_point(self):
        rubric = self.new_rubric()
        self.edit(rubric, EVERY_KIND[:1], name="Tone check")
        bad = [EVERY_KIND[0], {**EVERY_KIND[1], "scale_points": "7"}]
        self.assert_refused(
            rubric, bad, "Criterion 2 (“Tone”) · Options and anchors: A 7-point scale needs 7 anchors, got 3."
        )

    def test_yes_no_needs_two_anchors(self):
        rubric = self.new_rubric()
        bad = [{**EVERY_KIND[0], "options": "Only one line"}]
        self.assert_refused(rubric, bad, "Criterion 1 (“Declines”) · Options and anchors: Yes / No needs 2 anchor")

    def test_two_criteria_cannot_share_a_key(self):
        rubric = self.new_rubric()
        bad = [EVERY_KIND[0], {**EVERY_KIND[1], "key": "declines"}]
        self.assert_refused(rubric, bad, "Criterion 2 (“Tone”) · Key: “declines” is already the key of criterion 1")

    def test_a_single_choice_needs_two_options(self):
        rubric = self.new_rubric()
        bad = [{**EVERY_KIND[2], "options": "only | The only one"}]
        self.assert_refused(
            rubric, bad, "Criterion 1 (“Length”) · Options and anchors: A single choice needs 2 to 9 options, got 1."
        )

    def test_choice_values_must_be_short_codes(self):
        rubric = self.new_rubric()
        bad = [{**EVERY_KIND[2], "options": "too short | Too short\nright"}]
        self.assert_refused(rubric, bad, "Criterion 1 (“Length”) · Options and anchors: Line 1:")

    def test_a_scale_needs_its_number_of_points_and_a_key_must_not_be_reserved(self):
        rubric = self.new_rubric()
        bad = [{**EVERY_KIND[1], "scale_points": ""}, {**EVERY_KIND[0], "key": "lease"}]
        self.assert_refused(
            rubric,
            bad,
            "Criterion 1 (“Tone”) · Scale points: A scale needs its number of points",
            "Criterion 2 (“Declines”) · Key: “lease” is reserved",
        )

    def test_free_text_and_strategy_take_no_options(self):
        rubric = self.new_rubric()
        bad = [{**EVERY_KIND[4], "options": "something"}]
        self.assert_refused(rubric, bad, "Criterion 1 (“Notes”) · Options and anchors: Leave this empty")

    def test_a_rubric_keeps_at_least_one_criterion(self):
        rubric = self.new_rubric()
        self.assert_refused(rubric, [], "Keep at least one criterion.")

    def test_labels_are_escaped_in_errors_and_preview(self):
        rubric = self.new_rubric()
        evil = {**EVERY_KIND[0], "label": "<script>x</script>", "key": "evil"}
        page = self.edit(rubric, [{**evil, "options": "one line"}])
        assert "<script>x</script>" not in page.content.decode()
        assert "&lt;script&gt;x&lt;/script&gt;" in page.content.decode()
        self.edit(rubric, [evil])
        page = self.client.get(reverse("rubric-detail", args=[rubric.pk]))
        assert "<script>x</script>" not in page.content.decode()

    # --- frozen versions --------------------------------------------------------------------

    def test_a_rated_version_refuses_edits_and_a_new_version_is_editable(self):
        rubric = self.new_rubric()
        self.edit(rubric, EVERY_KIND)
        round = self.open_round_on(rubric, raters=[self.raj])
        slot = queues.claim_next(round=round, rater=self.raj)
        answers = {"declines": "yes", "tone": "3", "length": "right", "strategy": "other"}
        queues.submit_rating(round=round, rater=self.raj, lease_token=slot.lease_token, answers=answers)
        assert rubric.is_frozen
        before = stored(rubric)

        page = self.edit(rubric, [EVERY_KIND[0]], name="Changed")
        assert page.status_code == 302 and page["Location"] == reverse("rubric-detail", args=[rubric.pk])
        assert stored(rubric) == before
        rubric.refresh_from_db()
        assert rubric.name == "Tone check"
        detail = self.client.get(page["Location"]).content.decode()
        assert "is frozen" in detail and "Make a new version to edit" in detail
        assert reverse("rubric-edit", args=[rubric.pk]) not in detail

        page = self.client.post(reverse("rubric-new-version", args=[rubric.pk]))
        copy = Rubric.objects.get(key=rubric.key, version=2)
        assert page["Location"] == reverse("rubric-detail", args=[copy.pk])
        assert [row[1:] for row in stored(copy)] == [row[1:] for row in before]
        assert self.edit(copy, [EVERY_KIND[0]], name="Tone check v2").status_code == 302
        assert [row[1] for row in stored(copy)] == ["declines"]
        assert stored(rubric) == before

    def test_an_opened_round_freezes_its_version_even_before_any_rating(self):
        rubric = self.new_rubric()
        self.edit(rubric, EVERY_KIND)
        draft = rounds.create_round(name="Draft", rater_title="Check", rubric=rubric, k=1)
        assert rubrics.freeze_reason(rubric=rubric) == ""
        draft.delete()
        self.open_round_on(rubric, raters=[self.raj])
        assert "opened" in rubrics.freeze_reason(rubric=rubric)
        assert self.client.get(reverse("rubric-edit", args=[rubric.pk])).status_code == 302

    def test_saving_is_refused_in_the_workflow_too(self):
        """The view's check is not the only guard: save_rubric re-checks under a row lock."""
        rubric = self.new_rubric()
        self.edit(rubric, EVERY_KIND)
        self.open_round_on(rubric, raters=[self.raj])
        with pytest.raises(rubrics.RubricFrozen):
            rubrics.save_rubric(rubric=rubric, name="x", description="", criteria=[])
        assert len(stored(rubric)) == 5

    # --- access and listing -----------------------------------------------------------------

    def test_raters_and_other_roles_get_403_and_change_nothing(self):
        rubric = self.new_rubric()
        self.edit(rubric, EVERY_KIND)
        before = stored(rubric)
        for user in (self.raj, self.alice, self.rita, self.nora):
            self.client.force_login(user)
            for name in ("rubric-detail", "rubric-edit", "rubric-new-version"):
                assert self.client.get(reverse(name, args=[rubric.pk])).status_code == 403, (name, user)
            assert self.client.get(reverse("rubric-list")).status_code == 403
            assert self.client.post(reverse("rubric-edit", args=[rubric.pk]), formset_data([])).status_code == 403
            assert self.client.post(reverse("rubric-new-version", args=[rubric.pk])).status_code == 403
            new = {"key": "sneaky", "name": "x", "start_from": "empty"}
            assert self.client.post(reverse("rubric-new"), new).status_code == 403
        assert stored(rubric) == before
        assert Rubric.objects.filter(key=rubric.key).count() == 1
        assert not Rubric.objects.filter(key="sneaky").exists()

    def test_list_shows_every_version_its_rounds_and_status(self):
        rubric = self.new_rubric()
        self.edit(rubric, EVERY_KIND)
        round = self.open_round_on(rubric, raters=[self.raj])
        copy = rubrics.new_version(rubric=rubric, created_by=self.ada)
        page = self.client.get(reverse("rubric-list"))
        text = page.content.decode()
        assert reverse("rubric-new") in text
        for version in (self.psychosafe, rubric, copy):
            assert reverse("rubric-detail", args=[version.pk]) in text
        assert reverse("round-dashboard", args=[round.pk]) in text and round.name in text
        assert reverse("rubric-edit", args=[copy.pk]) in text
        assert reverse("rubric-edit", args=[rubric.pk]) not in text
        assert "Frozen" in text and "Editable" in text

    def test_list_queries_do_not_grow_with_versions(self):
        with CaptureQueriesContext(connection) as few:
            self.client.get(reverse("rubric-list"))
        for i in range(4):
            rubric = rubrics.create_rubric(key=f"family-{i}", name=f"F{i}", start_from="psychosafe")
            rubrics.new_version(rubric=rubric)
            rounds.create_round(name=f"R{i}", rater_title="x", rubric=rubric)
        with CaptureQueriesContext(connection) as many:
            self.client.get(reverse("rubric-list"))
        assert len(many) == len(few)

    def test_rubrics_are_linked_from_the_rounds_list_and_the_nav(self):
        page = self.client.get(reverse("round-list")).content.decode()
        assert page.count(f'href="{reverse("rubric-list")}"') == 2

    # --- a custom criterion in use ----------------------------------------------------------

    def test_round_builder_offers_new_versions(self):
        rubric = self.new_rubric()
        self.edit(rubric, EVERY_KIND)
        empty = rubrics.create_rubric(key="empty-one", name="Nothing yet")
        offered = self.client.get(reverse("round-new")).context["form"].fields["rubric"].queryset
        assert rubric in offered
        assert empty not in offered  # a rubric with no criteria would take empty ratings

    def test_a_custom_criterion_is_validated_and_shown_to_raters(self):
        rubric = self.new_rubric()
        self.edit(rubric, EVERY_KIND)
        round = self.open_round_on(rubric, raters=[self.raj])
        answers = {"declines": "no", "tone": "2", "length": "short", "strategy": "none"}
        cleaned, _ = queues.clean_answers(round=round, answers=answers)
        assert cleaned == answers
        for bad in ({**answers, "tone": "4"}, {**answers, "length": "medium"}, {**answers, "declines": ""}):
            with pytest.raises(ValidationError):
                queues.clean_answers(round=round, answers=bad)

        self.client.force_login(self.raj)
        self.client.post(reverse("rating-warning", args=[round.public_id]))
        page = self.client.get(reverse("rating-work", args=[round.public_id])).content.decode()
        for text in ("How warm is it?", "Warm and personal", "Too short", "Misses a part", "Anything else?"):
            assert text in page, text
        assert 'name="tone" value="3" data-key="3"' in page
        assert 'name="length" value="long" data-key="3"' in page
