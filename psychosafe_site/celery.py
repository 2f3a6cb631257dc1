"""The Celery app. Workers start with `celery -A psychosafe_site worker -Q default,gpu`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "psychosafe_site.settings")

app = Celery("psychosafe_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
