"""Where the rows of a recorded message go: straight into the database, or into a batch.

``DirectSink`` writes each row at once (staff triage decisions, and the careful retry of
a batch). ``BatchSink`` gathers a batch's rows and writes each table with one
multi-row INSERT at the end, inside the batch transaction; a message's rows join the batch
only when the whole message was recorded (``begin``/``keep``/``drop``), so a message
that fails half-way leaves nothing behind. The hour credit refers to its message by
content hash, so it can be written before the message has an id.
"""
from __future__ import annotations

import datetime as dt
import functools
from types import SimpleNamespace
from typing import Any

import peewee as pw

from ..models import (CreditedText, HourCredit, LedgerEvent, Message, Outbox, StaffRequest,
                      db_proxy, text_key)
from ..prepared import (complete_row, execute_rows, insert_instance, insert_many, prepared,
                        repeated_rows)
from . import bands as band_store

CREDIT_FIELDS = ("member", "kind", "hours", "credited_at", "by")


class _CreditFromMessage:
    """INSERT INTO hour_credit (...) SELECT message.id, ... WHERE message.sha256 = ?
    for one row; ``many_sql`` for several: the credits' values joined to their messages
    by content hash (VALUES columns are named column1, column2, ... in SQLite and
    PostgreSQL alike)."""

    def __init__(self):
        fields = [HourCredit._meta.fields[n] for n in CREDIT_FIELDS]
        self.fields = fields
        query = HourCredit.insert_from(
            Message.select(Message.id, *[pw.Value(None) for _ in fields])
            .where(Message.sha256 == ""), [HourCredit.message, *fields]).returning()
        self.sql, _ = query.sql()
        p = db_proxy.obj.param
        columns = ", ".join(f'"{f.column_name}"' for f in [HourCredit.message, *fields])
        picked = ", ".join(f"v.column{i + 2}" for i in range(len(fields)))
        self._row = "(" + ", ".join([p] * (len(fields) + 1)) + ")"
        self._prefix = (f'INSERT INTO "{HourCredit._meta.table_name}" ({columns}) '
                        f'SELECT m."id", {picked} FROM (VALUES ')
        self._suffix = (f') AS v JOIN "{Message._meta.table_name}" AS m '
                        f'ON m."sha256" = v.column1')

    def params(self, sha256: str, row: dict[str, Any]) -> list:
        return [f.db_value(row[f.name]) for f in self.fields] + [sha256]

    def many_params(self, sha256: str, row: dict[str, Any]) -> list:
        return [sha256] + [f.db_value(row[f.name]) for f in self.fields]

    @functools.lru_cache(maxsize=16)
    def many_sql(self, count: int) -> str:
        return repeated_rows(self._prefix, self._row, self._suffix, count)


def _credit_statement() -> _CreditFromMessage:
    return prepared("insert:HourCredit:from-sha", _CreditFromMessage)


class DirectSink:
    def message(self, values: dict[str, Any]) -> Message:
        return insert_instance(Message, values)

    def credit(self, sha256: str, values: dict[str, Any]) -> None:
        statement = _credit_statement()
        db_proxy.execute_sql(statement.sql, statement.params(sha256, values))

    def event(self, values: dict[str, Any]) -> None:
        insert_instance(LedgerEvent, values)

    def outbox(self, values: dict[str, Any]) -> None:
        insert_instance(Outbox, values, on_conflict_ignore=True)

    def staff_request(self, values: dict[str, Any]) -> None:
        insert_instance(StaffRequest, values)

    def text(self, sha256: str, member_id: int, signature: bytes, bands) -> None:
        """A credited text's sketch and band keys (near-copy look-ups)."""
        key = text_key(sha256)
        insert_many(CreditedText, [complete_row(CreditedText, {
            "key": key, "msg_sha256": sha256, "member": member_id, "signature": signature})],
            on_conflict_ignore=True)
        band_store.add((b, key) for b in bands)


class BatchedMessage(SimpleNamespace):
    """A message row waiting in a batch: its values by field name, read like a Message
    (a peewee instance would cost more to build than the rest of the row together).
    It has no id until the batch is written."""
    id = None


class BatchSink:
    def __init__(self):
        self._tables: dict[str, list] = {"message": [], "credit": [], "event": [], "outbox": [],
                                         "staff": [], "text": [], "band": []}
        self._pending: dict[str, list] | None = None

    # -- one message at a time ------------------------------------------------------
    def begin(self) -> None:
        self._pending = {name: [] for name in self._tables}

    def keep(self) -> None:
        for name, rows in self._pending.items():
            self._tables[name].extend(rows)
        self._pending = None

    def drop(self) -> None:
        self._pending = None

    # -- the rows -------------------------------------------------------------------
    def message(self, values: dict[str, Any]) -> "BatchedMessage":
        row = complete_row(Message, values)
        self._pending["message"].append(row)
        return BatchedMessage(**row)

    def credit(self, sha256: str, values: dict[str, Any]) -> None:
        self._pending["credit"].append((sha256, values))

    def event(self, values: dict[str, Any]) -> None:
        self._pending["event"].append(complete_row(LedgerEvent, values))

    def outbox(self, values: dict[str, Any]) -> None:
        self._pending["outbox"].append(complete_row(Outbox, values))

    def staff_request(self, values: dict[str, Any]) -> None:
        self._pending["staff"].append(complete_row(StaffRequest, values))

    def text(self, sha256: str, member_id: int, signature: bytes, bands) -> None:
        key = text_key(sha256)
        self._pending["text"].append(complete_row(CreditedText, {
            "key": key, "msg_sha256": sha256, "member": member_id, "signature": signature}))
        self._pending["band"].extend((b, key) for b in bands)

    def flush(self, now: dt.datetime) -> None:
        """Write everything kept, one statement per table (messages first); with new band
        keys, move the next band number's waiting keys (``bands.move_one``)."""
        insert_many(Message, self._tables["message"])
        if self._tables["credit"]:
            statement = _credit_statement()
            execute_rows(statement.many_sql, [statement.many_params(sha, row)
                                              for sha, row in self._tables["credit"]])
        insert_many(LedgerEvent, self._tables["event"])
        insert_many(Outbox, self._tables["outbox"], on_conflict_ignore=True)
        insert_many(StaffRequest, self._tables["staff"])
        insert_many(CreditedText, self._tables["text"], on_conflict_ignore=True)
        if self._tables["band"]:
            band_store.add(self._tables["band"])
            band_store.move_one(now)
        for rows in self._tables.values():
            rows.clear()
