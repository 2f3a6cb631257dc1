"""Seed version 1 of the PsychoSafe rubric (annotation/rubrics.py), the default for new rounds."""

from django.db import migrations

from annotation import rubrics


def seed_rubric(apps, schema_editor):
    rubrics.seed_psychosafe_rubric(Rubric=apps.get_model("annotation", "Rubric"),
                                   Criterion=apps.get_model("annotation", "Criterion"))


class Migration(migrations.Migration):
    dependencies = [("annotation", "0005_rating_rounds")]
    operations = [migrations.RunPython(seed_rubric, migrations.RunPython.noop)]
