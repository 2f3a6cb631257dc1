"""The paper's five risk domains with the data labels of the authors' corpus."""

from django.db import migrations

DOMAINS = [
    ("suicide", "Suicide and self-harm", "suicide and selfharm", 10),
    ("substance", "Substance use", "substance", 20),
    ("violence", "Violence", "violence", 30),
    ("weapons", "Weapons", "weapon", 40),
    ("sexual_crimes", "Sexual crimes", "crimes (sexual)", 50),
]


def create_domains(apps, schema_editor):
    RiskDomain = apps.get_model("annotation", "RiskDomain")
    for slug, name, label, priority in DOMAINS:
        RiskDomain.objects.update_or_create(slug=slug, defaults={"name": name, "data_label": label, "priority": priority})


def remove_domains(apps, schema_editor):
    apps.get_model("annotation", "RiskDomain").objects.filter(slug__in=[d[0] for d in DOMAINS]).delete()


class Migration(migrations.Migration):
    dependencies = [("annotation", "0001_initial")]
    operations = [migrations.RunPython(create_domains, remove_domains)]
