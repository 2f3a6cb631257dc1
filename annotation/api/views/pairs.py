"""Pairs: the corpus list (filters, search, cursor pages), a pair with its history, write, submit, review.

The same forms validate as on the editor and review pages, the same `annotation.pairs`
functions act, and the same roles apply; another author's pair is 404 to edit, like the page.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response as ApiResponse

from annotation import corpus, pairs, roles
from annotation.api import serializers as s
from annotation.api.base import StudioView, page_of, paginate, valid_form
from annotation.api.problems import Invalid
from annotation.forms.corpus import CorpusFilterForm
from annotation.forms.pairs import PairForm, ReviewForm
from annotation.models import InterventionStrategy, Response, RiskDomain

CORPUS_ROLES = (roles.AUTHOR, roles.REVIEWER, roles.ADMIN)
WRITER_ROLES = (roles.AUTHOR, roles.REVIEWER)
FILTERS = [
    OpenApiParameter("q", str, description="Words in the prompt or the answer."),
    OpenApiParameter("domain", str, description="A risk domain's slug."),
    OpenApiParameter("status", str, enum=[v for v, _ in Response.Status.choices]),
    OpenApiParameter("source", str),
    OpenApiParameter("split", str),
    OpenApiParameter("author", str, description="A username, or the author an imported file named."),
    OpenApiParameter("strategy", str, description="An intervention strategy's key."),
]


def get_reference(pk) -> Response:
    return get_object_or_404(
        Response.objects.references()
        .select_related("prompt__domain", "created_by", "source_response")
        .prefetch_related("strategies", "resources"),
        pk=pk,
    )


def filters_from(query) -> corpus.PairFilter:
    """The corpus filters; unlike the page (which leaves a bad one out and says so), a bad value is 400."""
    form = valid_form(CorpusFilterForm({k: query.get(k) for k in CorpusFilterForm.base_fields if k in query}))
    return form.valid_filters()


def form_data(data: dict, *, base: dict) -> dict:
    """The API's JSON (slugs, keys, booleans) as the editor form's POST data, over `base`."""
    out = {**base}
    errors = []
    for name in ("prompt_text", "risk_category", "locale", "text", "contact_reason"):
        if name in data:
            out[name] = data[name]
    if "should_refuse" in data:
        out["should_refuse"] = "1" if data["should_refuse"] else "0"
    if "domain" in data:
        domain = RiskDomain.objects.filter(slug=data["domain"]).first()
        if domain is None:
            errors.append({"field": "domain", "message": f"No risk domain “{data['domain']}”.", "line": None})
        out["domain"] = domain.pk if domain else ""
    if "strategies" in data:
        keys = list(dict.fromkeys(data["strategies"]))
        found = dict(InterventionStrategy.objects.filter(key__in=keys).values_list("key", "pk"))
        for key in keys:
            if key not in found:
                errors.append({"field": "strategies", "message": f"No strategy “{key}”.", "line": None})
        out["strategies"] = [found[k] for k in keys if k in found]
    if "resources" in data:
        out["resources"] = [str(pk) for pk in data["resources"]]
    if errors:
        raise Invalid(f"{len(errors)} error(s) in the input; nothing was saved.", errors)
    return out


def _base_data(initial: dict) -> dict:
    out = {k: v for k, v in initial.items() if k not in ("strategies", "resources")}
    out["strategies"] = [x.pk for x in initial.get("strategies", [])]
    out["resources"] = [x.pk for x in initial.get("resources", [])]
    return out


def detail(pair) -> dict:
    return {**s.PairOut(pair).data, "history": s.HistoryEntryOut(pairs.pair_history(pair), many=True).data}


class PairList(StudioView):
    roles = CORPUS_ROLES
    write_roles = WRITER_ROLES

    @extend_schema(parameters=FILTERS, responses=page_of(s.PairListItem), operation_id="pairs_list")
    def get(self, request):
        queryset = corpus.list_rows(corpus.pairs(filters=filters_from(request.query_params)))
        return paginate(self, request, queryset, lambda row: s.PairListItem(row).data)

    @extend_schema(request=s.PairIn, responses={201: s.PairDetailOut}, operation_id="pairs_create")
    def post(self, request):
        body = s.PairIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        source = None
        if data.get("from_output"):
            source = get_object_or_404(
                Response.objects.model_outputs().select_related("prompt__domain"), public_id=data["from_output"]
            )
        base = _base_data(PairForm.initial_for(prompt=source.prompt)) if source else {}
        form = valid_form(
            PairForm(
                form_data(data, base=base),
                lock_prompt=source is not None,
                initial=base if source else None,
                submitting=bool(data.get("submit")),
            )
        )
        pair = pairs.create_pair(
            user=request.user,
            text=form.cleaned_data["text"],
            prompt_fields=None if source else form.prompt_fields(),
            source_response=source,
            strategies=form.cleaned_data["strategies"],
            resources=form.cleaned_data["resources"],
            contact_reason=form.cleaned_data.get("contact_reason", ""),
        )
        if data.get("submit"):
            pairs.submit(response=pair, user=request.user)
        return ApiResponse(detail(get_reference(pair.pk)), status=201)


class PairDetail(StudioView):
    roles = CORPUS_ROLES
    write_roles = WRITER_ROLES

    @extend_schema(responses=s.PairDetailOut, operation_id="pairs_read")
    def get(self, request, pk: int):
        return ApiResponse(detail(get_reference(pk)))

    @extend_schema(request=s.PairIn(partial=True), responses=s.PairDetailOut, operation_id="pairs_update")
    def patch(self, request, pk: int):
        pair = get_reference(pk)
        if pair.created_by_id != request.user.pk:
            raise_not_found()
        body = s.PairIn(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        initial = PairForm.initial_for(response=pair)
        locked = pair.source_response_id is not None
        form = valid_form(
            PairForm(
                form_data(data, base=_base_data(initial)),
                lock_prompt=locked,
                initial=initial,
                submitting=bool(data.get("submit")),
            )
        )
        pair = pairs.save_draft(
            response=pair,
            user=request.user,
            text=form.cleaned_data["text"],
            prompt_fields=None if locked else form.prompt_fields(),
            strategies=form.cleaned_data["strategies"],
            resources=form.cleaned_data["resources"],
            contact_reason=form.cleaned_data.get("contact_reason", ""),
        )
        if data.get("submit"):
            pairs.submit(response=pair, user=request.user)
        return ApiResponse(detail(get_reference(pk)))


def raise_not_found():
    raise NotFound("Only the author edits a pair here; reviewers edit while reviewing.")


class PairSubmit(StudioView):
    roles = WRITER_ROLES
    action = "submit"

    @extend_schema(request=None, responses=s.PairDetailOut)
    def post(self, request, pk: int):
        pair = get_reference(pk)
        if pair.created_by_id != request.user.pk:
            raise_not_found()
        (pairs.withdraw if self.action == "withdraw" else pairs.submit)(response=pair, user=request.user)
        return ApiResponse(detail(get_reference(pk)))


class PairWithdraw(PairSubmit):
    action = "withdraw"


class PairReview(StudioView):
    roles = (roles.REVIEWER,)

    @extend_schema(request=s.ReviewIn, responses=s.PairDetailOut)
    def post(self, request, pk: int):
        pair = get_reference(pk)
        body = s.ReviewIn(data=request.data)
        body.is_valid(raise_exception=True)
        if pair.created_by_id == request.user.pk:
            raise PermissionDenied("Nobody reviews their own pair. Another reviewer will pick this one up.")
        data = {**body.validated_data}
        data.setdefault("text", pair.text)
        form = valid_form(ReviewForm(data, pair=pair))
        decide = pairs.approve if form.cleaned_data["decision"] == "approved" else pairs.request_changes
        decide(
            response=pair,
            reviewer=request.user,
            comment=form.cleaned_data["comment"],
            text=form.cleaned_data["text"],
            contact_reason=form.cleaned_data["contact_reason"],
        )
        return ApiResponse(detail(get_reference(pk)))


class ReviewQueue(StudioView):
    roles = (roles.REVIEWER,)

    @extend_schema(
        parameters=[OpenApiParameter("domain", str)],
        responses=page_of(s.PairOut),
    )
    def get(self, request):
        queue = pairs.review_queue(reviewer=request.user, domain=request.query_params.get("domain") or None)
        queue = queue.prefetch_related("strategies", "resources").select_related("source_response")
        return paginate(self, request, queue.order_by("-pk"), lambda pair: s.PairOut(pair).data)
