"""python manage.py export_ratings --round ID_OR_NAME --format {csv,parquet} --out FILE"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation import results
from annotation.models import Round


class Command(BaseCommand):
    help = (
        "Write a round's tidy ratings table (every human rating and parsed judge verdict, one row per criterion; "
        "see docs/statistics.md) as CSV or Parquet."
    )

    def add_arguments(self, parser):
        parser.add_argument("--round", required=True, help="The round's id or its exact name.")
        parser.add_argument("--format", default="csv", choices=results.TIDY_FORMATS)
        parser.add_argument("--out", required=True, type=Path, help="Output file ('-' for standard output).")

    def handle(self, *args, **options):
        round = find_round(options["round"])
        try:
            frame = results.tidy_ratings(round=round)
        except ValueError as error:
            raise CommandError(str(error)) from error
        if options["out"] == Path("-"):
            results.write_tidy(frame, self.stdout._out.buffer, format=options["format"])
            return
        with options["out"].open("wb") as out:
            results.write_tidy(frame, out, format=options["format"])
        self.stderr.write(f"Wrote {len(frame)} rows of round {round.name!r} to {options['out']}.")


def find_round(given: str) -> Round:
    """The round with this id, else with this exact name."""
    rounds = Round.objects.select_related("rubric")
    found = rounds.filter(pk=int(given)).first() if given.isdigit() else None
    found = found or rounds.filter(name=given).first()
    if found is None:
        raise CommandError(f"No round {given!r}: give a round's id or its exact name.")
    return found
