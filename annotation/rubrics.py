"""Rubric versions in the database: seeding PsychoSafe, new versions, and editing them.

The criteria themselves are plain data in modeling.rubric (the PsychoSafe rubric's wording lives
in modeling/data/psychosafe_rubric.json, see docs/paper.md); humans rate on the same criteria
the judge is asked, with the anchor text of every answer shown inline. `plain_criteria` hands
any version, built in or made by an admin, to the judge and the statistics in that form.
Functions take the model classes where a data migration might pass historical models.
"""

from django.db import transaction
from django.db.models import Exists, OuterRef

from modeling import rubric as rubric_data

PSYCHOSAFE_KEY = "psychosafe"

#: The PsychoSafe criteria as rows (dicts), in rubric order.
PSYCHOSAFE_CRITERIA = rubric_data.read_psychosafe()


def seed_psychosafe_rubric(*, Rubric, Criterion):
    """Create version 1 of the PsychoSafe rubric unless it exists. Idempotent."""
    rubric, created = Rubric.objects.get_or_create(
        key=PSYCHOSAFE_KEY,
        version=1,
        defaults={
            "name": "PsychoSafe",
            "description": "The paper's four criteria, as rated by its LLM judge and humans.",
        },
    )
    if created:
        _create_criteria(Criterion, [Criterion(rubric=rubric, **_with_defaults(row)) for row in _psychosafe_rows()])
    return rubric


def plain_criteria(rubric) -> list[rubric_data.Criterion]:
    """A rubric version's criteria as plain data, in order: what the judge is asked and the statistics read."""
    return rubric_data.read_criteria(rubric.criteria.all())


def default_rubric():
    """The newest PsychoSafe rubric version (the default for new rounds)."""
    from annotation.models import Rubric

    return Rubric.objects.filter(key=PSYCHOSAFE_KEY).order_by("-version").first()


@transaction.atomic
def new_version(*, rubric, created_by=None):
    """Copy a rubric and its criteria into the next version, which admins may then edit."""
    from annotation.models import Criterion, Rubric

    latest = Rubric.objects.filter(key=rubric.key).order_by("-version").first()
    copy = Rubric.objects.create(
        key=rubric.key,
        version=latest.version + 1,
        name=rubric.name,
        description=rubric.description,
        created_by=created_by,
    )
    _create_criteria(
        Criterion,
        [
            Criterion(
                rubric=copy,
                key=c.key,
                position=c.position,
                label=c.label,
                question=c.question,
                kind=c.kind,
                scale_points=c.scale_points,
                options=c.options,
                required=c.required,
            )
            for c in rubric.criteria.all()
        ],
    )
    return copy


# --- Rubric pages: what freezes a version, new families, saving an editable version ---------------


class RubricFrozen(Exception):
    """The version can no longer change; its message says why. Edit a new version instead."""


class RubricError(ValueError):
    """A rubric request that cannot be carried out; the message is for the admin."""


def with_usage(queryset):
    """Annotate rubrics with what freezes them, in one query: `rated`, `has_gold`, `opened_round`."""
    from annotation.models import GoldItem, Rating, Round

    return queryset.annotate(
        rated=Exists(Rating.objects.filter(rubric=OuterRef("pk"))),
        has_gold=Exists(GoldItem.objects.filter(rubric=OuterRef("pk"))),
        opened_round=Exists(Round.objects.filter(rubric=OuterRef("pk")).exclude(state=Round.State.DRAFT)),
    )


def freeze_reason(*, rubric) -> str:
    """Why this version cannot be edited any more ("" while it can).

    Stricter than Rubric.is_frozen: a version is also frozen once a round using it has been
    opened, because raters may be looking at its questions before the first rating lands.
    """
    from annotation.models import Rubric

    if not hasattr(rubric, "rated"):
        rubric = with_usage(Rubric.objects.filter(pk=rubric.pk)).get()
    if rubric.rated:
        return "Ratings were made with this version, and each rating is pinned to it."
    if rubric.has_gold:
        return "Gold items give their expected answers on this version."
    if rubric.opened_round:
        return "A round using this version has been opened, so raters may have seen it."
    return ""


START_EMPTY = "empty"
START_PSYCHOSAFE = "psychosafe"


@transaction.atomic
def create_rubric(*, key, name, description="", start_from=START_EMPTY, created_by=None):
    """Version 1 of a new rubric family, empty or with a copy of the current PsychoSafe criteria."""
    from annotation.models import Criterion, Rubric

    if Rubric.objects.filter(key=key).exists():
        raise RubricError(f"A rubric family “{key}” exists already: make a new version of it instead.")
    rubric = Rubric.objects.create(key=key, version=1, name=name, description=description, created_by=created_by)
    if start_from == START_PSYCHOSAFE:
        source = default_rubric()
        rows = [_criterion_row(c) for c in source.criteria.all()] if source else _psychosafe_rows()
        _create_criteria(Criterion, [Criterion(rubric=rubric, **_with_defaults(row)) for row in rows])
    return rubric


@transaction.atomic
def save_rubric(*, rubric, name, description, criteria):
    """Replace an editable version's name, description and criteria (dicts, in display order).

    Refused with RubricFrozen once the version is frozen; the check runs under a row lock so
    two admins saving at once take turns. Criteria are replaced wholesale: nothing refers to a
    criterion row, and answers refer to criteria by key.
    """
    from annotation.models import Criterion, Rubric

    rubric = Rubric.objects.select_for_update().get(pk=rubric.pk)
    reason = freeze_reason(rubric=rubric)
    if reason:
        raise RubricFrozen(f"{rubric} is frozen: {reason} Make a new version to edit it.")
    rubric.name, rubric.description = name, description
    rubric.save(update_fields=["name", "description"])
    rows = [Criterion(rubric=rubric, position=n, **_with_defaults(row)) for n, row in enumerate(criteria, start=1)]
    for row in rows:
        row.clean()
    rubric.criteria.all().delete()
    _create_criteria(Criterion, rows)
    return rubric


@transaction.atomic
def add_criterion(*, rubric, criterion):
    """Append one criterion (a dict, as `save_rubric` takes them) to an editable version."""
    from annotation.models import Rubric

    rubric = Rubric.objects.select_for_update().get(pk=rubric.pk)
    rows = [{k: v for k, v in _criterion_row(c).items() if k != "position"} for c in rubric.criteria.all()]
    return save_rubric(rubric=rubric, name=rubric.name, description=rubric.description, criteria=[*rows, criterion])


def _create_criteria(Criterion, rows: list) -> list:
    """Insert criteria with their history rows (a data migration's Criterion has no history)."""
    if hasattr(Criterion, "history"):
        from simple_history.utils import bulk_create_with_history

        return bulk_create_with_history(rows, Criterion)
    return Criterion.objects.bulk_create(rows)


def _psychosafe_rows() -> list[dict]:
    return [{"position": n, **row} for n, row in enumerate(PSYCHOSAFE_CRITERIA, start=1)]


def _criterion_row(criterion) -> dict:
    fields = ["position", "key", "label", "question", "kind", "scale_points", "options", "required"]
    return {field: getattr(criterion, field) for field in fields}


def _with_defaults(row) -> dict:
    return {"question": "", "scale_points": None, "options": [], "required": True, **row}
