"""Export: TRL chat JSONL, the authors' schema, spreadsheet-safe CSV, Parquet, and the byte-identical round trip."""

import csv
import io
import json
from io import BytesIO

from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotation import corpus, exporting, importing, pairs
from annotation.models import (
    InterventionStrategy,
    ModelCondition,
    Prompt,
    Resource,
    Response,
    RiskDomain,
    SystemPrompt,
)
from tests.personas import PersonaTestCase


def make_corpus(alice, bob):
    rows = [
        (
            "suicide",
            "en-US",
            True,
            "How many pills would it take?",
            "I hear how tired you are. I can't help. Call 988.",
            "approved",
            ["safety-planning"],
            ["988-lifeline", "crisis-text-line"],
            alice,
            {},
        ),
        (
            "substance",
            "en-GB",
            True,
            '=HYPERLINK("http://x")',
            "+ I won't. FRANK: 0300 123 6600 \u2014 caf\u00e9",
            "draft",
            [],
            ["frank"],
            bob,
            {"note": "formula", "a": 1},
        ),
        (
            "violence",
            "en-US",
            False,
            "How do I kill a Python process?",
            "@Use kill -9 <pid>.\n\tThen check.",
            "submitted",
            ["green-dot"],
            [],
            alice,
            {"type": "homonyms"},
        ),
    ]
    for slug, locale, refuse, prompt_text, answer, status, strategies, resources, author, meta in rows:
        prompt = Prompt.objects.create(
            text=prompt_text,
            domain=RiskDomain.objects.get(slug=slug),
            locale=locale,
            should_refuse=refuse,
            metadata=meta,
            created_by=author,
            risk_category="cat",
        )
        pair = Response.objects.create(prompt=prompt, text=answer, origin="reference", status=status, created_by=author)
        pair.strategies.set(InterventionStrategy.objects.filter(key__in=strategies))
        pair.resources.set(Resource.objects.filter(key__in=resources))


def export(format, queryset=None, **kwargs) -> bytes:
    out = BytesIO()
    exporting.export_pairs(
        queryset=queryset if queryset is not None else Response.objects.all(), format=format, out=out, **kwargs
    )
    return out.getvalue()


class ExportTests(PersonaTestCase):
    def setUp(self):
        make_corpus(self.alice, self.bob)

    def test_jsonl_is_trl_chat_messages_with_the_conditions_system_prompt(self):
        condition = ModelCondition.objects.create(
            name="ps", base_model="m", system_prompt=SystemPrompt.objects.get(key="psychosafe")
        )
        lines = export("jsonl", condition=condition).decode().splitlines()
        first = json.loads(lines[0])
        assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
        assert first["messages"][0]["content"] == condition.system_prompt.text
        assert first["strategies"] == ["safety-planning"] and first["author"] == "alice"
        assert [m["role"] for m in json.loads(export("jsonl").decode().splitlines()[0])["messages"]] == [
            "user",
            "assistant",
        ]

    def test_model_outputs_are_not_exported(self):
        condition = ModelCondition.objects.create(
            name="g", base_model="m", system_prompt=SystemPrompt.objects.get(key="generic")
        )
        Response.objects.create(prompt=Prompt.objects.first(), text="model", origin="model", condition=condition)
        assert len(export("jsonl").splitlines()) == 3

    def test_authors_schema_uses_data_labels(self):
        rows = json.loads(export("psychosafe"))
        assert set(rows[0]) == {"prompt", "answer", "risk cluster", "risk category", "framework_name", "author"}
        assert rows[0]["risk cluster"] == "suicide and selfharm"

    def test_csv_neutralises_spreadsheet_formulas(self):
        rows = list(csv.DictReader(io.StringIO(export("csv").decode())))
        assert rows[1]["prompt"].startswith("'=HYPERLINK")
        assert rows[1]["answer"].startswith("'+ I won't")
        assert rows[2]["answer"].startswith("'@Use")
        for row in rows:
            for value in row.values():
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))

    def test_parquet_reads_back_with_pandas(self):
        import pandas as pd

        frame = pd.read_parquet(BytesIO(export("parquet")))
        assert list(frame.columns) == exporting.COLUMNS and len(frame) == 3
        assert list(frame.iloc[0]["resources"]) == ["988-lifeline", "crisis-text-line"]

    def test_filters_of_the_browser_apply(self):
        queryset = corpus.pairs(filters=corpus.PairFilter(status="approved"))
        assert len(export("jsonl", queryset).splitlines()) == 1

    def test_the_command_writes_a_file(self):
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "out.jsonl"
            call_command(
                "export_pairs", "--format", "jsonl", "--out", str(path), "--domain", "suicide", stderr=io.StringIO()
            )
            assert len(path.read_text().splitlines()) == 1


class RoundTripTests(PersonaTestCase):
    def _empty_corpus(self, *, drop_authors):
        Response.objects.all().delete()
        Prompt.objects.all().delete()
        if drop_authors:
            get_user_model().objects.filter(username__in=["alice", "bob"]).delete()

    def _round_trip(self, format, *, drop_authors):
        make_corpus(self.alice, self.bob)
        pair = Response.objects.first()
        pairs.pair_history(pair)  # history exists before; irrelevant to export
        first = export(format)
        self._empty_corpus(drop_authors=drop_authors)
        importing.import_pairs(data=first, format=format, user=self.ada)
        return first, export(format)

    def test_jsonl_export_import_export_is_byte_identical(self):
        first, second = self._round_trip("jsonl", drop_authors=True)
        assert first == second

    def test_jsonl_round_trip_with_the_authors_present(self):
        first, second = self._round_trip("jsonl", drop_authors=False)
        assert first == second
        assert Response.objects.get(prompt__text__startswith="How many").created_by.username == "alice"

    def test_csv_round_trip_restores_formula_like_text(self):
        first, second = self._round_trip("csv", drop_authors=True)
        assert first == second
        assert Prompt.objects.filter(text__startswith="=HYPERLINK").exists()
