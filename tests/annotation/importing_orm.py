"""The importer's previous write path (ORM `bulk_create` + simple-history's
`bulk_create_with_history`), kept outside the product as the reference the bulk writer is tested
against (tests/annotation/test_importing.py) and measured against (bench/bench_import.py)."""

from django.contrib.auth import get_user_model
from django.db import transaction
from simple_history.utils import bulk_create_with_history

from annotation import importing
from annotation.exporting import AUTHOR_KEY
from annotation.models import Prompt, Response

BATCH = 1000


def import_with_orm(*, data: bytes, format: str, user) -> tuple[int, int]:
    """Parse and validate like the importer, then write with the ORM; (prompts, pairs)."""
    records, errors = importing.parse(data=data, format=format)
    more, keep, _ = importing.validate(records, skip_existing=False)
    if errors or more:
        raise importing.ImportRejected(errors + more)
    with transaction.atomic():
        return write_with_orm(keep, user=user)


def write_with_orm(records, *, user) -> tuple[int, int]:
    registry = importing._Registry()
    users = {
        u.username: u for u in get_user_model().objects.filter(username__in={r.author for r in records if r.author})
    }
    prompts = []
    for record in records:
        metadata = dict(record.metadata)
        author = users.get(record.author)
        if author is None and record.has_author:
            metadata[AUTHOR_KEY] = record.author
        prompts.append(
            Prompt(
                text=record.prompt,
                domain=registry.domain(record.domain),
                risk_category=record.risk_category,
                source=record.source,
                source_name=record.source_name,
                source_ref=record.source_ref,
                locale=record.locale or importing.DEFAULT_LOCALE,
                should_refuse=record.should_refuse,
                split=record.split,
                metadata=metadata,
                created_by=author or user,
            )
        )
    created_prompts = []
    for start in range(0, len(prompts), BATCH):
        created_prompts += bulk_create_with_history(prompts[start : start + BATCH], Prompt, default_user=user)
    pairs = [(r, p) for r, p in zip(records, created_prompts, strict=True) if r.answer is not None]
    responses = [
        Response(
            prompt=prompt,
            text=record.answer,
            origin=Response.Origin.REFERENCE,
            status=record.status,
            created_by=prompt.created_by,
        )
        for record, prompt in pairs
    ]
    created = []
    for start in range(0, len(responses), BATCH):
        created += bulk_create_with_history(responses[start : start + BATCH], Response, default_user=user)
    through_s, through_r = Response.strategies.through, Response.resources.through
    links_s, links_r = [], []
    for (record, _), response in zip(pairs, created, strict=True):
        links_s += [
            through_s(response_id=response.pk, interventionstrategy_id=registry.strategies[k])
            for k in record.strategies
        ]
        links_r += [through_r(response_id=response.pk, resource_id=registry.resources[k]) for k in record.resources]
    through_s.objects.bulk_create(links_s, batch_size=BATCH)
    through_r.objects.bulk_create(links_r, batch_size=BATCH)
    return len(created_prompts), len(created)
