"""The mailbox, worked on in the background while the pipeline parses and writes.

One thread makes every call to the source, in order: it lists the inbox, asks once which
messages are large, and fetches the next batch while the pipeline records this one.
Moves run on a thread of their own; on a long pass they use a second connection
(``source.filer()``), so the server moves one group while it sends the next batch.
The pipeline only waits when the batch it needs has not arrived yet.
"""
from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator

from .sources import Fetched, MailboxSource, chunks

BATCH_BYTES = 16 * 1024 * 1024   # at most this much mail in one batch
AHEAD = 2                        # batches fetched ahead of the one being recorded: a move
                                 # holds the mailbox on the server, and a fetch waits
SMALL_BYTES = 32 * 1024          # a message's size is asked for only when it is larger; a
                                 # batch counts each smaller one at this size, so for plain
                                 # mail the batch size ([inbox] batch_size) is what bounds it


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
        # An executor starts its thread at the first submit: a pass with nothing to read
        # starts none.
        self._reader.shutdown(wait=True)
        if self._filer_ready is not None:
            self._mover.submit(self._close_filer)
        self._mover.shutdown(wait=True)

    def list(self) -> int:
        """Look what is waiting (and which of it is large); how many messages.

        Asked on the caller's thread, before this object starts any thread: the pipeline
        may then start its analysis process by fork, which is only safe while the
        process has a single thread."""
        self._keys = self.source.waiting()
        self._large = self.source.large(self._keys, self._small)
        return len(self._keys)

    def start(self) -> None:
        """Threads may start now; on a long pass, open the second connection."""
        if len(self._keys) >= self.long_pass:
            self._filer_ready = self._mover.submit(self._open_filer)

    def batches(self, stop: threading.Event) -> Iterator[list[Fetched]]:
        """What ``list`` found, in fetched batches; each is fetched while the one before
        it is being recorded. Stops early (the rest stays in the inbox) on ``stop``."""
        small, large = self._small, self._large
        ahead: deque[Future] = deque()
        for chunk in chunks(self._keys, self.batch_size):
            for batch in byte_batches(chunk, large, self.max_bytes, BATCH_BYTES, small):
                if stop.is_set():
                    return
                ahead.append(self._reader.submit(self.source.fetch, batch, self.max_bytes,
                                                 large))
                if len(ahead) > AHEAD:
                    yield ahead.popleft().result()
        while ahead and not stop.is_set():
            yield ahead.popleft().result()

    def file(self, moves: dict[str, list[str]], before: Callable[[], object]) -> Future:
        """Start moving these messages out of the inbox, calling ``before`` first on the
        same thread (the pipeline syncs its database there); the future ends when the
        messages are moved."""
        if self._filer_ready is None:
            return self._reader.submit(self._file_on, self.source, moves, before)
        return self._mover.submit(self._file_on_filer, moves, before)

    @staticmethod
    def _file_on(source: MailboxSource, moves: dict[str, list[str]],
                 before: Callable[[], object]) -> None:
        before()
        source.file(moves)

    def _open_filer(self) -> None:
        self._filer = self.source.filer()

    def _file_on_filer(self, moves: dict[str, list[str]],
                       before: Callable[[], object]) -> None:
        self._filer_ready.result()    # raises if the second connection could not be made
        self._file_on(self._filer, moves, before)

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
