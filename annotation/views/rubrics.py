"""Admin pages for rubrics: every family and version, a rater's-eye preview, the criteria editor,
new families and new versions. A frozen version is never changed: edit a new version instead."""

from itertools import groupby

from django.contrib import messages
from django.db.models import Count, Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation import roles, rubrics
from annotation.forms.rubrics import CriterionFormSet, NewRubricForm, RubricDetailsForm, criteria_initial
from annotation.models import Round, Rubric

FORMSET_PREFIX = "criteria"


def _versions():
    """Rubrics with their rounds (newest first), criterion counts and what freezes them."""
    rounds = Round.objects.only("id", "name", "state", "rubric_id").order_by("-created_at")
    return rubrics.with_usage(
        Rubric.objects.select_related("created_by")
        .annotate(n_criteria=Count("criteria", distinct=True))
        .prefetch_related(Prefetch("rounds", queryset=rounds))
    )


def _get_rubric(rubric_id) -> Rubric:
    return get_object_or_404(_versions(), pk=rubric_id)


@roles.role_required(roles.ADMIN)
def rubric_list(request):
    versions = _versions().order_by("key", "-version")
    families = [
        (key, [(rubric, rubrics.freeze_reason(rubric=rubric)) for rubric in group])
        for key, group in groupby(versions, key=lambda rubric: rubric.key)
    ]
    default = rubrics.default_rubric()
    return render(request, "annotation/rubrics/list.html", {"families": families, "default_id": default and default.pk})


@roles.role_required(roles.ADMIN)
def rubric_detail(request, rubric_id):
    rubric = _get_rubric(rubric_id)
    criteria = [(c, c.choices()) for c in rubric.criteria.all()]
    family = Rubric.objects.filter(key=rubric.key).only("id", "key", "version", "name").order_by("-version")
    return render(
        request,
        "annotation/rubrics/detail.html",
        {"rubric": rubric, "criteria": criteria, "frozen": rubrics.freeze_reason(rubric=rubric), "family": family},
    )


@roles.role_required(roles.ADMIN)
def rubric_new(request):
    form = NewRubricForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rubric = rubrics.create_rubric(**form.cleaned_data, created_by=request.user)
        except rubrics.RubricError as error:
            form.add_error("key", str(error))
        else:
            messages.success(request, f"Created {rubric}. Edit its criteria, then use it in a round.")
            return redirect("rubric-edit", rubric_id=rubric.pk)
    return render(request, "annotation/rubrics/new.html", {"form": form}, status=400 if form.errors else 200)


@roles.role_required(roles.ADMIN)
def rubric_edit(request, rubric_id):
    rubric = _get_rubric(rubric_id)
    reason = rubrics.freeze_reason(rubric=rubric)
    if reason:
        messages.error(request, f"{rubric} is frozen: {reason} Make a new version to edit it.")
        return redirect("rubric-detail", rubric_id=rubric.pk)
    if request.method != "POST":
        details = RubricDetailsForm(initial={"name": rubric.name, "description": rubric.description})
        formset = CriterionFormSet(initial=criteria_initial(rubric), prefix=FORMSET_PREFIX)
        return _edit_page(request, rubric, details, formset)
    if "add_criterion" in request.POST:
        return _edit_page(request, rubric, *_with_blank_criterion(request.POST), checked=False)
    details = RubricDetailsForm(request.POST)
    formset = CriterionFormSet(request.POST, prefix=FORMSET_PREFIX)
    if details.is_valid() and formset.is_valid():
        try:
            rubrics.save_rubric(rubric=rubric, **details.cleaned_data, criteria=formset.criteria())
        except rubrics.RubricFrozen as error:
            messages.error(request, str(error))
            return redirect("rubric-detail", rubric_id=rubric.pk)
        messages.success(request, f"Saved {rubric.name} v{rubric.version}.")
        return redirect("rubric-detail", rubric_id=rubric.pk)
    return _edit_page(request, rubric, details, formset, status=400)


def _with_blank_criterion(post):
    """The posted forms again, plus one blank criterion; nothing is saved."""
    data = post.copy()
    total = f"{FORMSET_PREFIX}-TOTAL_FORMS"
    count = data.get(total, "")
    data[total] = str(min(int(count) if count.isdigit() else 0, CriterionFormSet.max_num - 1) + 1)
    return RubricDetailsForm(data), CriterionFormSet(data, prefix=FORMSET_PREFIX)


def _edit_page(request, rubric, details, formset, *, checked=True, status=200):
    context = {"rubric": rubric, "details": details, "formset": formset, "checked": checked}
    return render(request, "annotation/rubrics/edit.html", context, status=status)


@roles.role_required(roles.ADMIN)
@require_POST
def rubric_new_version(request, rubric_id):
    rubric = get_object_or_404(Rubric, pk=rubric_id)
    copy = rubrics.new_version(rubric=rubric, created_by=request.user)
    messages.success(request, f"Created {copy} from v{rubric.version}. Ratings made with v{rubric.version} stay on it.")
    return redirect("rubric-detail", rubric_id=copy.pk)
