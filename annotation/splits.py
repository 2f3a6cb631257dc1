"""Train / validation / test splits, stratified by risk domain, seeded, with a leakage check,
and the policy that places newly approved pairs.

The paper's defaults: 100 validation + 100 test prompts per domain (500 + 500), the rest train,
few-shot examples forced into train. Sizes may differ per domain. Benign controls (prompts that
should not be refused) are mixed with the rest, or, with `benign_per_domain`, held out as their
own stratum: that many benign validation + test prompts per domain, the sizes then counting
the risky prompts only. Only prompts with an approved reference pair are split (benchmark
prompts such as XSTest stay unassigned: they are evaluation sets of their own).

Determinism: candidates are ordered by a hash of their text (not by database id) and shuffled
with a generator seeded by (seed, domain), so the same seed and data give the same split in any
database, and adding pairs to one domain does not reshuffle another.

Every prompt that changes split gets a history row (who, when, why), and each build is kept as
a SplitBuild with its settings and counts.

The policy between builds (`place_approved_pair`): a pair approved after a build goes to train,
unless the splits are frozen; then it waits, unassigned, until an admin unfreezes them (and
adds the waiting pairs to train) or rebuilds. Nothing moves a prompt while the splits are frozen.
"""

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from annotation.models import Prompt, Response, RiskDomain, SplitBuild, SystemPrompt

NEAR_DUPLICATE = 0.9  # cosine of hashed word 1-3-grams between a held-out answer and a train answer
SYSTEM_PROMPT_MIN_CHARS = 30  # shorter texts match the system prompt by accident
SPLITS = ("train", "validation", "test")


class SplitsFrozen(Exception):
    """The splits are frozen: nothing may move a prompt between splits until they are unfrozen."""

    def __init__(self):
        super().__init__("The splits are frozen: unfreeze them before rebuilding or moving prompts.")


@dataclass(frozen=True)
class Finding:
    kind: str  # prompt_in_train | answer_in_train | answer_near_train | in_system_prompt
    split: str
    prompt_id: int
    other_prompt_id: int | None
    detail: str


@dataclass
class SplitReport:
    seed: int
    per_domain: int | dict
    benign_per_domain: int | None = None
    counts: dict = field(default_factory=dict)  # domain slug -> {split: n}
    forced_train: list = field(default_factory=list)
    shortfalls: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    moved: int = 0  # prompts whose split changed (or would change, on a dry run)

    def lines(self, *, max_findings: int = 50) -> list[str]:
        if isinstance(self.per_domain, dict):
            sizes = ", ".join(f"{slug} {n}" for slug, n in self.per_domain.items())
            out = [f"Splits with seed {self.seed}, validation and test prompts per domain: {sizes}:"]
        else:
            out = [f"Splits with seed {self.seed}, {self.per_domain} validation + {self.per_domain} test per domain:"]
        if self.benign_per_domain is not None:
            out.append(f"Benign controls held out per domain: {self.benign_per_domain} validation + test each.")
        for slug, counts in self.counts.items():
            out.append(f"  {slug}: train {counts['train']}, validation {counts['validation']}, test {counts['test']}")
        if self.forced_train:
            out.append(f"Few-shot examples forced into train: {len(self.forced_train)}")
        out += [f"Note: {s}" for s in self.shortfalls]
        out.append(f"Prompts changing split: {self.moved}")
        kinds = defaultdict(int)
        for finding in self.findings:
            kinds[finding.kind] += 1
        out.append(
            f"Leakage check: {len(self.findings)} finding(s)"
            + (": " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) if kinds else ".")
        )
        for finding in self.findings[:max_findings]:
            other = f" (train prompt {finding.other_prompt_id})" if finding.other_prompt_id else ""
            out.append(f"  [{finding.kind}] {finding.split} prompt {finding.prompt_id}{other}: {finding.detail}")
        if len(self.findings) > max_findings:
            out.append(f"  … and {len(self.findings) - max_findings} more")
        return out


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _order_key(text: str) -> str:
    return hashlib.sha256(_norm(text).encode("utf-8")).hexdigest()


def eligible_prompts():
    """Prompts with an approved reference pair, outside benchmark sets."""
    approved = Response.objects.approved_references()
    return Prompt.objects.filter(pk__in=approved.values("prompt_id")).exclude(source=Prompt.Source.BENCHMARK)


def waiting_prompts():
    """Eligible prompts still without a split: approved while the splits were frozen, or given an
    approved pair some other way than the review page (the admin, a database edit)."""
    return eligible_prompts().filter(split=Prompt.Split.UNASSIGNED)


def current_build() -> SplitBuild | None:
    return SplitBuild.objects.current()


def is_frozen() -> bool:
    build = current_build()
    return bool(build and build.frozen)


def where_it_went(prompt_id: int) -> str:
    """Where the split policy put an approved pair's prompt, in a sentence: train, held out, or waiting."""
    split = Prompt.objects.values_list("split", flat=True).get(pk=prompt_id)
    if split == Prompt.Split.TRAIN:
        return "It is in the train split, so the next training run uses it."
    if split == Prompt.Split.UNASSIGNED:
        why = " (the splits are frozen)" if is_frozen() else ""
        return f"It waits without a split{why} until an admin adds it to train on the Splits page."
    return f"Its prompt is held out in the {Prompt.Split(split).label.lower()} split, not trained on."


def current_system_prompt(key: str = "psychosafe") -> str:
    latest = SystemPrompt.objects.current().filter(key=key).first()
    return latest.text if latest else ""


def _answers_by_prompt(prompt_ids) -> dict[int, list[str]]:
    answers = defaultdict(list)
    rows = Response.objects.approved_references().filter(prompt_id__in=prompt_ids).values_list("prompt_id", "text")
    for prompt_id, text in rows.iterator(chunk_size=5000):
        answers[prompt_id].append(text)
    return answers


def _size_for(per_domain, slug: str) -> int:
    return per_domain.get(slug, 0) if isinstance(per_domain, dict) else per_domain


def _deal(candidates, *, seed: str, size: int) -> tuple[dict[int, str], int]:
    """Shuffle one stratum and deal `size` validation + `size` test (at most a third each), the
    rest train. Returns the assignment and the held-out size actually used."""
    ordered = sorted(candidates, key=lambda p: (_order_key(p["text"]), p["pk"]))
    random.Random(seed).shuffle(ordered)
    held_out = min(size, len(ordered) // 3)
    assignment = {}
    for index, prompt in enumerate(ordered):
        assignment[prompt["pk"]] = (
            Prompt.Split.VALIDATION
            if index < held_out
            else Prompt.Split.TEST
            if index < 2 * held_out
            else Prompt.Split.TRAIN
        )
    return assignment, held_out


@transaction.atomic
def make_splits(
    *,
    seed: int = 42,
    per_domain: int | dict = 100,
    benign_per_domain: int | None = None,
    few_shot_ids=(),
    dry_run: bool = False,
    user=None,
) -> SplitReport:
    """Assign splits to every eligible prompt and check for leakage. With dry_run, change nothing.

    `per_domain` is one size for every domain or a size per domain slug (missing slugs: 0).
    Raises SplitsFrozen (unless dry_run) while the splits are frozen.
    """
    if not dry_run:
        build = SplitBuild.objects.select_for_update().order_by("-created_at", "-pk").first()
        if build and build.frozen:
            raise SplitsFrozen()
    report = SplitReport(seed=seed, per_domain=per_domain, benign_per_domain=benign_per_domain)
    prompts = list(
        eligible_prompts().select_for_update().values("pk", "text", "domain_id", "metadata", "should_refuse", "split")
    )
    answers = _answers_by_prompt([p["pk"] for p in prompts])
    system = _norm(current_system_prompt())
    forced = {int(i) for i in few_shot_ids}
    for prompt in prompts:
        texts = [prompt["text"], *answers[prompt["pk"]]]
        in_system = any(len(t) >= SYSTEM_PROMPT_MIN_CHARS and _norm(t) in system for t in texts)
        if in_system or (prompt["metadata"] or {}).get("few_shot"):
            forced.add(prompt["pk"])
    report.forced_train = sorted(forced & {p["pk"] for p in prompts})
    assignment: dict[int, str] = {}
    by_domain = defaultdict(list)
    for prompt in prompts:
        by_domain[prompt["domain_id"]].append(prompt)
    for domain in RiskDomain.objects.order_by("priority", "slug"):
        mine = by_domain.get(domain.pk, [])
        candidates = [p for p in mine if p["pk"] not in forced]
        size = _size_for(per_domain, domain.slug)
        strata = [(candidates, size, f"{seed}:{domain.slug}", "splittable prompts")]
        if benign_per_domain is not None:
            strata = [
                (
                    [p for p in candidates if p["should_refuse"]],
                    size,
                    f"{seed}:{domain.slug}",
                    "splittable risky prompts",
                ),
                (
                    [p for p in candidates if not p["should_refuse"]],
                    benign_per_domain,
                    f"{seed}:{domain.slug}:benign",
                    "splittable benign controls",
                ),
            ]
        for stratum, wanted, stratum_seed, noun in strata:
            dealt, held_out = _deal(stratum, seed=stratum_seed, size=wanted)
            assignment.update(dealt)
            if held_out < wanted and mine:
                report.shortfalls.append(
                    f"{domain.slug} has {len(stratum)} {noun}: {held_out} validation "
                    f"+ {held_out} test instead of {wanted} + {wanted}."
                )
        for prompt in mine:
            if prompt["pk"] in forced:
                assignment[prompt["pk"]] = Prompt.Split.TRAIN
        counts = defaultdict(int)
        for prompt in mine:
            counts[assignment[prompt["pk"]]] += 1
        report.counts[domain.slug] = {s: counts[s] for s in SPLITS}
    report.findings = leakage_findings(prompts=prompts, answers=answers, assignment=assignment, system=system)
    before = {p["pk"]: p["split"] for p in prompts}
    changes = {pk: split for pk, split in assignment.items() if before[pk] != split}
    stale = Prompt.objects.exclude(pk__in=assignment).exclude(split=Prompt.Split.UNASSIGNED)
    report.moved = len(changes) + stale.count()
    if not dry_run:
        changes.update(dict.fromkeys(stale.values_list("pk", flat=True), Prompt.Split.UNASSIGNED))
        _move(changes, user=user, reason=f"Splits rebuilt with seed {seed}")
        SplitBuild.objects.create(
            seed=seed,
            sizes=per_domain
            if isinstance(per_domain, dict)
            else {d.slug: per_domain for d in RiskDomain.objects.order_by("priority", "slug")},
            benign_per_domain=benign_per_domain,
            few_shot_ids=report.forced_train,
            counts=report.counts,
            findings=len(report.findings),
            moved=report.moved,
            created_by=user,
        )
    return report


def _move(changes: dict[int, str], *, user, reason: str) -> None:
    """Set each prompt's split, writing a history row for each (never a bare UPDATE)."""
    if not changes:
        return
    objs = list(Prompt.objects.filter(pk__in=list(changes)).order_by("pk"))
    for prompt in objs:
        prompt.split = changes[prompt.pk]
    bulk_update_with_history(
        objs, Prompt, ["split"], batch_size=1000, default_user=user, default_change_reason=reason[:100]
    )


# --- Between builds: the policy for newly approved pairs, and freezing ----------------------


def place_approved_pair(*, prompt_id: int, user=None) -> str:
    """Where a pair goes when it is approved: its prompt's split if it has one; train if not,
    unless the splits are frozen (or the prompt is a benchmark prompt): then unassigned."""
    prompt = Prompt.objects.select_for_update().get(pk=prompt_id)
    if prompt.split != Prompt.Split.UNASSIGNED or prompt.source == Prompt.Source.BENCHMARK or is_frozen():
        return prompt.split
    _move({prompt.pk: Prompt.Split.TRAIN}, user=user, reason="Approved: new pairs go to train")
    return Prompt.Split.TRAIN


@transaction.atomic
def add_waiting_to_train(*, user=None) -> int:
    """Put every waiting prompt (approved, no split yet) in train; returns how many."""
    build = SplitBuild.objects.select_for_update().order_by("-created_at", "-pk").first()
    if build and build.frozen:
        raise SplitsFrozen()
    ids = list(waiting_prompts().values_list("pk", flat=True))
    _move(dict.fromkeys(ids, Prompt.Split.TRAIN), user=user, reason="Waiting approved pairs added to train")
    return len(ids)


class NoSplitsYet(Exception):
    def __init__(self):
        super().__init__("Build the splits before freezing them.")


@transaction.atomic
def set_frozen(*, frozen: bool, user=None) -> SplitBuild:
    """Freeze (nothing moves a prompt between splits) or unfreeze the current splits."""
    build = SplitBuild.objects.select_for_update().order_by("-created_at", "-pk").first()
    if build is None:
        raise NoSplitsYet()
    build.frozen = frozen
    build.frozen_at = timezone.now() if frozen else None
    build.frozen_by = user if frozen else None
    build._change_reason = "Frozen" if frozen else "Unfrozen"
    build.save()
    return build


def leakage_findings(*, prompts, answers, assignment, system: str) -> list[Finding]:
    """Validation/test prompts or answers that also appear in train (exactly, or as a near-duplicate
    answer: the template reuse the paper's corpus suffered from) or in the system prompt."""
    findings = []
    train_prompts, train_answers = {}, {}
    for prompt in prompts:
        if assignment.get(prompt["pk"]) == Prompt.Split.TRAIN:
            train_prompts.setdefault(_norm(prompt["text"]), prompt["pk"])
            for answer in answers[prompt["pk"]]:
                train_answers.setdefault(_norm(answer), prompt["pk"])
    held_out = [p for p in prompts if assignment.get(p["pk"]) in (Prompt.Split.VALIDATION, Prompt.Split.TEST)]
    near_candidates = []
    for prompt in held_out:
        split = assignment[prompt["pk"]]
        text = _norm(prompt["text"])
        if text in train_prompts:
            findings.append(
                Finding("prompt_in_train", split, prompt["pk"], train_prompts[text], "the same prompt text is in train")
            )
        if len(text) >= SYSTEM_PROMPT_MIN_CHARS and text in system:
            findings.append(
                Finding("in_system_prompt", split, prompt["pk"], None, "prompt appears in the system prompt")
            )
        for answer in answers[prompt["pk"]]:
            normal = _norm(answer)
            if normal in train_answers:
                findings.append(
                    Finding(
                        "answer_in_train",
                        split,
                        prompt["pk"],
                        train_answers[normal],
                        "the same answer text is in train",
                    )
                )
            else:
                near_candidates.append((prompt["pk"], split, answer))
            if len(normal) >= SYSTEM_PROMPT_MIN_CHARS and normal in system:
                findings.append(
                    Finding("in_system_prompt", split, prompt["pk"], None, "answer appears in the system prompt")
                )
    findings += _near_duplicates(near_candidates, train_answers)
    return findings


def _near_duplicates(candidates, train_answers: dict) -> list[Finding]:
    if not candidates or not train_answers:
        return []
    from annotation.checks import DuplicateIndex

    vectorizer = DuplicateIndex.make_vectorizer()
    train_ids = list(train_answers.values())
    train_matrix = vectorizer.transform(list(train_answers))
    held_matrix = vectorizer.transform([answer for _, _, answer in candidates])
    findings = []
    # Row blocks keep the dense similarity slab small (block x n_train floats).
    for start in range(0, held_matrix.shape[0], 512):
        scores = (held_matrix[start : start + 512] @ train_matrix.T).toarray()
        best = scores.argmax(axis=1)
        for offset, column in enumerate(best):
            similarity = scores[offset, column]
            if similarity >= NEAR_DUPLICATE:
                prompt_id, split, _ = candidates[start + offset]
                findings.append(
                    Finding(
                        "answer_near_train",
                        split,
                        prompt_id,
                        train_ids[column],
                        f"answer is {similarity:.0%} similar to a train answer",
                    )
                )
    return findings


def current_split_report() -> dict:
    """The splits as they stand (read-only): counts per domain and split (and of benign controls
    among them), prompts waiting for a split, and the leakage findings."""
    prompts = list(eligible_prompts().values("pk", "text", "domain__slug", "split", "should_refuse"))
    answers = _answers_by_prompt([p["pk"] for p in prompts])
    counts = defaultdict(lambda: {"train": 0, "validation": 0, "test": 0})
    benign = defaultdict(lambda: {"train": 0, "validation": 0, "test": 0})
    waiting = defaultdict(int)
    for prompt in prompts:
        if prompt["split"] in SPLITS:
            counts[prompt["domain__slug"]][prompt["split"]] += 1
            if not prompt["should_refuse"]:
                benign[prompt["domain__slug"]][prompt["split"]] += 1
        else:
            waiting[prompt["domain__slug"]] += 1
    findings = leakage_findings(
        prompts=prompts,
        answers=answers,
        assignment={p["pk"]: p["split"] for p in prompts},
        system=_norm(current_system_prompt()),
    )
    return {
        "counts": dict(sorted(counts.items())),
        "benign": dict(benign),
        "waiting": dict(waiting),
        "findings": findings,
    }
