"""`{{ job|job_status }}`: the status dict the progress script polls, for the first render."""

from django import template

from annotation import jobs

register = template.Library()


@register.filter
def job_status(job) -> dict:
    return jobs.status(job)
