"""The landing page: one section per role the user holds, each with a next step."""

from django.db.models import Count
from django.shortcuts import render

from annotation import roles
from annotation.models import GenerationRun, Response, TrainingRun


def _author_section(user) -> dict:
    mine = Response.objects.filter(origin=Response.Origin.REFERENCE, created_by=user)
    counts = dict(mine.values_list("status").annotate(n=Count("id")).order_by())
    recent = mine.select_related("prompt__domain").order_by("-updated_at")[:10]
    return {"status_counts": counts, "recent": recent, "total": sum(counts.values())}


def _reviewer_section(user) -> dict:
    waiting = (
        Response.objects.filter(origin=Response.Origin.REFERENCE, status=Response.Status.SUBMITTED)
        .exclude(created_by=user)
        .select_related("prompt__domain", "created_by")
        .order_by("updated_at")
    )
    return {"waiting_count": waiting.count(), "oldest": waiting[:10]}


def _rater_section(user) -> dict:
    return {"queues": []}


def _admin_section(user) -> dict:
    return {
        "training_runs": TrainingRun.objects.order_by("-created_at")[:5],
        "generation_runs": GenerationRun.objects.order_by("-created_at")[:5],
    }


SECTIONS = {
    roles.AUTHOR: _author_section,
    roles.REVIEWER: _reviewer_section,
    roles.RATER: _rater_section,
    roles.ADMIN: _admin_section,
}


def home(request):
    held = roles.user_roles(request.user)
    sections = {role: build(request.user) for role, build in SECTIONS.items() if role in held}
    return render(request, "annotation/home.html", {"sections": sections, "has_no_role": not held})
