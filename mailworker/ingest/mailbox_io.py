"""The mailbox, worked on in the background while the pipeline parses and writes.

One thread makes every call to the source, in order: it lists the inbox, asks once which
messages are large, and fetches the next batch while the pipeline records this one.
Moves run on a thread of their own; on a long pass they use a second connection
(``source.filer()``), so the server moves one group while it sends the next batch.
The pipeline only waits when the batch it needs has not arrived yet.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator

from .sources import Fetched, MailboxSource, chunks

BATCH_BYTES = 32 * 1024 * 1024   # at most this much mail in one batch (two are in memory)
SMALL_BYTES = 256 * 1024         # a message's size is asked for only when it is larger


class MailboxIO:
    def __init__(self, source: MailboxSource, batch_size: int, max_bytes: int,
                 long_pass: int):
        self.source = source
        self.batch_size = batch_size
        self.max_bytes = max_bytes
        self.long_pass = long_pass      # from this many messages on, file on a 2nd connection
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailbox")
        self._mover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailbox-move")
        self._filer: MailboxSource | None = None
        self._filer_ready: Future | None = None
        self._small = min(SMALL_BYTES, max_bytes)
        self._keys: list[str] = []
        self._large: dict[str, int] = {}

    def __enter__(self) -> "MailboxIO":
        return self

    def __exit__(self, *exc) -> None:
        self._reader.shutdown(wait=True)
        self._mover.submit(self._close_filer)
        self._mover.shutdown(wait=True)

    def list(self) -> int:
        """Look what is waiting (and which of it is large); how many messages."""
        self._keys = self._reader.submit(self.source.waiting).result()
        self._large = self._reader.submit(self.source.large, self._keys, self._small).result()
        if len(self._keys) >= self.long_pass:
            self._filer_ready = self._mover.submit(self._open_filer)
        return len(self._keys)

    def batches(self, stop: threading.Event) -> Iterator[list[Fetched]]:
        """What ``list`` found, in fetched batches; each is fetched while the one before
        it is being recorded. Stops early (the rest stays in the inbox) on ``stop``."""
        small, large = self._small, self._large
        ahead: Future | None = None
        for chunk in chunks(self._keys, self.batch_size):
            for batch in byte_batches(chunk, large, self.max_bytes, BATCH_BYTES, small):
                if stop.is_set():
                    return
                fetching = self._reader.submit(self.source.fetch, batch, self.max_bytes,
                                               large)
                if ahead is not None:
                    yield ahead.result()
                ahead = fetching
        if ahead is not None and not stop.is_set():
            yield ahead.result()

    def file(self, moves: dict[str, list[str]]) -> Future:
        """Start moving these messages out of the inbox; the future ends when they are."""
        if self._filer_ready is None:
            return self._reader.submit(self.source.file, moves)
        return self._mover.submit(self._file_on_filer, moves)

    def _open_filer(self) -> None:
        self._filer = self.source.filer()

    def _file_on_filer(self, moves: dict[str, list[str]]) -> None:
        self._filer_ready.result()    # raises if the second connection could not be made
        self._filer.file(moves)

    def _close_filer(self) -> None:
        filer, self._filer = self._filer, None
        if filer is not None and filer is not self.source:
            filer.close()


def byte_batches(keys: list[str], large: dict[str, int], max_bytes: int,
                 budget: int, small: int) -> list[list[str]]:
    """Split keys into runs whose download (headers only past max_bytes) fits the budget;
    a key whose size was not asked for is at most ``small`` bytes."""
    batches, current, used = [], [], 0
    for key in keys:
        cost = large.get(key, small)
        cost = 64 * 1024 if cost > max_bytes else cost
        if current and used + cost > budget:
            batches.append(current)
            current, used = [], 0
        current.append(key)
        used += cost
    if current:
        batches.append(current)
    return batches
