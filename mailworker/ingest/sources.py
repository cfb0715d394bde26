"""The mailbox seam: where messages come from and where they are filed afterwards.

Two implementations share the pipeline: ``ImapSource`` (production) and
``MaildirSource`` (embedded default, demo, local delivery). The pipeline only ever:
lists what is waiting, fetches a batch (never more than ``max_bytes`` of one message),
files a batch into a folder after the database commit, and waits for new mail.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterable, Protocol

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

    def waiting(self) -> list[str]:
        """Keys of the messages in the inbox now, oldest first."""

    def large(self, keys: list[str], threshold: int) -> dict[str, int]:
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


def chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def folder_names(cfg) -> dict[str, str]:
    return {PROCESSED: cfg.inbox.processed_folder, QUARANTINE: cfg.inbox.quarantine_folder,
            TRIAGE: cfg.inbox.triage_folder}


def source_from_config(cfg) -> MailboxSource:
    """The configured mailbox: IMAP in production, a Maildir for the embedded default."""
    if cfg.inbox.type == "imap":
        from .imap_source import from_config
        return from_config(cfg)
    from .maildir_source import MaildirSource
    return MaildirSource(cfg.inbox.path, folder_names(cfg))
