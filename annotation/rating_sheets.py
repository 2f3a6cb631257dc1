"""The rubric as a rater answers it, cached: its criteria and each domain's strategy choices.

The rating page and every submit need a round's criteria and the strategy registry; neither
changes while raters work (a rubric is frozen once a round using it opens), so they are read
once and kept in Django's cache (settings.CACHES: shared by every process of a host, or by
every host with CACHE_URL=redis://...). Any change to a criterion, a rubric, a strategy or a
strategy's domains, by page, admin or command, replaces the cache version once its
transaction commits, so the next request reads them again. A reader that loaded the old rows
just before the change stores them under the old version, which nobody reads any more.
"""

import secrets
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction

from annotation.models import Criterion, InterventionStrategy, Option, Rubric

VERSION_KEY = "rating-sheets:version"
# A safety net for changes that bypass the model signals (raw SQL, QuerySet.update()).
TIMEOUT_SECONDS = 15 * 60
# The rating page offers at most this many of a domain's strategies (keys 1..7, then other/none).
STRATEGIES_SHOWN = 7


@dataclass(frozen=True)
class RatingSheet:
    criteria: tuple[Criterion, ...]
    # Strategy (key, name) pairs by name, per domain id; None: the whole registry.
    strategies: dict = field(default_factory=dict)

    def options(self, criterion, *, domain_id=None) -> list[Option]:
        """`criterion.choices(domain_id=...)`, without a query."""
        if criterion.kind != Criterion.Kind.STRATEGY:
            return criterion.choices()
        shown = self.strategies.get(domain_id or None, ())[:STRATEGIES_SHOWN]
        return criterion.choices(strategies=shown)

    def allowed_values(self, criterion) -> set[str] | None:
        """`criterion.allowed_values()`, without a query."""
        if criterion.kind == Criterion.Kind.STRATEGY:
            return {key for key, _ in self.strategies.get(None, ())} | {"other", "none"}
        return criterion.allowed_values()


def sheet_for(*, rubric_id) -> RatingSheet:
    version = cache.get(VERSION_KEY)
    if version is None:
        version = _new_version()
    key = f"rating-sheets:{version}:{rubric_id}"
    sheet = cache.get(key)
    if sheet is None:
        sheet = _load(rubric_id)
        cache.set(key, sheet, TIMEOUT_SECONDS)
    return sheet


def _load(rubric_id) -> RatingSheet:
    criteria = tuple(Criterion.objects.filter(rubric_id=rubric_id).order_by("position"))
    if not any(c.kind == Criterion.Kind.STRATEGY for c in criteria):
        return RatingSheet(criteria=criteria)
    names = dict(InterventionStrategy.objects.order_by("name").values_list("key", "name"))
    strategies = {None: tuple(names.items())}
    links = InterventionStrategy.domains.through.objects.values_list("interventionstrategy__key", "riskdomain_id")
    for key, domain_id in sorted(links, key=lambda link: names[link[0]]):
        strategies[domain_id] = (*strategies.get(domain_id, ()), (key, names[key]))
    return RatingSheet(criteria=criteria, strategies=strategies)


def _new_version() -> str:
    version = secrets.token_hex(8)
    cache.set(VERSION_KEY, version, None)
    return version


def invalidate(**kwargs) -> None:
    """Make every process read criteria and strategies again, once the current transaction commits.

    Connected to the save and delete signals of the models a sheet is built from (apps.py).
    """
    transaction.on_commit(_new_version)


SOURCES = (Criterion, Rubric, InterventionStrategy)
