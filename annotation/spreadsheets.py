"""CSV that is safe to open in a spreadsheet.

Excel, LibreOffice and Google Sheets run a cell that starts with =, +, -, @, tab or carriage
return as a formula, so a rater's comment such as `=HYPERLINK("http://…")` would run on the
admin's machine. Every CSV the Studio writes goes through `writer()`, which puts an apostrophe
before such a cell; `unneutralise()` takes exactly that apostrophe off again on import.
JSONL and Parquet are not read by spreadsheets and stay byte-exact.
"""

import csv

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    # Text that already starts with apostrophes before a formula gets one more, or import would
    # take off one of its own.
    return "'" + value if value.lstrip("'").startswith(FORMULA_PREFIXES) else value


def unneutralise(value: str) -> str:
    """Undo `neutralise`: drop the one apostrophe it put before =, +, -, @, tab or CR."""
    return value[1:] if value.startswith("'") and value.lstrip("'").startswith(FORMULA_PREFIXES) else value


class _Writer:
    def __init__(self, out, **options):
        self._writer = csv.writer(out, **options)

    def writerow(self, row):
        # Only text can be a formula; numbers (a negative one included) and None go out as csv writes them.
        return self._writer.writerow([neutralise(cell) if isinstance(cell, str) else cell for cell in row])


def writer(out, **options) -> _Writer:
    """A csv.writer on `out` whose text cells cannot run as spreadsheet formulas."""
    return _Writer(out, **options)
