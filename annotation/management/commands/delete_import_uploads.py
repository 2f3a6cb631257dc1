"""python manage.py delete_import_uploads: delete uploaded import files that can no longer be retried."""

from django.conf import settings
from django.core.management.base import BaseCommand

from annotation import importing


class Command(BaseCommand):
    help = (
        "Delete the uploaded files of ended import jobs: succeeded or rejected ones, and failed or cancelled ones "
        "older than PSYCHOSAFE_IMPORT_UPLOAD_RETENTION_HOURS. Imports do this themselves as they start and end; "
        "run this from cron to keep the retry window exact on an idle Studio."
    )

    def handle(self, *args, **options):
        count = importing.delete_expired_uploads()
        hours = settings.IMPORT_UPLOAD_RETENTION_HOURS
        self.stdout.write(f"Deleted {count} uploaded file(s) (retry window: {hours} h).")
