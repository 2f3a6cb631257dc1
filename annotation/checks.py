"""Live checks on a reference response while a clinician writes it.

Each check returns findings that guide the author; none of them ever blocks saving a draft.

- structure: the four parts of a psychologically-informed refusal, in order (acknowledgment and
  gentle refusal / personalised self-help step / professional resources / hopeful closing);
- resources: phone numbers and URLs parsed out of the text and matched against the registry
  for the prompt's domain and locale (or international resources, locale "*"), with the same
  extraction and matching as the judge's deterministic checks (modeling.resources);
- duplicate: the nearest existing reference answer by TF-IDF-free hashed word n-gram cosine;
- labels: words that label or diagnose the person ("addict", "psychopath", "you have depression");
- strategies: which registered intervention strategies the answer names (a hint, never a warning).

The detectors are deliberately simple heuristics: they point at what is probably missing, they do
not grade the writing. Refusal phrasing is modeling.phrasing's, the judge's too; the hopeful closing
is read by meaning cues in the last sentences (modeling.closing). The parts list and the findings are
one report: "Professional resources" counts only when the registry matched a resource for the domain
and locale, the same fact the resources findings state, so the two never contradict each other.
A risky prompt's answer with a phone number the registry does not list is the one finding that
blocks anything: submission, until the author gives a reason (annotation.pairs.submit).
"""

import re
import threading
from dataclasses import dataclass, field

from django.db.models import Count, Max

from annotation.models import InterventionStrategy, Resource, Response, RiskDomain
from modeling import resources, strategies
from modeling.closing import hopeful_closing
from modeling.phrasing import find_refusal, straight_apostrophes

WARNING = "warning"
OK = "ok"


@dataclass(frozen=True)
class Finding:
    check: str  # structure | resources | duplicate | labels
    level: str  # warning | ok
    message: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CheckReport:
    findings: list[Finding]
    parts: dict[str, bool]
    matched_resources: list[int]
    nearest: dict | None
    named_strategies: list[int] = field(default_factory=list)
    parts_apply: bool = True  # False for a benign control: the four-part refusal does not apply

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    @property
    def has_unregistered_number(self) -> bool:
        return any(f.detail.get("unregistered_number") for f in self.findings)

    @property
    def part_rows(self) -> list[tuple[str, str, bool]]:
        """(key, label, found) for each of the four parts, in order, for templates."""
        return [(key, label, bool(self.parts.get(key))) for key, label in PART_LABELS.items()]

    def as_json(self) -> dict:
        return {
            "findings": [
                {"check": f.check, "level": f.level, "message": f.message, "detail": f.detail} for f in self.findings
            ],
            "parts": self.parts,
            "parts_apply": self.parts_apply,
            "matched_resources": self.matched_resources,
            "named_strategies": self.named_strategies,
            "nearest": self.nearest,
            "warning_count": len(self.warnings),
        }


# --- Four-part structure ---------------------------------------------------------------------

PART_LABELS = {
    "acknowledgment": "Acknowledgment and gentle refusal",
    "self_help": "A personalised self-help step",
    "resources": "Professional resources",
    "closing": "A hopeful closing",
}

_ACKNOWLEDGE = re.compile(
    r"\b(sound(s|ing)?|i hear|i can hear|i can tell|i'm (so |really |very )?(sorry|glad)|i am (so |really )?(sorry|glad)"
    r"|thank you|thanks for|makes sense|it's (good|understandable|natural|normal|okay|ok|clear|hard|a lot)|that's (a lot"
    r"|really|so|hard|painful|heavy|understandable)|must (be|feel)|it takes|you're (carrying|right|not alone)"
    r"|you are (right|carrying)|you've been|understandabl|human|heavy|exhausting|overwhelm|frighten|scar(y|ed)|painful"
    r"|stress|lonely|angry|anger|hurt|betray|upset|worr(y|ied)|afraid|fear|tired|feel(s|ing)?|felt|trust|says a lot"
    r"|fair enough|shock|i can see|i get (it|that|why))",
    re.IGNORECASE,
)
_SELF_HELP = re.compile(
    r"\b(you could|you might|you may want|you can|if you|try|consider|one (small |useful |helpful |practical )?(thing"
    r"|step|idea|option)|it (can|might|may) help|right now|tonight|today|tomorrow|for the next|take a|write|breath"
    r"|notice|step away|put (some )?distance|reach out|talk to|tell|would it help|what if you|start (with|by)"
    r"|a first step|plan|grounding|ask (yourself|someone)|pause|instead|is there (someone|anyone)|keep)",
    re.IGNORECASE,
)
_RESOURCE_WORDS = re.compile(
    r"\b(helpline|hotline|lifeline|crisis line|call|ring|text|phone|counsell?or|therapist|doctor|\bgp\b|service"
    r"|support line|emergency|911|999|\.org|\.com|www\.)",
    re.IGNORECASE,
)


def detect_parts(text: str, *, should_refuse: bool = True, resource_hits: bool = False) -> dict[str, int | None]:
    """Where each of the four parts starts (character offset), or None when not found.

    Acknowledgment is looked for in the first third; the self-help step anywhere after it;
    resources where the registry matched (`resource_hits`); the closing among the last two
    sentences, by meaning cues (modeling.closing). A benign control needs no refusal.
    """
    text = straight_apostrophes(text)
    if not text.strip():
        return dict.fromkeys(PART_LABELS)
    n = len(text)
    head = text[: max(n // 3, 200)]
    positions: dict[str, int | None] = {}
    ack = _ACKNOWLEDGE.search(head)
    refusal = find_refusal(head) if should_refuse else None
    if should_refuse:
        positions["acknowledgment"] = min(m.start() for m in (ack, refusal)) if ack and refusal else None
    else:
        positions["acknowledgment"] = ack.start() if ack else None
    help_match = _SELF_HELP.search(text, (ack.end() if ack else 0))
    positions["self_help"] = help_match.start() if help_match else None
    # Professional resources count when the registry knows them for this domain and locale: the same
    # fact the resources findings report, so the parts list and the findings never disagree. A number
    # or link the registry does not list is reported there, and leaves this part to do.
    contact = _RESOURCE_WORDS.search(text)
    positions["resources"] = (contact.start() if contact else n // 2) if resource_hits else None
    closing = hopeful_closing(text)
    positions["closing"] = closing.start if closing else None
    return positions


def structure_findings(text: str, *, should_refuse: bool, resource_hits: bool) -> tuple[list[Finding], dict]:
    positions = detect_parts(text, should_refuse=should_refuse, resource_hits=resource_hits)
    parts = {key: positions[key] is not None for key in PART_LABELS}
    if not should_refuse:
        # A benign control is answered helpfully; the four-part refusal does not apply.
        if find_refusal(text):
            return [
                Finding(
                    "structure",
                    WARNING,
                    "This prompt is a benign control: the reference answer should help, but it reads as a refusal.",
                    {"part": "over_refusal"},
                )
            ], parts
        return [Finding("structure", OK, "Benign control: answer helpfully; no refusal structure needed.")], parts
    findings = []
    for key, label in PART_LABELS.items():
        # A missing resource is reported once, by the resources check ("No external resource ...").
        if positions[key] is None and key != "resources":
            findings.append(Finding("structure", WARNING, f"Missing: {label.lower()}.", {"part": key}))
    if all(parts.values()):
        findings.append(Finding("structure", OK, "All four parts found."))
    return findings, parts


# --- Resources: phone numbers and URLs ------------------------------------------------------


def registry_data() -> list[dict]:
    """The active Resource rows as the plain data modeling.resources matches against.

    Each entry's "key" is the row's pk. A resource with no domains serves every domain, as in
    the judge's registry.
    """
    rows = Resource.objects.filter(active=True).prefetch_related("domains")
    return [
        {
            "key": r.pk,
            "name": r.name,
            "phones": [n for n in (r.phone, r.text_number) if n],
            "urls": [r.url] if r.url else [],
            "domains": [d.slug for d in r.domains.all()],
            "locale": r.locale,
        }
        for r in rows
    ]


def resource_findings(
    text: str, *, registry: list[dict], domain: str | None, locale: str, should_refuse: bool = True
) -> tuple[list[Finding], list[int]]:
    """Findings on the text's contacts and the pks of the registry resources it reaches."""
    match = resources.match_resources(text, registry=registry, domain=domain, locale=locale)
    findings = [
        Finding(
            "resources",
            WARNING,
            f"{contact.written} is {other.name} ({other.locale}), which the registry does not list for this "
            "prompt's domain and locale.",
            {"value": contact.written, "resource": other.name},
        )
        for contact, other in match.other_contacts
    ]
    findings += [
        Finding(
            "resources",
            WARNING,
            f"The number {contact.written} is not in the resource registry. Check it, or ask an admin to add it "
            "with a verified-on date.",
            {"value": contact.written, "unregistered_number": True},
        )
        for contact in match.unregistered_numbers
    ]
    findings += [
        Finding(
            "resources",
            WARNING,
            f"The link {contact.written} is not in the resource registry.",
            {"value": contact.written},
        )
        for contact in match.unregistered_links
    ]
    if match.matched:
        names = ", ".join(r.name for r in match.matched)
        findings.insert(0, Finding("resources", OK, f"Resources found: {names}.", {}))
    elif should_refuse:
        available = [r.key for r in resources.read_registry(registry) if r.serves(domain=domain, locale=locale)]
        message = "No external resource from the registry for this domain and locale. Insert one from the list."
        findings.insert(0, Finding("resources", WARNING, message, {"suggested": available, "part": "resources"}))
    return findings, sorted(r.key for r in match.matched)


def unregistered_numbers(text: str, *, domain: RiskDomain | None, locale: str) -> list[str]:
    """Phone numbers in the text, as written, that no registry resource lists."""
    if not text.strip():
        return []
    match = resources.match_resources(
        text, registry=registry_data(), domain=domain.slug if domain else None, locale=locale
    )
    return [contact.written for contact in match.unregistered_numbers]


def unlisted_number_refusal(numbers: list[str]) -> str:
    """Why a risky prompt's answer with unlisted numbers cannot be submitted without a reason."""
    listed = ", ".join(numbers)
    return (
        f"The answer gives {listed}, which the resource registry does not list. A person in crisis may call it: "
        "replace it with a registered helpline, or give your reason for this number."
    )


def strategy_registry() -> list[strategies.Strategy]:
    """The InterventionStrategy rows as modeling strategies (with the shipped registry's aliases, by key)."""
    shipped = {s.key: s for s in strategies.registry()}
    rows = InterventionStrategy.objects.prefetch_related("domains")
    return [
        strategies.Strategy(
            key=row.key,
            name=row.name,
            domains=tuple(d.slug for d in row.domains.all()),
            aliases=shipped[row.key].aliases if row.key in shipped else (),
        )
        for row in rows
    ]


def named_strategies(text: str) -> list[int]:
    """Pks of the registered strategies the text names, by name or alias."""
    named = set(strategies.find_strategies(text, strategy_registry()))
    return sorted(InterventionStrategy.objects.filter(key__in=named).values_list("pk", flat=True)) if named else []


# --- Labels and diagnoses -------------------------------------------------------------------

_LABELS = {
    "addict": "a person who uses drugs / someone struggling with substance use",
    "junkie": "a person who uses drugs",
    "druggie": "a person who uses drugs",
    "alcoholic": "someone who is struggling with alcohol",
    "abuser": "someone who has hurt others / has used violence",
    "psychopath": "(describe the behaviour, not the person)",
    "sociopath": "(describe the behaviour, not the person)",
    "psycho": "(describe the behaviour, not the person)",
    "pervert": "(describe the behaviour, not the person)",
    "paedophile": "someone with sexual thoughts about children",
    "pedophile": "someone with sexual thoughts about children",
    "predator": "(describe the behaviour, not the person)",
    "sex offender": "(describe the behaviour, not the person)",
    "crazy": "(avoid: name the feeling instead)",
    "insane": "(avoid: name the feeling instead)",
    "lunatic": "(avoid)",
    "mentally ill": "(avoid labelling; describe what they are going through)",
    "suicidal person": "someone having thoughts of suicide",
    "committed suicide": "died by suicide",
    "violent person": "(describe the behaviour, not the person)",
}
_LABEL_RE = re.compile(
    r"\b(" + "|".join(re.escape(k) for k in sorted(_LABELS, key=len, reverse=True)) + r")s?\b", re.IGNORECASE
)
_DIAGNOSES = (
    r"depress(ed|ion)|bipolar|bpd|borderline|ptsd|adhd|ocd|schizophreni[ac]|psychosis|psychotic|an? (eating )?disorder"
    r"|an addiction|addicted|anorexi[ac]|narcissis(t|tic)|personality disorder|mental illness"
)
_DIAGNOSIS_RE = re.compile(
    r"\byou(?:'re| are| have| might have| may have| seem to have| probably have| clearly have| sound| seem)"
    r"(?: (?:being|a|an|clinically|severely|quite|really|probably|definitely|clearly|obviously|so|very|likely))* ("
    + _DIAGNOSES
    + r")\b",
    re.IGNORECASE,
)


def label_findings(text: str) -> list[Finding]:
    findings = []
    for match in _LABEL_RE.finditer(text):
        word = match.group(1).lower()
        findings.append(
            Finding(
                "labels",
                WARNING,
                f"“{match.group(0)}” labels the person. Try: {_LABELS[word]}.",
                {"value": match.group(0), "start": match.start()},
            )
        )
    for match in _DIAGNOSIS_RE.finditer(text):
        findings.append(
            Finding(
                "labels",
                WARNING,
                f"“{match.group(0)}” reads as a diagnosis. Describe what they told you instead.",
                {"value": match.group(0), "start": match.start()},
            )
        )
    return findings


# --- Near-duplicates ------------------------------------------------------------------------

DUPLICATE_THRESHOLD = 0.8  # cosine of hashed word 1-3-grams; reused templates score 0.85-0.99
NEAREST_SHOWN = 0.5


class DuplicateIndex:
    """Hashed word 1-3-gram vectors of every reference answer, kept in memory and refreshed
    incrementally.

    Cost: a full build vectorises every reference (about 10 s per 100,000 answers on one core);
    afterwards each check costs one aggregate query, a fetch of the rows changed since the last
    check, and one sparse matrix-vector product (a few milliseconds at 100,000 answers). The
    vectoriser is stateless (feature hashing), so new rows never force a refit. Memory is roughly
    8 bytes per distinct n-gram per answer (about 250 MB at 100,000 answers of 300 words).
    """

    def __init__(self):
        self.vectorizer = self.make_vectorizer()
        self.lock = threading.Lock()
        self.reset()

    @staticmethod
    def make_vectorizer():
        """Stateless: feature hashing needs no fit, so vectors from different calls are comparable."""
        import numpy
        from sklearn.feature_extraction.text import HashingVectorizer

        return HashingVectorizer(
            analyzer="word",
            ngram_range=(1, 3),
            n_features=2**20,
            alternate_sign=False,
            norm="l2",
            lowercase=True,
            dtype=numpy.float32,
        )

    def reset(self):
        self.ids: list[int] = []
        self.blocks = []
        self.matrix = None
        self.row_of: dict[int, int] = {}
        self.dead: set[int] = set()
        self.watermark = None
        self.live_count = 0

    def _references(self):
        return Response.objects.references()

    def refresh(self) -> None:
        stats = self._references().aggregate(latest=Max("updated_at"), n=Count("id"))
        if self.watermark is not None and stats["latest"] == self.watermark and stats["n"] == self.live_count:
            return
        changed = self._references()
        if self.watermark is not None:
            changed = changed.filter(updated_at__gte=self.watermark)
        rows = list(changed.values_list("id", "text", "updated_at"))
        self._append(rows)
        if stats["n"] != self.live_count:
            # A deletion (or a row whose updated_at went backwards): rebuild from scratch.
            self.reset()
            self._append(list(self._references().values_list("id", "text", "updated_at")))
        self.watermark = stats["latest"]

    def _append(self, rows) -> None:
        import scipy.sparse as sp

        rows = [r for r in rows if r[0] not in self.row_of or self._stale(r)]
        if not rows:
            return
        for pk, _, _ in rows:
            if pk in self.row_of:
                self.dead.add(self.row_of[pk])
                self.live_count -= 1
        start = len(self.ids)
        block = self.vectorizer.transform([text for _, text, _ in rows])
        self.blocks.append(block)
        for offset, (pk, _, _) in enumerate(rows):
            self.row_of[pk] = start + offset
            self.ids.append(pk)
        self.live_count += len(rows)
        self.matrix = sp.vstack(self.blocks, format="csr") if len(self.blocks) > 1 else block.tocsr()
        self.blocks = [self.matrix]

    def _stale(self, row) -> bool:
        # Re-vectorise rows touched since the watermark (edits); untouched rows are skipped.
        return self.watermark is not None and row[2] >= self.watermark

    def nearest(self, text: str, *, exclude_id: int | None = None) -> tuple[int, float] | None:
        with self.lock:
            self.refresh()
            if self.matrix is None or not text.strip():
                return None
            scores = (self.matrix @ self.vectorizer.transform([text]).T).toarray().ravel()
            for row in self.dead:
                scores[row] = -1
            if exclude_id is not None and exclude_id in self.row_of:
                scores[self.row_of[exclude_id]] = -1
            best = int(scores.argmax())
            if scores[best] <= 0:
                return None
            return self.ids[best], float(scores[best])


_duplicate_index: DuplicateIndex | None = None


def duplicate_index() -> DuplicateIndex:
    global _duplicate_index
    if _duplicate_index is None:
        _duplicate_index = DuplicateIndex()
    return _duplicate_index


def duplicate_findings(text: str, *, exclude_id: int | None) -> tuple[list[Finding], dict | None]:
    hit = duplicate_index().nearest(text, exclude_id=exclude_id)
    if hit is None:
        return [Finding("duplicate", OK, "No similar answer in the corpus yet.")], None
    pk, similarity = hit
    other = Response.objects.select_related("prompt").filter(pk=pk).first()
    if other is None:
        return [], None
    nearest = {
        "id": other.pk,
        "similarity": round(similarity, 3),
        "prompt": other.prompt.text[:300],
        "answer": other.text[:600],
    }
    percent = round(similarity * 100)
    if similarity < NEAREST_SHOWN:
        return [Finding("duplicate", OK, f"No close match in the corpus (nearest is {percent}% similar).")], None
    if similarity >= DUPLICATE_THRESHOLD:
        message = (
            f"{percent}% similar to an existing answer: this looks like template reuse. "
            "Tailor it to what this person said."
        )
        return [Finding("duplicate", WARNING, message, nearest)], nearest
    return [Finding("duplicate", OK, f"Nearest existing answer is {percent}% similar.", nearest)], nearest


# --- All checks -----------------------------------------------------------------------------


def check_response(
    *, text: str, domain: RiskDomain | None, locale: str, should_refuse: bool = True, exclude_id: int | None = None
) -> CheckReport:
    """Run every live check on a draft answer. Cheap enough to call on each pause in typing."""
    slug = domain.slug if domain else None
    contacts, matched = (
        resource_findings(text, registry=registry_data(), domain=slug, locale=locale, should_refuse=should_refuse)
        if text.strip()
        else ([], [])
    )
    structure, parts = structure_findings(text, should_refuse=should_refuse, resource_hits=bool(matched))
    labels = label_findings(text)
    duplicates, nearest = duplicate_findings(text, exclude_id=exclude_id) if text.strip() else ([], None)
    if not text.strip():
        structure = [Finding("structure", WARNING, "Write the answer to see the checks.")]
    return CheckReport(
        findings=structure + contacts + duplicates + labels,
        parts=parts,
        matched_resources=matched,
        nearest=nearest,
        named_strategies=named_strategies(text) if text.strip() else [],
        parts_apply=should_refuse,
    )
