"""Finding pairs in the corpus: filters, full-text search and keyset pagination.

Full-text search:
- PostgreSQL: `to_tsvector('english', text)` GIN expression indexes on prompt and answer text
  (created by migration 0007); queries use the same SearchVector expression so the planner
  uses them.
- SQLite: FTS5 external-content tables kept in sync by triggers. A trap: Django rebuilds a
  SQLite table (copy, drop, rename) on many AlterField migrations, and that drops triggers, so
  `restore_sqlite_fts` re-creates them (and rebuilds the index) after every migrate, and
  `ensure_sqlite_fts` checks again once per process before the first search.

Pagination is by keyset on the id (newest first), so page 2,000 costs what page 1 costs; the
total is counted only up to COUNT_CAP rows ("more than 1,000"), which keeps the count cheap at 100k.
"""

import re
from dataclasses import asdict, dataclass, fields

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Substr

from annotation.models import Prompt, Response

PAGE_SIZE = 50
COUNT_CAP = 1_000  # "more than 1,000": counting further scans the whole corpus for nothing
SEARCH_CONFIG = "english"
_FTS_TABLES = {"response": "annotation_response", "prompt": "annotation_prompt"}


@dataclass(frozen=True)
class PairFilter:
    q: str = ""
    domain: str = ""  # slug
    status: str = ""
    source: str = ""
    split: str = ""
    author: str = ""  # username, or the author name an imported file gave
    strategy: str = ""  # key

    @classmethod
    def from_data(cls, data) -> "PairFilter":
        values = {}
        for f in fields(cls):
            value = data.get(f.name) or ""
            values[f.name] = getattr(value, "slug", None) or getattr(value, "key", None) or str(value).strip()
        return cls(**values)

    def as_query(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v}


def pairs(*, filters: PairFilter) -> QuerySet:
    """Reference pairs matching the filters, newest first, with what a list row shows."""
    qs = Response.objects.references()
    if filters.domain:
        qs = qs.filter(prompt__domain__slug=filters.domain)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.source:
        qs = qs.filter(prompt__source=filters.source)
    if filters.split:
        qs = qs.filter(prompt__split=filters.split)
    if filters.author:
        qs = qs.filter(Q(created_by__username=filters.author) | Q(prompt__metadata__author=filters.author))
    if filters.strategy:
        through = Response.strategies.through
        qs = qs.filter(
            Exists(through.objects.filter(response_id=OuterRef("pk"), interventionstrategy__key=filters.strategy))
        )
    if filters.q:
        qs = qs.filter(search_condition(filters.q))
    return qs.select_related("prompt__domain", "created_by").order_by("-pk")


PROMPT_PREVIEW, ANSWER_PREVIEW = 110, 140


def list_rows(queryset: QuerySet) -> QuerySet:
    """What a list row shows, cut short in the database: answers can be 20,000 characters, and
    truncating them in the template costs more than the query."""
    return (
        queryset.select_related("prompt__domain", "created_by")
        .annotate(
            prompt_preview=Substr("prompt__text", 1, PROMPT_PREVIEW + 1),
            answer_preview=Substr("text", 1, ANSWER_PREVIEW + 1),
            imported_author=KeyTextTransform("author", "prompt__metadata"),
        )
        .defer(
            "text",
            "prompt__text",
            "prompt__metadata",
            "generation_params",
            "prompt__domain__description",
            "created_by__password",
        )
    )


def search_condition(query: str) -> Q:
    """Pairs whose prompt or answer matches all words of the query."""
    if connection.vendor == "postgresql":
        search = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        answers = Response.objects.annotate(v=SearchVector("text", config=SEARCH_CONFIG)).filter(v=search)
        prompts = Prompt.objects.annotate(v=SearchVector("text", config=SEARCH_CONFIG)).filter(v=search)
        return Q(pk__in=answers.values("pk")) | Q(prompt_id__in=prompts.values("pk"))
    if connection.vendor == "sqlite" and ensure_sqlite_fts():
        match = fts5_query(query)
        if not match:
            return Q()
        # One UNION subquery rather than "id IN (…) OR prompt_id IN (…)": SQLite answers the OR by
        # materialising and sorting every matching row, the UNION lets it walk ids newest first.
        return Q(
            pk__in=RawSQL(
                "SELECT rowid FROM annotation_response_fts WHERE annotation_response_fts MATCH %s UNION "
                "SELECT r.id FROM annotation_response r JOIN annotation_prompt_fts pf ON pf.rowid = r.prompt_id "
                "WHERE annotation_prompt_fts MATCH %s",
                [match, match],
            )
        )
    condition = Q()
    for word in query.split():
        condition &= Q(text__icontains=word) | Q(prompt__text__icontains=word)
    return condition


def fts5_query(query: str) -> str:
    """User words as FTS5 terms, each quoted (so operators and punctuation are literal), ANDed."""
    words = re.findall(r"\w+", query)
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


@dataclass(frozen=True)
class Page:
    rows: list
    next_after: int | None  # cursor for older rows
    prev_before: int | None  # cursor for newer rows
    total: int
    total_capped: bool


def page(
    *, queryset: QuerySet, after: int | None = None, before: int | None = None, size: int = PAGE_SIZE, decorate=None
) -> Page:
    """One page of a newest-first queryset by id keyset: `after` = older than, `before` = newer than.

    Two steps: the page's ids first (the database sorts bare integers), then the rows for those
    ids, passed through `decorate` (e.g. list_rows) so that the id and count queries carry no
    joins or columns the filters do not need. Sorting the full rows of a broad search (10,000
    matches) cost half a second on SQLite.
    """
    ids_only = queryset.order_by().values_list("pk", flat=True)
    counted = None
    if before is not None:
        ids = list(ids_only.filter(pk__gt=before).order_by("pk")[: size + 1])
        has_more_newer = len(ids) > size
        ids = sorted(ids[:size], reverse=True)
        prev_before = ids[0] if ids and has_more_newer else None
        next_after = ids[-1] if ids else None
    else:
        if after is None:
            # The first page's id query also counts (up to the cap): one pass over a search, not two.
            ids = list(ids_only.order_by("-pk")[: COUNT_CAP + 1])
            counted = len(ids)
        else:
            ids = list(ids_only.filter(pk__lt=after).order_by("-pk")[: size + 1])
        has_more = len(ids) > size
        ids = ids[:size]
        next_after = ids[-1] if ids and has_more else None
        prev_before = ids[0] if ids and after is not None else None
    chosen = queryset.model._default_manager.filter(pk__in=ids)  # by id only: no need to search again
    rows = list((decorate(chosen) if decorate else chosen).order_by("-pk")) if ids else []
    if counted is None:
        counted = _capped_count(queryset)
    return Page(
        rows=rows,
        next_after=next_after,
        prev_before=prev_before,
        total=min(counted, COUNT_CAP),
        total_capped=counted > COUNT_CAP,
    )


def _capped_count(queryset) -> int:
    # COUNT over a LIMITed subquery: stops at COUNT_CAP + 1 rows instead of scanning everything.
    return queryset.order_by().values("pk")[: COUNT_CAP + 1].count()


# --- Search structures (created by migration 0007) ------------------------------------------


def _gin_indexes(models):
    from django.contrib.postgres.indexes import GinIndex

    return [
        (models[name], GinIndex(SearchVector("text", config=SEARCH_CONFIG), name=f"{name}_text_search"))
        for name in ("response", "prompt")
    ]


def create_search_structures(schema_editor, *, models) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for model, index in _gin_indexes(models):
            schema_editor.add_index(model, index)
    elif schema_editor.connection.vendor == "sqlite":
        _create_sqlite_fts(schema_editor.connection)


def drop_search_structures(schema_editor, *, models) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for model, index in _gin_indexes(models):
            schema_editor.remove_index(model, index)
    elif schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            for table in _FTS_TABLES.values():
                for suffix in ("ai", "ad", "au"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}")
                cursor.execute(f"DROP TABLE IF EXISTS {table}_fts")


def _create_sqlite_fts(conn) -> None:
    with conn.cursor() as cursor:
        for table in _FTS_TABLES.values():
            fts = f"{table}_fts"
            cursor.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(text, content='{table}', "
                "content_rowid='id', tokenize='porter unicode61')"
            )
            cursor.execute(
                f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN "
                f"INSERT INTO {fts}(rowid, text) VALUES (new.id, new.text); END"
            )
            cursor.execute(
                f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN "
                f"INSERT INTO {fts}({fts}, rowid, text) VALUES ('delete', old.id, old.text); END"
            )
            cursor.execute(
                f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF text ON {table} BEGIN "
                f"INSERT INTO {fts}({fts}, rowid, text) VALUES ('delete', old.id, old.text); "
                f"INSERT INTO {fts}(rowid, text) VALUES (new.id, new.text); END"
            )
            cursor.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


_fts_checked: set[str] = set()


def _missing_fts_triggers(conn) -> bool:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type='trigger' AND name LIKE '%\\_fts\\_%' ESCAPE '\\'"
        )
        return cursor.fetchone()[0] < 3 * len(_FTS_TABLES)


def restore_sqlite_fts(sender, using="default", **kwargs) -> None:
    """post_migrate: a migration that rebuilt a searched table dropped its triggers; put them back."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "sqlite":
        return
    try:
        missing = _missing_fts_triggers(conn)
    except Exception:  # an SQLite built without FTS5: search falls back to LIKE
        return
    if missing:
        _create_sqlite_fts(conn)


def ensure_sqlite_fts() -> bool:
    """True when FTS5 is usable; re-creates dropped triggers once per process (see module doc)."""
    key = str(connection.settings_dict["NAME"])
    if key in _fts_checked:
        return True
    try:
        if _missing_fts_triggers(connection):
            _create_sqlite_fts(connection)
    except Exception:  # an SQLite built without FTS5: fall back to LIKE
        return False
    _fts_checked.add(key)
    return True
