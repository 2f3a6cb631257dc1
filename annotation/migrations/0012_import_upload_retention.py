from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0011_worker_heartbeats"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="upload_deleted_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the uploaded file was deleted (the job ended, or its retry window did).",
                null=True,
            ),
        ),
    ]
