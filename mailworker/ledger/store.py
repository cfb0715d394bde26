"""Replica stores: where one replica keeps its tiles, leaf bundles, signatures and the
latest quorum checkpoint.

One seam, ``ReplicaStore``, with two implementations over plain SQL: an SQLite file
(the embedded default, a rollback journal with full sync so a committed append survives
power loss) and a PostgreSQL database by URL (a replica on another host). The stores are
separate from the main database on purpose: each replica must be able to live, fail and
be checked on its own.

Every append is one transaction that first checks the store is still exactly the tree
the append was planned for (size and right-edge tiles), so two appenders or a crash can
never leave a half-written or doubled tree.
"""
from __future__ import annotations

import logging
import sqlite3
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..db import redact_url
from ..private import private_dir, private_file
from .errors import ReplicaCorrupt, ReplicaUnavailable, ReplicaUnreadable
from .tree import AppendPlan

log = logging.getLogger(__name__)

# /2: full leaf bundles may be packed (see tree.pack_bundle). A /1 store (plain bundles
# only) reads the same and is marked /2 by its first append after the upgrade, so an
# older mailworker refuses it instead of misreading a packed bundle.
FORMAT = "mailworker-ledger-replica/2"
FORMAT_V1 = "mailworker-ledger-replica/1"
READABLE_FORMATS = (FORMAT, FORMAT_V1)


@dataclass(frozen=True)
class SignedRecord:
    """A checkpoint this replica signed: tree size, root, its signature line, when."""
    size: int
    root: bytes
    line: str
    signed_at: str


@dataclass(frozen=True)
class Rewrite:
    """A repair's change to a store: new size, tiles/bundles to write and to delete."""
    size: int
    write_tiles: dict[int, bytes]
    delete_tiles: list[int]
    write_bundles: dict[int, bytes]
    delete_bundles: list[int]


class ReplicaStore(ABC):
    """Storage of one replica. Methods raise ReplicaUnavailable when it cannot be reached."""

    name: str
    where: str

    # -- life ----------------------------------------------------------------------------
    @abstractmethod
    def has_schema(self) -> bool:
        """True when the store has been created (tables present)."""

    @abstractmethod
    def create_schema(self, origin: str, replica: str) -> None:
        """Create empty tables and record which ledger and replica this store belongs to."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    # -- reading -------------------------------------------------------------------------
    @abstractmethod
    def meta(self) -> dict[str, str]:
        """origin, replica, format, size."""

    def size(self) -> int:
        return int(self.meta().get("size", "0"))

    @abstractmethod
    def read_tiles(self, ids: Iterable[int]) -> dict[int, bytes]:
        """The tiles with these ids that exist."""

    @abstractmethod
    def read_bundles(self, first: int, last: int) -> dict[int, bytes]:
        """Bundles first..last (inclusive) that exist."""

    @abstractmethod
    def tile_ids(self) -> list[int]:
        """Ids of all stored tiles, ascending."""

    @abstractmethod
    def bundle_ids(self) -> list[int]:
        """Ids of all stored bundles, ascending."""

    @abstractmethod
    def signed(self) -> list[SignedRecord]:
        """Every checkpoint this replica signed, by size."""

    @abstractmethod
    def last_signed(self) -> SignedRecord | None:
        """The largest checkpoint this replica signed."""

    @abstractmethod
    def checkpoint(self) -> tuple[int, str] | None:
        """(size, note) of the newest quorum checkpoint stored here."""

    @abstractmethod
    def ever_signed_by(self, name: str) -> bool:
        """True if any quorum checkpoint stored here carries a signature by ``name``."""

    # -- writing -------------------------------------------------------------------------
    @abstractmethod
    def apply(self, plan: AppendPlan) -> None:
        """Write an append atomically; refuse if the store is not the plan's base tree."""

    @abstractmethod
    def rewrite(self, change: Rewrite) -> None:
        """Apply a repair (truncation) atomically."""

    @abstractmethod
    def add_signed(self, size: int, root: bytes, line: str, signed_at: str) -> None:
        """Remember a signature (idempotent for the same size)."""

    @abstractmethod
    def drop_signed(self, sizes: Iterable[int]) -> None:
        """Forget signatures (repair of a replica whose uncommitted tail is dropped)."""

    @abstractmethod
    def put_checkpoint(self, size: int, note: str) -> None:
        """Store a quorum checkpoint note (idempotent; a larger note replaces nothing)."""


class BaseMismatch(ReplicaCorrupt):
    """The store changed since the append was planned (another appender, or tampering)."""


class SqlReplicaStore(ReplicaStore):
    """The SQL shared by SQLite and PostgreSQL; subclasses supply connection and dialect."""

    blob_type = "BLOB"
    int_pk = "INTEGER PRIMARY KEY"
    param = "?"
    driver_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
    unavailable_errors: tuple[type[BaseException], ...] = (sqlite3.OperationalError,)

    def __init__(self, name: str, where: str):
        self.name = name
        self.where = where
        self.conn = None
        self._depth = 0          # 1 while transaction() holds a write transaction open

    # -- helpers -------------------------------------------------------------------------
    def _sql(self, text: str) -> str:
        return text if self.param == "?" else text.replace("?", self.param)

    @contextmanager
    def _guard(self, doing: str):
        try:
            yield
        except self.driver_errors as exc:
            raise self._failure(exc, doing) from None

    def _failure(self, exc: BaseException, doing: str) -> Exception:
        """The ledger error for a driver error met while ``doing`` something."""
        self._after_error()
        kind = ReplicaUnavailable if isinstance(exc, self.unavailable_errors) else ReplicaCorrupt
        return kind(f"{self.name} ({self.where}): cannot {doing}: {_first_line(exc)}")

    def _after_error(self) -> None:
        """Roll back whatever was open so the connection stays usable."""

    @abstractmethod
    def _begin_write(self, cur) -> None:
        """Start a write transaction that excludes other writers."""

    def _commit(self) -> None:
        self.conn.commit()

    def _rollback(self) -> None:
        self.conn.rollback()

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        cur = self.conn.cursor()
        try:
            cur.execute(self._sql(sql), args)
            return cur.fetchall()
        finally:
            cur.close()

    def _in_list(self, n: int) -> str:
        return ",".join([self.param] * n)

    @contextmanager
    def _write(self, doing: str):
        """A write transaction, or a part of the one ``transaction()`` holds open."""
        with self._guard(doing):
            cur = self.conn.cursor()
            try:
                if self._depth:
                    yield cur
                    return
                self._begin_write(cur)
                self._depth = 1
                try:
                    yield cur
                finally:
                    self._depth = 0
            except BaseException:
                if not self._depth:
                    self._rollback()
                raise
            else:
                if not self._depth:
                    self._commit()
            finally:
                cur.close()

    @contextmanager
    def transaction(self, doing: str = "write"):
        """Group several writes (and reads of them) into one atomic, durable commit."""
        if self._depth:
            yield
            return
        with self._guard(doing):
            cur = self.conn.cursor()
            self._begin_write(cur)
            cur.close()
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            with self._guard(f"roll back ({doing})"):
                self._rollback()
            raise
        self._depth = 0
        with self._guard(f"commit ({doing})"):
            self._commit()

    # -- schema --------------------------------------------------------------------------
    def _ddl(self) -> list[str]:
        b, pk = self.blob_type, self.int_pk
        return [
            "CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS ledger_tile (id {pk}, data {b} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS ledger_bundle (id {pk}, data {b} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS ledger_signed (size {pk}, root {b} NOT NULL, "
            "line TEXT NOT NULL, signed_at TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS ledger_checkpoint (size {pk}, note TEXT NOT NULL)",
        ]

    def create_schema(self, origin: str, replica: str) -> None:
        with self._write("create the replica tables") as cur:
            for stmt in self._ddl():
                cur.execute(stmt)
            for k, v in (("format", FORMAT), ("origin", origin), ("replica", replica),
                         ("size", "0")):
                cur.execute(self._sql("INSERT INTO ledger_meta (key, value) VALUES (?, ?) "
                                      "ON CONFLICT (key) DO NOTHING"), (k, v))

    def meta(self) -> dict[str, str]:
        with self._guard("read the replica's identity"):
            return {k: v for k, v in self._rows("SELECT key, value FROM ledger_meta")}

    def read_tiles(self, ids: Iterable[int]) -> dict[int, bytes]:
        ids = list(ids)
        out: dict[int, bytes] = {}
        with self._guard("read tiles"):
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                for tid, data in self._rows(
                        f"SELECT id, data FROM ledger_tile WHERE id IN ({self._in_list(len(part))})",
                        tuple(part)):
                    out[tid] = bytes(data)
        return out

    def read_bundles(self, first: int, last: int) -> dict[int, bytes]:
        with self._guard("read leaf bundles"):
            return {bid: bytes(data) for bid, data in self._rows(
                "SELECT id, data FROM ledger_bundle WHERE id BETWEEN ? AND ?", (first, last))}

    def tile_ids(self) -> list[int]:
        with self._guard("list tiles"):
            return [r[0] for r in self._rows("SELECT id FROM ledger_tile ORDER BY id")]

    def bundle_ids(self) -> list[int]:
        with self._guard("list leaf bundles"):
            return [r[0] for r in self._rows("SELECT id FROM ledger_bundle ORDER BY id")]

    def signed(self) -> list[SignedRecord]:
        with self._guard("read its signatures"):
            return [SignedRecord(s, bytes(r), line, at) for s, r, line, at in self._rows(
                "SELECT size, root, line, signed_at FROM ledger_signed ORDER BY size")]

    def last_signed(self) -> SignedRecord | None:
        with self._guard("read its last signature"):
            rows = self._rows("SELECT size, root, line, signed_at FROM ledger_signed "
                              "ORDER BY size DESC LIMIT 1")
        return SignedRecord(rows[0][0], bytes(rows[0][1]), rows[0][2], rows[0][3]) \
            if rows else None

    def checkpoint(self) -> tuple[int, str] | None:
        with self._guard("read the quorum checkpoint"):
            rows = self._rows("SELECT size, note FROM ledger_checkpoint "
                              "ORDER BY size DESC LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else None

    def ever_signed_by(self, name: str) -> bool:
        with self._guard("read its quorum checkpoints"):
            return bool(self._rows("SELECT 1 FROM ledger_checkpoint WHERE note LIKE ? LIMIT 1",
                                   (f"%\n\u2014 {name} %",)))

    # -- writing -------------------------------------------------------------------------
    def _locked_size(self, cur) -> int:
        cur.execute(self._sql("SELECT value FROM ledger_meta WHERE key = ?" + self._lock_clause),
                    ("size",))
        row = cur.fetchone()
        return int(row[0]) if row else 0

    _lock_clause = ""

    def _set_size(self, cur, size: int) -> None:
        cur.execute(self._sql("UPDATE ledger_meta SET value = ? WHERE key = ?"),
                    (str(size), "size"))

    def _upsert(self, cur, table: str, rows: dict[int, bytes]) -> None:
        if rows:
            cur.executemany(self._sql(
                f"INSERT INTO {table} (id, data) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET data = excluded.data"),
                [(k, self._blob(v)) for k, v in rows.items()])

    def _blob(self, data: bytes):
        return data

    def apply(self, plan: AppendPlan) -> None:
        with self._write("append leaves") as cur:
            size = self._locked_size(cur)
            if size != plan.old_size:
                raise BaseMismatch(f"{self.name}: the store holds {size} leaves, the append "
                                   f"was planned for {plan.old_size}")
            if plan.base_tiles:
                ids = list(plan.base_tiles)
                cur.execute(self._sql(f"SELECT id, data FROM ledger_tile WHERE id IN "
                                      f"({self._in_list(len(ids))})"), tuple(ids))
                now = {tid: bytes(d) for tid, d in cur.fetchall()}
                if now != plan.base_tiles:
                    raise BaseMismatch(f"{self.name}: its right-edge tiles changed since the "
                                       "append was planned")
            if plan.base_bundle is not None:
                bid, blob = plan.base_bundle
                cur.execute(self._sql("SELECT data FROM ledger_bundle WHERE id = ?"), (bid,))
                row = cur.fetchone()
                if row is None or bytes(row[0]) != blob:
                    raise BaseMismatch(f"{self.name}: its last leaf bundle changed since the "
                                       "append was planned")
            self._upsert(cur, "ledger_tile", plan.tiles)
            self._upsert(cur, "ledger_bundle", plan.bundles)
            self._set_size(cur, plan.new_size)
            cur.execute(self._sql("UPDATE ledger_meta SET value = ? WHERE key = ? AND value = ?"),
                        (FORMAT, "format", FORMAT_V1))

    def rewrite(self, change: Rewrite) -> None:
        with self._write("rewrite the tree (repair)") as cur:
            for table, ids in (("ledger_tile", change.delete_tiles),
                               ("ledger_bundle", change.delete_bundles)):
                for i in range(0, len(ids), 500):
                    part = ids[i:i + 500]
                    cur.execute(self._sql(f"DELETE FROM {table} WHERE id IN "
                                          f"({self._in_list(len(part))})"), tuple(part))
            self._upsert(cur, "ledger_tile", change.write_tiles)
            self._upsert(cur, "ledger_bundle", change.write_bundles)
            self._set_size(cur, change.size)

    def add_signed(self, size: int, root: bytes, line: str, signed_at: str) -> None:
        with self._write("record its signature") as cur:
            cur.execute(self._sql("INSERT INTO ledger_signed (size, root, line, signed_at) "
                                  "VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING"),
                        (size, self._blob(root), line, signed_at))

    def drop_signed(self, sizes: Iterable[int]) -> None:
        sizes = list(sizes)
        if not sizes:
            return
        with self._write("forget signatures") as cur:
            cur.executemany(self._sql("DELETE FROM ledger_signed WHERE size = ?"),
                            [(s,) for s in sizes])

    def put_checkpoint(self, size: int, note: str) -> None:
        with self._write("store the quorum checkpoint") as cur:
            cur.execute(self._sql("INSERT INTO ledger_checkpoint (size, note) VALUES (?, ?) "
                                  "ON CONFLICT (size) DO UPDATE SET note = excluded.note"),
                        (size, note))


class SqliteReplicaStore(SqlReplicaStore):
    """A replica in one SQLite file: rollback journal (TRUNCATE), synchronous=FULL.

    Appends are almost all new pages at the end of the file. A rollback journal keeps
    only the original content of the few pages an append changes (the right-edge tile,
    the last bundle, the size), so the new pages are written once; WAL would write every
    page twice (to the log, then to the file at the checkpoint). With synchronous=FULL a
    commit syncs the journal (content, then its header), then the database file, then
    truncates the journal and syncs that (SQLite does this sync in TRUNCATE mode only
    with FULL or EXTRA): an append that returned survives a power loss, and one killed
    half-way is rolled back from the journal by whoever opens the store next.

    A store made by an older version in WAL mode stays in WAL mode (still durable with
    synchronous=FULL) until it is opened while no other connection has it open.
    """

    PAGE_SIZE = 16384       # one tile (16,320 bytes) fits one page, no overflow chain
    MMAP_BYTES = 1 << 28    # proofs read tiles straight from the mapped file

    def __init__(self, name: str, path: Path, create: bool = False):
        super().__init__(name, str(path))
        self.path = path
        if not create and not path.exists():
            raise ReplicaUnavailable(f"{name}: store {path} does not exist")
        try:
            if create:
                private_dir(path.parent)
                private_file(path)      # 0600, and its -wal/-shm/-journal with it
            self.conn = sqlite3.connect(f"file:{path}?mode={'rwc' if create else 'rw'}",
                                        uri=True, timeout=15, isolation_level=None,
                                        check_same_thread=False)
            self.conn.execute(f"PRAGMA page_size = {self.PAGE_SIZE}")   # new files only
            self.journal_mode = self._use_rollback_journal()
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute(f"PRAGMA mmap_size = {self.MMAP_BYTES}")
        except (sqlite3.Error, OSError) as exc:
            if self.conn is not None:
                self.conn.close()
            kind = ReplicaUnavailable if isinstance(exc, (sqlite3.OperationalError, OSError)) \
                and not _unreadable(exc) else ReplicaUnreadable
            raise kind(f"{name}: cannot open store {path}: {_first_line(exc)}") from None

    def _failure(self, exc: BaseException, doing: str) -> Exception:
        err = super()._failure(exc, doing)
        if type(err) is ReplicaCorrupt and _unreadable(exc):
            return ReplicaUnreadable(str(err))
        return err

    def _use_rollback_journal(self) -> str:
        """Switch to journal_mode=TRUNCATE; a WAL store that another connection has open
        cannot switch now and stays in WAL (without waiting for that connection)."""
        conn = self.conn
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                conn.execute("PRAGMA journal_mode = TRUNCATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                log.debug("%s: stays in WAL mode for now (open elsewhere): %s", self.name, exc)
        else:
            conn.execute("PRAGMA journal_mode = TRUNCATE")
        conn.execute("PRAGMA busy_timeout = 15000")
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0].lower()
        if mode not in ("truncate", "wal"):
            raise sqlite3.OperationalError(f"cannot use a durable journal (got {mode!r})")
        return mode

    def read_tiles(self, ids: Iterable[int]) -> dict[int, bytes]:
        ids = ids if isinstance(ids, list) else list(ids)
        if len(ids) != 1:
            return super().read_tiles(ids)
        # The hot read of a proof (its leaf's bottom tile): one row, no cursor of our own.
        try:
            row = self.conn.execute("SELECT data FROM ledger_tile WHERE id = ?",
                                    (ids[0],)).fetchone()
        except self.driver_errors as exc:
            raise self._failure(exc, "read tiles") from None
        return {ids[0]: row[0]} if row is not None else {}

    def _begin_write(self, cur) -> None:
        cur.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self.conn.execute("COMMIT")

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def _after_error(self) -> None:
        try:
            self._rollback()
        except sqlite3.Error as exc:
            # The connection is gone; the caller already reports the first error.
            log.debug("%s: rollback after an error failed too: %s", self.name, exc)

    def has_schema(self) -> bool:
        with self._guard("read its tables"):
            return bool(self._rows(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'ledger_meta'"))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class PostgresReplicaStore(SqlReplicaStore):
    """A replica in its own PostgreSQL database, e.g. on another host."""

    blob_type = "BYTEA"
    int_pk = "BIGINT PRIMARY KEY"
    param = "%s"
    _lock_clause = " FOR UPDATE"

    def __init__(self, name: str, url: str, password: str | None = None,
                 connect_timeout: int = 10, create: bool = False):
        super().__init__(name, redact_url(url))
        try:
            import psycopg2
        except ImportError:
            raise ReplicaUnavailable(
                f"{name}: {self.where} needs the PostgreSQL driver: "
                "pip install 'mailworker[postgres]'") from None
        self.driver_errors = (psycopg2.Error,)
        self.unavailable_errors = (psycopg2.OperationalError, psycopg2.InterfaceError)
        self._psycopg2 = psycopg2
        kw = {"connect_timeout": connect_timeout}
        if password is not None:
            kw["password"] = password
        try:
            self.conn = psycopg2.connect(url.replace("postgres://", "postgresql://", 1), **kw)
        except psycopg2.Error as exc:
            raise ReplicaUnavailable(f"{name}: cannot connect to {self.where}: "
                                     f"{_first_line(exc)}") from None

    def _blob(self, data: bytes):
        return self._psycopg2.Binary(data)

    def _begin_write(self, cur) -> None:
        """psycopg2 opens the transaction itself; the size row is locked FOR UPDATE."""

    def _after_error(self) -> None:
        try:
            if self.conn is not None and not self.conn.closed:
                self.conn.rollback()
        except self._psycopg2.Error as exc:
            # The connection is gone; the caller already reports the first error.
            log.debug("%s: rollback after an error failed too: %s", self.name, exc)

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        rows = super()._rows(sql, args)
        if not self._depth:
            self.conn.rollback()        # reads outside a write must not hold one open
        return rows

    def has_schema(self) -> bool:
        with self._guard("read its tables"):
            return bool(self._rows("SELECT 1 FROM information_schema.tables "
                                   "WHERE table_name = 'ledger_meta'"))

    def create_schema(self, origin: str, replica: str) -> None:
        with self._write("create the replica tables") as cur:
            cur.execute("SELECT pg_advisory_xact_lock(7243001)")   # two creators at once
            for stmt in self._ddl():
                cur.execute(stmt)
            for k, v in (("format", FORMAT), ("origin", origin), ("replica", replica),
                         ("size", "0")):
                cur.execute("INSERT INTO ledger_meta (key, value) VALUES (%s, %s) "
                            "ON CONFLICT (key) DO NOTHING", (k, v))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _unreadable(exc: BaseException) -> bool:
    """SQLite's words for a file that is not (or no longer) a database."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "disk image" in text)
