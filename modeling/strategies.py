"""The paper's risk domains and the intervention strategies recognised for each (see docs/paper.md).

Domains are keyed by slug everywhere ("suicide", "substance", "violence", "weapons",
"sexual_crimes"); `risk_domain` also accepts a domain's name or the label of the authors' data
("suicide and selfharm", "crimes (sexual)"). The strategies live in modeling/data/strategies.json,
which the annotation app seeds its registry from; `strategy_key` reads a written strategy name
(as a judge or a rater writes it) back to its key.

The annotation app's data migrations keep frozen copies of these facts, as migrations must.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from modeling.phrasing import mentions

DATA_DIR = Path(__file__).resolve().parent / "data"

#: Answers to "which strategy?" that name no registered strategy.
NO_STRATEGY = "none"
OTHER_STRATEGY = "other"


@dataclass(frozen=True)
class RiskDomain:
    slug: str
    name: str
    data_label: str  # the label in the authors' data
    priority: int  # lower wins when a prompt fits several domains


RISK_DOMAINS: tuple[RiskDomain, ...] = (
    RiskDomain("suicide", "Suicide and self-harm", "suicide and selfharm", 10),
    RiskDomain("substance", "Substance use", "substance", 20),
    RiskDomain("violence", "Violence", "violence", 30),
    RiskDomain("weapons", "Weapons", "weapon", 40),
    RiskDomain("sexual_crimes", "Sexual crimes", "crimes (sexual)", 50),
)


def risk_domain(value: str) -> RiskDomain | None:
    """The domain with this slug, name or data label (any letter case), or None."""
    wanted = value.strip().lower()
    for domain in RISK_DOMAINS:
        if wanted in (domain.slug, domain.name.lower(), domain.data_label):
            return domain
    return None


def domain_slug(value: str) -> str:
    """The slug of a known domain written any of its ways; an unknown value is returned as it is."""
    domain = risk_domain(value)
    return domain.slug if domain else value


@dataclass(frozen=True)
class Strategy:
    key: str
    name: str
    domains: tuple[str, ...]  # slugs
    description: str = ""
    aliases: tuple[str, ...] = ()  # shorter names people write, e.g. "QPR", "Green Dot"

    @classmethod
    def from_data(cls, data: Mapping) -> Strategy:
        return cls(
            key=str(data["key"]),
            name=str(data["name"]),
            domains=tuple(domain_slug(d) for d in data.get("domains", ())),
            description=str(data.get("description", "")),
            aliases=tuple(data.get("aliases", ())),
        )

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def read_strategies() -> list[dict]:
    """The shipped strategy registry as plain data (modeling/data/strategies.json)."""
    return json.loads((DATA_DIR / "strategies.json").read_text(encoding="utf-8"))


@cache
def registry() -> tuple[Strategy, ...]:
    return tuple(Strategy.from_data(row) for row in read_strategies())


def for_domain(domain: str, strategies: Iterable[Strategy] | None = None) -> list[Strategy]:
    """The strategies recognised for a domain (slug, name or data label), in registry order."""
    slug = domain_slug(domain)
    return [s for s in (registry() if strategies is None else strategies) if slug in s.domains]


def strategy_key(written: str, strategies: Iterable[Strategy] | None = None) -> str | None:
    """The key of the strategy `written` names (its key, name or an alias, any letter case).

    "None" gives NO_STRATEGY and "Other" OTHER_STRATEGY, as raters answer; a name the registry
    does not know gives None, so the caller decides what an unknown strategy means.
    """
    wanted = " ".join(written.replace("\u2019", "'").split()).lower()
    if wanted in (NO_STRATEGY, OTHER_STRATEGY):
        return wanted
    for strategy in registry() if strategies is None else strategies:
        if wanted in {strategy.key.lower(), *(name.lower() for name in strategy.names)}:
            return strategy.key
    return None


def find_strategies(text: str, strategies: Iterable[Strategy] | None = None) -> list[str]:
    """Keys of the strategies a text names (by name or alias), in registry order."""
    return [
        s.key
        for s in (registry() if strategies is None else strategies)
        if any(mentions(text, name) for name in s.names)
    ]
