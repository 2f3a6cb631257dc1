"""The rater's pages: content warning, the rating page, skip, flag, going back to edit a rating,
breaks and preferences.

Blindness: every URL here names the round by its opaque public id only; the item a rater
holds travels as the lease token in a POST body, never in a URL, and a rating already given
is named by its item's token, the opaque per-round id the rating page shows. Nothing rendered
here comes from ModelCondition, Adapter, generation params or other raters' ratings.
"""

import time

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from annotation import queues, roles, rounds
from annotation.forms.rating import (
    PREFERENCE_CHOICES,
    FlagForm,
    PairwiseForm,
    RaterPreferenceForm,
    RatingForm,
    SkipForm,
)
from annotation.models import Criterion, Flag, RaterPreference, RiskDomain, Round, Skip
from annotation.rating_sheets import sheet_for

# A gap this long between ratings counts as a rest: the break timer starts again.
REST_SECONDS = 10 * 60
STRETCH_KEY = "rating_stretch"
ACTIVITY_RESOLUTION_SECONDS = 60


def _break_due(request, break_after_minutes) -> bool:
    now = time.time()
    stretch = request.session.get(STRETCH_KEY)
    if stretch is None or now - stretch["last"] > REST_SECONDS:
        stretch = request.session[STRETCH_KEY] = {"start": now, "last": now}
    return now - stretch["start"] > break_after_minutes * 60


def _note_activity(request):
    """Record that the rater is still at work. Written at most once a minute (a session write is a
    query), which is all the precision a rest of REST_SECONDS needs."""
    now = time.time()
    stretch = request.session.get(STRETCH_KEY) or {"start": now, "last": 0}
    if now - stretch["last"] >= ACTIVITY_RESOLUTION_SECONDS:
        request.session[STRETCH_KEY] = {**stretch, "last": now}


def _preference(user) -> RaterPreference:
    """The rater's preferences, for the preferences page (the rating pages read them with the round)."""
    return RaterPreference.objects.filter(user=user).first() or RaterPreference(user=user)


@roles.role_required(roles.RATER)
def work(request, round_token):
    """The next item (or the held one), after the content warning and any break reminder."""
    round, membership = rounds.round_for_rater(public_id=round_token, rater=request.user)
    if round.state != Round.State.OPEN:
        return render(request, "annotation/rating/closed.html", {"round": round})
    if membership.warned_at is None:
        return _warning(request, round)
    if _break_due(request, membership.break_after_minutes):
        preference = {"break_after_minutes": membership.break_after_minutes}
        return render(request, "annotation/rating/break.html", {"round": round, "preference": preference})
    try:
        slot = queues.claim_next(round=round, rater=request.user)
    except queues.RoundNotOpen:
        return render(request, "annotation/rating/closed.html", {"round": round})
    if slot is None:
        progress = queues.progress(round=round, rater=request.user)
        return render(request, "annotation/rating/done.html", {"round": round, "progress": progress})
    return _item_page(request, round, slot)


def _warning(request, round):
    domains = RiskDomain.objects.filter(pk__in=round.items.values("domain_id").distinct())
    return render(request, "annotation/rating/warning.html", {"round": round, "domains": domains})


def _item_page(request, round, slot, *, form=None, status=200):
    item = slot.item
    if form is None:
        if round.is_pairwise:
            form = PairwiseForm(initial={"lease": slot.lease_token})
        else:
            form = RatingForm(initial={"lease": slot.lease_token}, rubric=round.rubric, domain_id=item.domain_id)
    shown = [item.response, item.response_b] if round.is_pairwise else [item.response]
    if round.is_pairwise and slot.swapped:
        shown.reverse()
    progress, flags = queues.slot_page_data(slot, round=round, rater=request.user)
    context = {
        "round": round,
        "slot": slot,
        "item": item,
        "prompt": item.response.prompt,
        "shown": shown,
        "form": form,
        "preference_choices": PREFERENCE_CHOICES,
        "skip_form": SkipForm(initial={"lease": slot.lease_token}),
        "flag_form": FlagForm(initial={"lease": slot.lease_token}),
        "flagged": [label for value, label in Flag.Kind.choices if value in flags],
        "progress": progress,
        "seconds_left": max(0, int((slot.lease_expires_at - timezone.now()).total_seconds())),
    }
    return render(request, "annotation/rating/item.html", context, status=status)


@roles.role_required(roles.RATER)
@require_POST
def acknowledge_warning(request, round_token):
    round, membership = rounds.round_for_rater(public_id=round_token, rater=request.user)
    rounds.acknowledge_warning(membership=membership)
    request.session[STRETCH_KEY] = {"start": time.time(), "last": time.time()}
    return redirect("rating-work", round_token=round.public_id)


@roles.role_required(roles.RATER)
@require_POST
def resume_after_break(request, round_token):
    round, _ = rounds.round_for_rater(public_id=round_token, rater=request.user)
    request.session[STRETCH_KEY] = {"start": time.time(), "last": time.time()}
    return redirect("rating-work", round_token=round.public_id)


def _lost(request, round, error):
    messages.warning(request, f"{error} Here is your next item.")
    return redirect("rating-work", round_token=round.public_id)


@roles.role_required(roles.RATER)
@require_POST
def submit(request, round_token):
    """Rate the held item: its slot is locked and rated in one short transaction."""
    round, _ = rounds.round_for_rater(public_id=round_token, rater=request.user)
    token = request.POST.get("lease", "")
    saved = False
    try:
        with transaction.atomic():
            slot = queues.held_slot(round=round, rater=request.user, lease_token=token, lock=True)
            form = _rating_form(round, slot, request.POST)
            if form.is_valid():
                queues.record_rating(slot=slot, round=round, rater=request.user, **_answers(round, form))
                saved = True
    except (queues.LeaseLost, IntegrityError) as error:
        # Already rated (a double-click or a replay) answers like the first time.
        if round.ratings.filter(idempotency_key=token, rater=request.user).exists():
            return redirect("rating-work", round_token=round.public_id)
        if isinstance(error, IntegrityError):  # a concurrent duplicate won the race: theirs stands
            error = queues.LeaseLost("Your hold on that item lapsed and it went to another rater.")
        return _lost(request, round, error)
    except queues.RoundNotOpen:
        return render(request, "annotation/rating/closed.html", {"round": round}, status=409)
    except ValidationError as error:
        form.add_error(None, error)
    if not saved:
        return _item_page(request, round, slot, form=form, status=400)
    _note_activity(request)
    messages.success(request, "Saved.")
    return redirect("rating-work", round_token=round.public_id)


def _rating_form(round, slot, data):
    if round.is_pairwise:
        return PairwiseForm(data)
    return RatingForm(data, rubric=round.rubric, domain_id=slot.domain_id)


def _answers(round, form) -> dict:
    if round.is_pairwise:
        return {"answers": {"preference": form.cleaned_data["preference"]}, "reason": form.cleaned_data["reason"]}
    return {"answers": form.answers()}


@roles.role_required(roles.RATER)
@require_POST
def skip(request, round_token):
    round, _ = rounds.round_for_rater(public_id=round_token, rater=request.user)
    form = SkipForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a reason for skipping.")
        return redirect("rating-work", round_token=round.public_id)
    try:
        queues.skip_item(
            round=round,
            rater=request.user,
            lease_token=form.cleaned_data["lease"],
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
    except queues.LeaseLost:
        pass  # already skipped or lapsed: either way, on to the next item
    else:
        messages.info(request, f"Skipped: {Skip.Reason(form.cleaned_data['reason']).label}.")
    _note_activity(request)
    return redirect("rating-work", round_token=round.public_id)


@roles.role_required(roles.RATER)
@require_POST
def flag(request, round_token):
    round, _ = rounds.round_for_rater(public_id=round_token, rater=request.user)
    form = FlagForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose what is wrong with the item.")
        return redirect("rating-work", round_token=round.public_id)
    try:
        flagged = queues.flag_item(
            round=round,
            rater=request.user,
            lease_token=form.cleaned_data["lease"],
            kind=form.cleaned_data["kind"],
            note=form.cleaned_data["note"],
        )
    except queues.LeaseLost as error:
        return _lost(request, round, error)
    messages.info(
        request, f"Flagged as {flagged.get_kind_display().lower()} for the admins. You can still rate it, or skip it."
    )
    return redirect("rating-work", round_token=round.public_id)


@roles.role_required(roles.RATER)
def recent(request, round_token):
    """The rater's latest ratings in the round, each with a link to change it while the round is open."""
    round, _ = rounds.round_for_rater(public_id=round_token, rater=request.user)
    ratings = list(queues.recent_ratings(round=round, rater=request.user))
    rows = [(rating, _summary(round, rating)) for rating in ratings]
    return render(
        request, "annotation/rating/recent.html", {"round": round, "rows": rows, "open": queues.is_open(round)}
    )


@roles.role_required(roles.RATER)
def back(request, round_token):
    """Go back one item: the rater's latest rating in the round, to change it (the `u` key)."""
    round, _ = rounds.round_for_rater(public_id=round_token, rater=request.user)
    latest = queues.recent_ratings(round=round, rater=request.user, limit=1).first()
    if latest is None:
        messages.info(request, "You have not rated anything in this round yet.")
        return redirect("rating-work", round_token=round.public_id)
    return redirect("rating-edit", round_token=round.public_id, item_token=latest.item.token)


@roles.role_required(roles.RATER)
def edit(request, round_token, item_token):
    """Change a rating already given: the same form as the rating page, filled in with it."""
    round, _ = rounds.round_for_rater(public_id=round_token, rater=request.user)
    rating = queues.rating_to_edit(round=round, rater=request.user, item_token=item_token)
    if rating is None:
        raise Http404("No such rating.")
    if not queues.is_open(round):
        return _edit_refused(request, round, status=409 if request.method == "POST" else 200)
    if request.method != "POST":
        return _edit_page(request, round, rating, form=_edit_form(round, rating))
    form = _edit_form(round, rating, data=request.POST)
    if form.is_valid():
        try:
            queues.edit_rating(round=round, rater=request.user, item_token=item_token, **_answers(round, form))
        except queues.RoundNotOpen:
            return _edit_refused(request, round, status=409)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            _note_activity(request)
            messages.success(request, f"Your change to item {rating.item.token} is saved.")
            return redirect("rating-work", round_token=round.public_id)
    return _edit_page(request, round, rating, form=form, status=400)


def _edit_refused(request, round, *, status):
    return render(request, "annotation/rating/edit_closed.html", {"round": round}, status=status)


def _edit_form(round, rating, *, data=None):
    if round.is_pairwise:
        initial = {"preference": rating.answers.get("preference"), "reason": rating.comment}
        return PairwiseForm(data, initial=initial, lease=False)
    return RatingForm(data, initial=rating.answers, lease=False, rubric=round.rubric, domain_id=rating.item.domain_id)


def _edit_page(request, round, rating, *, form, status=200):
    shown = [rating.response, rating.response_b] if round.is_pairwise else [rating.response]
    if round.is_pairwise and rating.swapped:
        shown.reverse()
    context = {
        "round": round,
        "rating": rating,
        "item": rating.item,
        "prompt": rating.response.prompt,
        "shown": shown,
        "form": form,
        "preference_choices": PREFERENCE_CHOICES,
        "previous": queues.rating_before(rating),
    }
    return render(request, "annotation/rating/edit.html", context, status=status)


def _summary(round, rating) -> str:
    """The answers in a line, by the rubric's labels (pairwise: the preference)."""
    if round.is_pairwise:
        labels = {value: label for value, label, _ in PREFERENCE_CHOICES}
        return labels.get(rating.answers.get("preference"), "")
    if not rating.rubric_id:
        return ""
    sheet = sheet_for(rubric_id=rating.rubric_id)
    parts = []
    for criterion in sheet.criteria:
        value = rating.answers.get(criterion.key)
        if criterion.kind == Criterion.Kind.TEXT or value is None:
            continue
        labels = {option.value: option.label for option in sheet.options(criterion, domain_id=rating.item.domain_id)}
        parts.append(f"{criterion.label}: {labels.get(value, value)}")
    return " · ".join(parts)


@roles.role_required(roles.RATER)
def preferences(request):
    preference = _preference(request.user)
    next_url = request.GET.get("next") or request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    form = RaterPreferenceForm(request.POST or None, instance=preference)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your rating preferences are saved.")
        return redirect(next_url or "home")
    return render(request, "annotation/rating/preferences.html", {"form": form, "next": next_url})
