"""Reusing peewee's SQL for the hot path.

Building a query with peewee costs far more than SQLite needs to run it. The ingest pipeline runs the same few statements for
every message, so it builds each statement once with peewee (keeping the model as the
one source of column names and conversions) and then executes that SQL with new
parameters. Only for statements whose shape never changes; everything else stays plain
peewee.
"""
from __future__ import annotations

import functools
import operator
import weakref
from typing import Any, Callable, Sequence, TypeVar

import peewee as pw

from .models import db_proxy

T = TypeVar("T")


class PreparedInsert:
    """INSERT of one row into ``model`` with exactly ``fields``; returns the new id.

    Built with peewee's public query API only (never by editing its SQL text): one row
    with RETURNING the id where the database has RETURNING, and ``many_sql`` for several
    rows at once without it."""

    def __init__(self, model: type[pw.Model], fields: Sequence[pw.Field],
                 on_conflict_ignore: bool = False):
        self.model = model
        self.fields = list(fields)
        self.on_conflict_ignore = on_conflict_ignore
        self.returning = (bool(getattr(db_proxy.obj, "returning_clause", False))
                          and isinstance(model._meta.primary_key, pw.Field)
                          and not isinstance(model._meta.primary_key, pw.CompositeKey))
        self.sql, params = self._query(1, self.returning).sql()
        if len(params) != len(self.fields):
            raise ValueError(f"{model.__name__}: prepared insert expected "
                             f"{len(self.fields)} parameters, peewee made {len(params)}")
        self._many = functools.lru_cache(maxsize=16)(
            lambda count: self._query(count, False).sql()[0])

    def _query(self, count: int, returning: bool) -> pw.ModelInsert:
        query = self.model.insert_many([{f: None for f in self.fields}] * count)
        if self.on_conflict_ignore:
            query = query.on_conflict_ignore()
        return (query.returning(self.model._meta.primary_key) if returning
                else query.returning())

    def many_sql(self, count: int) -> str:
        """The same INSERT for ``count`` rows at once (parameters row after row), without
        RETURNING: ids are not needed there. Built once per count."""
        return self._many(count)

    def execute(self, row: dict[pw.Field, Any]) -> int | None:
        """Insert; the new row's id, or None when ON CONFLICT ignored it."""
        params = [f.db_value(row.get(f)) for f in self.fields]
        cursor = db_proxy.execute_sql(self.sql, params)
        if self.returning:
            got = cursor.fetchone()
            return got[0] if got else None
        return cursor.lastrowid if cursor.rowcount else None


class PreparedSelect:
    """A SELECT whose WHERE takes parameters in a fixed order; rows come back as tuples."""

    def __init__(self, query: pw.Select):
        self.sql, self.template = query.sql()

    def rows(self, *params) -> list[tuple]:
        if len(params) != len(self.template):
            raise ValueError(f"prepared select takes {len(self.template)} parameters")
        return db_proxy.execute_sql(self.sql, list(params)).fetchall()

    def scalar(self, *params):
        rows = self.rows(*params)
        return rows[0][0] if rows else None


_cache: "weakref.WeakKeyDictionary[pw.Database, dict[str, Any]]" = weakref.WeakKeyDictionary()


def prepared(name: str, build: Callable[[], T]) -> T:
    """The statement ``name`` for the database now bound to the models (built once each:
    SQLite and PostgreSQL differ in placeholders and RETURNING)."""
    database = db_proxy.obj
    per_db = _cache.setdefault(database, {})
    if name not in per_db:
        per_db[name] = build()
    return per_db[name]


def _insert_fields(model: type[pw.Model]) -> list[pw.Field]:
    return [f for f in model._meta.sorted_fields if not isinstance(f, pw.AutoField)]


_defaults: dict[type, tuple[dict[str, Any], list[tuple[str, Callable[[], Any]]]]] = {}


def complete_row(model: type[pw.Model], values: dict[str, Any]) -> dict[str, Any]:
    """Every column of ``model`` by field name: given values, else the field's default
    (as peewee fills them in Python), else None."""
    cached = _defaults.get(model)
    if cached is None:
        fields = _insert_fields(model)
        fixed = {f.name: None if callable(f.default) else f.default for f in fields}
        made = [(f.name, f.default) for f in fields if callable(f.default)]
        cached = _defaults[model] = (fixed, made)
    fixed, made = cached
    row = fixed.copy()
    for name, make in made:
        if name not in values:
            row[name] = make()
    row.update(values)
    return row


# Fields whose db_value hands a value of the right Python type to the driver unchanged;
# rows built by our own code hold those types, so insert_many passes them straight on.
_PLAIN_FIELDS = (pw.CharField, pw.TextField, pw.IntegerField, pw.BooleanField,
                 pw.DateTimeField, pw.FloatField)


def _is_plain(field: pw.Field) -> bool:
    return (isinstance(field, _PLAIN_FIELDS) and not isinstance(field, pw.ForeignKeyField)
            and type(field).db_value is pw.Field.db_value)


def _insert_statement(model: type[pw.Model], on_conflict_ignore: bool) -> PreparedInsert:
    return prepared(f"insert:{model.__name__}:{on_conflict_ignore}",
                    lambda: PreparedInsert(model, _insert_fields(model), on_conflict_ignore))


def insert_instance(model: type[pw.Model], values: dict[str, Any],
                    on_conflict_ignore: bool = False) -> pw.Model | None:
    """Insert a row given by field name (model defaults fill the rest, as peewee does);
    the model instance with its id, or None if ON CONFLICT ignored it."""
    row = complete_row(model, values)
    statement = _insert_statement(model, on_conflict_ignore)
    new_id = statement.execute({f: row[f.name] for f in statement.fields})
    if new_id is None:
        return None
    return model(id=new_id, **row)


# Parameters in one statement: SQLite (3.32 and later) takes up to 32,766.
MAX_PARAMETERS = 30_000


def repeated_rows(prefix: str, row: str, suffix: str, count: int) -> str:
    """``prefix`` + ``row`` repeated ``count`` times, comma-separated, + ``suffix``: a
    multi-row VALUES list for a statement of our own making."""
    return prefix + ", ".join([row] * count) + suffix


def execute_rows(sql_for: Callable[[int], str], rows: list[Sequence[Any]]) -> None:
    """Run a multi-row statement over ``rows``, as few statements as the parameter limit
    allows. One statement a chunk, not one a row: SQLite then does the whole chunk in one
    step with the GIL released, where executemany gives it back and waits to take it again
    for every row while the worker's other threads (fetching, analysis results) want it."""
    if not rows:
        return
    per = max(1, MAX_PARAMETERS // len(rows[0]))
    cursor = db_proxy.cursor()
    for i in range(0, len(rows), per):
        part = rows[i:i + per]
        cursor.execute(sql_for(len(part)), [value for row in part for value in row])


def insert_many(model: type[pw.Model], rows: list[dict[str, Any]],
                on_conflict_ignore: bool = False) -> None:
    """Insert complete rows (see ``complete_row``) with multi-row statements."""
    if not rows:
        return
    statement = _insert_statement(model, on_conflict_ignore)
    pick = operator.itemgetter(*[f.name for f in statement.fields])
    convert = [(i, f.db_value) for i, f in enumerate(statement.fields) if not _is_plain(f)]
    params = []
    for r in rows:
        p = list(pick(r))
        for i, db_value in convert:
            p[i] = db_value(p[i])
        params.append(p)
    execute_rows(statement.many_sql, params)


def select_in(columns: Sequence[pw.Field], key: pw.Field, values: Sequence[Any],
              chunk: int = 512) -> list[tuple]:
    """Rows (tuples of ``columns``) whose ``key`` is one of ``values``.

    The list is padded to a power of two by repeating its last value, so a handful of
    statements (one per length) serve every batch."""
    rows: list[tuple] = []
    model = key.model
    name = f"{model.__name__}.{key.name}:" + ",".join(c.name for c in columns)
    for i in range(0, len(values), chunk):
        part = list(values[i:i + chunk])
        width = 1 << (len(part) - 1).bit_length()
        part += part[-1:] * (width - len(part))
        statement = prepared(f"select-in:{name}:{width}", lambda: PreparedSelect(
            model.select(*columns).where(key.in_([""] * width))))
        rows.extend(statement.rows(*part))
    return rows
