"""Writing pairs: create, edit, submit, live checks, revise a model output, and the pair page."""

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation import checks, pairs, roles
from annotation.forms.pairs import MAX_TEXT_CHARS, PairForm
from annotation.models import InterventionStrategy, Resource, Response, RiskDomain

CORPUS_ROLES = (roles.AUTHOR, roles.REVIEWER, roles.ADMIN)


def _get_reference(pk) -> Response:
    return get_object_or_404(
        Response.objects.references().select_related("prompt__domain", "created_by", "source_response__condition"),
        pk=pk,
    )


def _registry_context() -> dict:
    """Resources and strategies as JSON for the editor's pickers (filtered by domain/locale in JS)."""
    resources = [
        {
            "id": r.pk,
            "name": r.name,
            "locale": r.locale,
            "phone": r.phone,
            "text_number": r.text_number,
            "url": r.url,
            "hours": r.hours,
            "domains": [d.slug for d in r.domains.all()],
            "verified_on": r.verified_on.isoformat(),
        }
        for r in Resource.objects.filter(active=True).prefetch_related("domains")
    ]
    strategies = {
        s.pk: [d.pk for d in s.domains.all()] for s in InterventionStrategy.objects.prefetch_related("domains")
    }
    domains = {d.pk: d.slug for d in RiskDomain.objects.all()}
    return {"registry": {"resources": resources, "strategies": strategies, "domains": domains}}


def _initial_report(form: PairForm, response: Response | None):
    data = {**form.initial, **(form.data.dict() if form.is_bound else {})}
    text = data.get("text") or ""
    domain_id = data.get("domain")
    if isinstance(domain_id, RiskDomain):
        domain_id = domain_id.pk
    domain = RiskDomain.objects.filter(pk=domain_id).first() if str(domain_id or "").isdigit() else None
    should_refuse = str(data.get("should_refuse", "1")) in ("1", "True", "true")
    if not text.strip():
        return None
    return checks.check_response(
        text=text,
        domain=domain,
        locale=data.get("locale") or "en-US",
        should_refuse=should_refuse,
        exclude_id=response.pk if response else None,
    )


def _editor(request, *, form, response=None, source=None, title):
    context = {
        "form": form,
        "pair": response,
        "source": source,
        "title": title,
        "report": _initial_report(form, response),
        "part_labels": checks.PART_LABELS,
        **_registry_context(),
    }
    return render(request, "annotation/pairs/edit.html", context)


@roles.role_required(roles.AUTHOR, roles.REVIEWER)
def pair_new(request):
    """A new pair; with ?from=<public id of a model output>, a clinician's revision of it."""
    source = None
    if request.GET.get("from"):
        source = get_object_or_404(
            Response.objects.model_outputs().select_related("prompt__domain", "condition"),
            public_id=request.GET["from"],
        )
    if request.method == "POST":
        form = PairForm(
            request.POST,
            lock_prompt=source is not None,
            initial=PairForm.initial_for(prompt=source.prompt) if source else None,
        )
        if form.is_valid():
            pair = pairs.create_pair(
                user=request.user,
                text=form.cleaned_data["text"],
                prompt_fields=None if source else form.prompt_fields(),
                source_response=source,
                strategies=form.cleaned_data["strategies"],
                resources=form.cleaned_data["resources"],
            )
            return _after_save(request, pair)
    else:
        form = PairForm(
            initial=PairForm.initial_for(prompt=source.prompt, text=source.text) if source else None,
            lock_prompt=source is not None,
        )
    return _editor(
        request,
        form=form,
        source=source,
        title="Revise a model output into a reference" if source else "Write a new pair",
    )


def _after_save(request, pair):
    if "submit" in request.POST:
        try:
            pairs.submit(response=pair, user=request.user)
        except pairs.WorkflowError as error:
            messages.error(request, str(error))
            return redirect("pair-detail", pk=pair.pk)
        messages.success(request, "Submitted for review. A reviewer will approve it or ask for changes.")
    else:
        messages.success(request, "Draft saved. Submit it for review when you're happy with it.")
    return redirect("pair-detail", pk=pair.pk)


@roles.role_required(roles.AUTHOR, roles.REVIEWER)
def pair_edit(request, pk):
    pair = _get_reference(pk)
    if pair.created_by_id != request.user.pk:
        raise Http404("Only the author edits a pair here; reviewers edit from the review page.")
    if request.method == "POST":
        form = PairForm(
            request.POST, lock_prompt=pair.source_response_id is not None, initial=PairForm.initial_for(response=pair)
        )
        if form.is_valid():
            try:
                pair = pairs.save_draft(
                    response=pair,
                    user=request.user,
                    text=form.cleaned_data["text"],
                    prompt_fields=None if form.lock_prompt else form.prompt_fields(),
                    strategies=form.cleaned_data["strategies"],
                    resources=form.cleaned_data["resources"],
                )
            except pairs.WorkflowError as error:
                messages.error(request, str(error))
                return redirect("pair-detail", pk=pair.pk)
            return _after_save(request, pair)
    else:
        if pair.status == Response.Status.SUBMITTED:
            messages.info(request, "This pair is waiting for review. Withdraw it first to edit.")
            return redirect("pair-detail", pk=pair.pk)
        form = PairForm(initial=PairForm.initial_for(response=pair), lock_prompt=pair.source_response_id is not None)
    return _editor(request, form=form, response=pair, source=pair.source_response, title="Edit pair")


@roles.role_required(roles.AUTHOR, roles.REVIEWER)
@require_POST
def pair_submit(request, pk):
    pair = _get_reference(pk)
    action = pairs.withdraw if request.POST.get("action") == "withdraw" else pairs.submit
    try:
        action(response=pair, user=request.user)
    except pairs.WorkflowError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            "Withdrawn to draft."
            if action is pairs.withdraw
            else "Submitted for review. A reviewer will approve it or ask for changes.",
        )
    return redirect("pair-detail", pk=pair.pk)


@roles.role_required(*CORPUS_ROLES)
def pair_detail(request, pk):
    pair = _get_reference(pk)
    prompt = pair.prompt
    model_outputs = prompt.responses.model_outputs().select_related("condition").order_by("condition__name", "pk")
    context = {
        "pair": pair,
        "prompt": prompt,
        "strategies": pair.strategies.all(),
        "resources": pair.resources.all(),
        "history": pairs.pair_history(pair),
        "reviews": pair.reviews.select_related("reviewer"),
        "model_outputs": model_outputs,
        "earlier_prompts": prompt.versions()[1:],
        "is_author": pair.created_by_id == request.user.pk,
        "can_review": roles.has_role(request.user, roles.REVIEWER)
        and pair.created_by_id not in (None, request.user.pk),
        "can_revise": roles.has_role(request.user, roles.AUTHOR, roles.REVIEWER),
    }
    return render(request, "annotation/pairs/detail.html", context)


@roles.role_required(roles.AUTHOR, roles.REVIEWER)
@require_POST
def pair_checks(request):
    """The live checks as JSON, for the editor. Never saves anything."""
    text = request.POST.get("text", "")[:MAX_TEXT_CHARS]
    domain_id = request.POST.get("domain", "")
    domain = RiskDomain.objects.filter(pk=domain_id).first() if domain_id.isdigit() else None
    pair_id = request.POST.get("pair", "")
    report = checks.check_response(
        text=text,
        domain=domain,
        locale=request.POST.get("locale") or "en-US",
        should_refuse=request.POST.get("should_refuse", "1") == "1",
        exclude_id=int(pair_id) if pair_id.isdigit() else None,
    )
    return JsonResponse(report.as_json())
