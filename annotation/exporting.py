"""Export reference pairs: Studio JSONL (TRL chat messages), the authors' JSON, CSV, Parquet.

The Studio JSONL is also the Studio's import format, and export → import into an empty database
→ export gives the same bytes: fields are written in a fixed order, lists are sorted, JSON keys
of metadata are sorted, and rows go out in id order (import keeps file order).

CSV goes through annotation.spreadsheets, which keeps cells from running as spreadsheet formulas;
the CSV importer takes its guard off again.
"""

import io
import json
from collections import defaultdict

from annotation import spreadsheets
from annotation.models import ModelCondition, Response

FORMATS = ("jsonl", "psychosafe", "csv", "parquet")
CONTENT_TYPES = {
    "jsonl": "application/jsonl",
    "psychosafe": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
EXTENSIONS = {"jsonl": "jsonl", "psychosafe": "json", "csv": "csv", "parquet": "parquet"}
COLUMNS = [
    "prompt",
    "answer",
    "domain",
    "risk_category",
    "locale",
    "should_refuse",
    "source",
    "source_name",
    "source_ref",
    "split",
    "status",
    "strategies",
    "resources",
    "author",
    "metadata",
]
AUTHOR_KEY = "author"  # Prompt.metadata key holding an author name that is not a Studio account
CHUNK = 2000


def author_of(response: Response) -> str:
    metadata = response.prompt.metadata or {}
    if AUTHOR_KEY in metadata:
        return str(metadata[AUTHOR_KEY])
    return response.created_by.username if response.created_by else ""


_FIELDS = [
    "pk",
    "prompt__text",
    "text",
    "prompt__domain__slug",
    "prompt__risk_category",
    "prompt__locale",
    "prompt__should_refuse",
    "prompt__source",
    "prompt__source_name",
    "prompt__source_ref",
    "prompt__split",
    "status",
    "created_by__username",
    "prompt__metadata",
]


def _records(queryset):
    """Flat dicts in COLUMNS order, streamed by id in chunks of CHUNK rows.

    values_list() rather than model instances: building four objects per row (response,
    prompt, domain, user) was most of the cost at 50,000 rows. Two extra queries per chunk
    fetch the strategy and resource keys.
    """
    queryset = queryset.references().order_by("pk")
    through_s, through_r = Response.strategies.through, Response.resources.through
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last).values_list(*_FIELDS)[:CHUNK])
        if not chunk:
            return
        ids = [row[0] for row in chunk]
        strategies, resources = defaultdict(list), defaultdict(list)
        for rid, key in through_s.objects.filter(response_id__in=ids).values_list(
            "response_id", "interventionstrategy__key"
        ):
            strategies[rid].append(key)
        for rid, key in through_r.objects.filter(response_id__in=ids).values_list("response_id", "resource__key"):
            resources[rid].append(key)
        for (
            pk,
            prompt,
            answer,
            domain,
            risk_category,
            locale,
            should_refuse,
            source,
            source_name,
            source_ref,
            split,
            status,
            username,
            metadata,
        ) in chunk:
            metadata = metadata or {}
            author = str(metadata[AUTHOR_KEY]) if AUTHOR_KEY in metadata else (username or "")
            yield {
                "prompt": prompt,
                "answer": answer,
                "domain": domain,
                "risk_category": risk_category,
                "locale": locale,
                "should_refuse": should_refuse,
                "source": source,
                "source_name": source_name,
                "source_ref": source_ref,
                "split": split,
                "status": status,
                "strategies": sorted(strategies[pk]),
                "resources": sorted(resources[pk]),
                "author": author,
                "metadata": {k: v for k, v in sorted(metadata.items()) if k != AUTHOR_KEY},
            }
        last = ids[-1]


def _jsonl(records, out, *, system_prompt: str):
    for record in records:
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages += [
            {"role": "user", "content": record.pop("prompt")},
            {"role": "assistant", "content": record.pop("answer")},
        ]
        line = json.dumps({"messages": messages, **record}, ensure_ascii=False, sort_keys=False)
        out.write(line.encode("utf-8") + b"\n")


def _psychosafe(records, out, *, domains):
    rows = [
        {
            "prompt": r["prompt"],
            "answer": r["answer"],
            "risk cluster": domains[r["domain"]],
            "risk category": r["risk_category"],
            "framework_name": r["source_name"],
            "author": r["author"],
        }
        for r in records
    ]
    out.write(json.dumps(rows, ensure_ascii=False, indent=2).encode("utf-8") + b"\n")


def _csv_cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = ";".join(value)
    elif isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    return str(value)


def _csv(records, out):
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = spreadsheets.writer(text)
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow([_csv_cell(record[c]) for c in COLUMNS])
    text.flush()
    text.detach()


def _parquet(records, out):
    import pandas as pd

    frame = pd.DataFrame(list(records), columns=COLUMNS)
    frame["metadata"] = frame["metadata"].map(lambda m: json.dumps(m, ensure_ascii=False, sort_keys=True))
    frame.to_parquet(out, index=False)


def export_pairs(*, queryset, format: str, out, condition: ModelCondition | None = None) -> int:
    """Write the reference pairs of `queryset` to the binary file `out`; returns the row count."""
    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}; use one of {', '.join(FORMATS)}.")
    counted = []

    def counting(records):
        for record in records:
            counted.append(1)
            yield record

    records = counting(_records(queryset))
    if format == "jsonl":
        system = condition.system_prompt.text if condition is not None else ""
        _jsonl(records, out, system_prompt=system)
    elif format == "psychosafe":
        from annotation.models import RiskDomain

        _psychosafe(records, out, domains=dict(RiskDomain.objects.values_list("slug", "data_label")))
    elif format == "csv":
        _csv(records, out)
    else:
        _parquet(records, out)
    return len(counted)
