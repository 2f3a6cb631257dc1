"""The reviewer's queue and review page (diff against the author's version, approve or send back)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from annotation import checks, pairs, roles, splits
from annotation.forms.pairs import ReviewForm
from annotation.models import Response, RiskDomain

QUEUE_PAGE = 50


def _queue_domain(value) -> str:
    """The queue's domain filter, if it names a domain (it travels through the review page and back)."""
    return value if value and RiskDomain.objects.filter(slug=value).exists() else ""


def _queue_url(domain: str) -> str:
    return reverse("review-queue") + (f"?{urlencode({'domain': domain})}" if domain else "")


@roles.role_required(roles.REVIEWER)
def review_queue(request):
    domain = request.GET.get("domain") or None
    queue = pairs.review_queue(reviewer=request.user, domain=domain)
    return render(
        request,
        "annotation/pairs/review_queue.html",
        {
            "pairs": queue[:QUEUE_PAGE],
            "total": queue.count(),
            "domains": RiskDomain.objects.all(),
            "domain": domain,
        },
    )


def _where_it_went(pair) -> str:
    """The approval message says where the split policy put the pair: train, held out, or waiting."""
    where = splits.where_it_went(pair.prompt_id)
    if where.startswith("It waits"):
        return f"Approved. {where}"
    return f"Approved: {where[0].lower()}{where[1:]}"


@roles.role_required(roles.REVIEWER)
def review_pair(request, pk):
    pair = get_object_or_404(Response.objects.references().select_related("prompt__domain", "created_by"), pk=pk)
    if pair.created_by_id == request.user.pk:
        messages.error(request, "Nobody reviews their own pair. Another reviewer will pick this one up.")
        return redirect("pair-detail", pk=pair.pk)
    if pair.status != Response.Status.SUBMITTED:
        messages.info(request, f"This pair is {pair.get_status_display().lower()}, not waiting for review.")
        return redirect("pair-detail", pk=pair.pk)
    author_text = pairs.author_version(pair)
    queue_domain = _queue_domain(request.POST.get("queue_domain") or request.GET.get("domain"))
    if request.method == "POST":
        form = ReviewForm(request.POST, pair=pair)
        if form.is_valid():
            decide = pairs.approve if form.cleaned_data["decision"] == "approved" else pairs.request_changes
            try:
                decide(
                    response=pair,
                    reviewer=request.user,
                    comment=form.cleaned_data["comment"],
                    text=form.cleaned_data["text"],
                    contact_reason=form.cleaned_data["contact_reason"],
                )
            except pairs.WorkflowError as error:
                messages.error(request, str(error))
                return redirect("pair-detail", pk=pair.pk)
            messages.success(
                request,
                _where_it_went(pair) if decide is pairs.approve else "Sent back to the author with your comment.",
            )
            return redirect(_queue_url(queue_domain))
    else:
        form = ReviewForm(initial={"text": pair.text}, pair=pair)
    text = form.data.get("text", pair.text) if form.is_bound else pair.text
    report = checks.check_response(
        text=text,
        domain=pair.prompt.domain,
        locale=pair.prompt.locale,
        should_refuse=pair.prompt.should_refuse,
        exclude_id=pair.pk,
    )
    return render(
        request,
        "annotation/pairs/review.html",
        {
            "pair": pair,
            "prompt": pair.prompt,
            "form": form,
            "report": report,
            "diff": pairs.text_diff(author_text, text) if text != author_text else None,
            "author_text": author_text,
            "strategies": pair.strategies.all(),
            "resources": pair.resources.all(),
            "previous_reviews": pair.reviews.select_related("reviewer"),
            "part_labels": checks.PART_LABELS,
            "queue_domain": queue_domain,
            "queue_url": _queue_url(queue_domain),
        },
    )
