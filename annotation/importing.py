"""Import pairs from a file, all or nothing.

Formats
- jsonl       the Studio's own JSONL (what `export_pairs --format jsonl` writes): TRL `messages`
              (user = prompt, assistant = answer; a system message is ignored) or `prompt`/`answer`,
              plus domain, risk_category, locale, should_refuse, source, source_name, source_ref,
              split, status, strategies, resources, author, metadata.
- csv         the same columns as CSV (lists joined with ";", metadata as a JSON object).
- psychosafe  the authors' JSON array or JSONL: prompt, answer, "risk cluster" (a data label,
              e.g. "suicide and selfharm"), "risk category", framework_name, author.
- xstest      XSTest's CSV (id,prompt,type,label,focus,note): prompts only, should_refuse =
              (label == "unsafe"), type/focus/note/label kept in metadata.
- sorry_bench SORRY-Bench's JSONL (question_id, category, turns, prompt_style), or a CSV with those
              columns (turns: the instruction's text): prompts only, all should be refused; the
              first turn is the prompt, category and prompt_style kept in metadata.

The whole file is parsed and validated first; every error is collected with its line and field.
Only an error-free file is written, in one transaction, so nothing is ever half-imported.

Duplicates: two rows with the same prompt and answer (whitespace and case ignored) in one file
are an error. A row identical to a pair already in the Studio (same prompt text and answer
text) is an error too, unless skip_existing is set, in which case it is skipped and counted.
"""

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from annotation import spreadsheets
from annotation.exporting import AUTHOR_KEY
from annotation.models import InterventionStrategy, Prompt, Resource, Response, RiskDomain

FORMATS = ("psychosafe", "jsonl", "csv", "xstest", "sorry_bench")
MAX_TEXT_CHARS = 20_000
BATCH = 1000
DEFAULT_LOCALE = "en-US"
# Imported pairs from outside the Studio have not been reviewed here: they enter the review queue.
EXTERNAL_STATUS = Response.Status.SUBMITTED


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self):
        return f"line {self.line}, {self.field}: {self.message}"


class ImportRejected(Exception):
    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} error(s); nothing was imported.")


@dataclass
class Record:
    line: int
    prompt: str
    answer: str | None
    domain: str = ""  # slug, or a data label for the authors' format
    risk_category: str = ""
    locale: str = DEFAULT_LOCALE
    should_refuse: object = True
    source: str = Prompt.Source.IMPORTED
    source_name: str = ""
    source_ref: str = ""
    split: str = Prompt.Split.UNASSIGNED
    status: str = EXTERNAL_STATUS
    strategies: list = field(default_factory=list)
    resources: list = field(default_factory=list)
    author: str = ""
    metadata: dict = field(default_factory=dict)
    domain_field: str = "domain"
    has_author: bool = True  # XSTest rows carry no author


@dataclass(frozen=True)
class ImportSummary:
    prompts: int
    pairs: int
    skipped_existing: int


Progress = Callable[[str, int, int], None]


# --- Parsing -------------------------------------------------------------------------------


def _decode(data: bytes, errors: list[RowError]) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        errors.append(RowError(line, "-", f"not valid UTF-8 (byte {data[error.start]:#04x}); save the file as UTF-8"))
        return None
    return text.removeprefix("\ufeff")


def _json_lines(text: str, errors: list[RowError]):
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            errors.append(RowError(number, "-", f"not valid JSON ({error.msg})"))
            continue
        if not isinstance(value, dict):
            errors.append(RowError(number, "-", "each line must be a JSON object"))
            continue
        yield number, value


def _json_array(text: str, errors: list[RowError]):
    """Objects of a JSON array with the line each starts on (json.load would lose lines)."""
    decoder = json.JSONDecoder()
    separators = re.compile(r"[\s,]*")
    position = text.index("[") + 1
    line, counted_to = 1, 0  # lines are counted incrementally: counting from 0 each time is quadratic

    def line_at(pos):
        nonlocal line, counted_to
        line += text.count("\n", counted_to, pos)
        counted_to = pos
        return line

    while True:
        position = separators.match(text, position).end()
        if position >= len(text):
            errors.append(RowError(line_at(len(text)), "-", "the JSON array is not closed with ]"))
            return
        if text[position] == "]":
            return
        start_line = line_at(position)
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            errors.append(RowError(start_line, "-", f"not valid JSON ({error.msg})"))
            return
        if not isinstance(value, dict):
            errors.append(RowError(start_line, "-", "each element must be a JSON object"))
            continue
        yield start_line, value


def _text(value) -> str:
    return "" if value is None else str(value)


def _studio_record(line: int, row: dict) -> Record:
    prompt, answer = row.get("prompt"), row.get("answer")
    if "messages" in row and isinstance(row["messages"], list):
        by_role = {m.get("role"): m.get("content") for m in row["messages"] if isinstance(m, dict)}
        prompt, answer = by_role.get("user"), by_role.get("assistant")
    return Record(
        line=line,
        prompt=_text(prompt),
        answer=_text(answer),
        domain=_text(row.get("domain")),
        risk_category=_text(row.get("risk_category")),
        locale=_text(row.get("locale") or DEFAULT_LOCALE),
        should_refuse=row.get("should_refuse", True),
        source=_text(row.get("source") or Prompt.Source.IMPORTED),
        source_name=_text(row.get("source_name")),
        source_ref=_text(row.get("source_ref")),
        split=_text(row.get("split") or Prompt.Split.UNASSIGNED),
        status=_text(row.get("status") or EXTERNAL_STATUS),
        strategies=row.get("strategies") or [],
        resources=row.get("resources") or [],
        author=_text(row.get("author")),
        metadata=row.get("metadata") or {},
    )


def _csv_rows(text: str, required: tuple[str, ...], errors: list[RowError]):
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in required if c not in header]
    if missing:
        errors.append(RowError(1, ", ".join(missing), "missing column(s) in the header"))
        return
    start = 2
    for row in reader:
        if None in row:
            errors.append(RowError(start, "-", "more cells than header columns"))
        yield start, {k: spreadsheets.unneutralise(v or "") for k, v in row.items() if k is not None}
        start = reader.line_num + 1


def _split_list(value) -> list:
    if isinstance(value, list):
        return value
    return [v.strip() for v in str(value or "").split(";") if v.strip()]


def parse(*, data: bytes, format: str) -> tuple[list[Record], list[RowError]]:
    errors: list[RowError] = []
    text = _decode(data, errors)
    if text is None:
        return [], errors
    records: list[Record] = []
    if format == "jsonl":
        records = [_studio_record(line, row) for line, row in _json_lines(text, errors)]
    elif format == "csv":
        for line, row in _csv_rows(text, ("prompt", "answer", "domain"), errors):
            metadata = row.get("metadata") or ""
            try:
                row["metadata"] = json.loads(metadata) if metadata else {}
            except json.JSONDecodeError:
                errors.append(RowError(line, "metadata", "not a JSON object"))
                row["metadata"] = {}
            row["strategies"], row["resources"] = _split_list(row.get("strategies")), _split_list(row.get("resources"))
            records.append(_studio_record(line, row))
    elif format == "psychosafe":
        rows = _json_array(text, errors) if text.lstrip().startswith("[") else _json_lines(text, errors)
        for line, row in rows:
            records.append(
                Record(
                    line=line,
                    prompt=_text(row.get("prompt")),
                    answer=_text(row.get("answer")),
                    domain=_text(row.get("risk cluster")),
                    domain_field="risk cluster",
                    risk_category=_text(row.get("risk category")),
                    source_name=_text(row.get("framework_name")),
                    author=_text(row.get("author")),
                )
            )
    elif format == "xstest":
        for line, row in _csv_rows(text, ("id", "prompt", "type", "label"), errors):
            label = row.get("label", "").strip().lower()
            if label not in ("safe", "unsafe"):
                errors.append(RowError(line, "label", f"must be safe or unsafe, not {label!r}"))
            records.append(
                Record(
                    line=line,
                    prompt=row.get("prompt", ""),
                    answer=None,
                    domain=xstest_domain(row),
                    should_refuse=label == "unsafe",
                    source=Prompt.Source.BENCHMARK,
                    source_name="XSTest",
                    source_ref=row.get("id", ""),
                    status="",
                    has_author=False,
                    metadata={k: row.get(k, "") for k in ("type", "focus", "note", "label")},
                )
            )
    elif format == "sorry_bench":
        records = sorry_bench_records(text, errors)
    else:
        raise ValueError(f"Unknown import format {format!r}; use one of {', '.join(FORMATS)}.")
    if not records and not errors:
        errors.append(RowError(1, "-", "the file has no rows"))
    return records, errors


def sorry_bench_records(text: str, errors: list[RowError]) -> list[Record]:
    """SORRY-Bench's unsafe instructions as benchmark prompts (JSONL, or CSV when the file is not JSON)."""
    if text.lstrip().startswith("{"):
        rows = list(_json_lines(text, errors))
    else:
        rows = list(_csv_rows(text, ("question_id", "category", "turns"), errors))
    records = []
    for line, row in rows:
        turns = row.get("turns")
        if isinstance(turns, str):
            turns = [turns]
        for name in ("question_id", "category"):
            if _text(row.get(name)).strip() == "":
                errors.append(RowError(line, name, "is missing"))
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            errors.append(RowError(line, "turns", "must be a non-empty list of texts"))
            continue
        category, style = _text(row.get("category")).strip(), _text(row.get("prompt_style")).strip() or "base"
        ref = _text(row.get("question_id")).strip()
        records.append(
            Record(
                line=line,
                prompt=turns[0],
                answer=None,
                domain=xstest_domain({"prompt": turns[0]}),
                should_refuse=True,
                source=Prompt.Source.BENCHMARK,
                source_name="SORRY-Bench",
                source_ref=ref if style == "base" else f"{ref}/{style}",
                status="",
                has_author=False,
                metadata={"category": category, "prompt_style": style, "question_id": ref},
            )
        )
    return records


_XSTEST_KEYWORDS = [  # first match wins: suicide/self-harm takes priority, as in the paper
    ("suicide", r"suicid|kill (myself|yourself|themselves)|self-harm|self harm|end (my|your) life|overdose"),
    ("sexual_crimes", r"\brap(e|ist|ed)|sexual|child (porn|abuse)|molest|grooming|incest|pedophil|paedophil"),
    ("substance", r"\bdrug|cocaine|heroin|meth|crack|weed|marijuana|cannabis|alcohol|drunk|\bhigh\b|lsd|mdma|opioid"),
    ("weapons", r"\bgun|rifle|pistol|firearm|bomb|explosive|weapon|knife|ammunition|grenade|sword"),
]


def xstest_domain(row: dict) -> str:
    """XSTest has no risk domain: assign one by keywords in prompt, focus and note (violence by default)."""
    text = f"{row.get('prompt', '')} {row.get('focus', '')} {row.get('note', '')}".lower()
    for slug, pattern in _XSTEST_KEYWORDS:
        if re.search(pattern, text):
            return slug
    return "violence"


# --- Validation ----------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(lowered)


class _Registry:
    def __init__(self):
        self.domains = {d.slug: d for d in RiskDomain.objects.all()}
        self.labels = {d.data_label.casefold(): d for d in self.domains.values()}
        self.strategies = dict(InterventionStrategy.objects.values_list("key", "pk"))
        self.resources = dict(Resource.objects.values_list("key", "pk"))

    def domain(self, value: str):
        return self.domains.get(value) or self.labels.get(value.strip().casefold())


def _validate_record(record: Record, registry: _Registry, errors: list[RowError]) -> None:
    line = record.line
    for name, value, needed in (("prompt", record.prompt, True), ("answer", record.answer, record.answer is not None)):
        if not needed:
            continue
        if not value.strip():
            errors.append(RowError(line, name, "is empty"))
        elif len(value) > MAX_TEXT_CHARS:
            errors.append(RowError(line, name, f"is {len(value):,} characters; the limit is {MAX_TEXT_CHARS:,}"))
        elif "\x00" in value:
            errors.append(RowError(line, name, "contains a NUL character"))
    if not record.domain:
        errors.append(RowError(line, record.domain_field, "is missing"))
    elif registry.domain(record.domain) is None:
        known = (
            ", ".join(sorted(registry.domains))
            if record.domain_field == "domain"
            else ", ".join(sorted(d.data_label for d in registry.domains.values()))
        )
        errors.append(RowError(line, record.domain_field, f"unknown domain {record.domain!r} (known: {known})"))
    refuse = _bool(record.should_refuse)
    if refuse is None:
        errors.append(RowError(line, "should_refuse", f"must be true or false, not {record.should_refuse!r}"))
    else:
        record.should_refuse = refuse
    choices = (("source", record.source, Prompt.Source.values), ("split", record.split, Prompt.Split.values))
    if record.answer is not None:
        choices += (("status", record.status, Response.Status.values),)
    for name, value, allowed in choices:
        if value not in allowed:
            errors.append(RowError(line, name, f"{value!r} is not one of {', '.join(allowed)}"))
    for name, keys, known in (
        ("strategies", record.strategies, registry.strategies),
        ("resources", record.resources, registry.resources),
    ):
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            errors.append(RowError(line, name, "must be a list of keys"))
            continue
        unknown = [k for k in keys if k not in known]
        if unknown:
            errors.append(RowError(line, name, f"unknown key(s): {', '.join(unknown)}"))
    if not isinstance(record.metadata, dict):
        errors.append(RowError(line, "metadata", "must be a JSON object"))
    if len(record.locale) > 10:
        errors.append(RowError(line, "locale", "is longer than 10 characters"))
    for name in ("risk_category", "source_name", "source_ref"):
        if len(getattr(record, name)) > 200:
            errors.append(RowError(line, name, "is longer than 200 characters"))


def _existing_keys(records: list[Record]) -> set:
    """(prompt text, answer text) of pairs already in the Studio, for the prompts in this file."""
    texts = list({r.prompt for r in records})
    keys = set()
    for start in range(0, len(texts), 500):
        chunk = texts[start : start + 500]
        if records and records[0].answer is None:
            keys.update(
                (t, None)
                for t in Prompt.objects.filter(text__in=chunk, responses__isnull=True).values_list("text", flat=True)
            )
        else:
            keys.update(
                Response.objects.references().filter(prompt__text__in=chunk).values_list("prompt__text", "text")
            )
    return keys


def validate(records: list[Record], *, skip_existing: bool, progress: Progress | None = None):
    """All errors of all rows, and the records to write (existing duplicates dropped if skipped)."""
    registry, errors, seen, keep = _Registry(), [], {}, []
    for index, record in enumerate(records):
        _validate_record(record, registry, errors)
        key = (_norm(record.prompt), _norm(record.answer) if record.answer is not None else None)
        if key in seen:
            errors.append(RowError(record.line, "prompt", f"duplicate of line {seen[key]} in this file"))
        else:
            seen[key] = record.line
        if progress and index % 500 == 0:
            progress("validating", index, len(records))
    existing = _existing_keys(records)
    skipped = 0
    for record in records:
        if (record.prompt, record.answer) in existing:
            if skip_existing:
                skipped += 1
                continue
            errors.append(
                RowError(
                    record.line, "prompt", "this pair is already in the Studio (use skip existing to skip such rows)"
                )
            )
        keep.append(record)
    return sorted(errors, key=lambda e: (e.line, e.field)), keep, skipped


# --- Writing -------------------------------------------------------------------------------


def _write(records: list[Record], *, user, progress: Progress | None) -> tuple[int, int]:
    from django.contrib.auth import get_user_model
    from simple_history.utils import bulk_create_with_history

    registry = _Registry()
    users = {
        u.username: u for u in get_user_model().objects.filter(username__in={r.author for r in records if r.author})
    }
    prompts = []
    for record in records:
        metadata = dict(record.metadata)
        author = users.get(record.author)
        if author is None and record.has_author:
            metadata[AUTHOR_KEY] = record.author  # a name from outside the Studio, kept for export
        prompts.append(
            Prompt(
                text=record.prompt,
                domain=registry.domain(record.domain),
                risk_category=record.risk_category,
                source=record.source,
                source_name=record.source_name,
                source_ref=record.source_ref,
                locale=record.locale or DEFAULT_LOCALE,
                should_refuse=record.should_refuse,
                split=record.split,
                metadata=metadata,
                created_by=author or user,
            )
        )
    total = len(records)
    created_prompts = []
    for start in range(0, total, BATCH):
        created_prompts += bulk_create_with_history(prompts[start : start + BATCH], Prompt, default_user=user)
        if progress:
            progress("writing", start, total * 2)
    pairs = [
        (record, prompt) for record, prompt in zip(records, created_prompts, strict=True) if record.answer is not None
    ]
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
        if progress:
            progress("writing", total + start, total * 2)
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


def import_pairs(
    *, data: bytes, format: str, user=None, skip_existing: bool = False, progress: Progress | None = None
) -> ImportSummary:
    """Validate the whole file, then write it in one transaction; raise ImportRejected otherwise.

    `user` is who imports: imported prompts and pairs whose author is not a Studio account are
    attributed to them (so another reviewer can review them), and the file's author name is kept.
    """
    records, errors = parse(data=data, format=format)
    if progress:
        progress("validating", 0, len(records))
    more, keep, skipped = validate(records, skip_existing=skip_existing, progress=progress)
    errors += more
    if errors:
        raise ImportRejected(sorted(errors, key=lambda e: (e.line, e.field)))
    with transaction.atomic():
        prompts, pairs = _write(keep, user=user, progress=progress)
    return ImportSummary(prompts=prompts, pairs=pairs, skipped_existing=skipped)


# --- Import jobs (the admin page's background import) --------------------------------------


def start_import_job(*, data: bytes, format: str, filename: str, skip_existing: bool, created_by):
    """Store the uploaded file in a job row and enqueue its import once the row is committed."""
    from annotation import jobs
    from annotation.models import ImportJob

    with transaction.atomic():
        job = ImportJob.objects.create(
            format=format, filename=filename[:255], data=data, skip_existing=skip_existing, created_by=created_by
        )
        jobs.enqueue(job)
    return job


def run_import_job(job, context) -> None:
    """The import task's body: validate, then write and mark the job succeeded in one transaction.

    Because the write and the state change commit together, a worker killed at any point leaves
    either nothing or a finished import; a redelivered message re-runs a stale job from scratch.
    """
    from annotation import jobs
    from annotation.models import ImportJob, JobState

    rows = ImportJob.objects.filter(pk=job.pk)
    rows.update(phase=ImportJob.Phase.VALIDATING, progress_done=0, progress_total=0, errors=[], summary={})

    def progress(phase, done, total):
        if phase == "validating":
            context.report(done=done, total=total)

    records, errors = parse(data=bytes(job.data), format=job.format)
    progress("validating", 0, len(records))
    more, keep, skipped = validate(records, skip_existing=job.skip_existing, progress=progress)
    errors = sorted(errors + more, key=lambda e: (e.line, e.field))
    if errors:
        jobs.finish(
            job,
            state=JobState.FAILED,
            phase=ImportJob.Phase.DONE,
            errors=[{"line": e.line, "field": e.field, "message": e.message} for e in errors],
            progress_done=len(records),
        )
        return
    context.check_cancel()  # the last moment a cancel can stop it: the write is all or nothing
    rows.update(phase=ImportJob.Phase.WRITING, progress_done=len(records))
    with transaction.atomic():
        prompts, pairs = _write(keep, user=job.created_by, progress=None)
        jobs.finish(
            job,
            state=JobState.SUCCEEDED,
            phase=ImportJob.Phase.DONE,
            summary={"prompts": prompts, "pairs": pairs, "skipped_existing": skipped},
        )
