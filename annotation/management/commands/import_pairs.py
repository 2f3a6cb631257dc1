"""python manage.py import_pairs FILE --format {psychosafe,jsonl,csv,xstest,sorry_bench} --user USERNAME [--skip-existing]"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation import importing


class Command(BaseCommand):
    help = (
        "Import prompt-response pairs, all or nothing: any bad row rejects the whole file and every error is "
        "listed with its line and field. See docs/import-export.md for the columns."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", required=True, choices=importing.FORMATS)
        parser.add_argument(
            "--user",
            required=True,
            help="Who imports: pairs whose author has no Studio account are attributed to them.",
        )
        parser.add_argument(
            "--skip-existing",
            action="store_true",
            help="Skip rows identical to a pair already in the Studio instead of rejecting the file.",
        )

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file.")
        try:
            user = get_user_model().objects.get(username=options["user"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {options['user']!r}.") from None
        try:
            summary = importing.import_pairs(
                data=path.read_bytes(), format=options["format"], user=user, skip_existing=options["skip_existing"]
            )
        except importing.ImportRejected as rejected:
            for error in rejected.errors:
                self.stderr.write(f"{path}:{error.line}: {error.field}: {error.message}")
            raise CommandError(f"{len(rejected.errors)} error(s) in {path}; nothing was imported.") from None
        skipped = f", skipped {summary.skipped_existing} existing" if summary.skipped_existing else ""
        self.stdout.write(
            self.style.SUCCESS(f"Imported {summary.prompts} prompts and {summary.pairs} pairs from {path}{skipped}.")
        )
