"""Writing many new rows the way each database does it fastest: COPY on PostgreSQL (psycopg 3's
`cursor.copy()`), multi-row INSERT statements on SQLite.

The ORM's `bulk_create` builds a model instance and prepares every value through its field for
every row, and simple-history's `bulk_create_with_history` does it all again for the history
rows; for an import of thousands of pairs that was most of the time. Here a row is a plain dict
keyed by attribute name (`domain_id`, not `domain`), values are prepared once per column kind,
and primary keys are reserved up front, so rows that point at each other (a pair at its prompt, a
history row at its object, a tag link at its pair) are written without reading anything back.

Call these inside `transaction.atomic()`: a failure anywhere leaves nothing. On SQLite the
settings open IMMEDIATE transactions, so the write lock is held from the start and no other
writer can take the ids reserved here; on PostgreSQL they come from the table's sequence.
Statements go through the driver's own cursor, below Django's query logging, so a debug process
does not keep a copy of every value.
"""

import functools
import json
import operator
from collections.abc import Iterable, Iterator

from django.db import connection, models
from django.utils import timezone

# Values of these field types are already what the driver sends; anything else is prepared by its field.
_PLAIN = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "ForeignKey",
    "IntegerField",
    "OneToOneField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallIntegerField",
    "SlugField",
    "TextField",
}
SQLITE_ROWS_PER_STATEMENT = 500


def reserve_ids(model, count: int) -> list[int]:
    """`count` new primary keys of `model`'s table, never handed out again."""
    if count == 0:
        return []
    table, pk = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, pk, count]
            )
            return [row[0] for row in cursor.fetchall()]
        if connection.vendor == "sqlite":
            # AUTOINCREMENT tables hand out max(sqlite_sequence, max(id)) + 1; moving the sequence
            # past the reserved block keeps later inserts (ORM or not) off it.
            quoted = connection.ops.quote_name
            cursor.execute(
                f"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "
                f"coalesce((SELECT max({quoted(pk)}) FROM {quoted(table)}), 0))",
                [table],
            )
            first = cursor.fetchone()[0] + 1
            cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [first + count - 1, table])
            if not cursor.rowcount:
                cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, first + count - 1])
            return list(range(first, first + count))
    raise NotImplementedError(f"bulk writes support PostgreSQL and SQLite, not {connection.vendor}")


def complete(model, rows: list[dict], *, now=None) -> list[dict]:
    """Fill in, in place, every column a row leaves out: `auto_now(_add)` times get `now`, other
    fields their default (called per row when it is a callable, e.g. a random public id)."""
    now = now or timezone.now()
    for field in model._meta.concrete_fields:
        if field.primary_key and isinstance(field, models.AutoField):
            continue
        name = field.attname
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for row in rows:
                row.setdefault(name, now)
        elif any(name not in row for row in rows):
            for row in rows:
                if name not in row:
                    row[name] = field.get_default()
    return rows


def history_rows(model, rows: list[dict], *, user_id, date) -> list[dict]:
    """The '+' rows simple-history's `bulk_history_create` writes for newly created `rows`."""
    history = model.history.model
    tracked = [field.attname for field in history.tracked_fields]
    base = {"history_date": date, "history_change_reason": None, "history_type": "+", "history_user_id": user_id}
    return [{**{name: row[name] for name in tracked}, **base} for row in rows]


def insert(model, rows: list[dict]) -> int:
    """Insert complete rows (see `complete`) into `model`'s table; returns how many.

    An auto primary key left out of the rows is numbered by the database.
    """
    if not rows:
        return 0
    fields = [
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and isinstance(field, models.AutoField) and field.attname not in rows[0])
    ]
    values = _values(fields, rows)
    quoted = connection.ops.quote_name
    table, columns = quoted(model._meta.db_table), ", ".join(quoted(field.column) for field in fields)
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    try:
        with connection.wrap_database_errors:  # the driver's errors as Django's (IntegrityError, DataError…)
            if connection.vendor == "postgresql":
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in values:
                        copy.write_row(row)
            else:
                _sqlite_insert(cursor, table, columns, len(fields), values)
    finally:
        cursor.close()
    return len(rows)


def _values(fields, rows: list[dict]) -> Iterator[list]:
    """Each row's values in column order, prepared for the driver where the field needs it."""
    pick = operator.itemgetter(*(field.attname for field in fields))
    prepared = [(index, prep) for index, field in enumerate(fields) if (prep := _preparer(field))]
    for row in rows:
        values = list(pick(row)) if len(fields) > 1 else [pick(row)]
        for index, prep in prepared:
            values[index] = prep(values[index])
        yield values


def _sqlite_insert(cursor, table: str, columns: str, width: int, values: Iterable[list]) -> None:
    row_marks = "(" + ", ".join("?" * width) + ")"
    batch: list = []
    rows_in_batch = 0
    statement = f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row_marks] * SQLITE_ROWS_PER_STATEMENT)
    for row in values:
        batch += row
        rows_in_batch += 1
        if rows_in_batch == SQLITE_ROWS_PER_STATEMENT:
            cursor.execute(statement, batch)
            batch, rows_in_batch = [], 0
    if rows_in_batch:
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row_marks] * rows_in_batch), batch)


def _preparer(field):
    if field.get_internal_type() in _PLAIN:
        return None
    if isinstance(field, models.JSONField):
        # What the field's own preparation sends on both databases (PostgreSQL parses the text).
        encoder = field.encoder
        return lambda value: None if value is None and field.null else json.dumps(value, cls=encoder)
    prepare = functools.partial(field.get_db_prep_save, connection=connection)
    if isinstance(field, models.DateTimeField):
        # Every row of one write carries the same few timestamps: prepare each once.
        return functools.lru_cache(maxsize=16)(prepare)
    return prepare
