"""`{{ job|job_status }}`: the status dict the progress script polls, for the first render."""

from django import template

from annotation import jobs

register = template.Library()


@register.filter
def job_status(job) -> dict:
    # No query per job on list pages: the first poll places a queued job in its queue.
    return jobs.status(job, place=False)
