"""Can a round's responses get their k ratings? Each needs k distinct raters who have not opted
out of its risk domain (annotation.queues never serves a rater a domain they opted out of).

The round builder refuses a round that could never complete, and the dashboard and round list
flag an open or draft round that cannot complete with the raters it has now (members, and
the current members of its rater group).
"""

from collections import Counter
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from annotation.models import RaterPreference, RiskDomain, Round, RoundItem, Slot


@dataclass(frozen=True)
class Shortfall:
    domain: str
    k: int
    eligible: int
    opted_out: int

    def __str__(self):
        reason = f" ({self.opted_out} opted out of it)" if self.opted_out else ""
        return (
            f"k = {self.k}, but only {self.eligible} rater{'' if self.eligible == 1 else 's'} can rate "
            f"{self.domain}{reason}: each response needs {self.k} different raters."
        )


def rater_ids(*, raters=(), rater_group=None) -> set[int]:
    ids = {user.pk for user in raters}
    if rater_group is not None:
        ids |= set(rater_group.user_set.values_list("pk", flat=True))
    return ids


def shortfalls(*, k: int, rater_ids: set[int], domain_ids) -> list[Shortfall]:
    """The domains (of `domain_ids`) with fewer than k raters who have not opted out of them."""
    domain_ids = set(domain_ids)
    if not domain_ids:
        return []
    opted = Counter(
        RaterPreference.opted_out_domains.through.objects.filter(
            raterpreference__user_id__in=rater_ids, riskdomain_id__in=domain_ids
        ).values_list("riskdomain_id", flat=True)
    )
    found = []
    for domain in RiskDomain.objects.filter(pk__in=domain_ids).order_by("priority", "slug"):
        eligible = len(rater_ids) - opted[domain.pk]
        if eligible < k:
            found.append(Shortfall(domain=domain.name, k=k, eligible=eligible, opted_out=opted[domain.pk]))
    return found


def round_rater_ids(round: Round) -> set[int]:
    ids = set(round.memberships.values_list("rater_id", flat=True))
    if round.rater_group_id:
        ids |= set(get_user_model().objects.filter(groups=round.rater_group_id).values_list("pk", flat=True))
    return ids


def round_shortfalls(round: Round) -> list[Shortfall]:
    """Why a draft or open round cannot complete: domains of study items still short of k
    ratings that too few of its raters can rate. Empty for closed rounds."""
    if round.state == Round.State.CLOSED:
        return []
    unfinished = (
        Slot.objects.filter(round=round)
        .exclude(state=Slot.State.DONE)
        .filter(item__gold__isnull=True)
        .values_list("domain_id", flat=True)
        .distinct()
        .order_by()
    )
    return shortfalls(k=round.k, rater_ids=round_rater_ids(round), domain_ids=set(unfinished))


def per_condition(*, round, conditions) -> list[tuple[str, int]]:
    """(condition name, study items of the round with a response from it), for each chosen condition
    and any other condition in the round, in the order chosen."""
    items = RoundItem.objects.filter(round=round, gold__isnull=True, excluded_at__isnull=True)
    counts = Counter()
    for a, b in items.values_list("response__condition_id", "response_b__condition_id"):
        counts[a] += 1
        if b is not None:
            counts[b] += 1
    return [(condition.name, counts.get(condition.pk, 0)) for condition in conditions]


def none_from(before: list[tuple[str, int]], after: list[tuple[str, int]]) -> list[str]:
    """Conditions that gained nothing."""
    had = dict(before)
    return [name for name, n in after if n == had.get(name, 0)]


def unfinished_rounds(rounds) -> dict[int, list[Shortfall]]:
    """round id -> shortfalls, for the rounds (draft or open) that cannot complete."""
    found = {}
    for round in rounds:
        if round.state != Round.State.CLOSED:
            problems = round_shortfalls(round)
            if problems:
                found[round.pk] = problems
    return found
