"""Admin pages for rating rounds: the list, the builder, adding responses, the dashboard, state changes,
exports."""

import io
import json

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST

from annotation import coverage, results, roles, rounds, spreadsheets
from annotation.forms.rounds import AddResponsesForm, RoundForm, RoundRatersForm
from annotation.models import Round


def _get_round(round_id) -> Round:
    return get_object_or_404(Round.objects.select_related("rubric", "rater_group"), pk=round_id)


@roles.role_required(roles.ADMIN)
def round_list(request):
    all_rounds = (
        Round.objects.select_related("rubric").annotate(n_items=Count("items", distinct=True)).order_by("-created_at")
    )
    all_rounds = list(all_rounds)
    stuck = coverage.unfinished_rounds(all_rounds)
    for round in all_rounds:
        round.shortfalls = stuck.get(round.pk, [])
    return render(request, "annotation/rounds/list.html", {"rounds": all_rounds})


@roles.role_required(roles.ADMIN)
def round_new(request):
    form = RoundForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            round = rounds.build_round_from(
                fields=form.cleaned_data, responses=form.responses(), created_by=request.user
            )
        except rounds.RoundError as error:
            form.add_error(None, str(error))
        else:
            _say_per_condition(request, round, before=[], conditions=form.chosen_conditions())
            return redirect("round-dashboard", round_id=round.pk)
    return render(request, "annotation/rounds/new.html", {"form": form}, status=400 if form.errors else 200)


@roles.role_required(roles.ADMIN)
def add_responses(request, round_id):
    round = _get_round(round_id)
    if round.state == Round.State.CLOSED:
        messages.error(request, "This round is closed: reopen it before adding responses.")
        return redirect("round-dashboard", round_id=round.pk)
    form = AddResponsesForm(request.POST or None, round=round)
    if request.method == "POST" and form.is_valid():
        before = coverage.per_condition(round=round, conditions=form.chosen_conditions())
        try:
            added, gold = rounds.add_chosen_responses(
                round=round, responses=form.responses(), include_gold=form.cleaned_data.get("include_gold", False)
            )
        except rounds.RoundError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _added_message(round, added, gold))
            _say_per_condition(request, round, before=before, conditions=form.chosen_conditions())
            return redirect("round-dashboard", round_id=round.pk)
    return render(
        request, "annotation/rounds/add.html", {"round": round, "form": form}, status=400 if form.errors else 200
    )


def _say_per_condition(request, round, *, before, conditions) -> None:
    """How many responses (pairs) each chosen condition brought in, naming those that brought none."""
    after = coverage.per_condition(round=round, conditions=conditions)
    had = dict(before)
    noun = "pairs with" if round.is_pairwise else "responses from"
    added = ", ".join(f"{name} {n - had.get(name, 0)}" for name, n in after)
    messages.info(request, f"Added {noun} each condition: {added}.")
    for shortfall in coverage.round_shortfalls(round):
        messages.warning(request, f"This round cannot complete with the raters it has. {shortfall}")
    missing = coverage.none_from(before, after)
    if missing:
        messages.warning(
            request,
            f"Nothing new from {', '.join(missing)}: no (new) responses of "
            f"{'this condition' if len(missing) == 1 else 'these conditions'} match. Generate them first, "
            "or check the prompt split.",
        )


@roles.role_required(roles.ADMIN)
@require_POST
def delete_round(request, round_id):
    round = _get_round(round_id)
    try:
        rounds.delete_draft_round(round=round)
    except rounds.RoundError as error:
        messages.error(request, str(error))
        return redirect("round-dashboard", round_id=round.pk)
    messages.success(request, f"Draft round “{round.name}” deleted.")
    return redirect("round-list")


def _added_message(round, added, gold) -> str:
    noun = "pair" if round.is_pairwise else "response"
    text = f"Added {added} {noun}{pluralize(added)}"
    if gold:
        text += f" and {gold} gold item{pluralize(gold)}"
    if round.state == Round.State.OPEN:
        return text + "; they are in the queue now."
    return text + "."


@roles.role_required(roles.ADMIN)
def dashboard(request, round_id):
    return _dashboard(request, _get_round(round_id))


def _dashboard(request, round, *, raters_form=None):
    report = rounds.round_report(round=round)
    below_k = rounds.items_below_k(round=round)
    peak = max([n for _, n in report.per_hour] or [1])
    if raters_form is None and round.state != Round.State.CLOSED:
        raters_form = RoundRatersForm(round=round)
    return render(
        request,
        "annotation/rounds/dashboard.html",
        {
            "round": round,
            "report": report,
            "below_k": below_k,
            "shortfalls": coverage.round_shortfalls(round),
            "open_flags": round.flags.filter(resolution="").count(),
            "peak": peak,
            "percent": int(100 * report.ratings_done / report.ratings_needed) if report.ratings_needed else 0,
            "raters_form": raters_form,
        },
        status=400 if raters_form is not None and raters_form.errors else 200,
    )


@roles.role_required(roles.ADMIN)
@require_POST
def change_raters(request, round_id):
    round = _get_round(round_id)
    if round.state == Round.State.CLOSED:
        messages.error(request, "This round is closed: reopen it before changing its raters.")
        return redirect("round-dashboard", round_id=round.pk)
    form = RoundRatersForm(request.POST, round=round)
    if not form.is_valid():
        return _dashboard(request, round, raters_form=form)
    data = form.cleaned_data
    try:
        change = rounds.change_raters(
            round=round, raters=data["raters"], rater_group=data["rater_group"], k=data.get("k")
        )
    except rounds.RoundError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _raters_message(change, _get_round(round_id)))
    return redirect("round-dashboard", round_id=round.pk)


def _raters_message(change, round) -> str:
    said = []
    if change.added:
        names = ", ".join(user.get_username() for user in change.added)
        said.append(f"Added {len(change.added)} rater{pluralize(len(change.added))} ({names})")
        if round.state == Round.State.OPEN:
            said[-1] += ", told the round is open"
    if change.group_changed:
        said.append(f"rater group now {round.rater_group}" if round.rater_group else "no rater group now")
    if change.k_changed:
        said.append(f"ratings per response now k = {round.k} (the slots were made again)")
    text = "; ".join(said) or "nothing changed"
    return text[0].upper() + text[1:] + "."


ACTIONS = {"open": rounds.open_round, "close": rounds.close_round, "reopen": rounds.reopen_round}


@roles.role_required(roles.ADMIN)
@require_POST
def change_state(request, round_id):
    round = _get_round(round_id)
    action = ACTIONS.get(request.POST.get("action"))
    if action is None:
        messages.error(request, "Unknown action.")
    else:
        try:
            action(round=round)
        except rounds.RoundError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"The round is now {round.get_state_display().lower()}.")
    return redirect("round-dashboard", round_id=round.pk)


class _Echo:
    def write(self, value):
        return value


@roles.role_required(roles.ADMIN)
def export(request, round_id, fmt):
    round = _get_round(round_id)
    if fmt not in {"csv", "jsonl"}:
        raise Http404("Export as .csv or .jsonl.")
    rows = rounds.export_rows(round=round)
    if fmt == "jsonl":
        body = (json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        content_type = "application/x-ndjson; charset=utf-8"
    else:
        keys = (
            [c.key for c in round.rubric.criteria.all()] if round.rubric and not round.is_pairwise else ["preference"]
        )
        body = _csv_lines(rows, keys, pairwise=round.is_pairwise)
        content_type = "text/csv; charset=utf-8"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="round-{round.pk}-ratings.{fmt}"'
    return response


TIDY_CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


@roles.role_required(roles.ADMIN)
def tidy(request, round_id, fmt):
    """The round's tidy ratings table (annotation.results.tidy_ratings) as a CSV or Parquet file."""
    round = _get_round(round_id)
    if fmt not in results.TIDY_FORMATS:
        raise Http404("Download the tidy table as .csv or .parquet.")
    if round.is_pairwise:
        raise Http404("A pairwise round has no rubric criteria to tabulate.")
    out = io.BytesIO()
    results.write_tidy(results.tidy_ratings(round=round), out, format=fmt)
    response = HttpResponse(out.getvalue(), content_type=TIDY_CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="round-{round.pk}-tidy.{fmt}"'
    return response


def _csv_lines(rows, answer_keys, *, pairwise):
    writer = spreadsheets.writer(_Echo())
    header = None
    for row in rows:
        answers = row.pop("answers")
        flat = {**row, **{f"answer_{key}": answers.get(key, "") for key in answer_keys}}
        if header is None:
            header = list(flat)
            yield writer.writerow(header)
        yield writer.writerow([flat.get(key, "") for key in header])
    if header is None:
        base = [
            "round",
            "rater",
            "item",
            "response",
            "condition",
            "response_b",
            "condition_b",
            "domain",
            "gold",
            "rubric",
            "rubric_version",
            "display_position",
            "left",
            "comment",
            "shown_at",
            "submitted_at",
            "seconds_on_item",
        ] + (["winner"] if pairwise else [])
        yield writer.writerow(base + [f"answer_{key}" for key in answer_keys])
