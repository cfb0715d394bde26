"""The mailbox seam: where messages come from and where they are filed afterwards.

Two implementations share the pipeline: ``ImapSource`` (production) and
``MaildirSource`` (embedded default, demo, local delivery). The pipeline only ever:
lists what is waiting, fetches a batch (never more than ``max_bytes`` of one message),
files a batch into a folder after the database commit, and waits for new mail.
"""
from __future__ import annotations

import bisect
import itertools
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol, Sequence

# Folder roles; the configuration names the real folders.
PROCESSED, QUARANTINE, TRIAGE = "processed", "quarantine", "triage"


@dataclass
class Fetched:
    key: str
    size: int
    data: bytes       # the whole message, or only its header block when headers_only
    headers_only: bool = False
    sha256: str = ""  # filled by the pipeline


class MailboxSource(Protocol):
    name: str                 # e.g. imap://host:993/INBOX or maildir:/path
    uidvalidity: int | None   # None for Maildir

    def open(self) -> None: ...

    def close(self) -> None: ...

    def waiting(self) -> Sequence[str]:
        """Keys of the messages in the inbox now, oldest first."""

    def large(self, keys: Sequence[str], threshold: int) -> dict[str, int]:
        """Sizes in bytes of those of these messages that are larger than ``threshold``.

        Only the few large ones are asked for: the server answers one search for a whole
        batch instead of a size per message."""

    def fetch(self, keys: list[str], max_bytes: int, large: dict[str, int]) -> list[Fetched]:
        """The batch's contents (a key that vanished meanwhile is left out); messages
        over max_bytes, known from ``large``, come back headers_only."""

    def file(self, moves: dict[str, list[str]]) -> None:
        """Move messages (by key) out of the inbox into the folder for each role."""

    def filer(self) -> "MailboxSource":
        """A source to ``file`` with from a second thread while this one fetches (opened;
        the caller closes it unless it is this very source)."""

    def wait_for_mail(self, timeout: float, stop: threading.Event) -> None:
        """Return when new mail may be there, when timeout passes, or when stop is set."""


def header_block(data: bytes) -> bytes:
    """The header block of a raw message (up to and including the blank line)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = data.find(sep)
        if i >= 0:
            return data[: i + len(sep)]
    return data


def chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


class KeyRanges(Sequence[str]):
    """Keys that are numbers (IMAP UIDs), held as ranges: the listing of 100,000 waiting
    messages with consecutive UIDs takes a few bytes instead of megabytes."""

    def __init__(self, ranges: list[tuple[int, int]]):
        self._ranges = ranges                       # (first, last), ascending, disjoint
        self._starts = list(itertools.accumulate((b - a + 1 for a, b in ranges), initial=0))

    @classmethod
    def parse(cls, text: str) -> "KeyRanges":
        """From an IMAP sequence set of numbers, e.g. '1:4,7,9:12'."""
        ranges = []
        for part in filter(None, text.split(",")):
            a, _, b = part.partition(":")
            lo, hi = sorted((int(a), int(b or a)))
            ranges.append((lo, hi))
        return cls.from_ranges(ranges)

    @classmethod
    def from_numbers(cls, numbers: Iterable[int]) -> "KeyRanges":
        return cls.from_ranges([(n, n) for n in numbers])

    @classmethod
    def from_ranges(cls, ranges: list[tuple[int, int]]) -> "KeyRanges":
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(ranges):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        return cls(merged)

    def __len__(self) -> int:
        return self._starts[-1]

    def __iter__(self) -> Iterator[str]:
        for lo, hi in self._ranges:
            for n in range(lo, hi + 1):
                yield str(n)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        r = bisect.bisect_right(self._starts, index) - 1
        return str(self._ranges[r][0] + index - self._starts[r])

    def __contains__(self, key) -> bool:
        try:
            n = int(key)
        except (TypeError, ValueError):
            return False
        r = bisect.bisect_right(self._ranges, (n, float("inf"))) - 1
        return r >= 0 and self._ranges[r][0] <= n <= self._ranges[r][1]

    def __eq__(self, other) -> bool:
        return list(self) == list(other) if isinstance(other, (list, tuple, KeyRanges)) \
            else NotImplemented

    def __repr__(self) -> str:
        return f"KeyRanges({self._ranges!r})"


def folder_names(cfg) -> dict[str, str]:
    return {PROCESSED: cfg.inbox.processed_folder, QUARANTINE: cfg.inbox.quarantine_folder,
            TRIAGE: cfg.inbox.triage_folder}
