"""python manage.py make_splits --seed 42 --per-domain 100 [--benign-per-domain N] [--few-shot PROMPT_ID ...]
[--dry-run]"""

from django.core.management.base import BaseCommand, CommandError

from annotation import splits


class Command(BaseCommand):
    help = (
        "Assign train/validation/test splits stratified by risk domain (approved pairs only), force few-shot "
        "examples into train, and list leakage findings. Same seed and data give the same split."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--per-domain", type=int, default=100, help="Validation and test prompts per domain.")
        parser.add_argument(
            "--few-shot",
            type=int,
            nargs="*",
            default=[],
            help="Prompt ids forced into train (prompts quoted in the PsychoSafe system prompt, or "
            "with metadata few_shot=true, are forced automatically).",
        )
        parser.add_argument(
            "--benign-per-domain",
            type=int,
            default=None,
            help="Hold out this many benign controls per domain (validation and test each), apart from the "
            "risky prompts; default: benign controls are mixed with the rest.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report what would be assigned; change nothing.")

    def handle(self, *args, **options):
        try:
            report = splits.make_splits(
                seed=options["seed"],
                per_domain=options["per_domain"],
                benign_per_domain=options["benign_per_domain"],
                few_shot_ids=options["few_shot"],
                dry_run=options["dry_run"],
            )
        except splits.SplitsFrozen as error:
            raise CommandError(str(error)) from error
        for line in report.lines():
            self.stdout.write(line)
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was changed.")
