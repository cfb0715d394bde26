"""The ledger events in the main database: those waiting to be appended, the pending events
behind leaves the replicas already hold, and marking events appended.

The hot reads and writes of a big backlog use plain SQL: model objects would cost more
than the append itself.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import peewee as pw

from .. import models
from ..errors import DatabaseError
from .errors import ReplicaCorrupt


class Queued(NamedTuple):
    """A pending ledger event: its row id and its leaf data."""
    id: int
    payload: str


def oldest_pending(count: int, skip: set[int] = frozenset(), after: int = 0) -> list[Queued]:
    """The ``count`` oldest pending events not in ``skip`` with id > ``after``."""
    db = models.db_proxy.obj
    table = models.LedgerEvent._meta.table_name
    p = db.param
    cur = db.execute_sql(f"SELECT id, payload FROM {table} WHERE leaf_index IS NULL "
                         f"AND id > {p} ORDER BY id LIMIT {p}", (after, count + len(skip)))
    rows = cur.fetchall()
    if skip:
        rows = [r for r in rows if r[0] not in skip][:count]
    return list(map(Queued._make, rows))


def pending_count() -> int:
    return models.LedgerEvent.select().where(models.LedgerEvent.leaf_index.is_null()).count()


def match_pending(leaves: list[bytes], start: int, lookahead: int,
                  report: Callable[[str], None] | None = None) -> list[Queued] | None:
    """The pending events whose payloads are these leaves (leaf ``start`` on), in order.
    None if some leaf has no pending event (and ``report`` is told which). The oldest
    ``len(leaves) + lookahead`` pending events are read at once; a leaf not among them
    is looked up alone."""
    LE = models.LedgerEvent
    by_payload: dict[bytes, list[Queued]] = {}
    for e in oldest_pending(len(leaves) + lookahead):
        by_payload.setdefault(e.payload.encode("utf-8"), []).append(e)
    out: list[Queued] = []
    for i, leaf in enumerate(leaves):
        bucket = by_payload.get(leaf)
        if not bucket:
            bucket = [Queued(*row) for row in LE.select(LE.id, LE.payload).where(
                LE.leaf_index.is_null(), LE.payload == leaf.decode("utf-8", "replace"),
                LE.id.not_in([e.id for e in out] or [0])).order_by(LE.id).limit(1).tuples()]
            if not bucket:
                if report is not None:
                    report(f"leaf {start + i} on the replicas has no pending event in the "
                           "main database (was the database restored from an old backup?); "
                           "run `mailworker ledger verify`")
                return None
        out.append(bucket.pop(0))
    return out


def mark_appended(events: list[Queued], first_index: int, now) -> None:
    """Set leaf_index/appended_at for events appended at ``first_index`` on (inside the
    caller's transaction)."""
    LE = models.LedgerEvent
    db = models.db_proxy.obj
    table, p = LE._meta.table_name, db.param
    # Stored the way peewee stores a DateTimeField on this backend.
    stamp = now.isoformat(" ") if isinstance(db, pw.SqliteDatabase) else now
    ids = [e.id for e in events]
    try:
        cur = db.cursor()
        if ids == list(range(ids[0], ids[0] + len(ids))):
            # Consecutive ids (the usual case): one statement for the whole batch.
            cur.execute(f"UPDATE {table} SET leaf_index = id - {p}, appended_at = {p} "
                        f"WHERE id BETWEEN {p} AND {p} AND leaf_index IS NULL",
                        (ids[0] - first_index, stamp, ids[0], ids[-1]))
        else:
            cur.executemany(f"UPDATE {table} SET leaf_index = {p}, appended_at = {p} "
                            f"WHERE id = {p} AND leaf_index IS NULL",
                            [(first_index + i, stamp, e) for i, e in enumerate(ids)])
        n = (LE.select().where(LE.leaf_index.between(first_index,
                                                     first_index + len(events) - 1))
             .count())
    except pw.DatabaseError as exc:
        raise DatabaseError(f"cannot mark ledger events as appended: {exc}") from None
    if n != len(events):
        raise ReplicaCorrupt(f"marking {len(events)} ledger events as appended left {n} with "
                             "those leaf indexes: another process appended at the same time")
