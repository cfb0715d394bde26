"""Open the configured mailbox: IMAP in production, a Maildir for the embedded default.

Apart from ``sources`` (what every mailbox offers), which the two mailboxes import.
"""
from __future__ import annotations

from .imap_source import from_config
from .maildir_source import MaildirSource
from .sources import MailboxSource, folder_names


def source_from_config(cfg) -> MailboxSource:
    """The configured mailbox: IMAP in production, a Maildir for the embedded default."""
    if cfg.inbox.type == "imap":
        return from_config(cfg)
    return MaildirSource(cfg.inbox.path, folder_names(cfg))
