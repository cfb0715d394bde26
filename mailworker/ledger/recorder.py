"""Recording committed batches in the main database on a thread of its own (with its own
connection), so that the appender plans the next batch while the main database records the
last one. Batches are recorded one at a time, in order; until a batch is recorded its
events look pending, which the next round's reconciliation repairs after a crash."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from .. import models

# commit(events, first leaf index, quorum checkpoint note): one main-database transaction.
Commit = Callable[[list, int, str], None]


class BatchRecorder:
    def __init__(self, commit: Commit):
        self.commit = commit
        self.pool: ThreadPoolExecutor | None = None   # made at the first batch to record
        self._unrecorded: tuple[list, int, str] | None = None   # committed, not yet marked
        self._recording: Future | None = None

    def committed(self, events: list, first_index: int, note: str) -> None:
        """A quorum holds this batch; record it at the next ``flush``."""
        self._unrecorded = (events, first_index, note)

    def flush(self, wait: bool = True) -> None:
        """Wait for the recording under way (raising its error), start the last committed
        batch's, and with ``wait`` wait for that too."""
        if self._recording is not None:
            recording, self._recording = self._recording, None
            recording.result()
        if self._unrecorded is not None:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-record")
            self._recording = self.pool.submit(self.commit, *self._unrecorded)
            self._unrecorded = None
        if wait and self._recording is not None:
            recording, self._recording = self._recording, None
            recording.result()

    def close(self) -> None:
        """Let a recording under way finish (its error was reported by ``flush``), then
        close the thread's database connection."""
        if self.pool is None:
            return                  # nothing was recorded: no thread, no connection
        try:
            if self._recording is not None:
                self._recording.exception()
        finally:
            self.pool.submit(_close_thread_connection).result()
            self.pool.shutdown(wait=True)


def _close_thread_connection() -> None:
    """Close the main-database connection peewee opened for the calling thread."""
    db = models.db_proxy.obj
    if db is not None and not db.is_closed():
        db.close()
