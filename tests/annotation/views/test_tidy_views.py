"""The round dashboard's tidy-table downloads: CSV safe for spreadsheets, Parquet exact, admins only."""

import io

import pandas as pd
from django.urls import reverse

from annotation import rounds, spreadsheets
from annotation.results import TIDY_COLUMNS, tidy_ratings
from tests.annotation.tidy_fixtures import FORMULA, build_tidy_round
from tests.personas import PersonaTestCase

TEXT_COLUMNS = ["round", "item", "response_id", "condition", "domain", "locale", "rater", "rater_kind"]
TEXT_COLUMNS += ["judge_kind", "criterion", "value", "answer", "rubric", "submitted_at"]


def mean_relevance(table: pd.DataFrame) -> dict:
    """Mean relevance grade per condition from the human ratings, to 4 decimals."""
    rows = table[(table["criterion"] == "relevance") & (table["rater_kind"] == "human")]
    means = pd.to_numeric(rows["value"]).groupby(rows["condition"]).mean().round(4)
    return means.to_dict()


class TidyDownloadTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.t = build_tidy_round(raters=[cls.raj, cls.rhea])
        cls.table = tidy_ratings(round=cls.t.round)

    def download(self, fmt, user=None):
        self.client.force_login(user or self.ada)
        return self.client.get(reverse("round-tidy", args=[self.t.round.pk, fmt]))

    def read_csv(self) -> pd.DataFrame:
        answer = self.download("csv")
        assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
        assert f'filename="round-{self.t.round.pk}-tidy.csv"' in answer["Content-Disposition"]
        # Text columns read as written (empty stays empty), then the formula guard taken off.
        back = pd.read_csv(
            io.BytesIO(answer.content),
            dtype=dict.fromkeys(TEXT_COLUMNS, str),
            keep_default_na=False,
            na_values={"display_position": [""]},
        )
        for column in TEXT_COLUMNS:
            back[column] = back[column].map(spreadsheets.unneutralise)
        return back

    def test_the_dashboard_links_both_downloads(self):
        self.client.force_login(self.ada)
        page = self.client.get(reverse("round-dashboard", args=[self.t.round.pk])).content.decode()
        assert reverse("round-tidy", args=[self.t.round.pk, "csv"]) in page and "Tidy table (CSV)" in page
        assert reverse("round-tidy", args=[self.t.round.pk, "parquet"]) in page and "(Parquet)" in page

    def test_the_csv_parses_back_to_the_same_values(self):
        back = self.read_csv()
        assert list(back.columns) == list(TIDY_COLUMNS)
        table = self.table
        for column in TEXT_COLUMNS:
            assert back[column].tolist() == table[column].map(str).tolist(), column
        for column in ["prompt_id", "should_refuse", "gold", "rubric_version", "seconds_on_item"]:
            assert back[column].tolist() == table[column].tolist(), column
        assert back["display_position"].astype("Int64").equals(table["display_position"])

    def test_a_formula_is_neutralised_in_the_csv_and_exact_in_the_parquet(self):
        raw = self.download("csv").content.decode()
        assert '"\'=HYPERLINK(""http://evil.example/"", ""click"")"' in raw
        assert ',"=HYPERLINK' not in raw and ",=HYPERLINK" not in raw
        answer = self.download("parquet")
        assert answer.status_code == 200 and answer["Content-Type"] == "application/vnd.apache.parquet"
        assert f'filename="round-{self.t.round.pk}-tidy.parquet"' in answer["Content-Disposition"]
        back = pd.read_parquet(io.BytesIO(answer.content))
        comment = back[back["criterion"] == "comment"]
        assert comment["answer"].tolist() == [FORMULA] and comment["value"].tolist() == [FORMULA]

    def test_the_parquet_keeps_every_value(self):
        back = pd.read_parquet(io.BytesIO(self.download("parquet").content))
        assert list(back.columns) == list(TIDY_COLUMNS)
        expected = self.table.astype({"value": "string"})
        pd.testing.assert_frame_equal(back, expected, check_dtype=False)

    def test_a_statistic_from_the_csv_equals_the_one_from_the_table(self):
        from_csv = mean_relevance(self.read_csv())
        assert from_csv == mean_relevance(self.table)
        assert len(from_csv) == 3  # two conditions and the gold reference

    def test_only_admins_download(self):
        for user in (self.raj, self.alice, self.rita, self.nora):
            assert self.download("csv", user).status_code == 403
            assert self.download("parquet", user).status_code == 403

    def test_other_formats_and_pairwise_rounds_are_not_found(self):
        assert self.download("xlsx").status_code == 404
        pairwise = rounds.create_round(name="Pairs", rater_title="Validation round", kind="pairwise")
        self.client.force_login(self.ada)
        assert self.client.get(reverse("round-tidy", args=[pairwise.pk, "csv"])).status_code == 404
        assert self.client.get(reverse("round-tidy", args=[9999, "csv"])).status_code == 404
