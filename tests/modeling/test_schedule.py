"""The training schedule fits the data: steps from pairs and batch size, a warm-up that fits in them."""

from modeling import schedule
from modeling.training import LoraTrainConfig


def test_the_papers_data_keeps_the_papers_warmup():
    # About 7,000 train pairs (8,019 minus 500 + 500 held out), batch 4, 5 epochs.
    defaults = LoraTrainConfig()
    plan = schedule.plan(examples=7019, batch_size=defaults.batch_size, epochs=defaults.epochs)
    assert plan.total_steps == 1755 * 5
    assert plan.warmup_steps == defaults.warmup_steps == schedule.PAPER_WARMUP_STEPS
    assert plan.errors == plan.warnings == []


def test_a_small_corpus_gets_a_warmup_capped_at_a_tenth_of_the_run():
    plan = schedule.plan(examples=44, batch_size=4, epochs=5)
    assert plan.total_steps == 55
    assert plan.warmup_steps == 5
    assert "capped" in plan.warmup_note
    assert plan.errors == []


def test_total_steps_count_a_last_short_batch_and_stop_at_max_steps():
    assert schedule.total_steps(examples=9, batch_size=4, epochs=2) == 6
    assert schedule.total_steps(examples=9, batch_size=4, epochs=2, max_steps=4) == 4


def test_an_explicit_warmup_as_long_as_the_run_is_an_error():
    plan = schedule.plan(examples=44, batch_size=4, epochs=5, warmup_steps=100)
    assert plan.warmup_steps == 100
    assert len(plan.errors) == 1 and "as long as the whole run (55 steps)" in plan.errors[0]


def test_an_explicit_long_warmup_is_kept_with_a_warning():
    plan = schedule.plan(examples=44, batch_size=4, epochs=5, warmup_steps=20)
    assert (plan.warmup_steps, plan.errors) == (20, [])
    assert plan.warnings == [
        "Warm-up takes 20 of the run's 55 steps (36%): the learning rate is at its target for only part of the run."
    ]


def test_domains_with_too_few_train_pairs_are_named():
    plan = schedule.plan(
        examples=44, batch_size=4, epochs=5, per_domain={"Suicide": 30, "Violence": 3, "Weapons": 0, "Substance": 20}
    )
    assert [w.split(":")[0] for w in plan.warnings] == ["Violence", "Weapons"]
    assert "only 3 train pairs" in plan.warnings[0] and "no train pairs" in plan.warnings[1]


def test_a_run_with_no_steps_and_an_explicit_warmup_is_reported_not_a_crash():
    result = schedule.plan(examples=0, batch_size=4, epochs=5, warmup_steps=3)
    assert result.total_steps == 0 and result.warmup_steps == 3
