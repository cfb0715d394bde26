"""What a message says, read without the database: parse, classify, check, fingerprint.

``analyze`` is a pure function of the raw bytes (and the trusted authserv-id), so a long
pass runs it for the next batch in a second process while the pipeline writes this one
(``Analyzer``); a short pass runs it in place, as starting a process costs more than it
saves. Either way the pipeline gets the same ``Analysis``: only what it records and
decides on, small enough to pass between processes cheaply.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import multiprocessing
import os
import signal
import threading
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from ..application_form import read_application
from .auth import authentication_verdict
from .classify import classify
from .parse import ParsedMail, body_fingerprint, parse_message, visible_chars
from .staff_mail import STAFF_KIND, read_action

log = logging.getLogger(__name__)

EXCERPT_CHARS = 300


@dataclass
class Analysis:
    message_id: str | None = None
    from_addr: str = ""
    from_name: str = ""
    subject: str = ""
    date: dt.datetime | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    attachments: list[dict] = field(default_factory=list)
    excerpt: str = ""
    defects: list[str] = field(default_factory=list)
    kind: str = "triage"
    kind_reason: str = ""
    rsvp: str | None = None
    request: str | None = None      # what a question asks for (self-service), see classify
    applies: str = ""               # why it reads as an application ('' if it does not)
    auth_ok: bool = True
    auth_reason: str = ""
    body_sha: str | None = None     # fingerprint of the new text (None if there is none)
    text_chars: int = 0             # non-blank characters of new text
    action_tokens: list[str] = field(default_factory=list)  # staff action tokens found
    staff_reason: str = ""          # what a staff action mail says, without its token
    error: str | None = None        # why it could not be read (it will be quarantined)
    error_trace: str = ""           # the traceback, for the log


def summary(mail: ParsedMail) -> Analysis:
    """The header facts of a parsed mail (all an oversize message gets)."""
    return Analysis(message_id=mail.message_id, from_addr=mail.from_addr,
                    from_name=mail.from_name, subject=mail.subject, date=mail.date,
                    in_reply_to=mail.in_reply_to, references=list(mail.references),
                    attachments=[a.__dict__ for a in mail.attachments],
                    excerpt=excerpt(mail.new_text), defects=list(mail.defects))


def analyze(raw: bytes, trusted_authserv_id: str) -> Analysis:
    """Everything the pipeline needs to know about one message. Never raises."""
    try:
        mail = parse_message(raw)
        verdict = classify(mail)
        a = summary(mail)
        a.kind, a.kind_reason, a.rsvp = verdict.kind, verdict.reason, verdict.rsvp
        a.request = verdict.request
        a.auth_ok, a.auth_reason = authentication_verdict(mail, trusted_authserv_id)
        # A digest link's mail is a staff action, whatever it looks like as member mail.
        a.action_tokens, a.staff_reason = read_action(mail, a.kind)
        if a.action_tokens:
            a.kind, a.kind_reason = STAFF_KIND, "carries a staff action token"
        text = mail.new_text
        a.applies = read_application(mail.subject, text).signal
        if text.strip():
            a.body_sha = body_fingerprint(text)
            a.text_chars = visible_chars(text)
        return a
    except Exception as exc:  # invariant: bad input never stops the worker
        return Analysis(error=f"{type(exc).__name__}: {exc}", error_trace=traceback.format_exc())


def analyze_batch(raws: list[bytes], trusted_authserv_id: str) -> list[Analysis]:
    return [analyze(raw, trusted_authserv_id) for raw in raws]


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    out = " ".join(lines)
    return out if len(out) <= limit else out[: limit - 1] + "…"


@dataclass
class Job:
    """A batch being analysed: its head is analysed in place, the rest elsewhere."""
    raws: list[bytes]
    here: int                       # how many of the first raws are analysed in place
    elsewhere: Future | None


class Analyzer:
    """Analysis of batches, shared with a second process when ``parallel`` (a long pass).

    The second process shares its core with the mail server, so it can fall behind the
    worker. A part of each batch is therefore analysed in place, and the part grows when
    the worker had to wait for the other process and shrinks when it did not: the two
    cores end up about equally busy."""

    STEP = 0.05
    MOST_HERE = 0.8

    def __init__(self, trusted_authserv_id: str, parallel: bool):
        self.trusted = trusted_authserv_id
        self._pool = (ProcessPoolExecutor(max_workers=1, initializer=_die_with_parent,
                                          initargs=(os.getpid(),), mp_context=_start_method())
                      if parallel else None)
        self.share_here = 0.2 if parallel else 1.0
        # The process takes a moment to start (a new interpreter importing the parser);
        # until it is up, the worker analyses whole batches itself instead of waiting.
        self._started = self._pool.submit(int) if self._pool is not None else None

    def __enter__(self) -> "Analyzer":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, raws: list[bytes]) -> Job:
        """Start analysing a batch (the part for the other process starts now)."""
        starting = self._pool is None or not self._started.done()
        here = len(raws) if starting else round(len(raws) * self.share_here)
        elsewhere = (self._pool.submit(analyze_batch, raws[here:], self.trusted)
                     if here < len(raws) else None)
        return Job(raws, here, elsewhere)

    def results(self, job: Job) -> list[Analysis]:
        """One Analysis per message of the batch. Should the second process die (killed,
        out of memory), this batch and the rest are analysed here instead."""
        out = analyze_batch(job.raws[:job.here], self.trusted)
        if job.elsewhere is None:
            return out
        had_to_wait = not job.elsewhere.done()
        try:
            out += job.elsewhere.result()
        except BrokenProcessPool as exc:
            log.warning("the analysis process stopped (%s); analysing in the worker itself",
                        exc)
            self._pool, self.share_here = None, 1.0
            return out + analyze_batch(job.raws[job.here:], self.trusted)
        step = self.STEP if had_to_wait else -self.STEP
        self.share_here = min(self.MOST_HERE, max(0.0, self.share_here + step))
        return out


def _start_method() -> multiprocessing.context.BaseContext:
    """Fork while the worker has one thread: the process starts at once with the parser
    already imported (a new interpreter spends about 0.3 s of CPU importing it, which
    the worker would spend analysing in place meanwhile). The child never touches what
    it inherits (database, mailbox connection) and leaves with os._exit. With other
    threads about, forking could copy a lock one of them holds, so then: spawn."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _die_with_parent(parent: int) -> None:
    """In the analysis process: end when the worker ends, even by SIGKILL."""
    # A Ctrl-C, or systemd's SIGTERM to the whole service, is the parent's to handle: it
    # finishes the batch in hand and then shuts this process down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)              # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        # The worker died while this process was starting, before the signal was asked
        # for; nobody will ever send work or close the queue (this process holds both of
        # its ends), so leave now.
        os._exit(0)
