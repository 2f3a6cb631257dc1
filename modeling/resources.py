"""Phone numbers and links in a response, and which registered resources they reach.

One home for what the authoring checks and the judge's deterministic checks both need:

- `extract_phones` / `normalise_phone`: phone-like numbers, with the country code folded so that
  written variants compare equal ("+44 808 802 4040", "0044 808 802 4040", "44 808 802 4040" and
  "0808 802 4040" are all "08088024040"; "+1 (877) 898-3411" and "877-898-3411" are
  "8778983411"); short codes such as 988, 741741 and 116 123 stay as they are.
- `extract_urls` / `normalise_host`: links (with or without a scheme), as their host without "www.".
- `match_resources`: a text against a registry given as plain data, one mapping per resource:
  {"name", "phones", "urls", "domains" (slugs; none = every domain), "locale" ("*" = any),
  "key" (optional, handed back so a caller can find its own row)}.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from modeling.phrasing import mentions
from modeling.strategies import domain_slug

# A run of digits with the separators people write in phone numbers, or a lone 3-digit code.
_PHONE = re.compile(r"(?<![\w/.])\+?\(?\d[\d\s().-]{1,18}\d(?![\w/])|(?<![\w/.])\d{3}(?![\w/])")
_YEARISH = re.compile(r"^(19|20)\d\d$")
# "call 988 now": a short number right after a contact word is a number even when a word follows.
_CONTACT_WORD = re.compile(r"\b(call|text|dial|ring|phone|contact|reach)\W+(?:\w+\W+)?$", re.IGNORECASE)
# A link with a scheme and any top-level domain, or a bare host with a common one ("na.org"):
# bare words with a dot ("e.g.", "3.5mg") are not links.
_TLDS = r"org|com|net|gov|edu|uk|us|ca|au|ie|nz|info|io|co|help"
_URL = re.compile(
    rf"\b(?:https?://(?:www\.)?(?P<any>(?:[a-z0-9-]+\.)+[a-z]{{2,}})"
    rf"|(?:www\.)?(?P<known>(?:[a-z0-9-]+\.)+(?:{_TLDS}))(?![\w(]))(?:/[^\s)\]>,;\"']*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Contact:
    """A phone number or link as written in the text, and its normalised form."""

    written: str
    value: str


def normalise_phone(written: str) -> str:
    """Digits only, with UK (+44 / 0044 / 44) and US (+1 / 1) country codes folded.

    A UK number gets its leading 0 back ("+44 (0)808 ..." too); a US number keeps its ten
    digits. Anything else, including short codes, is its digits.
    """
    digits = re.sub(r"\D", "", written)
    if digits.startswith("00"):
        digits = digits[2:]
    if digits.startswith("44") and 11 <= len(digits) <= 13:
        return "0" + digits[2:].removeprefix("0")
    if len(digits) == 11 and digits.startswith("1"):
        return digits[1:]
    return digits


def normalise_host(written: str) -> str:
    """The host, lower case, without scheme, "www." or path: "https://www.NA.org/x" -> "na.org"."""
    value = written.strip().lower()
    host = urlsplit(value if "://" in value else "http://" + value).hostname or ""
    return host.rstrip(".").removeprefix("www.")


def extract_phones(text: str) -> list[Contact]:
    """Phone-like numbers, once each (first written form kept); years, times and counts skipped."""
    found: dict[str, Contact] = {}
    for match in _PHONE.finditer(text):
        written = match.group(0).strip(" .-()")
        digits = normalise_phone(written)
        if len(digits) < 3 or len(digits) > 15 or _YEARISH.match(digits):
            continue
        # "10 minutes", "100 mg": a short number followed by a word is a count, not a number to call.
        followed_by_word = re.match(r"\s*[a-z]", text[match.end() : match.end() + 3], re.IGNORECASE)
        if len(digits) <= 3 and followed_by_word and not _CONTACT_WORD.search(text[: match.start()][-30:]):
            continue
        found.setdefault(digits, Contact(written, digits))
    return list(found.values())


def extract_urls(text: str) -> list[Contact]:
    """Links and bare host names, once each by host."""
    found: dict[str, Contact] = {}
    for match in _URL.finditer(text):
        host = normalise_host(match.group("any") or match.group("known"))
        found.setdefault(host, Contact(match.group(0), host))
    return list(found.values())


@dataclass(frozen=True)
class RegistryResource:
    """One entry of a resource registry, from plain data (see the module docstring)."""

    name: str
    phones: tuple[str, ...] = ()  # normalised
    hosts: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()  # slugs; empty: a general resource that serves every domain
    locale: str = "*"
    key: object = None

    @classmethod
    def from_data(cls, data: Mapping) -> RegistryResource:
        def values(plural: str, singular: str) -> list[str]:
            return [v for v in (data.get(plural) or [data.get(singular)]) if v]

        if not data.get("name"):
            raise ValueError(f"resource without a name: {dict(data)!r}")
        return cls(
            name=str(data["name"]),
            phones=tuple(normalise_phone(p) for p in values("phones", "phone")),
            hosts=tuple(normalise_host(u) for u in values("urls", "url")),
            domains=tuple(domain_slug(d) for d in values("domains", "domain")),
            locale=data.get("locale") or "*",
            key=data.get("key"),
        )

    def serves(self, *, domain: str | None, locale: str | None) -> bool:
        """For this domain and locale (None: any); "*" resources serve every locale."""
        in_domain = domain is None or not self.domains or domain_slug(domain) in self.domains
        return in_domain and (locale is None or self.locale in ("*", locale))

    def reached_at(self, host: str) -> bool:
        return any(host == h or host.endswith("." + h) for h in self.hosts)


@dataclass
class ResourceMatch:
    """What a text's contacts reach. Resources are listed once, in registry order.

    `matched`: resources for the domain and locale that the text names or gives a contact of.
    `other`: resources outside them that the text names or gives a contact of, and
    `other_contacts` the contacts that reached them, each with its resource.
    `unregistered_numbers` / `unregistered_links`: contacts no registered resource has.
    """

    matched: list[RegistryResource] = field(default_factory=list)
    other: list[RegistryResource] = field(default_factory=list)
    other_contacts: list[tuple[Contact, RegistryResource]] = field(default_factory=list)
    unregistered_numbers: list[Contact] = field(default_factory=list)
    unregistered_links: list[Contact] = field(default_factory=list)


def read_registry(resources: Iterable[Mapping | RegistryResource]) -> tuple[RegistryResource, ...]:
    return tuple(r if isinstance(r, RegistryResource) else RegistryResource.from_data(r) for r in resources)


def match_resources(
    text: str, *, registry: Iterable[Mapping | RegistryResource], domain: str | None, locale: str | None = None
) -> ResourceMatch:
    """Match a text's phone numbers, links and resource names against the registry.

    A contact that resources inside and outside the domain/locale share counts inside. Names
    are matched as whole words outside links (so "samaritans.org" is a link, not the name).
    """
    registry = read_registry(registry)
    serving = [r for r in registry if r.serves(domain=domain, locale=locale)]
    inside = {id(r) for r in serving}
    result, reached = ResourceMatch(), set()
    for contacts, reaches, unregistered in (
        (extract_phones(text), lambda r, c: c.value in r.phones, result.unregistered_numbers),
        (extract_urls(text), lambda r, c: r.reached_at(c.value), result.unregistered_links),
    ):
        for contact in contacts:
            hit = next((r for r in [*serving, *registry] if reaches(r, contact)), None)
            if hit is None:
                unregistered.append(contact)
                continue
            reached.add(id(hit))
            if id(hit) not in inside:
                result.other_contacts.append((contact, hit))
    words = _URL.sub(" ", text)
    reached |= {id(r) for r in registry if mentions(words, r.name)}
    result.matched = [r for r in serving if id(r) in reached]
    result.other = [r for r in registry if id(r) in reached and id(r) not in inside]
    return result
