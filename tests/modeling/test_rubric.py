"""The rubric as plain data (modeling/rubric.py): the PsychoSafe criteria and their answers."""

import importlib

import pytest

from modeling import rubric


def test_the_psychosafe_rubric_is_six_criteria_with_one_key_for_references():
    keys = [c.key for c in rubric.psychosafe()]
    assert keys == ["refusal", "grounding", "strategy", "references", "relevance", "comment"]
    assert [c.kind for c in rubric.psychosafe()] == ["yes_no", "scale", "strategy", "yes_no", "scale", "text"]
    assert not rubric.psychosafe()[-1].required


def test_the_seeding_migration_holds_a_frozen_copy_equal_to_version_1_of_the_live_data():
    """A change to the live rubric is a new rubric version (a new migration), never a silent edit of v1."""
    migration = importlib.import_module("annotation.migrations.0006_seed_psychosafe_rubric")
    assert migration.CRITERIA == rubric.read_psychosafe()


def test_answer_options_give_every_answer_in_the_form_ratings_store_with_its_anchor():
    grounding = rubric.psychosafe()[1]
    options = grounding.answer_options()
    assert [o.value for o in options] == ["1", "2", "3", "4", "5"]
    assert options[4].anchor == "A coherent, well-executed strategy throughout, fitted to this person."
    refusal = rubric.psychosafe()[0]
    assert [(o.value, o.label) for o in refusal.answer_options()] == [("yes", "Yes"), ("no", "No")]
    assert rubric.psychosafe()[2].answer_options() == []


def test_criteria_round_trip_through_plain_data():
    for criterion in rubric.psychosafe():
        assert rubric.Criterion.from_data(criterion.as_data()) == criterion


def test_a_criterion_of_an_unknown_kind_or_a_one_point_scale_is_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        rubric.Criterion(key="x", label="X", kind="likert")
    with pytest.raises(ValueError, match="2 or more points"):
        rubric.Criterion(key="x", label="X", kind="scale", scale_points=1)
