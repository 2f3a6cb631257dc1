from django.db import migrations, models

ACTIVE = ["queued", "running"]


def grandfather_parallel_runs(apps, schema_editor):
    """Runs already queued side by side (the retraining storm) keep their place: all but the
    oldest active run of each base model are marked as admin-allowed, so the constraint can be added."""
    TrainingRun = apps.get_model("annotation", "TrainingRun")
    seen = set()
    for run_id, base_model in (
        TrainingRun.objects.filter(state__in=ACTIVE).order_by("created_at", "pk").values_list("pk", "base_model")
    ):
        if base_model in seen:
            TrainingRun.objects.filter(pk=run_id).update(allow_parallel=True)
        seen.add(base_model)


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0008_job_mechanism"),
    ]

    operations = [
        migrations.AddField(
            model_name="trainingrun",
            name="allow_parallel",
            field=models.BooleanField(
                default=False, help_text="An admin queued it although another run on its base model was active."
            ),
        ),
        migrations.RunPython(grandfather_parallel_runs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="trainingrun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state__in", ACTIVE), ("allow_parallel", False)),
                fields=("base_model",),
                name="one_active_training_run_per_base_model",
            ),
        ),
    ]
