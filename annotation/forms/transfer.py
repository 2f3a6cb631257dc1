"""Import and export of pairs: the file formats offered."""

from django import forms

from annotation.models import ModelCondition

EXPORT_FORMATS = [
    ("jsonl", "JSONL (TRL chat messages + Studio columns)"),
    ("psychosafe", "Authors' JSON schema"),
    ("csv", "CSV (spreadsheet-safe)"),
    ("parquet", "Parquet"),
]


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=EXPORT_FORMATS, initial="jsonl")
    condition = forms.ModelChoiceField(
        ModelCondition.objects.select_related("system_prompt"),
        required=False,
        empty_label="No system message",
        help_text="JSONL: whose system prompt to put in the messages.",
    )


IMPORT_FORMATS = [
    ("jsonl", "Studio JSONL"),
    ("csv", "Studio CSV"),
    ("psychosafe", "Authors' JSON / JSONL"),
    ("xstest", "XSTest CSV"),
    ("sorry_bench", "SORRY-Bench JSONL or CSV"),
]


class ImportForm(forms.Form):
    file = forms.FileField(help_text="UTF-8. All or nothing: any bad row rejects the whole file.")
    format = forms.ChoiceField(choices=IMPORT_FORMATS)
    skip_existing = forms.BooleanField(
        required=False,
        label="Skip pairs that already exist in the Studio",
        help_text="Off: an exact duplicate of an existing pair is an error. On: it is skipped and counted.",
    )
