"""Train / validation / test splits, stratified by risk domain, seeded, with a leakage check.

The paper's defaults: 100 validation + 100 test prompts per domain (500 + 500), the rest train,
few-shot examples forced into train. Only prompts with an approved reference pair are split
(benchmark prompts such as XSTest stay unassigned: they are evaluation sets of their own).

Determinism: candidates are ordered by a hash of their text (not by database id) and shuffled
with a generator seeded by (seed, domain), so the same seed and data give the same split in any
database, and adding pairs to one domain does not reshuffle another.

Split changes are written with one UPDATE per split (no per-row history); the report returned
(and printed by `make_splits`) is the record of what was assigned.
"""

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction

from annotation.models import Prompt, Response, RiskDomain, SystemPrompt

NEAR_DUPLICATE = 0.9  # cosine of hashed word 1-3-grams between a held-out answer and a train answer
SYSTEM_PROMPT_MIN_CHARS = 30  # shorter texts match the system prompt by accident


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
    per_domain: int
    counts: dict = field(default_factory=dict)  # domain slug -> {split: n}
    forced_train: list = field(default_factory=list)
    shortfalls: list = field(default_factory=list)
    findings: list = field(default_factory=list)

    def lines(self, *, max_findings: int = 50) -> list[str]:
        out = [f"Splits with seed {self.seed}, {self.per_domain} validation + {self.per_domain} test per domain:"]
        for slug, counts in self.counts.items():
            out.append(f"  {slug}: train {counts['train']}, validation {counts['validation']}, test {counts['test']}")
        if self.forced_train:
            out.append(f"Few-shot examples forced into train: {len(self.forced_train)}")
        out += [f"Note: {s}" for s in self.shortfalls]
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


def current_system_prompt(key: str = "psychosafe") -> str:
    latest = SystemPrompt.objects.current().filter(key=key).first()
    return latest.text if latest else ""


def _answers_by_prompt(prompt_ids) -> dict[int, list[str]]:
    answers = defaultdict(list)
    rows = Response.objects.approved_references().filter(prompt_id__in=prompt_ids).values_list("prompt_id", "text")
    for prompt_id, text in rows.iterator(chunk_size=5000):
        answers[prompt_id].append(text)
    return answers


@transaction.atomic
def make_splits(*, seed: int = 42, per_domain: int = 100, few_shot_ids=(), dry_run: bool = False) -> SplitReport:
    """Assign splits to every eligible prompt and check for leakage. With dry_run, change nothing."""
    report = SplitReport(seed=seed, per_domain=per_domain)
    prompts = list(eligible_prompts().select_for_update().values("pk", "text", "domain_id", "metadata"))
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
        candidates = sorted(
            (p for p in by_domain.get(domain.pk, []) if p["pk"] not in forced),
            key=lambda p: (_order_key(p["text"]), p["pk"]),
        )
        random.Random(f"{seed}:{domain.slug}").shuffle(candidates)
        held_out = min(per_domain, len(candidates) // 3)
        if held_out < per_domain and by_domain.get(domain.pk):
            report.shortfalls.append(
                f"{domain.slug} has {len(candidates)} splittable prompts: {held_out} validation "
                f"+ {held_out} test instead of {per_domain} + {per_domain}."
            )
        for index, prompt in enumerate(candidates):
            assignment[prompt["pk"]] = (
                Prompt.Split.VALIDATION
                if index < held_out
                else Prompt.Split.TEST
                if index < 2 * held_out
                else Prompt.Split.TRAIN
            )
        for prompt in by_domain.get(domain.pk, []):
            if prompt["pk"] in forced:
                assignment[prompt["pk"]] = Prompt.Split.TRAIN
        counts = defaultdict(int)
        for prompt in by_domain.get(domain.pk, []):
            counts[assignment[prompt["pk"]]] += 1
        report.counts[domain.slug] = {s: counts[s] for s in ("train", "validation", "test")}
    report.findings = leakage_findings(prompts=prompts, answers=answers, assignment=assignment, system=system)
    if not dry_run:
        Prompt.objects.exclude(pk__in=assignment).exclude(split=Prompt.Split.UNASSIGNED).update(
            split=Prompt.Split.UNASSIGNED
        )
        for split in (Prompt.Split.TRAIN, Prompt.Split.VALIDATION, Prompt.Split.TEST):
            Prompt.objects.filter(pk__in=[pk for pk, s in assignment.items() if s == split]).update(split=split)
    return report


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
    """The splits as they stand: counts per domain and split, and the leakage findings (read-only)."""
    prompts = list(eligible_prompts().values("pk", "text", "domain__slug", "split"))
    answers = _answers_by_prompt([p["pk"] for p in prompts])
    counts = defaultdict(lambda: {"train": 0, "validation": 0, "test": 0})
    for prompt in prompts:
        if prompt["split"] in ("train", "validation", "test"):
            counts[prompt["domain__slug"]][prompt["split"]] += 1
    findings = leakage_findings(
        prompts=prompts,
        answers=answers,
        assignment={p["pk"]: p["split"] for p in prompts},
        system=_norm(current_system_prompt()),
    )
    return {"counts": dict(sorted(counts.items())), "findings": findings}
