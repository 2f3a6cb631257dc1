"""Loading the Studio's seed data into the database, idempotently.

The strategy registry comes from modeling (modeling/data/strategies.json, shared with the judge
and the statistics); resources, system prompts, demo users and pairs from annotation/seed/*.json.
Functions take the model classes to use so that data migrations can pass historical models.
"""

import json
from datetime import date
from pathlib import Path

from modeling import strategies

SEED_DIR = Path(__file__).resolve().parent / "seed"


def read_seed(name: str):
    return json.loads((SEED_DIR / name).read_text(encoding="utf-8"))


def seed_strategies(*, RiskDomain, InterventionStrategy) -> int:
    domains = {d.slug: d for d in RiskDomain.objects.all()}
    rows = strategies.read_strategies()
    for row in rows:
        strategy, _ = InterventionStrategy.objects.update_or_create(
            key=row["key"], defaults={"name": row["name"], "description": row.get("description", "")}
        )
        strategy.domains.set([domains[slug] for slug in row["domains"]])
    return len(rows)


def seed_resources(*, RiskDomain, Resource) -> int:
    domains = {d.slug: d for d in RiskDomain.objects.all()}
    rows = read_seed("resources.json")
    for row in rows:
        resource, _ = Resource.objects.update_or_create(
            key=row["key"],
            defaults={
                "name": row["name"],
                "locale": row["locale"],
                "channel": row["channel"],
                "phone": row.get("phone", ""),
                "text_number": row.get("text_number", ""),
                "url": row.get("url", ""),
                "hours": row.get("hours", ""),
                "description": row.get("description", ""),
                "verified_on": date.fromisoformat(row["verified_on"]),
            },
        )
        resource.domains.set([domains[slug] for slug in row["domains"]])
    return len(rows)


def seed_system_prompts(*, SystemPrompt) -> int:
    """Create version 1 of each shipped system prompt; never overwrite an edited one."""
    rows = read_seed("system_prompts.json")
    for row in rows:
        SystemPrompt.objects.get_or_create(
            key=row["key"], version=1, defaults={"name": row["name"], "text": row["text"]}
        )
    return len(rows)


def seed_deterministic_judge(*, Judge, Rubric) -> None:
    """Every studio has the deterministic checks as a judge, on the first PsychoSafe rubric version.

    Takes the model classes so a data migration can pass its historical models.
    """
    rubric = Rubric.objects.filter(key="psychosafe").order_by("version").first()
    if rubric is not None:
        Judge.objects.get_or_create(
            name="Deterministic checks", version=1, defaults={"kind": "deterministic", "rubric": rubric}
        )
