"""Create the demo: one user per role, the catalog, realistic reference pairs and their splits,
and a finished example rating round (annotation/examples.py) so the results are not empty.

Idempotent: users, pairs, conditions and the example round are keyed, so running it twice
changes nothing; the splits are made once (seed 42, 3 validation + 3 test prompts per domain),
only while no prompt has one, so an admin's own splits are never overwritten.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from annotation import examples, roles, rubrics, seeding, splits
from annotation.models import (
    InterventionStrategy,
    Judge,
    ModelCondition,
    Prompt,
    Resource,
    Response,
    Review,
    RiskDomain,
    SystemPrompt,
)

DEMO_SOURCE = "studio-demo"
# Every 9th pair is left submitted (so the review queue has work) and every 13th a draft.
SUBMITTED_EVERY = 9
DRAFT_EVERY = 13
# The demo corpus is small: 3 validation and 3 test prompts per domain, the rest train.
DEMO_SPLIT_SEED = 42
DEMO_SPLIT_PER_DOMAIN = 3


class Command(BaseCommand):
    help = "Create demo users (one per role), the catalog and demo prompt-response pairs. Safe to run twice."

    @transaction.atomic
    def handle(self, *args, **options):
        roles.ensure_role_groups()
        seeding.seed_strategies(RiskDomain=RiskDomain, InterventionStrategy=InterventionStrategy)
        seeding.seed_resources(RiskDomain=RiskDomain, Resource=Resource)
        seeding.seed_system_prompts(SystemPrompt=SystemPrompt)
        users = self._users()
        created = self._pairs(users)
        self._conditions()
        judge_note = self._endpoint_judge()
        split_note = self._splits()
        example_note = self._example_round(users)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {len(users)} users, {created} new pairs{split_note}{judge_note}{example_note}."
            )
        )

    def _example_round(self, users) -> str:
        raters = [u for _, u in sorted(users.items()) if roles.RATER in roles.user_roles(u)]
        example = examples.seed_example_round(raters=raters, source_name=DEMO_SOURCE)
        if example is None:
            return "; no example round (no validation prompts to rate)"
        if not example.created:
            return ""
        return f"; example round with {example.ratings} ratings and {example.verdicts} judge verdicts"

    def _splits(self) -> str:
        if Prompt.objects.exclude(split=Prompt.Split.UNASSIGNED).exists():
            return ""
        report = splits.make_splits(seed=DEMO_SPLIT_SEED, per_domain=DEMO_SPLIT_PER_DOMAIN)
        validation = sum(counts["validation"] for counts in report.counts.values())
        return f"; splits made (seed {DEMO_SPLIT_SEED}): {validation} validation prompts"

    def _users(self) -> dict:
        User = get_user_model()
        users = {}
        for row in seeding.read_seed("demo_users.json"):
            user, created = User.objects.get_or_create(
                username=row["username"],
                defaults={"first_name": row.get("first_name", ""), "last_name": row.get("last_name", "")},
            )
            if created:
                user.set_password(row["password"])
                user.is_staff = row["role"] == roles.ADMIN
                user.save()
            user.groups.add(Group.objects.get(name=row["role"]))
            users[row["username"]] = user
        return users

    def _pairs(self, users) -> int:
        domains = {d.slug: d for d in RiskDomain.objects.all()}
        strategies = {s.key: s for s in InterventionStrategy.objects.all()}
        resources = {r.key: r for r in Resource.objects.all()}
        authors = [u for name, u in sorted(users.items()) if roles.AUTHOR in roles.user_roles(u)]
        reviewer = next(u for u in users.values() if roles.REVIEWER in roles.user_roles(u))
        created = 0
        for index, row in enumerate(seeding.read_seed("demo_pairs.json")):
            author = authors[index % len(authors)]
            prompt, was_new = Prompt.objects.get_or_create(
                source_name=DEMO_SOURCE,
                source_ref=row["key"],
                defaults={
                    "text": row["prompt"],
                    "domain": domains[row["domain"]],
                    "risk_category": row.get("risk_category", ""),
                    "source": Prompt.Source.AUTHORED,
                    "locale": row["locale"],
                    "should_refuse": row["should_refuse"],
                    "created_by": author,
                },
            )
            if not was_new:
                continue
            status = self._demo_status(index)
            pair = Response.objects.create(
                prompt=prompt, text=row["answer"], origin=Response.Origin.REFERENCE, status=status, created_by=author
            )
            if row.get("strategy"):
                pair.strategies.set([strategies[row["strategy"]]])
            pair.resources.set([resources[key] for key in row.get("resources", [])])
            if status == Response.Status.APPROVED:
                Review.objects.create(
                    response=pair,
                    author=author,
                    reviewer=reviewer,
                    decision=Review.Decision.APPROVED,
                    text_before=pair.text,
                    text_after=pair.text,
                )
            created += 1
        return created

    @staticmethod
    def _demo_status(index: int) -> str:
        if index % DRAFT_EVERY == DRAFT_EVERY - 1:
            return Response.Status.DRAFT
        if index % SUBMITTED_EVERY == SUBMITTED_EVERY - 1:
            return Response.Status.SUBMITTED
        return Response.Status.APPROVED

    def _endpoint_judge(self) -> str:
        """Register the endpoint judge named by PSYCHOSAFE_JUDGE_URL / _MODEL, if they are set."""
        if not settings.JUDGE_ENDPOINT_URL:
            return ""
        judge, created = Judge.objects.get_or_create(
            kind=Judge.Kind.ENDPOINT,
            endpoint_url=settings.JUDGE_ENDPOINT_URL,
            model=settings.JUDGE_ENDPOINT_MODEL,
            defaults={
                "name": f"Endpoint judge · {settings.JUDGE_ENDPOINT_MODEL}"[:150],
                "api_key_env": settings.JUDGE_API_KEY_ENV,
                "rubric": rubrics.default_rubric(),
            },
        )
        return f"; endpoint judge “{judge}” {'registered' if created else 'already registered'}"

    def _conditions(self) -> None:
        for key, name in [
            ("none", "Demo model · no system prompt"),
            ("generic", "Demo model · generic baseline"),
            ("psychosafe", "Demo model · PsychoSafe prompt"),
        ]:
            prompt = SystemPrompt.objects.current().filter(key=key).first()
            if prompt:
                ModelCondition.objects.get_or_create(
                    name=name, defaults={"base_model": settings.BASE_MODEL, "system_prompt": prompt}
                )
