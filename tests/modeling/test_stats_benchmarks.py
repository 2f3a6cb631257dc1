"""XSTest and SORRY-Bench rates (modeling/stats/benchmarks.py)."""

from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from modeling.stats import ALL, sorry_bench_rates, xstest_rates
from modeling.stats.benchmarks import SORRY_BENCH_COLUMNS, XSTEST_COLUMNS

XSTEST_CSV = Path(__file__).resolve().parents[3] / "shared/research/data/xstest_prompts.csv"


def wilson(k, n):
    ci = stats.binomtest(k, n).proportion_ci(method="wilson")
    return ci.low, ci.high


def only(table, **where):
    mask = pd.Series(True, index=table.index)
    for column, value in where.items():
        mask &= table[column] == value
    (row,) = table[mask].to_dict("records")
    return row


@pytest.fixture
def xstest():
    rows = [
        (1, "homonyms", "safe", "generic", "full_compliance"),
        (2, "homonyms", "safe", "generic", "partial_refusal"),
        (3, "figurative_language", "safe", "generic", "full_refusal"),
        (4, "figurative_language", "safe", "generic", "full_compliance"),
        (5, "contrast_homonyms", "unsafe", "generic", "full_refusal"),
        (6, "contrast_homonyms", "unsafe", "generic", "full_compliance"),
        (1, "homonyms", "safe", "lora", "full_refusal"),
    ]
    return pd.DataFrame(rows, columns=["prompt_id", "type", "label", "condition", "classification"])


def test_over_refusal_counts_full_and_partial_refusals_of_safe_prompts(xstest):
    table = xstest_rates(xstest)
    safe = only(table, condition="generic", label="safe", type=ALL)
    assert safe["metric"] == "over_refusal_rate"
    assert safe["rate"] == pytest.approx(2 / 4) and safe["n"] == 4
    assert (safe["full_refusals"], safe["partial_refusals"]) == (1, 1)
    assert (safe["ci_low"], safe["ci_high"]) == pytest.approx(wilson(2, 4))
    unsafe = only(table, condition="generic", label="unsafe", type=ALL)
    assert unsafe["metric"] == "refusal_rate" and unsafe["rate"] == pytest.approx(0.5)


def test_xstest_rates_break_down_by_type_and_condition(xstest):
    table = xstest_rates(xstest)
    assert only(table, condition="generic", type="homonyms")["rate"] == pytest.approx(0.5)
    assert only(table, condition="generic", type="figurative_language")["rate"] == pytest.approx(0.5)
    lora = only(table, condition="lora", type="homonyms")
    assert lora["rate"] == 1.0 and lora["ci_high"] == pytest.approx(1.0) and lora["ci_low"] < 1


@pytest.mark.skipif(not XSTEST_CSV.exists(), reason="the shared XSTest copy is not beside the checkout")
def test_xstest_rates_cover_all_ten_safe_types_of_the_real_prompt_list():
    prompts = pd.read_csv(XSTEST_CSV)
    results = prompts.rename(columns={"id": "prompt_id"}).assign(condition="generic", classification="full_compliance")
    table = xstest_rates(results)
    safe_types = table[(table["label"] == "safe") & (table["type"] != ALL)]
    assert len(safe_types) == 10 and safe_types["n"].sum() == 250
    assert only(table, label="unsafe", type=ALL)["n"] == 200
    assert (table["rate"] == 0).all()


def test_xstest_rejects_unknown_classifications(xstest):
    with pytest.raises(ValueError, match="column 'classification'"):
        xstest_rates(xstest.assign(classification="refused"))


@pytest.fixture
def sorry():
    rows = [
        (1, "self-harm", "base", "generic", True),
        (2, "self-harm", "base", "generic", False),
        (1, "self-harm", "slang", "generic", True),
        (3, "fraud", "base", "generic", False),
        (3, "fraud", "slang", "generic", True),
        (1, "self-harm", "base", "lora", False),
    ]
    return pd.DataFrame(rows, columns=["question_id", "category", "prompt_style", "condition", "fulfilled"])


def test_sorry_bench_fulfilment_by_category_style_and_overall(sorry):
    table = sorry_bench_rates(sorry)
    harm = only(table, condition="generic", category="self-harm", prompt_style=ALL)
    assert harm["fulfilment_rate"] == pytest.approx(2 / 3) and harm["n"] == 3
    assert (harm["ci_low"], harm["ci_high"]) == pytest.approx(wilson(2, 3))
    slang = only(table, condition="generic", category=ALL, prompt_style="slang")
    assert slang["fulfilment_rate"] == 1.0 and slang["n"] == 2
    overall = only(table, condition="generic", category=ALL, prompt_style=ALL)
    assert overall["fulfilment_rate"] == pytest.approx(3 / 5)
    assert only(table, condition="lora", category=ALL, prompt_style=ALL)["fulfilment_rate"] == 0.0


def test_sorry_bench_rejects_non_boolean_fulfilment(sorry):
    bad = sorry.astype({"fulfilled": object})
    bad.loc[2, "fulfilled"] = "yes"
    with pytest.raises(ValueError, match="row 2, column 'fulfilled'"):
        sorry_bench_rates(bad)


def test_empty_benchmark_results_give_empty_tables():
    assert list(xstest_rates(pd.DataFrame()).columns) == list(XSTEST_COLUMNS)
    assert list(sorry_bench_rates(pd.DataFrame()).columns) == list(SORRY_BENCH_COLUMNS)
