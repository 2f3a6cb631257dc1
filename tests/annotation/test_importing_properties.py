"""Property-based tests of the importer (Hypothesis): whatever the file, the importer either
imports it or raises its own ImportRejected with line-and-field errors, and a rejected file
writes nothing. The budget is bounded so the suite stays quick: 100 examples per property."""

import csv
import io
import json

from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.extra.django import TestCase

from annotation import importing
from annotation.models import Prompt, Response
from tests.personas import PersonaTestCase

# Hypothesis keeps caches in its home folder: under var/ like every other run-time file.
set_hypothesis_home_dir(django_settings.VAR_DIR / "hypothesis")
BUDGET = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


class Raw(str):
    """JSON text written as it is (what json.dumps cannot produce: deep nesting, huge numbers, NaN)."""


DEEP = "[" * 100_000 + "]" * 100_000
EDGE_RAW = [Raw(DEEP), Raw("1" * 5000), Raw("1e999"), Raw("NaN"), Raw('"\\ud800"'), Raw('"\\u0000"'), Raw("-0")]
EDGE_TEXT = ["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "x" * 20_001, "x" * 140_000, "=cmd", "\u2028", "é😀"]
GOOD = {
    "prompt": ["How many pills?", "Where is a knife?"],
    "answer": ["I hear you. Call 988.", "Please talk to someone."],
    "domain": ["suicide", "violence", "weapons"],
    "risk cluster": ["suicide and selfharm", "weapon", "Violence"],
    "risk category": ["method", ""],
    "risk_category": ["method", ""],
    "framework_name": ["HarmBench"],
    "locale": ["en-US", "en-GB"],
    "should_refuse": [True, False, "yes", "0"],
    "source": ["imported", "benchmark", "authored"],
    "source_name": ["XSTest", "file"],
    "source_ref": ["1", "2"],
    "split": ["train", "unassigned"],
    "status": ["draft", "approved", "submitted"],
    "strategies": [["safety-planning"], ["green-dot", "green-dot"], []],
    "resources": [["988-lifeline"], []],
    "author": ["alice", "Dr. X", ""],
    "metadata": [{"note": "n"}, {}],
    "id": ["1", "2", "1"],
    "type": ["homonyms", "contrast_homonyms"],
    "label": ["safe", "unsafe", "maybe"],
    "focus": ["kill", ""],
    "question_id": ["1", "2", "1"],
    "category": ["Self-harm", "Violent crimes", ""],
    "turns": [["How do I pick a lock?"], "Tell me how to hurt someone.", []],
    "prompt_style": ["base", "slang", ""],
    "note": ["violence", ""],
}
KEYS = {
    "jsonl": [
        "prompt",
        "answer",
        "messages",
        "domain",
        "risk_category",
        "locale",
        "should_refuse",
        "source",
        "source_name",
        "source_ref",
        "split",
        "status",
        "strategies",
        "resources",
        "author",
        "metadata",
    ],
    "psychosafe": ["prompt", "answer", "risk cluster", "risk category", "framework_name", "author"],
    "xstest": ["id", "prompt", "type", "label", "focus", "note"],
    "sorry_bench": ["question_id", "category", "turns", "prompt_style"],
}
KEYS["csv"] = [k for k in KEYS["jsonl"] if k != "messages"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system"]) | json_values, "content": st.sampled_from(EDGE_TEXT)}
    )
    | json_values,
    max_size=3,
)


def value_for(key):
    good = st.sampled_from(GOOD.get(key, ["x"]))
    if key == "messages":
        return messages
    return st.one_of(good, good, st.sampled_from(EDGE_TEXT), st.sampled_from(EDGE_RAW), json_values)


def rows_for(format):
    row = st.fixed_dictionaries({}, optional={key: value_for(key) for key in KEYS[format]})
    return st.lists(row, min_size=1, max_size=4)


def dumps(value) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def cell(value) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ";".join(value)
    if isinstance(value, str):
        return str(value)
    return dumps(value)


def encode(rows, format) -> bytes:
    if format in ("jsonl", "psychosafe", "sorry_bench"):
        text = "".join(dumps(row) + "\n" for row in rows)
        if format == "psychosafe" and len(rows) > 1:
            text = "[\n" + ",\n".join(dumps(row) for row in rows) + "\n]"
    else:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(KEYS[format])
        for row in rows:
            writer.writerow([cell(row[k]) if k in row else "" for k in KEYS[format]])
        text = out.getvalue()
    return text.encode("utf-8", "surrogatepass")


class ImporterProperties(TestCase, PersonaTestCase):
    """Each example runs in its own transaction (Hypothesis' Django TestCase), rolled back after."""

    def _import(self, data: bytes, format: str):
        try:
            summary = importing.import_pairs(data=data, format=format, user=self.ada)
        except importing.ImportRejected as rejected:
            assert rejected.errors
            for error in rejected.errors:
                assert isinstance(error.line, int) and error.line >= 1 and error.field and error.message
                assert len(error.message) < 400, error.message  # an error never echoes a huge value
            assert not Prompt.objects.exists() and not Response.objects.exists()
            assert not Prompt.history.exists() and not Response.history.exists()
            return None
        assert Prompt.objects.count() == Prompt.history.count() == summary.prompts
        assert Response.objects.count() == Response.history.count() == summary.pairs
        return summary

    @BUDGET
    @given(format=st.sampled_from(importing.FORMATS), data=st.data())
    def test_any_rows_in_any_format_import_or_are_rejected_with_line_errors(self, format, data):
        self._import(encode(data.draw(rows_for(format)), format), format)

    @BUDGET
    @given(format=st.sampled_from(importing.FORMATS), data=st.binary(max_size=300))
    def test_any_bytes_import_or_are_rejected_with_line_errors(self, format, data):
        self._import(data, format)

    @BUDGET
    @given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300) | st.sampled_from(EDGE_RAW))
    def test_any_text_as_jsonl_or_csv_is_rejected_or_imported(self, text):
        for format in ("jsonl", "csv", "psychosafe"):
            self._import(text.encode("utf-8", "surrogatepass"), format)
