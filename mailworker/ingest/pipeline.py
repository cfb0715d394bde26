"""The ingest pipeline: fetch a batch, parse, classify, decide, commit, then file.

Order is what makes crashes harmless. A batch's rows are committed in one transaction
(each message inside its own savepoint, so one bad message cannot spoil the others),
and only after the commit are the messages moved out of the inbox. A crash before the
commit leaves the mail in the inbox to be read again; a crash after it leaves mail whose
content hash is already recorded, so the rerun only files it. Nothing lost, nothing twice.
(A batch commit is not synced to disk by itself; what has been committed is synced once
before each move, see ``commits.IngestCommits``.)

Speed comes from overlap: one thread talks to the mailbox (the next batch is fetched and
the last ones are moved while this one is parsed and written), a batch is parsed and
classified before the database is asked anything, and then a few queries answer for the
whole batch.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Iterator

import peewee as pw

from ..clock import Clock, naive_utc
from ..db import state_get, state_set
from ..models import Member, MemberAddress, Message, db_proxy
from ..prepared import select_in
from . import record, selfservice, staff_mail
from .analysis import Analysis, Analyzer, Job, Rules
from .application import ApplicationDesk, term_over_at
from .commits import IngestCommits
from .credit import CreditHistory, decide
from .mailbox_io import MailboxIO
from .parse import clean_message_id
from .sink import BatchSink, DirectSink
from .sources import (PROCESSED, QUARANTINE, TRIAGE, Fetched, MailboxSource,
                      header_block)

log = logging.getLogger(__name__)

FOLDER_OF = {"triage": TRIAGE, "quarantined": QUARANTINE}
ANALYSED_AHEAD = 2   # batches handed to analysis before the one being written


@dataclass
class Outcome:
    message: Message
    already: bool = False       # recorded by an earlier run; only filed now

    @property
    def role(self) -> str:
        return FOLDER_OF.get(self.message.disposition, PROCESSED)


@dataclass
class PassResult:
    seen: int = 0
    recorded: int = 0
    already: int = 0
    dispositions: Counter = field(default_factory=Counter)
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: bool = False

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.dispositions.items()))
        return (f"{self.seen} message(s): {self.recorded} new, {self.already} already recorded"
                + (f" ({parts})" if parts else ""))


class Ingestor:
    def __init__(self, cfg, clock: Clock, source: MailboxSource, pseudonym_key: bytes,
                 keep_outcomes: bool = False):
        self.cfg = cfg
        self.clock = clock
        self.source = source
        self.tz = cfg.tz
        self.pseudonym_key = pseudonym_key
        self.keep_outcomes = keep_outcomes
        self.staff = frozenset(a.strip().lower() for a in cfg.staff.addresses)

    def note_uidvalidity(self) -> None:
        """Remember the mailbox's UIDVALIDITY; a change is logged, content hashes keep us safe."""
        if self.source.uidvalidity is None:
            return
        key = f"uidvalidity:{self.source.name}"
        before = state_get(key)
        now = str(self.source.uidvalidity)
        if before is not None and before != now:
            log.warning("UIDVALIDITY of %s changed from %s to %s: UIDs were reset; messages "
                        "are matched by content hash, so none is processed twice",
                        self.source.name, before, now)
        if before != now:
            state_set(key, now, self.clock.now())

    def run_pass(self, stop: threading.Event | None = None,
                 progress: Callable[[], object] | None = None) -> PassResult:
        """Read what is waiting in the inbox. ``progress`` is called after each batch
        (the service tells systemd's watchdog it is alive through a long backlog)."""
        stop = stop or threading.Event()
        result = PassResult()
        self.note_uidvalidity()
        self.members = member_directory()
        self.desk = ApplicationDesk()
        self.term_over_at = term_over_at(self.cfg)
        self.members_by_id = {m.id: m for m in self.members.values()}
        self.history = CreditHistory(self.tz)
        self._to_file: dict[str, list[tuple[Fetched, Outcome]]] = {}
        self._filing: Future | None = None
        self._commits = IngestCommits(db_proxy.obj)
        move_every = self.cfg.inbox.move_every
        self._mailbox = MailboxIO(self.source, self.cfg.inbox.batch_size,
                                  self.cfg.limits.max_message_bytes, long_pass=move_every)
        with self._mailbox:
            # A long pass (a backlog) analyses in a second process; for the usual few
            # messages, starting one would cost more than it saves. It is started before
            # any of the pass's threads (see Analyzer).
            long_pass = self._mailbox.list() >= move_every
            with Analyzer(Rules.of(self.cfg), parallel=long_pass, alive=progress) as analyzer, \
                    self._commits:
                self._mailbox.start()
                for fetched, analyses in self._analyzed(analyzer, stop):
                    self._process_batch(fetched, analyses, result, stop)
                    self._commits.committed()
                    if progress is not None:
                        progress()
                    if sum(map(len, self._to_file.values())) >= move_every:
                        self._file()
                    if result.stopped:
                        break
                if stop.is_set():
                    result.stopped = True
                # everything committed so far leaves the inbox, even on a stop
                self._file()
                self._settle_filing()
        if result.seen:
            # Only a pass that read mail writes: an idle service writes nothing.
            state_set("last_fetch", self.clock.now().isoformat(), self.clock.now())
        return result

    def _analyzed(self, analyzer: Analyzer, stop: threading.Event
                  ) -> Iterator[tuple[list[Fetched], dict[str, Analysis]]]:
        """Fetched batches with what each message says; the next batches are analysed
        (in a second process on a long pass) while this one is written. Two are handed
        over ahead, so that process has the next one at hand whenever it finishes one
        (it shares its core with the mail server, whose load comes and goes)."""
        ahead: deque = deque()
        for fetched in self._mailbox.batches(stop):
            readable = [f for f in fetched if not f.headers_only]
            ahead.append((fetched, readable, analyzer.submit([f.data for f in readable])))
            if len(ahead) > ANALYSED_AHEAD:
                yield self._collect(analyzer, *ahead.popleft())
        while ahead and not stop.is_set():
            yield self._collect(analyzer, *ahead.popleft())

    @staticmethod
    def _collect(analyzer: Analyzer, fetched: list[Fetched], readable: list[Fetched],
                 job: Job) -> tuple[list[Fetched], dict[str, Analysis]]:
        analyses = analyzer.results(job)
        return fetched, {f.key: a for f, a in zip(readable, analyses)}

    def _process_batch(self, fetched: list[Fetched], analyses: dict[str, Analysis],
                       result: PassResult, stop: threading.Event) -> None:
        try:
            with db_proxy.atomic():
                done = self._record_batch(fetched, analyses, BatchSink(), stop)
        except (pw.DatabaseError, ValueError) as exc:
            # One row the database refused (or its driver could not encode) spoils the
            # batch's INSERT: roll it back and record the batch again message by
            # message, quarantining the culprit.
            log.warning("batch of %d from %s could not be written at once (%s); recording "
                        "one by one", len(fetched), self.source.name, exc)
            self.history = CreditHistory(self.tz)
            with db_proxy.atomic():
                done = self._record_batch(fetched, analyses, None, stop)
        # Committed: these may now leave the inbox (filed a few batches at a time).
        for f, outcome in done:
            f.data = b""   # the bytes are no longer needed; keep memory flat
            self._to_file.setdefault(outcome.role, []).append((f, outcome))
            result.seen += 1
            if outcome.already:
                result.already += 1
            else:
                result.recorded += 1
                result.dispositions[outcome.message.disposition] += 1
            if self.keep_outcomes:
                result.outcomes.append(outcome)
        if stop.is_set() and len(done) < len(fetched):
            result.stopped = True

    def _file(self) -> None:
        """Start moving committed messages out of the inbox (in the background).

        Grouped across batches: each MOVE makes Dovecot rewrite its UID list, which costs
        more the fuller the inbox is."""
        if not self._to_file:
            return
        pending, self._to_file = self._to_file, {}
        moves = {role: [f.key for f, _ in items] for role, items in pending.items()}
        self._settle_filing()
        # Nothing leaves the inbox before its rows are on disk: the move syncs first (on
        # the mailbox's thread; everything committed by now is in the log it syncs).
        self._filing = self._mailbox.file(moves, before=self._commits.durable)

    def _settle_filing(self) -> None:
        """Wait for the move under way; its errors surface here."""
        if self._filing is not None:
            moving, self._filing = self._filing, None
            moving.result()

    def _record_batch(self, fetched: list[Fetched], analyses: dict[str, Analysis],
                      batch: BatchSink | None, stop: threading.Event
                      ) -> list[tuple[Fetched, Outcome]]:
        """Record a batch (inside the caller's transaction). With ``batch`` the rows are
        written together at the end; without, each message in its own savepoint.

        The batch was read first (parse, classify: no database), so what the database
        knows about the whole batch is looked up with a few queries, not a few per
        message."""
        self._known = BatchLookup(fetched)
        self.rows = record.MessageRows(self.cfg, self.clock, self.source, self.pseudonym_key,
                                       self._known.remember)
        self.history.load_texts(a.text for a in analyses.values() if a.text is not None)
        done = []
        for f in fetched:
            done.append((f, self.process(f, analyses.get(f.key), batch)))
            if stop.is_set():
                break  # finish the message in hand, commit, file, stop
        if batch is not None:
            batch.flush(self.clock.now())
        self.history.batch_written()
        return done

    def process(self, f: Fetched, analysis: Analysis | None,
                batch: BatchSink | None = None) -> Outcome:
        """Record one message. Never raises for bad mail: the worst is a quarantine."""
        existing = self._known.by_sha.get(f.sha256)
        if existing is not None:
            return Outcome(existing, already=True)
        if analysis is not None and analysis.error is not None:
            log.warning("message %s from %s could not be read (%s); quarantined%s", f.key,
                        self.source.name, analysis.error,
                        "\n" + analysis.error_trace if analysis.error_trace else "")
            return self._quarantine_in(f, batch, f"could not be processed: {analysis.error}")
        try:
            if batch is None:
                with db_proxy.atomic():
                    outcome = Outcome(self._record(f, analysis, DirectSink()))
            else:
                batch.begin()
                outcome = Outcome(self._record(f, analysis, batch))
                batch.keep()
            self.history.keep()
            return outcome
        except Exception as exc:  # invariant: bad input never stops the worker
            log.exception("message %s from %s could not be processed; quarantined",
                          f.key, self.source.name)
            if batch is not None:
                batch.drop()
            self.history.drop()   # its tallies must not count the dropped rows
            return self._quarantine_in(f, batch,
                                       f"could not be processed: {type(exc).__name__}: {exc}")

    def _quarantine_in(self, f: Fetched, batch: BatchSink | None, reason: str) -> Outcome:
        if batch is None:
            with db_proxy.atomic():
                return Outcome(self.rows.quarantine(f, DirectSink(), reason[:500]))
        batch.begin()
        outcome = Outcome(self.rows.quarantine(f, batch, reason[:500]))
        batch.keep()
        return outcome

    def _record(self, f: Fetched, a: Analysis | None, sink) -> Message:
        cfg, now = self.cfg, self.clock.now()
        if f.headers_only:
            return self.rows.oversize(f, sink, now, self.members)
        duplicate_of = (self._known.by_message_id.get((a.message_id, a.from_addr))
                        if a.message_id else None)
        if staff_mail.is_staff_mail(a.kind, a.action_tokens, a.from_addr, self.staff):
            # Staff mail never reaches the member rules below: it earns no hours.
            return staff_mail.record(self, f, a, sink, duplicate_of)
        member = self.members.get(a.from_addr) if a.from_addr else None
        tally = self.history.tally(member, now) if member is not None else None
        earlier = self.history.earlier_text(member, a.text) if member is not None else None
        decision = decide(
            kind=a.kind, kind_reason=a.kind_reason, member=member, sender=a.from_addr,
            auth_ok=a.auth_ok, auth_reason=a.auth_reason,
            new_text_chars=a.text_chars, earlier_text=earlier,
            earlier_member=self.members_by_id.get(earlier.member_id) if earlier else None,
            credited_today=tally.today if tally else 0,
            duplicate_of=duplicate_of,
            min_body_chars=cfg.ingest.min_body_chars,
            daily_cap=cfg.ingest.daily_credit_cap,
            reply_to_non_members=cfg.ingest.reply_to_non_members,
            from_problem=a.from_problem, no_words=a.text.no_words if a.text else None,
            term_over=self.term_over_at is not None and naive_utc(now) >= self.term_over_at,
            request=a.request)
        kind = a.kind
        if decision.disposition == "non_member":
            kind, decision = self.desk.non_member(kind, decision, a.from_addr, a.applies, now)
        answer = None
        if decision.reply == "self_service":
            answer = selfservice.plan(member, a.request, auth_ok=a.auth_ok,
                                      auth_reason=a.auth_reason, now=now, tz=self.tz,
                                      kind_reason=a.kind_reason)
            decision = answer.decision
        if decision.credit:
            self.history.credited(member, now, a.text)
        return self.rows.decided(f, a, sink, now, kind=kind, decision=decision, member=member,
                                 answer=answer,
                                 half_year_total=tally.half_year if decision.credit else None)


class BatchLookup:
    """What the database already knows about a batch, read with two queries instead of
    two per message: messages with the same content hash, and with the same Message-ID."""

    COLUMNS = (Message.id, Message.sha256, Message.disposition, Message.message_id,
               Message.sender)

    def __init__(self, fetched: list[Fetched]):
        for f in fetched:
            f.sha256 = hashlib.sha256(f.data).hexdigest()
        self.by_sha: dict[str, Message] = {
            m.sha256: m for m in self._messages(Message.sha256, [f.sha256 for f in fetched])}
        ids = [mid for mid in (_header_message_id(f) for f in fetched) if mid]
        self.by_message_id: dict[tuple[str, str], Message] = {}
        for m in sorted(self._messages(Message.message_id, ids), key=lambda m: -m.id):
            self.by_message_id.setdefault((m.message_id, m.sender), m)

    def _messages(self, key: pw.Field, values: list[str]) -> list[Message]:
        names = [c.name for c in self.COLUMNS]
        return [Message(**dict(zip(names, row)))
                for row in select_in(self.COLUMNS, key, values)]

    def remember(self, message: Message) -> None:
        self.by_sha[message.sha256] = message
        if message.message_id:
            self.by_message_id.setdefault((message.message_id, message.sender), message)


def _header_message_id(f: Fetched) -> str | None:
    """A cheap look at Message-ID for the batch query (the parser gives the real value)."""
    head = header_block(f.data)
    i = head.lower().find(b"\nmessage-id:")
    if i < 0:
        return None
    line = head[i + 12:].split(b"\n", 1)[0].strip().strip(b"<>").strip()
    try:
        return clean_message_id(line.decode("ascii"))
    except UnicodeDecodeError:
        return None


def member_directory() -> dict[str, Member]:
    """Every registered address (lower-case) to its member, read once per pass."""
    return {a.email: a.member for a in MemberAddress.select(MemberAddress, Member).join(Member)}
