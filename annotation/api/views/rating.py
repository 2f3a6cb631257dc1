"""Rating through the API: the round as a rater sees it, the content warning, next item, submit,
skip and flag — the page's queue functions, leases and idempotency keys.

Blindness: like the rating page, nothing here comes from ModelCondition, Adapter, generation
parameters or other raters' ratings. A response is sent as its text only; the round is named
by its opaque public id, the held item by its lease token (also the idempotency key).
"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response as ApiResponse

from annotation import queues, roles, rounds
from annotation.api.base import StudioView, shape
from annotation.api.forms import checked
from annotation.api.problems import Conflict
from annotation.models import Flag, RiskDomain, Round, Skip

RATER = (roles.RATER,)

ProgressOut = shape(
    "RaterProgress",
    {
        "done": serializers.IntegerField(),
        "remaining": serializers.IntegerField(),
        "remaining_capped": serializers.BooleanField(),
    },
)
RaterRoundOut = shape(
    "RaterRoundOut",
    {
        "round": serializers.CharField(),
        "title": serializers.CharField(),
        "instructions": serializers.CharField(),
        "state": serializers.CharField(),
        "kind": serializers.CharField(),
        "warning_acknowledged": serializers.BooleanField(),
        "domains": serializers.ListField(child=serializers.CharField()),
        "progress": ProgressOut(),
    },
)
OptionOut = shape(
    "RatingOption",
    {"value": serializers.CharField(), "label": serializers.CharField(), "anchor": serializers.CharField()},
)
QuestionOut = shape(
    "RatingQuestion",
    {
        "key": serializers.CharField(),
        "label": serializers.CharField(),
        "question": serializers.CharField(),
        "kind": serializers.CharField(),
        "required": serializers.BooleanField(),
        "options": OptionOut(many=True),
    },
)
ItemOut = shape(
    "RatingItem",
    {
        "lease": serializers.CharField(help_text="Send it back with submit, skip or flag; it is the idempotency key."),
        "lease_expires_at": serializers.DateTimeField(),
        "seconds_left": serializers.IntegerField(),
        "position": serializers.IntegerField(allow_null=True),
        "domain": serializers.CharField(),
        "prompt": serializers.CharField(),
        "responses": serializers.ListField(child=serializers.CharField(), help_text="Texts in display order."),
        "questions": QuestionOut(many=True),
        "flagged": serializers.ListField(child=serializers.CharField()),
    },
)
NextOut = shape("RatingNext", {"item": ItemOut(allow_null=True), "progress": ProgressOut()})
SubmitIn = shape(
    "RatingSubmitIn",
    {
        "lease": serializers.CharField(max_length=64),
        "answers": serializers.DictField(
            child=serializers.CharField(allow_blank=True, max_length=5000),
            help_text='By criterion key; a pairwise round: {"preference": left|right|tie|both_poor}.',
        ),
        "reason": serializers.CharField(required=False, allow_blank=True, max_length=5000),
    },
)
SkipIn = shape(
    "RatingSkipIn",
    {
        "lease": serializers.CharField(max_length=64),
        "reason": serializers.ChoiceField(choices=Skip.Reason.values),
        "note": serializers.CharField(required=False, allow_blank=True, max_length=2000),
    },
)
FlagIn = shape(
    "RatingFlagIn",
    {
        "lease": serializers.CharField(max_length=64),
        "kind": serializers.ChoiceField(choices=Flag.Kind.values),
        "note": serializers.CharField(required=False, allow_blank=True, max_length=2000),
    },
)
# Progress comes with the next item; counting it here too would cost every submit a count query.
DoneOut = shape("RatingDone", {"saved": serializers.BooleanField()})


def progress_json(round, rater) -> dict:
    p = queues.progress(round=round, rater=rater)
    return {"done": p.done, "remaining": p.remaining, "remaining_capped": p.remaining_capped}


def item_json(round, slot, rater) -> dict:
    item = slot.item
    shown = [item.response, item.response_b] if round.is_pairwise else [item.response]
    if round.is_pairwise and slot.swapped:
        shown.reverse()
    questions = []
    if not round.is_pairwise:
        for criterion in round.rubric.criteria.all():
            questions.append(
                {
                    "key": criterion.key,
                    "label": criterion.label,
                    "question": criterion.question,
                    "kind": criterion.kind,
                    "required": criterion.required,
                    "options": [
                        {"value": o.value, "label": o.label, "anchor": o.anchor}
                        for o in criterion.choices(domain_id=item.domain_id)
                    ],
                }
            )
    flags = set(Flag.objects.filter(item=item, rater=rater).values_list("kind", flat=True))
    return {
        "lease": slot.lease_token,
        "lease_expires_at": slot.lease_expires_at,
        "seconds_left": max(0, int((slot.lease_expires_at - timezone.now()).total_seconds())),
        "position": slot.display_position,
        "domain": item.domain.name,
        "prompt": item.response.prompt.text,
        "responses": [response.text for response in shown],
        "questions": questions,
        "flagged": sorted(flags),
    }


class RaterRound(StudioView):
    roles = RATER

    @extend_schema(responses=RaterRoundOut, operation_id="rating_round")
    def get(self, request, round_token: str):
        round, membership = rounds.round_for_rater(public_id=round_token, rater=request.user)
        domains = RiskDomain.objects.filter(pk__in=round.items.values("domain_id").distinct())
        return ApiResponse(
            {
                "round": round.public_id,
                "title": round.rater_title,
                "instructions": round.instructions,
                "state": round.state,
                "kind": round.kind,
                "warning_acknowledged": membership.warned_at is not None,
                "domains": [d.name for d in domains],
                "progress": progress_json(round, request.user),
            }
        )


class Acknowledge(StudioView):
    roles = RATER

    @extend_schema(request=None, responses=RaterRoundOut, operation_id="rating_acknowledge_warning")
    def post(self, request, round_token: str):
        _, membership = rounds.round_for_rater(public_id=round_token, rater=request.user)
        rounds.acknowledge_warning(membership=membership)
        return RaterRound().get(request, round_token)


class NextItem(StudioView):
    roles = RATER

    @extend_schema(
        request=None,
        responses=NextOut,
        operation_id="rating_next",
        description="The item you hold (its lease renewed if it lapsed unclaimed), or a new one; `item` is "
        "null when nothing is left for you. 409 until the content warning is acknowledged, or when the round "
        "is not open.",
    )
    def post(self, request, round_token: str):
        round, membership = rounds.round_for_rater(public_id=round_token, rater=request.user)
        if round.state != Round.State.OPEN:
            raise Conflict("This round is not open for rating.")
        if membership.warned_at is None:
            raise Conflict("Acknowledge the round's content warning first (POST …/acknowledge/).")
        slot = queues.claim_next(round=round, rater=request.user)
        return ApiResponse(
            {
                "item": item_json(round, slot, request.user) if slot else None,
                "progress": progress_json(round, request.user),
            }
        )


class Submit(StudioView):
    roles = RATER

    @extend_schema(
        request=SubmitIn,
        responses=DoneOut,
        operation_id="rating_submit",
        description="Idempotent by lease: a replay answers like the first time and saves nothing twice.",
    )
    def post(self, request, round_token: str):
        round, _ = rounds.round_for_rater(public_id=round_token, rater=request.user)
        data = checked(SubmitIn, request.data)
        _, created = queues.submit_rating(
            round=round,
            rater=request.user,
            lease_token=data["lease"],
            answers=data["answers"],
            reason=data.get("reason", ""),
        )
        return ApiResponse({"saved": created})


class SkipItem(StudioView):
    roles = RATER

    @extend_schema(request=SkipIn, responses=DoneOut, operation_id="rating_skip")
    def post(self, request, round_token: str):
        round, _ = rounds.round_for_rater(public_id=round_token, rater=request.user)
        data = checked(SkipIn, request.data)
        queues.skip_item(
            round=round, rater=request.user, lease_token=data["lease"], reason=data["reason"], note=data.get("note", "")
        )
        return ApiResponse({"saved": True})


class FlagItem(StudioView):
    roles = RATER

    @extend_schema(request=FlagIn, responses=DoneOut, operation_id="rating_flag")
    def post(self, request, round_token: str):
        round, _ = rounds.round_for_rater(public_id=round_token, rater=request.user)
        data = checked(FlagIn, request.data)
        queues.flag_item(
            round=round, rater=request.user, lease_token=data["lease"], kind=data["kind"], note=data.get("note", "")
        )
        return ApiResponse({"saved": True})
