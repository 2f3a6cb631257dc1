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

The file is read twice, so memory holds the file and a few small keys per row, never every row:
1. check: every record is parsed and validated and every error collected with its line and field
   (any input, however odd — deep nesting, huge numbers or fields, NUL bytes, unpaired surrogates —
   ends as such an error, never as an exception);
2. write, only for an error-free file: the records are parsed again and written in batches in
   one transaction (`annotation.bulk`: COPY on PostgreSQL, multi-row INSERTs on SQLite), with their
   history rows, so nothing is ever half-imported.

Duplicates: two rows with the same prompt and answer (whitespace and case ignored), or with the
same id in their source (source_name + source_ref, e.g. an XSTest id), in one file are an error
naming both lines. A row identical to a pair already in the Studio (same prompt text and answer
text) is an error too, unless skip_existing is set, in which case it is skipped and counted.
"""

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotation import bulk, splits, spreadsheets
from annotation.exporting import AUTHOR_KEY
from annotation.models import InterventionStrategy, Prompt, Resource, Response, RiskDomain

FORMATS = ("psychosafe", "jsonl", "csv", "xstest", "sorry_bench")
MAX_TEXT_CHARS = 20_000
MAX_SHORT_CHARS = 200  # risk_category, source_name, source_ref, author
MAX_METADATA_CHARS = 20_000
MAX_METADATA_DEPTH = 20
BATCH = 2000
# A file up to this many characters keeps its parsed records between the two passes; a larger
# one is read again for the write, so memory stays bounded whatever the file's length.
KEEP_PARSED_CHARS = 32 * 2**20
DEFAULT_LOCALE = "en-US"
# Imported pairs from outside the Studio have not been reviewed here: they enter the review queue.
EXTERNAL_STATUS = Response.Status.SUBMITTED
# Record.columns["metadata"] for formats whose metadata keys are the file's own columns.
METADATA_FROM_COLUMNS = "*"
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")
_SOURCES, _SPLITS, _STATUSES = (tuple(c.values) for c in (Prompt.Source, Prompt.Split, Response.Status))


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
    # The file's name for a field where it differs from the Studio's (the authors' "risk category").
    columns: dict = field(default_factory=dict)

    def column(self, name: str) -> str:
        return self.domain_field if name == "domain" else self.columns.get(name, name)


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


def _json_problem(error: Exception) -> str:
    """Why a JSON value could not be read, for any error the decoder raises."""
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON ({error.msg})"
    if isinstance(error, RecursionError):
        return "not valid JSON here: nested too deeply"
    return f"not valid JSON here: {_shown(str(error))}"  # e.g. a number with more than 4,300 digits


def _loads(raw: str):
    """json.loads; every failure is a ValueError (RecursionError for deep nesting becomes one)."""
    try:
        return json.loads(raw)
    except RecursionError as error:
        raise ValueError(_json_problem(error)) from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(number, line) without splitting the whole text into a list first."""
    number, start = 1, 0
    while start <= len(text):
        end = text.find("\n", start)
        if end == -1:
            end = len(text)
        yield number, text[start:end]
        number, start = number + 1, end + 1


def _json_lines(text: str, errors: list[RowError]):
    for number, raw in _lines(text):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError) as error:
            errors.append(RowError(number, "-", _json_problem(error)))
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
        except (ValueError, RecursionError) as error:
            errors.append(RowError(start_line, "-", _json_problem(error)))
            return  # where the next element starts is unknowable
        if not isinstance(value, dict):
            errors.append(RowError(start_line, "-", "each element must be a JSON object"))
            continue
        yield start_line, value


def _text(value):
    """A cell as text. JSON objects and lists pass through unchanged, for validation to reject."""
    if value is None:
        return ""
    return value if isinstance(value, str | dict | list) else str(value)


def _studio_record(line: int, row: dict) -> Record:
    prompt, answer = row.get("prompt"), row.get("answer")
    if "messages" in row and isinstance(row["messages"], list):
        by_role = {
            m["role"]: m.get("content")
            for m in row["messages"]
            if isinstance(m, dict) and isinstance(m.get("role"), str)
        }
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
    # The csv module refuses a field over 131,072 characters with an error that names no column.
    # The upload size already bounds memory, so lift the limit and let validation name the field.
    csv.field_size_limit(2**31 - 1)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
    except csv.Error as error:
        errors.append(RowError(1, "-", f"not valid CSV ({error})"))
        return
    missing = [c for c in required if c not in header]
    if missing:
        errors.append(RowError(1, ", ".join(missing), "missing column(s) in the header"))
        return
    start = 2
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            errors.append(RowError(start, "-", f"not valid CSV ({error})"))
            return  # the reader cannot find the next row after this
        if None in row:
            errors.append(RowError(start, "-", "more cells than header columns"))
        yield start, {k: spreadsheets.unneutralise(v or "") for k, v in row.items() if k is not None}
        start = reader.line_num + 1


def _split_list(value) -> list:
    if isinstance(value, list):
        return value
    return [v.strip() for v in str(value or "").split(";") if v.strip()]


def _studio_jsonl(text: str, errors: list[RowError]) -> Iterator[Record]:
    for line, row in _json_lines(text, errors):
        yield _studio_record(line, row)


def _studio_csv(text: str, errors: list[RowError]) -> Iterator[Record]:
    for line, row in _csv_rows(text, ("prompt", "answer", "domain"), errors):
        metadata = row.get("metadata") or ""
        try:
            row["metadata"] = _loads(metadata) if metadata else {}
        except ValueError as error:
            errors.append(RowError(line, "metadata", f"not a JSON object ({_shown(str(error))})"))
            row["metadata"] = {}
        row["strategies"], row["resources"] = _split_list(row.get("strategies")), _split_list(row.get("resources"))
        yield _studio_record(line, row)


def _authors_json(text: str, errors: list[RowError]) -> Iterator[Record]:
    rows = _json_array(text, errors) if text.lstrip().startswith("[") else _json_lines(text, errors)
    for line, row in rows:
        yield Record(
            line=line,
            prompt=_text(row.get("prompt")),
            answer=_text(row.get("answer")),
            domain=_text(row.get("risk cluster")),
            domain_field="risk cluster",
            risk_category=_text(row.get("risk category")),
            source_name=_text(row.get("framework_name")),
            author=_text(row.get("author")),
            columns={"risk_category": "risk category", "source_name": "framework_name"},
        )


def _xstest_csv(text: str, errors: list[RowError]) -> Iterator[Record]:
    for line, row in _csv_rows(text, ("id", "prompt", "type", "label"), errors):
        label = row.get("label", "").strip().lower()
        if label not in ("safe", "unsafe"):
            errors.append(RowError(line, "label", f"must be safe or unsafe, not {_shown(label)}"))
        yield Record(
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
            columns={"source_ref": "id", "metadata": METADATA_FROM_COLUMNS},
        )


#: How each format's decoded text becomes records (errors found while reading go to the list).
READERS: dict[str, Callable[[str, list[RowError]], Iterator[Record]]] = {
    "jsonl": _studio_jsonl,
    "csv": _studio_csv,
    "psychosafe": _authors_json,
    "xstest": _xstest_csv,
}


def _records(text: str, format: str, errors: list[RowError]) -> Iterator[Record]:
    if format not in READERS:
        raise ValueError(f"Unknown import format {format!r}; use one of {', '.join(FORMATS)}.")
    return READERS[format](text, errors)


def parse(*, data: bytes, format: str) -> tuple[list[Record], list[RowError]]:
    """Every record of the file (in memory) and the errors found reading it."""
    errors: list[RowError] = []
    text = _decode(data, errors)
    if text is None:
        return [], errors
    records = list(_records(text, format, errors))
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
        cells = {name: _text(row.get(name)) for name in ("question_id", "category", "prompt_style")}
        bad = False
        for name, value in cells.items():
            if not isinstance(value, str):
                errors.append(RowError(line, name, "must be text or a number, not a JSON object or list"))
                bad = True
            elif name != "prompt_style" and value.strip() == "":
                errors.append(RowError(line, name, "is missing"))
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            errors.append(RowError(line, "turns", "must be a non-empty list of texts"))
            continue
        if bad:
            continue
        category, style = cells["category"].strip(), cells["prompt_style"].strip() or "base"
        ref = cells["question_id"].strip()
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
                columns={"source_ref": "question_id", "prompt": "turns"},
            )
        )
    return records


READERS["sorry_bench"] = sorry_bench_records


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


def _shown(value, limit: int = 60) -> str:
    """A value quoted in a message, cut short: an error never repeats a huge cell."""
    text = repr(value) if not isinstance(value, str) or len(value) <= limit else repr(value[:limit]) + "…"
    return text if len(text) <= limit + 10 else text[: limit + 10] + "…"


def _bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str | int | float):
        return None
    lowered = str(value).strip().lower() if isinstance(value, str) else str(value)
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(lowered)


def _text_problem(value: str) -> str | None:
    """What makes text unstorable: PostgreSQL refuses NUL, and no database takes half a surrogate pair."""
    if "\x00" in value:
        return "contains a NUL character"
    if match := _UNPAIRED_SURROGATE.search(value):
        return f"contains an unpaired surrogate (U+{ord(match.group()):04X}), which is not valid Unicode"
    return None


def _json_value_problem(value) -> tuple[str, str] | None:
    """Why a parsed JSON object cannot be stored as a JSON column, and under which top-level key
    (walked without recursion, so no depth can crash it)."""
    stack = [(value, 1, "")]
    while stack:
        item, depth, top = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            return top, f"is nested more than {MAX_METADATA_DEPTH} levels deep"
        if isinstance(item, dict):
            for key, child in item.items():
                if problem := _text_problem(key):
                    return top or key, f"has a key that {problem}"
                stack.append((child, depth + 1, top or key))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, top) for child in item)
        elif isinstance(item, str):
            if problem := _text_problem(item):
                return top, f"has a value that {problem}"
        elif isinstance(item, float) and not math.isfinite(item):
            return top, f"has a number that is not finite ({item})"
    return None


def _metadata_problem(metadata: dict) -> tuple[str, str] | None:
    """`_json_value_problem`, walked only when the serialised object hints at a problem (cheap for
    the usual small object), plus its length as JSON."""
    try:
        dumped = json.dumps(metadata, ensure_ascii=False, allow_nan=False)
    except (ValueError, RecursionError):
        return _json_value_problem(metadata) or ("", "cannot be stored as JSON")
    suspect = dumped.count("{") + dumped.count("[") > MAX_METADATA_DEPTH or "\\u0000" in dumped
    if (suspect or _UNPAIRED_SURROGATE.search(dumped)) and (found := _json_value_problem(metadata)):
        return found
    if len(dumped) > MAX_METADATA_CHARS:
        longest = max(metadata, key=lambda key: len(str(metadata[key])), default="")
        return longest, f"is longer than {MAX_METADATA_CHARS:,} characters as JSON"
    return None


def _clean(record: Record) -> None:
    """Normalise a valid record in place: should_refuse as a bool, tag keys without repeats."""
    record.should_refuse = _bool(record.should_refuse)
    record.strategies = list(dict.fromkeys(record.strategies))
    record.resources = list(dict.fromkeys(record.resources))


class _Registry:
    def __init__(self):
        self.domains = {d.slug: d for d in RiskDomain.objects.all()}
        self.labels = {d.data_label.casefold(): d for d in self.domains.values()}
        self.strategies = dict(InterventionStrategy.objects.values_list("key", "pk"))
        self.resources = dict(Resource.objects.values_list("key", "pk"))
        self.splits_frozen = splits.is_frozen()

    def domain(self, value: str):
        return self.domains.get(value) or self.labels.get(value.strip().casefold())


_TEXT_FIELDS = (  # (name, limit); every one must be text without NUL or unpaired surrogates
    ("prompt", MAX_TEXT_CHARS),
    ("answer", MAX_TEXT_CHARS),
    ("domain", MAX_SHORT_CHARS),
    ("risk_category", MAX_SHORT_CHARS),
    ("locale", 10),
    ("source", MAX_SHORT_CHARS),
    ("source_name", MAX_SHORT_CHARS),
    ("source_ref", MAX_SHORT_CHARS),
    ("split", MAX_SHORT_CHARS),
    ("status", MAX_SHORT_CHARS),
    ("author", MAX_SHORT_CHARS),
)


def _validate_text(record: Record, errors: list[RowError]) -> set[str]:
    """Type, length and storability of every text field; a bad one is blanked. The bad ones' names."""
    bad = set()
    for name, limit in _TEXT_FIELDS:
        value = getattr(record, name)
        if value is None:  # a prompt-only format has no answer
            continue
        if not isinstance(value, str):
            problem = "must be text, not a JSON " + ("object" if isinstance(value, dict) else "list")
        elif len(value) > limit:
            problem = (
                f"is {len(value):,} characters; the limit is {limit:,}"
                if limit >= MAX_TEXT_CHARS
                else f"is longer than {limit} characters"
            )
        else:
            problem = _text_problem(value)
        if problem:
            errors.append(RowError(record.line, record.column(name), problem))
            setattr(record, name, "")
            bad.add(name)
    return bad


def _validate_record(record: Record, registry: _Registry, errors: list[RowError]) -> None:
    line = record.line
    bad = _validate_text(record, errors)
    for name in ("prompt", "answer"):
        value = getattr(record, name)
        if value is not None and name not in bad and not value.strip():
            errors.append(RowError(line, name, "is empty"))
    if not record.domain:
        if "domain" not in bad:
            errors.append(RowError(line, record.domain_field, "is missing"))
    elif registry.domain(record.domain) is None:
        known = (
            ", ".join(sorted(registry.domains))
            if record.domain_field == "domain"
            else ", ".join(sorted(d.data_label for d in registry.domains.values()))
        )
        errors.append(RowError(line, record.domain_field, f"unknown domain {_shown(record.domain)} (known: {known})"))
    if _bool(record.should_refuse) is None:
        errors.append(RowError(line, "should_refuse", f"must be true or false, not {_shown(record.should_refuse)}"))
    choices = (("source", record.source, _SOURCES), ("split", record.split, _SPLITS))
    if record.answer is not None:
        choices += (("status", record.status, _STATUSES),)
    for name, value, allowed in choices:
        if value and value not in allowed:
            errors.append(RowError(line, name, f"{_shown(value)} is not one of {', '.join(allowed)}"))
    if registry.splits_frozen and record.split not in ("", Prompt.Split.UNASSIGNED):
        errors.append(
            RowError(line, "split", "the splits are frozen: leave it empty, or unfreeze them on the Splits page first")
        )
    for name, keys, known in (
        ("strategies", record.strategies, registry.strategies),
        ("resources", record.resources, registry.resources),
    ):
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            errors.append(RowError(line, name, "must be a list of keys"))
            continue
        unknown = [k for k in keys if k not in known]
        if unknown:
            shown = ", ".join(_shown(k, 40) for k in unknown[:5]) + (" …" if len(unknown) > 5 else "")
            errors.append(RowError(line, name, f"unknown key(s): {shown}"))
    if not isinstance(record.metadata, dict):
        errors.append(RowError(line, "metadata", "must be a JSON object"))
    elif found := _metadata_problem(record.metadata):
        key, problem = found
        if record.columns.get("metadata") == METADATA_FROM_COLUMNS:  # e.g. XSTest's note: name the column
            errors.append(RowError(line, key or "metadata", problem.replace("has a value that ", "")))
        else:
            errors.append(RowError(line, "metadata", problem))


def _digest(*texts) -> bytes:
    """A small fixed-size key for duplicate checks, so memory does not grow with the texts."""
    joined = "\x1f".join("\x00" if t is None else t for t in texts)
    return hashlib.blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class _Check:
    """The first pass: validate records one by one, remembering only what the write needs.

    `skip` holds the lines of pairs already in the Studio when skip_existing is set.
    """

    EXISTING_BATCH = 500

    def __init__(self, *, skip_existing: bool, progress: Progress | None = None, total: int = 0, keep=False):
        self.registry = _Registry()
        self.records: list[Record] | None = [] if keep else None
        self.skip_existing, self.progress, self.total = skip_existing, progress, total
        self.errors: list[RowError] = []
        self.by_content: dict[bytes, int] = {}
        self.by_id: dict[bytes, int] = {}
        self.skip: set[int] = set()
        self.count = 0
        self._pending: list[Record] = []  # valid records waiting for the "already in the Studio" query

    def add(self, record: Record) -> None:
        errors_before = len(self.errors)
        if self.records is not None:
            self.records.append(record)
        _validate_record(record, self.registry, self.errors)
        self._duplicates(record)
        if len(self.errors) == errors_before:
            self._pending.append(record)
            if len(self._pending) >= self.EXISTING_BATCH:
                self._check_existing()
        self.count += 1
        if self.progress and self.count % 500 == 0:
            self.progress("validating", self.count, max(self.total, self.count))

    def finish(self) -> list[RowError]:
        self._check_existing()
        if self.count == 0 and not self.errors:
            self.errors.append(RowError(1, "-", "the file has no rows"))
        return sorted(self.errors, key=lambda e: (e.line, e.field))

    def _duplicates(self, record: Record) -> None:
        if isinstance(record.prompt, str) and isinstance(record.answer, str | None):
            key = _digest(_norm(record.prompt), None if record.answer is None else _norm(record.answer))
            if key in self.by_content:
                self.errors.append(
                    RowError(record.line, "prompt", f"duplicate of line {self.by_content[key]} in this file")
                )
            else:
                self.by_content[key] = record.line
        if record.source_ref and isinstance(record.source_ref, str) and isinstance(record.source_name, str):
            key = _digest(record.source_name, record.source_ref)
            if key in self.by_id:
                self.errors.append(
                    RowError(
                        record.line,
                        record.column("source_ref"),
                        f"id {_shown(record.source_ref)} is also on line {self.by_id[key]} in this file",
                    )
                )
            else:
                self.by_id[key] = record.line

    def _check_existing(self) -> None:
        """Pairs of the pending records already in the Studio (same prompt text and answer text)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        texts = list({r.prompt for r in pending})
        if pending[0].answer is None:
            existing = {
                (t, None)
                for t in Prompt.objects.filter(text__in=texts, responses__isnull=True).values_list("text", flat=True)
            }
        else:
            existing = set(
                Response.objects.references().filter(prompt__text__in=texts).values_list("prompt__text", "text")
            )
        for record in pending:
            if (record.prompt, record.answer) not in existing:
                continue
            if self.skip_existing:
                self.skip.add(record.line)
            else:
                self.errors.append(
                    RowError(
                        record.line,
                        "prompt",
                        "this pair is already in the Studio (use skip existing to skip such rows)",
                    )
                )


def validate(records: list[Record], *, skip_existing: bool, progress: Progress | None = None):
    """All errors of all rows, and the records to write (existing duplicates dropped if skipped)."""
    check = _Check(skip_existing=skip_existing, progress=progress, total=len(records))
    for record in records:
        check.add(record)
    errors = check.finish() if records else []
    keep = [r for r in records if r.line not in check.skip]
    if not errors:
        for record in keep:
            _clean(record)
    return errors, keep, len(check.skip)


def _check_file(data: bytes, format: str, *, skip_existing: bool, progress: Progress | None):
    """The first pass over a file: (decoded text or None, sorted errors, the check)."""
    errors: list[RowError] = []
    text = _decode(data, errors)
    if text is None:
        return None, errors, None
    check = _Check(
        skip_existing=skip_existing,
        progress=progress,
        total=text.count("\n") + 1,
        keep=len(text) <= KEEP_PARSED_CHARS,
    )
    if progress:
        progress("validating", 0, check.total)
    for record in _records(text, format, check.errors):  # reading errors join the row errors
        check.add(record)
    return text, check.finish(), check


# --- Writing -------------------------------------------------------------------------------


class _Writer:
    """Writes valid records in batches with `annotation.bulk`: prompts, pairs, history, tag links."""

    def __init__(self, *, user, progress: Progress | None = None, total: int = 0):
        from django.contrib.auth import get_user_model

        self.registry = _Registry()
        self.user, self.progress, self.total = user, progress, total
        self.users: dict[str, object] = {}
        self.user_model = get_user_model()
        self.now = timezone.now()
        self.prompts = self.pairs = 0

    def write(self, records: Iterable[Record]) -> None:
        batch: list[Record] = []
        for record in records:
            batch.append(record)
            if len(batch) >= BATCH:
                self._write_batch(batch)
                batch = []
        self._write_batch(batch)

    def _authors(self, batch: list[Record]) -> None:
        wanted = {r.author for r in batch if r.author and r.author not in self.users}
        for name in wanted:
            self.users[name] = None
        for user in self.user_model.objects.filter(username__in=wanted).only("pk", "username"):
            self.users[user.username] = user.pk

    def _write_batch(self, batch: list[Record]) -> None:
        if not batch:
            return
        self._authors(batch)
        user_id = self.user.pk if self.user else None
        prompts = []
        for record, pk in zip(batch, bulk.reserve_ids(Prompt, len(batch)), strict=True):
            _clean(record)
            metadata = dict(record.metadata)
            author_id = self.users.get(record.author) if record.author else None
            if author_id is None and record.has_author:
                metadata[AUTHOR_KEY] = record.author  # a name from outside the Studio, kept for export
            prompts.append(
                {
                    "id": pk,
                    "text": record.prompt,
                    "domain_id": self.registry.domain(record.domain).pk,
                    "risk_category": record.risk_category,
                    "source": record.source,
                    "source_name": record.source_name,
                    "source_ref": record.source_ref,
                    "locale": record.locale or DEFAULT_LOCALE,
                    "should_refuse": record.should_refuse,
                    "split": record.split,
                    "metadata": metadata,
                    "created_by_id": author_id or user_id,
                }
            )
        answered = [(r, p) for r, p in zip(batch, prompts, strict=True) if r.answer is not None]
        responses = [
            {
                "id": pk,
                "prompt_id": prompt["id"],
                "text": record.answer,
                "origin": Response.Origin.REFERENCE.value,
                "status": record.status,
                "created_by_id": prompt["created_by_id"],
            }
            for (record, prompt), pk in zip(answered, bulk.reserve_ids(Response, len(answered)), strict=True)
        ]
        for model, rows in ((Prompt, prompts), (Response, responses)):
            bulk.insert(model, bulk.complete(model, rows, now=self.now))
            history = bulk.history_rows(model, rows, user_id=user_id, date=self.now)
            bulk.insert(model.history.model, bulk.complete(model.history.model, history, now=self.now))
        self._links(answered, responses)
        self.prompts += len(prompts)
        self.pairs += len(responses)
        if self.progress:
            self.progress("writing", self.prompts, self.total)

    def _links(self, answered, responses) -> None:
        through_s, through_r = Response.strategies.through, Response.resources.through
        links_s, links_r = [], []
        for (record, _), response in zip(answered, responses, strict=True):
            links_s += [
                {"response_id": response["id"], "interventionstrategy_id": self.registry.strategies[k]}
                for k in record.strategies
            ]
            links_r += [
                {"response_id": response["id"], "resource_id": self.registry.resources[k]} for k in record.resources
            ]
        bulk.insert(through_s, links_s)
        bulk.insert(through_r, links_r)


def _write(records: Iterable[Record], *, user, progress: Progress | None = None, total: int = 0) -> tuple[int, int]:
    """Write valid records (call inside a transaction); (prompts, pairs) written."""
    writer = _Writer(user=user, progress=progress, total=total)
    writer.write(records)
    return writer.prompts, writer.pairs


def _write_file(text: str, format: str, check: _Check, *, user, progress: Progress | None) -> tuple[int, int]:
    """The second pass: write what the check kept, read again from the file unless it kept the records."""
    records = check.records if check.records is not None else _records(text, format, [])
    kept = (r for r in records if r.line not in check.skip)
    return _write(kept, user=user, progress=progress, total=check.count - len(check.skip))


def import_pairs(
    *, data: bytes, format: str, user=None, skip_existing: bool = False, progress: Progress | None = None
) -> ImportSummary:
    """Validate the whole file, then write it in one transaction; raise ImportRejected otherwise.

    `user` is who imports: imported prompts and pairs whose author is not a Studio account are
    attributed to them (so another reviewer can review them), and the file's author name is kept.
    """
    text, errors, check = _check_file(data, format, skip_existing=skip_existing, progress=progress)
    if errors:
        raise ImportRejected(errors)
    with transaction.atomic():
        prompts, pairs = _write_file(text, format, check, user=user, progress=progress)
    return ImportSummary(prompts=prompts, pairs=pairs, skipped_existing=len(check.skip))


# --- Import jobs (the admin page's background import) --------------------------------------


def start_import_job(*, data: bytes, format: str, filename: str, skip_existing: bool, created_by):
    """Store the uploaded file in a job row and enqueue its import once the row is committed."""
    from annotation import jobs
    from annotation.models import ImportJob

    delete_expired_uploads()
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
    The uploaded file is deleted as the job ends; one that failed for another reason than its
    rows is kept for a retry until `delete_expired_uploads` removes it.
    """
    from annotation import jobs
    from annotation.models import ImportJob, JobState

    rows = ImportJob.objects.filter(pk=job.pk)
    rows.update(phase=ImportJob.Phase.VALIDATING, progress_done=0, progress_total=0, errors=[], summary={})

    def progress(phase, done, total):
        if phase == "validating":
            context.report(done=done, total=total)

    text, errors, check = _check_file(bytes(job.data), job.format, skip_existing=job.skip_existing, progress=progress)
    if errors:
        with transaction.atomic():
            jobs.finish(
                job,
                state=JobState.FAILED,
                phase=ImportJob.Phase.DONE,
                errors=[{"line": e.line, "field": e.field, "message": e.message} for e in errors],
                progress_done=check.count if check else 0,
            )
            _delete_upload(job)  # the same file fails the same way: it cannot be retried
        delete_expired_uploads()
        return
    context.check_cancel()  # the last moment a cancel can stop it: the write is all or nothing
    rows.update(phase=ImportJob.Phase.WRITING, progress_done=check.count, progress_total=check.count)
    with transaction.atomic():
        prompts, pairs = _write_file(text, job.format, check, user=job.created_by, progress=None)
        jobs.finish(
            job,
            state=JobState.SUCCEEDED,
            phase=ImportJob.Phase.DONE,
            summary={"prompts": prompts, "pairs": pairs, "skipped_existing": len(check.skip)},
        )
        _delete_upload(job)
    delete_expired_uploads()


def _delete_upload(job) -> None:
    from annotation.models import ImportJob

    ImportJob.objects.filter(pk=job.pk).update(data=b"", upload_deleted_at=timezone.now())


def delete_expired_uploads(*, now=None) -> int:
    """Delete the uploaded files of ended import jobs that can no longer be retried: succeeded or
    rejected ones, and failed or cancelled ones older than the retry window
    (settings.IMPORT_UPLOAD_RETENTION_HOURS). Runs at each import's start and end and from
    `manage.py delete_import_uploads`; returns how many files it deleted."""
    from annotation.models import ImportJob, JobState

    now = now or timezone.now()
    window_ended = now - timedelta(hours=settings.IMPORT_UPLOAD_RETENTION_HOURS)
    ended = (
        Q(state=JobState.SUCCEEDED)
        | Q(state__in=[JobState.FAILED, JobState.CANCELLED], phase=ImportJob.Phase.DONE)
        | Q(state__in=[JobState.FAILED, JobState.CANCELLED], finished_at__lt=window_ended)
    )
    return ImportJob.objects.filter(ended, upload_deleted_at__isnull=True).update(data=b"", upload_deleted_at=now)
