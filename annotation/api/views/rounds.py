"""Rubrics (versions, criteria); rounds: create, add responses and raters, open/close/reopen, dashboard figures,
the ratings export and the tidy table; results and agreement as JSON (admins)."""

import dataclasses
import io
import math

import pandas as pd
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response as ApiResponse

from annotation import figures, results, roles, rounds
from annotation.api.base import StudioView, page_of, paginate, shape
from annotation.api.forms import bound_form, checked, request_serializer
from annotation.api.problems import Conflict
from annotation.forms.rounds import AddResponsesForm, RoundForm, RoundRatersForm
from annotation.models import Round, Rubric

ADMIN = (roles.ADMIN,)
TIDY_CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
RoundIn = request_serializer("RoundIn", RoundForm)
AddIn = request_serializer("AddResponsesIn", AddResponsesForm)
RatersIn = request_serializer("RoundRatersIn", RoundRatersForm)

CriterionOut = shape(
    "CriterionOut",
    {
        "key": serializers.CharField(),
        "label": serializers.CharField(),
        "question": serializers.CharField(),
        "kind": serializers.CharField(),
        "scale_points": serializers.IntegerField(allow_null=True),
        "options": serializers.ListField(child=serializers.JSONField()),
        "required": serializers.BooleanField(),
    },
)
RubricOut = shape(
    "RubricOut",
    {
        "id": serializers.IntegerField(),
        "key": serializers.CharField(),
        "version": serializers.IntegerField(),
        "name": serializers.CharField(),
        "description": serializers.CharField(),
        "criteria": CriterionOut(many=True),
    },
)
RoundOut = shape(
    "RoundOut",
    {
        "id": serializers.IntegerField(),
        "public_id": serializers.CharField(),
        "name": serializers.CharField(),
        "rater_title": serializers.CharField(),
        "kind": serializers.CharField(),
        "state": serializers.CharField(),
        "rubric": serializers.IntegerField(allow_null=True),
        "k": serializers.IntegerField(),
        "lease_seconds": serializers.IntegerField(),
        "deadline": serializers.DateTimeField(allow_null=True),
        "items": serializers.IntegerField(),
        "created_at": serializers.DateTimeField(),
        "opened_at": serializers.DateTimeField(allow_null=True),
        "closed_at": serializers.DateTimeField(allow_null=True),
    },
)
DashboardOut = shape(
    "RoundDashboardOut",
    {
        "round": RoundOut(),
        "items": serializers.IntegerField(),
        "gold_items": serializers.IntegerField(),
        "ratings_done": serializers.IntegerField(),
        "ratings_needed": serializers.IntegerField(),
        "below_k": serializers.IntegerField(),
        "per_rater": serializers.ListField(child=serializers.JSONField()),
        "per_domain": serializers.ListField(child=serializers.JSONField()),
        "leases": serializers.ListField(child=serializers.JSONField()),
        "per_hour": serializers.ListField(child=serializers.JSONField()),
        "flags": serializers.ListField(child=serializers.JSONField()),
        "items_below_k": serializers.ListField(child=serializers.JSONField()),
    },
)
StateIn = shape("RoundStateIn", {"action": serializers.ChoiceField(choices=["open", "close", "reopen"])})
ACTIONS = {"open": rounds.open_round, "close": rounds.close_round, "reopen": rounds.reopen_round}


def rubric_json(rubric) -> dict:
    return {
        "id": rubric.pk,
        "key": rubric.key,
        "version": rubric.version,
        "name": rubric.name,
        "description": rubric.description,
        "criteria": [
            {
                "key": c.key,
                "label": c.label,
                "question": c.question,
                "kind": c.kind,
                "scale_points": c.scale_points,
                "options": c.options,
                "required": c.required,
            }
            for c in rubric.criteria.all()
        ],
    }


def round_json(round) -> dict:
    return {
        "id": round.pk,
        "public_id": round.public_id,
        "name": round.name,
        "rater_title": round.rater_title,
        "kind": round.kind,
        "state": round.state,
        "rubric": round.rubric_id,
        "k": round.k,
        "lease_seconds": round.lease_seconds,
        "deadline": round.deadline,
        "items": round.items.count(),
        "created_at": round.created_at,
        "opened_at": round.opened_at,
        "closed_at": round.closed_at,
    }


def plain(value):
    """Dataclasses, DataFrames, tuples, dates, numpy numbers and NaN (as null) as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, pd.DataFrame):
        return plain(value.to_dict(orient="records"))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class Rubrics(StudioView):
    roles = ADMIN

    @extend_schema(responses=page_of(RubricOut), operation_id="rubrics_list")
    def get(self, request):
        return paginate(self, request, Rubric.objects.prefetch_related("criteria"), rubric_json)


class RubricDetail(StudioView):
    roles = ADMIN

    @extend_schema(responses=RubricOut, operation_id="rubrics_read")
    def get(self, request, pk: int):
        return ApiResponse(rubric_json(get_object_or_404(Rubric.objects.prefetch_related("criteria"), pk=pk)))


def _round(pk) -> Round:
    return get_object_or_404(Round.objects.select_related("rubric", "rater_group"), pk=pk)


class Rounds(StudioView):
    roles = ADMIN

    @extend_schema(responses=page_of(RoundOut), operation_id="rounds_list")
    def get(self, request):
        return paginate(self, request, Round.objects.all(), round_json)

    @extend_schema(request=RoundIn, responses={201: RoundOut}, operation_id="rounds_create")
    def post(self, request):
        form = bound_form(RoundForm, checked(RoundIn, request.data))
        round = rounds.build_round_from(fields=form.cleaned_data, responses=form.responses(), created_by=request.user)
        return ApiResponse(round_json(round), status=201)


class RoundDetail(StudioView):
    roles = ADMIN

    @extend_schema(responses=DashboardOut, operation_id="rounds_read", description="The dashboard's figures.")
    def get(self, request, pk: int):
        round = _round(pk)
        report = rounds.round_report(round=round)
        return ApiResponse(
            {
                "round": round_json(round),
                **plain(dataclasses.asdict(report)),
                "items_below_k": plain(rounds.items_below_k(round=round)),
            }
        )


class RoundState(StudioView):
    roles = ADMIN

    @extend_schema(request=StateIn, responses=RoundOut)
    def post(self, request, pk: int):
        data = checked(StateIn, request.data)
        round = _round(pk)
        ACTIONS[data["action"]](round=round)
        return ApiResponse(round_json(_round(pk)))


AddedOut = shape("ResponsesAdded", {"added": serializers.IntegerField(), "gold": serializers.IntegerField()})


class RoundResponses(StudioView):
    roles = ADMIN

    @extend_schema(request=AddIn, responses=AddedOut)
    def post(self, request, pk: int):
        round = _round(pk)
        if round.state == Round.State.CLOSED:
            raise Conflict("This round is closed: reopen it before adding responses.")
        form = bound_form(AddResponsesForm, checked(AddIn, request.data), round=round)
        added, gold = rounds.add_chosen_responses(
            round=round, responses=form.responses(), include_gold=form.cleaned_data.get("include_gold", False)
        )
        return ApiResponse({"added": added, "gold": gold})


class RoundRaters(StudioView):
    roles = ADMIN

    @extend_schema(
        request=RatersIn,
        responses=RoundOut,
        description="The dashboard's raters form: add raters (user ids), set the rater group (omitted or null "
        "keeps it), and change k while the round is a draft. Raters joining an open round are told it is open.",
    )
    def post(self, request, pk: int):
        round = _round(pk)
        if round.state == Round.State.CLOSED:
            raise Conflict("This round is closed: reopen it before changing its raters.")
        data = bound_form(RoundRatersForm, checked(RatersIn, request.data), round=round).cleaned_data
        rounds.change_raters(round=round, raters=data["raters"], rater_group=data["rater_group"], k=data.get("k"))
        return ApiResponse(round_json(_round(pk)))


class RoundTidy(StudioView):
    roles = ADMIN

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=sorted(TIDY_CONTENT_TYPES), default="csv")],
        responses={
            (200, media.split(";")[0]): OpenApiResponse(OpenApiTypes.BINARY) for media in TIDY_CONTENT_TYPES.values()
        },
        description="The round's tidy ratings table (one row per rating and criterion), as on the dashboard.",
    )
    def get(self, request, pk: int):
        round = _round(pk)
        fmt = request.query_params.get("format", "csv")
        if fmt not in TIDY_CONTENT_TYPES:
            raise NotFound("Download the tidy table as csv or parquet.")
        if round.is_pairwise:
            raise NotFound("A pairwise round has no rubric criteria to tabulate.")
        out = io.BytesIO()
        results.write_tidy(results.tidy_ratings(round=round), out, format=fmt)
        response = HttpResponse(out.getvalue(), content_type=TIDY_CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="round-{round.pk}-tidy.{fmt}"'
        return response


ResultsOut = shape(
    "RoundResultsOut",
    {
        "round": serializers.IntegerField(),
        "conditions": serializers.ListField(child=serializers.CharField()),
        "domains": serializers.ListField(child=serializers.CharField()),
        "filters": serializers.DictField(child=serializers.CharField()),
        "sources": serializers.ListField(child=serializers.DictField()),
        "agreement": serializers.DictField(allow_null=True),
        "current": serializers.BooleanField(
            help_text="False while stored figures lack ratings or verdicts that came in since (they are being recomputed)."
        ),
        "computed_at": serializers.DateTimeField(allow_null=True),
        "missing_ratings": serializers.IntegerField(),
    },
)


class RoundResults(StudioView):
    roles = ADMIN

    @extend_schema(
        parameters=[OpenApiParameter(name, str) for name in ("domain", "locale", "baseline")],
        responses=ResultsOut,
        description="The numbers behind the results page: per source (humans, each judge), summaries per "
        "condition × criterion × domain with intervals, improvements over the baseline, and agreement.",
    )
    def get(self, request, pk: int):
        round = _round(pk)
        if round.rubric is None:
            raise NotFound("A pairwise round has no rubric scores; its export holds the preferences.")
        shown = figures.current(round, {key: request.query_params.get(key, "") for key in figures.FILTERS})
        found = shown.results
        agreement = found.agreement
        return ApiResponse(
            {
                "round": round.pk,
                "current": shown.current,
                "computed_at": shown.computed_at,
                "missing_ratings": shown.missing_ratings,
                "conditions": list(found.conditions),
                "domains": list(found.domains),
                "filters": {"domain": found.domain, "locale": found.locale, "baseline": found.baseline},
                "sources": [
                    {
                        "source": source.source,
                        "label": source.label,
                        "summaries": plain(source.summaries),
                        "improvements": plain(source.improvements),
                        "shares": plain(source.shares),
                        "over_refusal": plain(source.over_refusal),
                    }
                    for source in found.sources
                ],
                "agreement": None
                if agreement is None
                else {
                    name: plain(getattr(agreement, name))
                    for name in ("alpha", "observed", "kappa", "raters", "gold", "judges")
                },
            }
        )
