"""The landing page: one section per role the user holds, each with a next step."""

from django.contrib.auth.decorators import login_not_required
from django.contrib.staticfiles import finders
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from annotation import roles
from annotation.models import GenerationRun, Response, TrainingRun


def _author_section(user) -> dict:
    mine = Response.objects.references().filter(created_by=user)
    by_status = dict(mine.values_list("status").annotate(n=Count("id")).order_by())
    # In the lifecycle's order, each with its human label ("Changes requested", not the stored value).
    counts = {
        status: (Response.Status(status).label, by_status[status]) for status in Response.Status if status in by_status
    }
    recent = mine.select_related("prompt__domain").order_by("-updated_at")[:10]
    needs_changes = (
        mine.filter(status=Response.Status.CHANGES_REQUESTED)
        .select_related("prompt__domain")
        .order_by("updated_at")[:10]
    )
    return {"status_counts": counts, "recent": recent, "total": sum(by_status.values()), "needs_changes": needs_changes}


def _reviewer_section(user) -> dict:
    from annotation import pairs

    waiting = pairs.review_queue(reviewer=user)
    return {"waiting_count": waiting.count(), "oldest": waiting[:10]}


def _rater_section(user) -> dict:
    """Open rounds the rater belongs to (directly or through the round's group), with their counts."""
    from django.db.models import Q

    from annotation.models import Rating, Round

    open_rounds = list(
        Round.objects.filter(state=Round.State.OPEN)
        .filter(Q(memberships__rater=user) | Q(rater_group__in=user.groups.all()))
        .distinct()
        .order_by("deadline", "opened_at")
    )
    done = dict(
        Rating.objects.filter(rater=user, round__in=open_rounds)
        .values_list("round_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {"queues": [{"round": r, "done": done.get(r.pk, 0)} for r in open_rounds]}


def _admin_section(user) -> dict:
    from annotation.models import Round

    rated = Round.objects.filter(rubric__isnull=False).annotate(n=Count("ratings")).filter(n__gt=0)
    return {
        "latest_results": rated.order_by("-created_at").first(),
        "rounds": Round.objects.exclude(state=Round.State.CLOSED)
        .annotate(n_ratings=Count("ratings"))
        .order_by("-created_at")[:5],
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


@login_not_required
@require_GET
@cache_control(max_age=7 * 24 * 3600, public=True)
def favicon(request):
    """/favicon.ico: browsers ask for it on every page, logged in or not."""
    path = finders.find("favicon.ico")
    if path is None:
        raise Http404("No icon.")
    return FileResponse(open(path, "rb"), content_type="image/x-icon")  # noqa: SIM115 (FileResponse closes it)
