"""The seed content in annotation/seed/ (and the strategy registry in modeling/data/) is what
clinicians meet first in the demo, and what the checks of the authoring page hold every new pair
to. These tests hold the seed files to the same rules with plain json, re and the Django-free
modeling.resources that the authoring checks and the judge use, so they run without Django
(`-p no:django`).
"""

import json
import re
from collections import Counter
from functools import cache
from itertools import combinations
from math import sqrt
from pathlib import Path

import pytest

from modeling import resources as contacts
from modeling import strategies as registry

SEED = Path(__file__).resolve().parents[2] / "annotation" / "seed"
DOMAINS = {"suicide", "substance", "violence", "weapons", "sexual_crimes"}
LOCALES = {"en-US", "en-GB"}
ROLES = {"author", "reviewer", "rater", "admin"}
# Words that label the person; the authoring page warns on the same ones (and a few more).
LABELS = re.compile(
    r"\b(addicts?|abusers?|psychopaths?|alcoholics?|junkies?|sociopaths?|perverts?|p(a)?edophiles?|predators?"
    r"|criminals?|sex offenders?|committed suicide|a suicide|crazy|insane|lunatics?)\b",
    re.IGNORECASE,
)
# How the PsychoSafe system prompt names each strategy.
STRATEGY_NAMES = {
    "pfa": "Psychological First Aid",
    "safety-planning": "Safety Planning Intervention",
    "algee": "ALGEE",
    "qpr": "QPR",
    "motivational-interviewing": "Motivational Interviewing",
    "five-as": "5 A's",
    "sober": "SOBER",
    "green-dot": "Green Dot",
}
SHARED_WORDS = 12  # no run of this many words may appear in two answers (template reuse)
# The authoring page flags a reference whose hashed word 1-3-gram cosine to another is >= 0.8.
MAX_COSINE = 0.8


def load(name):
    return json.loads((SEED / name).read_text(encoding="utf-8"))


@cache
def resources():
    return {r["key"]: r for r in load("resources.json")}


@cache
def strategies():
    return {s["key"]: s for s in registry.read_strategies()}


@cache
def pairs():
    return load("demo_pairs.json")


def refusals():
    return [p for p in pairs() if p["should_refuse"]]


def digits(value):
    return re.sub(r"\D", "", value)


def registry_lookup():
    """Normalised phone/text numbers and URL hosts -> resource key."""
    table = {}
    for key, r in resources().items():
        for number in (r["phone"], r["text_number"]):
            if number:
                table[contacts.normalise_phone(number)] = key
        if r["url"]:
            table[contacts.normalise_host(r["url"])] = key
    return table


def mentioned_resources(text):
    """(resource keys whose numbers or links the text gives, contacts not in the registry)."""
    table, found, unknown = registry_lookup(), set(), []
    for contact in contacts.extract_phones(text) + contacts.extract_urls(text):
        (found.add(table[contact.value]) if contact.value in table else unknown.append(contact.written))
    return found, unknown


def fits(resource, pair):
    return pair["domain"] in resource["domains"] and resource["locale"] in (pair["locale"], "*")


def words(text):
    return re.findall(r"[a-z0-9']+", text.lower())


def test_resources_are_complete_records():
    assert len(resources()) == len(load("resources.json")), "duplicate resource keys"
    for key, r in resources().items():
        assert set(r["domains"]) <= DOMAINS, key
        assert r["locale"] in LOCALES | {"*"}, key
        assert r["channel"] in {"phone", "text", "chat", "web"}, key
        assert r["phone"] or r["text_number"] or r["url"], key
        assert r["verified_on"] == "2026-06-01", key
        assert r["description"].strip(), key


def test_every_domain_has_a_us_and_a_uk_resource():
    for domain in DOMAINS:
        for locale in LOCALES:
            assert any(domain in r["domains"] and r["locale"] == locale for r in resources().values()), (domain, locale)


def test_registry_holds_the_numbers_of_the_design_brief():
    numbers = {digits(n) for r in resources().values() for n in (r["phone"], r["text_number"]) if n}
    assert numbers == {
        "988",
        "116123",
        "03001236600",
        "18778983411",
        "08088024040",
        "18887738368",
        "08081000900",
        "741741",
        "18006624357",
    }
    assert {contacts.normalise_host(r["url"]) for r in resources().values() if r["url"]} == {
        "988lifeline.org",
        "na.org",
        "findahelpline.com",
    }


def test_strategies_cover_every_domain():
    for key, s in strategies().items():
        assert set(s["domains"]) <= DOMAINS, key
        assert 2 <= len(re.findall(r"[.!?](\s|$)", s["description"])) <= 3, key
    assert {d for s in strategies().values() for d in s["domains"]} == DOMAINS


def test_pair_counts_per_domain_and_controls():
    per_domain = Counter(p["domain"] for p in refusals())
    assert set(per_domain) == DOMAINS
    assert min(per_domain.values()) >= 12, per_domain
    controls = [p for p in pairs() if not p["should_refuse"]]
    assert len(controls) >= 22
    assert {p["domain"] for p in controls} == DOMAINS
    assert {p["locale"] for p in refusals()} == LOCALES


def test_pair_records_are_well_formed():
    keys = [p["key"] for p in pairs()]
    assert len(keys) == len(set(keys)), "duplicate pair keys"
    prompts = [p["prompt"].lower() for p in pairs()]
    assert len(prompts) == len(set(prompts)), "duplicate prompts"
    for p in pairs():
        assert re.fullmatch(r"[a-z0-9-]+", p["key"]), p["key"]
        assert p["domain"] in DOMAINS and p["locale"] in LOCALES, p["key"]
        assert p["risk_category"].strip() and p["prompt"].strip(), p["key"]


def test_strategy_and_resource_keys_exist_and_fit_domain_and_locale():
    for p in pairs():
        if p["should_refuse"]:
            assert p["strategy"] in strategies(), p["key"]
            assert p["domain"] in strategies()[p["strategy"]]["domains"], p["key"]
            assert p["resources"], p["key"]
        else:
            assert p["strategy"] is None, p["key"]
        for key in p["resources"]:
            assert key in resources(), (p["key"], key)
            assert fits(resources()[key], p), (p["key"], key)


@pytest.mark.parametrize("pair", refusals(), ids=lambda p: p["key"])
def test_refusal_contacts_belong_to_the_pairs_domain_and_locale(pair):
    found, unknown = mentioned_resources(pair["answer"])
    assert not unknown, f"numbers or URLs not in the registry: {unknown}"
    assert found, "no resource mentioned"
    assert all(fits(resources()[key], pair) for key in found), found
    assert found == set(pair["resources"]), "the answer's contacts and the pair's resource list disagree"


@pytest.mark.parametrize("pair", refusals(), ids=lambda p: p["key"])
def test_refusal_has_four_parts_with_resources_third(pair):
    paragraphs = pair["answer"].split("\n\n")
    assert len(paragraphs) == 4
    assert mentioned_resources(paragraphs[2])[0], "the third part names no resource"
    assert not mentioned_resources(paragraphs[0])[0], "resources belong in the third part, not the opening"
    assert 120 <= len(pair["answer"].split()) <= 220


def test_control_answers_are_helpful_length():
    for p in pairs():
        if not p["should_refuse"]:
            assert 60 <= len(p["answer"].split()) <= 150, p["key"]


def test_no_answer_labels_the_person():
    # The system prompt quotes the labels it forbids; quoted words are examples, not labels.
    texts = [p["answer"] for p in pairs()] + [re.sub(r'"[^"]*"', "", s["text"]) for s in load("system_prompts.json")]
    hits = [m.group(0) for text in texts for m in LABELS.finditer(text)]
    assert not hits


def test_no_two_answers_share_a_long_run_of_words():
    """A shared run of SHARED_WORDS words (a shared sentence or more) means a reused template."""
    seen = {}
    for p in pairs():
        w = words(p["answer"])
        for i in range(len(w) - SHARED_WORDS + 1):
            run = " ".join(w[i : i + SHARED_WORDS])
            other = seen.setdefault(run, p["key"])
            assert other == p["key"], f"{other} and {p['key']} share: {run!r}"


def test_no_two_answers_are_near_duplicates():
    def vector(text):
        w = words(text)
        return Counter(" ".join(w[i : i + n]) for n in (1, 2, 3) for i in range(len(w) - n + 1))

    vectors = {p["key"]: vector(p["answer"]) for p in pairs()}
    norms = {k: sqrt(sum(c * c for c in v.values())) for k, v in vectors.items()}
    for a, b in combinations(vectors, 2):
        dot = sum(c * vectors[b][g] for g, c in vectors[a].items())
        assert dot / (norms[a] * norms[b]) < MAX_COSINE, (a, b)


def test_system_prompts():
    prompts = {s["key"]: s for s in load("system_prompts.json")}
    assert prompts["none"]["text"] == ""
    assert prompts["generic"]["text"] == "You are a helpful assistant."
    text = prompts["psychosafe"]["text"]
    assert 400 <= len(text.split()) <= 700
    for r in resources().values():
        for contact in (r["phone"], r["text_number"]):
            if contact:
                assert contact in text, r["key"]
        if r["url"]:
            assert contacts.normalise_host(r["url"]) in text, r["key"]
    for key, name in STRATEGY_NAMES.items():
        assert key in strategies() and name in text, key
    # The split's leakage check forbids any validation/test prompt inside the system prompt.
    assert not [p["key"] for p in pairs() if p["prompt"].lower() in text.lower()]


def test_demo_users_cover_every_role_twice_where_review_and_rounds_need_it():
    users = load("demo_users.json")
    names = [u["username"] for u in users]
    assert len(names) == len(set(names))
    assert {u["role"] for u in users} == ROLES
    roles = Counter(u["role"] for u in users)
    assert roles["author"] >= 2 and roles["rater"] >= 2
    assert {"author", "author2", "reviewer", "rater", "rater2", "admin"} <= set(names)
    assert all(u["password"].startswith("psychosafe-") and u["first_name"] for u in users)
