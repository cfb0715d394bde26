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
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Callable

from ..application_form import read_application
from . import intent_model
from .auth import authentication_verdict
from .classify import classify
from .fingerprint import TextPrint, text_print
from .parse import ParsedMail, parse_message
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
    text_chars: int = 0             # letters and digits of the new text
    text: TextPrint | None = None   # what the farming rules look at (see fingerprint.py)
    from_problem: str | None = None  # why the sender is not one plain mailbox
    action_tokens: list[str] = field(default_factory=list)  # staff action tokens found
    staff_reason: str = ""          # what a staff action mail says, without its token
    error: str | None = None        # why it could not be read (it will be quarantined)
    error_trace: str = ""           # the traceback, for the log


@dataclass(frozen=True)
class Rules:
    """What analysis needs from the configuration (small: it goes to the other process)."""
    trusted_authserv_id: str = ""
    internal_authserv_ids: tuple[str, ...] = ()
    seconds: float = 0.0            # time limit per message (0: none)

    @classmethod
    def of(cls, cfg) -> "Rules":
        return cls(cfg.ingest.trusted_authserv_id, tuple(cfg.ingest.internal_authserv_ids),
                   float(cfg.ingest.analysis_seconds))


class AnalysisTimeout(BaseException):
    """A message took longer than its time limit to analyse. Not an Exception, so that
    the parser's own "never raise" guards do not swallow it."""


def summary(mail: ParsedMail) -> Analysis:
    """The header facts of a parsed mail (all an oversize message gets)."""
    return Analysis(message_id=mail.message_id, from_addr=mail.from_addr,
                    from_name=mail.from_name, subject=mail.subject, date=mail.date,
                    in_reply_to=mail.in_reply_to, references=list(mail.references),
                    attachments=[a.__dict__ for a in mail.attachments],
                    excerpt=excerpt(mail.new_text), defects=list(mail.defects),
                    from_problem=mail.from_problem)


def _rules(rules: Rules | str) -> Rules:
    return Rules(rules) if isinstance(rules, str) else rules


def analyze(raw: bytes, rules: Rules | str) -> Analysis:
    """Everything the pipeline needs to know about one message. Never raises.
    ``rules``: a ``Rules``, or just the trusted authserv-id."""
    rules = _rules(rules)
    try:
        mail = parse_message(raw)
        verdict = classify(mail)
        a = summary(mail)
        a.kind, a.kind_reason, a.rsvp = verdict.kind, verdict.reason, verdict.rsvp
        a.request = verdict.request
        a.auth_ok, a.auth_reason = authentication_verdict(mail, rules.trusted_authserv_id,
                                                          rules.internal_authserv_ids)
        # A digest link's mail is a staff action, whatever it looks like as member mail.
        a.action_tokens, a.staff_reason = read_action(mail, a.kind)
        if a.action_tokens:
            a.kind, a.kind_reason = STAFF_KIND, "carries a staff action token"
        a.applies = read_application(mail.subject, mail.new_text).signal
        text = text_print(mail.new_text)
        if text is not None:
            a.text, a.body_sha, a.text_chars = text, text.sha, text.chars
        return a
    except AnalysisTimeout:
        return Analysis(error=f"reading it took more than {rules.seconds:g} seconds "
                              "([ingest] analysis_seconds)")
    except Exception as exc:  # invariant: bad input never stops the worker
        return Analysis(error=f"{type(exc).__name__}: {exc}", error_trace=traceback.format_exc())


def _alarm(signum, frame):
    raise AnalysisTimeout()


def _timed(raw: bytes, rules: Rules) -> Analysis:
    try:
        signal.setitimer(signal.ITIMER_REAL, rules.seconds)
        try:
            return analyze(raw, rules)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except AnalysisTimeout:     # the alarm came just after analyze() returned: at the limit
        return Analysis(error=f"reading it took more than {rules.seconds:g} seconds "
                              "([ingest] analysis_seconds)")


def analyze_batch(raws: list[bytes], rules: Rules | str,
                  alive: Callable[[], object] | None = None) -> list[Analysis]:
    """``analyze`` for each message, each within the time limit. The limit is a timer
    signal, so it needs the main thread (the worker's, or the analysis process's); a
    message stuck where no signal reaches it is caught by the Analyzer's wait instead.
    ``alive`` is called every few seconds (systemd's watchdog, through a slow batch)."""
    rules = _rules(rules)
    # The learned reading of intent is read from its file once per process: here, outside
    # any message's time limit (the first message must not pay for it).
    intent_model.model()
    timed = (rules.seconds > 0 and hasattr(signal, "setitimer")
             and threading.current_thread() is threading.main_thread())
    if not timed:
        return [analyze(raw, rules) for raw in raws]
    before = signal.signal(signal.SIGALRM, _alarm)
    out = []
    last = time.monotonic()
    try:
        for raw in raws:
            out.append(_timed(raw, rules))
            if alive is not None and time.monotonic() - last > ALIVE_EVERY:
                alive()
                last = time.monotonic()
    finally:
        signal.signal(signal.SIGALRM, before)
    return out


ALIVE_EVERY = 5.0     # seconds between "still alive" calls during a slow batch


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
    cores end up about equally busy.

    Should that process die or hang on a batch (a message that crashes the parser, or is
    stuck where the time limit's signal cannot reach), the batch's part is analysed again
    one message at a time in a new process: the message that kills or holds that one too
    comes back as unreadable (it will be quarantined) and the rest are read."""

    STEP = 0.05
    MOST_HERE = 0.8
    GRACE = 30.0          # seconds over the per-message limits before a batch counts as hung

    def __init__(self, rules: Rules | str, parallel: bool,
                 alive: Callable[[], object] | None = None):
        self.rules = _rules(rules)
        # A missing or damaged model stops the pass here, before any mail is read, with
        # the file named; read per message it would quarantine every mail.
        intent_model.model()
        self._alive = alive          # called every few seconds while a batch takes long
        self._parallel = parallel
        self._pool = self._new_pool() if parallel else None
        self.share_here = 0.2 if parallel else 1.0
        # The process takes a moment to start (a new interpreter importing the parser);
        # until it is up, the worker analyses whole batches itself instead of waiting.
        self._started = self._pool.submit(int) if self._pool is not None else None

    @staticmethod
    def _new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=1, initializer=_die_with_parent,
                                   initargs=(os.getpid(),), mp_context=_start_method())

    def __enter__(self) -> "Analyzer":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, raws: list[bytes]) -> Job:
        """Start analysing a batch (the part for the other process starts now)."""
        starting = self._pool is None or not self._started.done()
        here = len(raws) if starting else round(len(raws) * self.share_here)
        elsewhere = (self._pool.submit(analyze_batch, raws[here:], self.rules)
                     if here < len(raws) else None)
        return Job(raws, here, elsewhere)

    def _wait(self, future: Future, count: int) -> list[Analysis]:
        """The other process's answer for ``count`` messages; FutureTimeout when it takes
        longer than their time limits (and a grace) together. Says it is alive meanwhile."""
        limit = self.rules.seconds * count + self.GRACE if self.rules.seconds > 0 else None
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            try:
                return future.result(timeout=ALIVE_EVERY if left is None
                                     else max(0.0, min(ALIVE_EVERY, left)))
            except FutureTimeout:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                if self._alive is not None:
                    self._alive()

    def results(self, job: Job) -> list[Analysis]:
        """One Analysis per message of the batch, in order."""
        out = analyze_batch(job.raws[:job.here], self.rules, self._alive)
        if job.elsewhere is None:
            return out
        had_to_wait = not job.elsewhere.done()
        rest = job.raws[job.here:]
        try:
            out += self._wait(job.elsewhere, len(rest))
        except (BrokenProcessPool, FutureTimeout) as exc:
            why = "did not answer in time" if isinstance(exc, FutureTimeout) else "stopped"
            log.warning("the analysis process %s; reading its %d message(s) again one by "
                        "one in a new process", why, len(rest))
            return out + self._one_by_one(rest)
        step = self.STEP if had_to_wait else -self.STEP
        self.share_here = min(self.MOST_HERE, max(0.0, self.share_here + step))
        return out

    def _one_by_one(self, raws: list[bytes]) -> list[Analysis]:
        out = []
        self._replace_pool()
        for raw in raws:
            try:
                out += self._wait(self._pool.submit(analyze_batch, [raw], self.rules), 1)
            except (BrokenProcessPool, FutureTimeout) as exc:
                why = ("reading it did not end within the time limit ([ingest] "
                       "analysis_seconds)" if isinstance(exc, FutureTimeout) else
                       "reading it made the analysis process stop (crash)")
                log.warning("a message could not be read: %s; it will be quarantined", why)
                out.append(Analysis(error=why))
                self._replace_pool()
        return out

    def _replace_pool(self) -> None:
        """A fresh analysis process (the old one is killed if it still runs)."""
        old = self._pool
        if old is not None:
            # concurrent.futures cannot stop a running call: end its process directly.
            for process in list(getattr(old, "_processes", {}).values()):
                with contextlib.suppress(OSError):
                    process.kill()
            old.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        self._started = self._pool.submit(int)
        # Starting the process is not the next message's time: wait for it first.
        with contextlib.suppress(FutureTimeout, BrokenProcessPool):
            self._started.result(timeout=120)


def _start_method() -> multiprocessing.context.BaseContext:
    """Fork while the worker has one thread: the process starts at once with the parser
    already imported (a new interpreter spends a good part of a second importing it,
    which the worker would spend analysing in place meanwhile). The child never touches what
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
    with contextlib.suppress(intent_model.ModelError):    # the worker has reported it
        intent_model.model()     # read while starting, not in the first batch
