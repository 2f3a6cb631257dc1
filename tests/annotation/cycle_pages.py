"""Driving the retraining cycle's pages in browser tests: the Retrain form, the timeline, the console."""

import pytest

CYCLE_TIMEOUT_MS = 240_000
STAGES = ["training", "generation", "judging", "round"]


def watch_console(page) -> list[str]:
    """Every console error and uncaught page error, to fail the test on at the end."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    return problems


def fill_quick_cycle(page, *, name, parent, system_prompt, base_model) -> None:
    """Fill the Retrain form for a cycle the tiny model finishes in seconds: 4 steps, 8-token answers."""
    page.fill("#id_name", name)
    page.select_option("#id_parent", label=parent.name)
    # The shipped PsychoSafe prompt (the default) alone is longer than max_length 128.
    page.select_option("#id_system_prompt", value=str(system_prompt.pk))
    page.select_option("#id_base_model", value=base_model)
    page.fill("#id_batch_size", "2")
    page.fill("#id_epochs", "1")
    page.fill("#id_max_steps", "4")
    page.fill("#id_max_length", "128")
    page.fill("#id_warmup_steps", "0")
    page.fill("#id_learning_rate", "0.001")
    page.fill("#id_max_new_tokens", "8")


def wait_for_stage_done(page, key: str, pool) -> None:
    """Wait until the stage shows done; stop at once, with the reasons, if the cycle fails instead."""
    stage = f'li.stage[data-stage-key="{key}"]'
    page.wait_for_selector(
        f"{stage}.stage-done, li.stage.stage-failed, li.stage.stage-cancelled", timeout=CYCLE_TIMEOUT_MS
    )
    if not page.locator(f"{stage}.stage-done").count():
        errors = page.locator(".message.error, .job-progress [data-field=error]").all_inner_texts()
        pytest.fail(f"stage {key} did not finish: {errors}\n{pool.log('gpu-1')[-4000:]}")
