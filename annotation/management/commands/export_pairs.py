"""python manage.py export_pairs --format {jsonl,psychosafe,csv,parquet} --out FILE [filters]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation import corpus, exporting
from annotation.models import ModelCondition


class Command(BaseCommand):
    help = (
        "Export reference pairs with the corpus browser's filters. JSONL is TRL's chat format (messages) plus the "
        "Studio's columns; use --condition to put that condition's system prompt in the messages."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True, choices=exporting.FORMATS)
        parser.add_argument("--out", required=True, type=Path, help="Output file ('-' for standard output).")
        parser.add_argument("--condition", help="Name of a model condition whose system prompt goes into JSONL.")
        for name in ("q", "domain", "status", "source", "split", "author", "strategy"):
            parser.add_argument(f"--{name}", default="", help=f"Filter by {name} (as in the corpus browser).")

    def handle(self, *args, **options):
        condition = None
        if options["condition"]:
            condition = ModelCondition.objects.select_related("system_prompt").filter(name=options["condition"]).first()
            if condition is None:
                raise CommandError(f"No model condition named {options['condition']!r}.")
        filters = corpus.PairFilter.from_data(options)
        queryset = corpus.pairs(filters=filters)
        if options["out"] == Path("-"):
            count = exporting.export_pairs(
                queryset=queryset, format=options["format"], out=self.stdout._out.buffer, condition=condition
            )
        else:
            with options["out"].open("wb") as out:
                count = exporting.export_pairs(
                    queryset=queryset, format=options["format"], out=out, condition=condition
                )
        self.stderr.write(f"Exported {count} pairs to {options['out']}.")
