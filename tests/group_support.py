"""What the group's tests share: the clock's zone, the roster's addresses, a Maildir inbox
read by real ingest passes, and one IMAP pass through a real Dovecot."""
from __future__ import annotations

import datetime as dt
import mailbox

from mailworker.group.steps import run_group_steps
from mailworker.ingest.imap_source import from_config
from mailworker.ingest.maildir_source import MaildirSource
from mailworker.ingest.pipeline import Ingestor
from mailworker.ingest.sources import folder_names

KEY = b"k" * 32
SEOUL = dt.timezone(dt.timedelta(hours=9))
KIM, DANIEL, LEE, CHOI = ("kim.minji@example.net", "daniel.park@example.com",
                          "seoyeon.lee@example.org", "junho.choi@example.co.kr")


def seoul(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SEOUL)


class MaildirWorld:
    """The group inbox as a real Maildir, read by the real ingest pass."""

    def __init__(self, cfg, clock):
        self.cfg, self.clock = cfg, clock
        self.box = mailbox.Maildir(cfg.inbox.path, factory=None, create=True)
        self.source = MaildirSource(cfg.inbox.path, folder_names(cfg))
        self.source.open()

    def ingest(self) -> None:
        Ingestor(self.cfg, self.clock, self.source, KEY).run_pass()


def imap_pass(cfg, clock) -> list[str]:
    """One ingest pass over the configured IMAP inbox, then the group's steps."""
    source = from_config(cfg)
    source.open()
    try:
        Ingestor(cfg, clock, source, KEY).run_pass()
    finally:
        source.close()
    return run_group_steps(cfg, clock)
