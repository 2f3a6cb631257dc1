"""The migrated catalog (domains, strategies, resources, system prompts, the PsychoSafe rubric).

Transactional tests flush the database afterwards, and pytest-django does not reliably bring
serialized_rollback data back (e.g. around live_server), so tests that need the catalog after
a flush re-create it with the same idempotent functions the migrations use.
"""

import importlib

from django.apps import apps

from annotation import rubrics, seeding
from annotation.models import Criterion, InterventionStrategy, Judge, Resource, RiskDomain, Rubric, SystemPrompt
from annotation.roles import ensure_role_groups


def ensure_catalog() -> None:
    if not RiskDomain.objects.exists():
        importlib.import_module("annotation.migrations.0002_risk_domains").create_domains(apps, None)
    if not Resource.objects.exists():
        seeding.seed_strategies(RiskDomain=RiskDomain, InterventionStrategy=InterventionStrategy)
        seeding.seed_resources(RiskDomain=RiskDomain, Resource=Resource)
    seeding.seed_system_prompts(SystemPrompt=SystemPrompt)
    rubrics.seed_psychosafe_rubric(Rubric=Rubric, Criterion=Criterion)
    seeding.seed_deterministic_judge(Judge=Judge, Rubric=Rubric)
    ensure_role_groups()
