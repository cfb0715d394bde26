"""The long-running worker: one loop over the stages, stopping cleanly on SIGTERM.

Each round: read new mail (IDLE or poll), perform the staff action mails it recorded
(mailworker.staff_actions), append pending ledger events, drain the
outbox, run scheduled jobs (the daily digest), tell systemd we are alive. Any network
failure of the inbox means: close, wait with growing backoff, reconnect. A stage's
configuration error is logged clearly and the other stages keep working.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field

from . import sdnotify
from .clock import Clock
from .errors import MailworkerError, SourceAuthError, SourceError
from .group.steps import run_group_steps
from .ingest.open_inbox import source_from_config
from .ingest.pipeline import Ingestor, PassResult
from .ingest.sources import MailboxSource
from .ledger.appender import append_pending
from .ledger.audit import audit_due, run_audit
from .ledger.keys import pseudonym_key
from .ledger.layout import ensure_embedded_keys
from .ledger.merkle import LedgerError
from .models import LedgerEvent
from .outbound.schedule import build_scheduler
from .outbound.sender import drain_outbox
from .staff_actions import perform_pending

log = logging.getLogger(__name__)


@dataclass
class RoundReport:
    ingest: PassResult | None = None
    ledger: str = ""
    outbox: str = ""
    errors: list[str] = field(default_factory=list)


class Service:
    def __init__(self, cfg, clock: Clock, source: MailboxSource | None = None,
                 stop: threading.Event | None = None, keep_outcomes: bool = False):
        self.cfg = cfg
        self.clock = clock
        self.stop = stop or threading.Event()
        ensure_embedded_keys(cfg)
        self.source = source or source_from_config(cfg)
        self.ingestor = Ingestor(cfg, clock, self.source, pseudonym_key(cfg),
                                 keep_outcomes=keep_outcomes)
        self.scheduler = build_scheduler(cfg, clock)
        self.connected = False
        self._backoff = 1.0
        self._audit: threading.Thread | None = None
        self._audit_inline = True       # run_forever sets False: audits on their own thread
        self._ledger_started = False

    # -- one round -------------------------------------------------------------------
    def read_inbox(self) -> PassResult | None:
        if not self.connected:
            self.source.open()
            self.connected = True
            self._backoff = 1.0
        return self.ingestor.run_pass(self.stop, progress=sdnotify.watchdog)

    def after_ingest(self, report: RoundReport) -> None:
        """The stages downstream of ingest; each one's trouble is reported, not fatal."""
        try:
            # Staff actions by mail first: their answers and credits go out this round.
            done = perform_pending(self.cfg, self.clock)
            if done:
                log.info("staff: %s", done)
        except MailworkerError as exc:
            report.errors.append(f"staff actions: {exc}")
        try:
            if self._ledger_due():
                result = append_pending(self.cfg, self.clock)
                report.ledger = result.message
        except MailworkerError as exc:
            report.errors.append(f"ledger: {exc}")
        self.audit_ledger(report)
        try:
            for line in run_group_steps(self.cfg, self.clock):
                log.info("group: %s", line)
        except MailworkerError as exc:
            report.errors.append(f"group: {exc}")
        try:
            report.outbox = drain_outbox(self.cfg, self.clock).message
        except MailworkerError as exc:
            report.errors.append(f"outgoing mail: {exc}")
        try:
            self.scheduler.run_pending()
        except MailworkerError as exc:
            report.errors.append(f"schedule: {exc}")
        for err in report.errors:
            log.error("%s", err)

    def _ledger_due(self) -> bool:
        """The first round (it catches replicas up and repairs the main database's marks
        after a crash), then only when events wait: an idle service opens no replica."""
        if not self._ledger_started:
            self._ledger_started = True
            return True
        return LedgerEvent.select().where(LedgerEvent.leaf_index.is_null()).exists()

    def audit_ledger(self, report: RoundReport) -> None:
        """The full replica audit every ``[ledger] audit_every``. In the loop it runs on a
        thread of its own (a big ledger takes a while; the watchdog must not wait for it);
        with --once it runs here."""
        if self._audit is not None and self._audit.is_alive():
            return
        try:
            if not audit_due(self.cfg, self.clock):
                return
        except MailworkerError as exc:
            report.errors.append(f"ledger audit: {exc}")
            return
        if self._audit_inline:
            self._run_audit(report.errors)
            return
        self._audit = threading.Thread(target=self._run_audit, args=([],), daemon=True,
                                       name="ledger-audit")
        self._audit.start()

    def _run_audit(self, errors: list[str]) -> None:
        try:
            run_audit(self.cfg, self.clock)
        except (MailworkerError, LedgerError) as exc:
            errors.append(f"ledger audit: {exc}")
            log.error("ledger audit: %s", exc)
        finally:
            if threading.current_thread() is not threading.main_thread() and \
                    threading.current_thread() is self._audit:
                _close_thread_connection()

    def run_once(self) -> RoundReport:
        """One pass of everything (``mailworker run --once``, the demo). Inbox errors raise."""
        report = RoundReport()
        try:
            report.ingest = self.read_inbox()
        finally:
            self.close()
        self.after_ingest(report)
        return report

    # -- the loop --------------------------------------------------------------------
    def run_forever(self) -> None:
        self._audit_inline = False
        self._install_signal_handlers()
        sdnotify.ready()
        sdnotify.status("reading the group inbox")
        tick = max(1, min(self.cfg.schedule.outbox_seconds, self.cfg.schedule.ledger_seconds))
        retry_at = 0.0
        try:
            while not self.stop.is_set():
                report = RoundReport()
                if self.connected or time.monotonic() >= retry_at:
                    try:
                        report.ingest = self.read_inbox()
                        if report.ingest.seen:
                            log.info("inbox: %s", report.ingest.summary())
                    except SourceError as exc:
                        retry_at = time.monotonic() + self._lost_inbox(exc)
                self.after_ingest(report)
                sdnotify.watchdog()
                if self.stop.is_set():
                    break
                if self.connected:
                    try:
                        self.source.wait_for_mail(self._wait_seconds(tick), self.stop)
                    except SourceError as exc:
                        retry_at = time.monotonic() + self._lost_inbox(exc)
                else:
                    # Keep the other stages (outbox, digest) and the watchdog going meanwhile.
                    self.stop.wait(max(0.0, min(tick, retry_at - time.monotonic())))
        finally:
            sdnotify.stopping()
            self.close()
            log.info("stopped")

    def _wait_seconds(self, tick: float) -> float:
        if self.cfg.inbox.type == "imap" and self.cfg.inbox.use_idle:
            return tick
        return min(tick, self.cfg.inbox.poll_seconds)

    def _lost_inbox(self, exc: SourceError) -> float:
        """Close the inbox, say why, and return how long to wait before reconnecting."""
        self.close()
        wait = self._backoff
        level = logging.ERROR if isinstance(exc, SourceAuthError) else logging.WARNING
        log.log(level, "%s; retrying in %.0f s", exc, wait)
        sdnotify.status(f"inbox unavailable, retrying: {exc}")
        self._backoff = min(self._backoff * 2, float(self.cfg.inbox.reconnect_max_seconds))
        return wait

    def close(self) -> None:
        try:
            self.source.close()
        finally:
            self.connected = False

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def _stop(signum, frame):
            log.info("received %s: finishing the current message, then stopping",
                     signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)


def _close_thread_connection() -> None:
    """Close the main-database connection peewee opened for the calling thread."""
    from .models import db_proxy
    db = db_proxy.obj
    if db is not None and not db.is_closed():
        db.close()
