"""How the ingest pass commits on SQLite (the ingest's own policy, apart from the core's
database module): see ``IngestCommits``."""
from __future__ import annotations

import logging
import os
import sqlite3
import threading

import peewee as pw

from ..db import SQLITE_PRAGMAS, WAL_AUTOCHECKPOINT

log = logging.getLogger(__name__)


class IngestCommits:
    """How the ingest pass commits on SQLite: without an fsync per batch, and with the
    write-ahead log copied into the database file on a thread of its own.

    Why it is safe: until a message is moved out of the inbox, the inbox still holds it,
    so a batch that a power cut takes back is only read again. ``durable()`` puts
    everything committed so far on disk (one fsync of the log, what
    ``synchronous=FULL`` does at each commit), and the pipeline calls it before every
    move. A crash of the process never loses a commit in WAL mode, whatever the sync.

    Why the thread: SQLite copies the log into the database inside the commit that
    fills it past ``wal_autocheckpoint``, on the one busy thread of the pass; with the
    random index pages each message touches, that copy cost as much as the rest of the
    batch write. Here a second connection copies it (the sqlite3 module lets go of the
    GIL while SQLite works), at most every ``interval`` seconds so repeated pages are
    copied once. On PostgreSQL (or another database) nothing changes.
    """

    def __init__(self, db: pw.Database, interval: float = 0.5,
                 restart_bytes: int = 32 * 1024 * 1024):
        self.db = db
        self.interval = interval
        self.restart_bytes = restart_bytes
        self.sqlite = isinstance(db, pw.SqliteDatabase) and db.database not in ("", ":memory:")
        self._poke = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "IngestCommits":
        if self.sqlite:
            self.db.execute_sql("PRAGMA synchronous=NORMAL")
            self.db.execute_sql("PRAGMA wal_autocheckpoint=0")
        return self

    def __exit__(self, *exc) -> None:
        if not self.sqlite:
            return
        self._stop.set()
        self._poke.set()
        if self._thread is not None:
            self._thread.join()
        self.db.execute_sql(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
        self.db.execute_sql(f"PRAGMA synchronous={SQLITE_PRAGMAS['synchronous']}")

    def committed(self) -> None:
        """A batch was committed: the log may be worth copying. The copying thread starts
        with the first commit, so a pass with nothing to write starts none."""
        if self.sqlite and self._thread is None:
            self._thread = threading.Thread(target=self._copy_log, name="wal-checkpoint",
                                            daemon=True)
            self._thread.start()
        self._poke.set()

    def durable(self) -> None:
        """Everything committed so far is on disk when this returns."""
        if not self.sqlite:
            return
        for path in (self.db.database + "-wal", self.db.database):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue     # no log: everything is in the database file, synced by SQLite
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            return

    def _copy_log(self) -> None:
        try:
            conn = sqlite3.connect(self.db.database, timeout=15, isolation_level=None)
        except sqlite3.Error as exc:
            log.warning("cannot open %s to copy its write-ahead log: %s", self.db.database, exc)
            return
        try:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            frames = 0      # in the log at the last copy
            while not self._stop.is_set():
                self._poke.wait()
                self._poke.clear()
                if self._stop.is_set():
                    break
                # PASSIVE copies what it can without blocking the writer; but the log only
                # starts over once it was copied whole while no transaction ran, which a
                # busy writer never allows, so past a size the writer is held off briefly.
                # The size is what the log holds, not its file: the file keeps the size it
                # once reached, and judged by it every later copy held the writer off.
                mode = "RESTART" if frames * page_size > self.restart_bytes else "PASSIVE"
                _, frames, _ = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
                if mode == "RESTART":
                    frames = 0
                self._stop.wait(self.interval)
        except sqlite3.Error as exc:
            # Not fatal: the commits after the pass copy the log as usual.
            log.warning("copying the write-ahead log of %s failed: %s", self.db.database, exc)
        finally:
            conn.close()
