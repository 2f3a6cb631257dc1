"""In a real browser, with a real Celery worker and a tiny real model: an admin imports XSTest
prompts, starts a benchmark run, follows generation and classification, labels the audit queue
and reads the report, all from the pages."""

from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import expect

from annotation import roles, rubrics
from annotation.models import (
    AuditItem,
    BenchmarkLabel,
    BenchmarkRun,
    JobState,
    Judge,
    ModelCondition,
    Prompt,
    SystemPrompt,
)
from modeling.stand_in_judge import StandInJudgeServer
from tests.personas import PASSWORD, make_user
from tests.workers.conftest import tiny_base, workers  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

XSTEST_FILE = Path(__file__).resolve().parents[2] / ".." / "shared" / "research" / "data" / "xstest_prompts.csv"
RUN_TIMEOUT_MS = 240_000
PER_LABEL = 3


def _subset(tmp_path: Path) -> Path:
    if not XSTEST_FILE.exists():
        pytest.skip(f"the XSTest prompt file is not at {XSTEST_FILE} (it is not part of the repository)")
    frame = pd.read_csv(XSTEST_FILE)
    subset = pd.concat([frame[frame["label"] == label].head(PER_LABEL) for label in ("safe", "unsafe")])
    path = tmp_path / "xstest_subset.csv"
    subset.to_csv(path, index=False)
    return path


def test_xstest_run_goes_import_generate_classify_audit_report(page, login, workers, tiny_base, tmp_path):  # noqa: F811
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    subset = _subset(tmp_path)
    make_user("ada", roles.ADMIN, is_staff=True)
    condition = ModelCondition.objects.create(
        name="tiny · none", base_model=tiny_base, system_prompt=SystemPrompt.objects.get(key="none", version=1)
    )
    with StandInJudgeServer() as server:
        judge = Judge.objects.create(
            name="Stand-in endpoint judge",
            kind=Judge.Kind.ENDPOINT,
            endpoint_url=server.url,
            model="stand-in",
            rubric=rubrics.default_rubric(),
        )
        workers.start("w-1")
        login("ada", PASSWORD)
        nav = page.get_by_role("navigation", name="Main")

        # Import: XSTest's CSV, through the import job.
        nav.get_by_role("link", name="Import", exact=True).click()
        page.set_input_files("#id_file", str(subset))
        page.select_option("#id_format", "xstest")
        page.get_by_role("button", name="Check and import").click()
        expect(page.locator("#import-phase")).to_have_text("Imported", timeout=RUN_TIMEOUT_MS)
        assert Prompt.objects.filter(source_name="XSTest").count() == 2 * PER_LABEL

        # Benchmarks → new run: the prompt set, the condition, the judge.
        nav.get_by_role("link", name="Benchmarks", exact=True).click()
        expect(page.locator("table").first).to_contain_text("XSTest")
        page.get_by_role("link", name="New benchmark run").click()
        page.fill("#id_name", "xstest-browser")
        page.select_option("#id_benchmark", "XSTest")
        page.get_by_label(condition.name).check()
        page.select_option("#id_judge", label=str(judge))
        page.fill("#id_audit_sample", "3")
        page.fill("#id_max_new_tokens", "8")
        page.get_by_role("button", name="Start benchmark run").click()
        page.wait_for_url("**/benchmarks/*/")
        run = BenchmarkRun.objects.get(name="xstest-browser")

        # Generation, then classification, each followed on the page until it is done.
        audit_link = page.get_by_role("link", name="Audit responses")
        expect(audit_link).to_be_visible(timeout=RUN_TIMEOUT_MS)
        run.refresh_from_db()
        assert run.generation_run.state == JobState.SUCCEEDED
        assert run.classification.state == JobState.SUCCEEDED, run.classification.error + workers.log("w-1")
        responses = run.generation_run.responses.count()
        assert responses == 2 * PER_LABEL
        assert BenchmarkLabel.objects.filter(run=run).count() == 2 * responses
        assert server.requests >= responses
        expect(page.locator(".job-progress [data-field=state]")).to_have_text(["Succeeded", "Succeeded"])

    # Audit: every item gets a human label, one page at a time.
    audit_link.click()
    items = AuditItem.objects.filter(run=run).count()
    assert items >= 3
    for _ in range(items):
        expect(page.locator("pre.untrusted").nth(1)).to_be_visible()
        page.get_by_label("Full refusal").check()
        page.get_by_role("button", name="Save and next").click()
    expect(page.get_by_text("Every audit item is labelled.")).to_be_visible()
    assert not AuditItem.objects.filter(run=run, label="").exists()

    # Report: rates per classifier, accuracy on the audit, and the plain caveat.
    page.get_by_role("link", name="Open the report").click()
    expect(page.locator("#interval-caveat")).to_contain_text("sampling error only, not classifier error")
    sections = page.locator("section[data-classifier]")
    expect(sections).to_have_count(2)
    expect(sections.first.locator("table.rates tbody tr").first).to_contain_text(condition.name)
    sample_row = sections.first.locator("table.accuracy tbody tr").first
    expect(sample_row.locator("td").nth(1)).to_have_text("3")
    assert problems == [], problems
