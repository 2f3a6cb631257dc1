"""Corpus tasks on the default queue: thin wrappers that pass an id to annotation.importing."""

from celery import shared_task

IMPORT_TIME_LIMIT = 3600


@shared_task(name="studio.import_pairs", acks_late=True, time_limit=IMPORT_TIME_LIMIT, queue="default")
def import_pairs(job_id: int) -> str:
    from annotation import importing

    return importing.run_import_job(job_id=job_id)
