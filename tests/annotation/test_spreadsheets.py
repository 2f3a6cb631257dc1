"""The one CSV writer: formula-like text gets an apostrophe, numbers and plain text do not."""

import csv
import io

from annotation import spreadsheets


def test_writer_neutralises_text_cells_only():
    out = io.StringIO(newline="")
    spreadsheets.writer(out).writerow(["=1+1", "+x", "-x", "@x", "\tx", "\rx", "plain", -3, 1.5, "'=kept"])
    row = next(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert row == ["'=1+1", "'+x", "'-x", "'@x", "'\tx", "'\rx", "plain", "-3", "1.5", "''=kept"]


def test_unneutralise_takes_off_exactly_the_guard():
    for text in ["=1+1", "\rx", "plain", "'=kept", "'quoted"]:
        assert spreadsheets.unneutralise(spreadsheets.neutralise(text)) == text
