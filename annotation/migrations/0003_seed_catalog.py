"""Seed the strategy and resource registries and the shipped system prompts.

Reads annotation/seed/*.json through annotation.seeding with historical models; every
loader is idempotent, so re-running (or running seed_demo later) changes nothing.
"""

from django.db import migrations

from annotation import seeding


def seed_catalog(apps, schema_editor):
    RiskDomain = apps.get_model("annotation", "RiskDomain")
    seeding.seed_strategies(RiskDomain=RiskDomain, InterventionStrategy=apps.get_model("annotation", "InterventionStrategy"))
    seeding.seed_resources(RiskDomain=RiskDomain, Resource=apps.get_model("annotation", "Resource"))
    seeding.seed_system_prompts(SystemPrompt=apps.get_model("annotation", "SystemPrompt"))


class Migration(migrations.Migration):
    dependencies = [("annotation", "0002_risk_domains")]
    operations = [migrations.RunPython(seed_catalog, migrations.RunPython.noop)]
