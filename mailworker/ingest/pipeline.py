"""The ingest pipeline: fetch a batch, parse, classify, decide, commit, then file.

Order is what makes crashes harmless. A batch's rows are committed in one transaction
(each message inside its own savepoint, so one bad message cannot spoil the others),
and only after the commit are the messages moved out of the inbox. A crash before the
commit leaves the mail in the inbox to be read again; a crash after it leaves mail whose
content hash is already recorded, so the rerun only files it. Nothing lost, nothing twice.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

from ..clock import Clock, naive_utc
from ..db import state_get, state_set
from ..members import find_member_by_address
from ..models import Message, db_proxy
from . import record
from .auth import authentication_verdict
from .classify import classify
from .credit import decide
from .parse import ParsedMail, body_fingerprint, parse_headers_only, parse_message
from .sources import PROCESSED, QUARANTINE, TRIAGE, Fetched, MailboxSource, chunks

log = logging.getLogger(__name__)

FOLDER_OF = {"triage": TRIAGE, "quarantined": QUARANTINE}


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

    def run_pass(self, stop: threading.Event | None = None) -> PassResult:
        stop = stop or threading.Event()
        result = PassResult()
        self.note_uidvalidity()
        keys = self.source.waiting()
        for batch in chunks(keys, self.cfg.inbox.batch_size):
            if stop.is_set():
                result.stopped = True
                break
            fetched = self.source.fetch(batch, self.cfg.limits.max_message_bytes)
            self._process_batch(fetched, result, stop)
        state_set("last_fetch", self.clock.now().isoformat(), self.clock.now())
        return result

    def _process_batch(self, fetched: list[Fetched], result: PassResult,
                       stop: threading.Event) -> None:
        done: list[tuple[Fetched, Outcome]] = []
        with db_proxy.atomic():
            for f in fetched:
                done.append((f, self.process(f)))
                if stop.is_set():
                    break  # finish the message in hand, commit, file, stop
        moves: dict[str, list[str]] = {}
        for f, outcome in done:
            moves.setdefault(outcome.role, []).append(f.key)
        self.source.file(moves)
        ids = [o.message.id for _, o in done if not o.message.filed]
        if ids:
            Message.update(filed=True).where(Message.id.in_(ids)).execute()
        for _, outcome in done:
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

    def process(self, f: Fetched) -> Outcome:
        """Record one message (inside the batch transaction). Never raises for bad mail."""
        sha = hashlib.sha256(f.data).hexdigest()
        existing = Message.get_or_none(Message.sha256 == sha)
        if existing is not None:
            return Outcome(existing, already=True)
        try:
            with db_proxy.atomic():
                return Outcome(self._record(f, sha))
        except Exception as exc:  # invariant: bad input never stops the worker
            log.exception("message %s from %s could not be processed; quarantined",
                          f.key, self.source.name)
            with db_proxy.atomic():
                return Outcome(self._quarantine(f, sha, f"could not be processed: "
                                                f"{type(exc).__name__}: {exc}"[:500]))

    def _base_row(self, f: Fetched, sha: str, mail: ParsedMail | None) -> dict:
        now = naive_utc(self.clock.now())
        row = dict(sha256=sha, hash_basis="headers" if f.headers_only else "raw",
                   source=self.source.name, uidvalidity=self.source.uidvalidity, uid=f.key,
                   size=f.size, received_at=now, sender="", subject="")
        if mail is not None:
            row.update(message_id=mail.message_id, sender=mail.from_addr[:250],
                       sender_name=mail.from_name[:250], subject=mail.subject[:2000],
                       sent_at=naive_utc(mail.date) if mail.date else None,
                       attachments=[a.__dict__ for a in mail.attachments],
                       in_reply_to=mail.in_reply_to, excerpt=_excerpt(mail.new_text))
        return row

    def _quarantine(self, f: Fetched, sha: str, reason: str) -> Message:
        return Message.create(**self._base_row(f, sha, None), kind="triage",
                              disposition="quarantined", reason=reason)

    def _record(self, f: Fetched, sha: str) -> Message:
        cfg, now = self.cfg, self.clock.now()
        if f.headers_only:
            mail = parse_headers_only(f.data, f.size)
            limit = cfg.limits.max_message_bytes
            return Message.create(
                **self._base_row(f, sha, mail), kind="triage", disposition="quarantined",
                reason=f"too large: {f.size / 1e6:.1f} MB is over the {limit / 1e6:.1f} MB limit "
                       f"([limits] max_message_bytes); not downloaded", member=None)
        mail = parse_message(f.data)
        verdict = classify(mail)
        member = find_member_by_address(mail.from_addr) if mail.from_addr else None
        auth_ok, auth_reason = authentication_verdict(mail, cfg.ingest.trusted_authserv_id)
        duplicate_of = None
        if mail.message_id:
            duplicate_of = (Message.select().where((Message.message_id == mail.message_id)
                                                   & (Message.sender == mail.from_addr))
                            .order_by(Message.id).first())
        body_sha = body_fingerprint(mail.new_text) if mail.new_text.strip() else None
        decision = decide(
            kind=verdict.kind, kind_reason=verdict.reason, member=member, sender=mail.from_addr,
            auth_ok=auth_ok, auth_reason=auth_reason,
            new_text_chars=len("".join(mail.new_text.split())), body_sha256=body_sha,
            duplicate_of=duplicate_of, now=now, tz=self.tz,
            min_body_chars=cfg.ingest.min_body_chars,
            daily_cap=cfg.ingest.daily_credit_cap,
            reply_to_non_members=cfg.ingest.reply_to_non_members)
        reason = decision.reason
        if mail.defects and decision.disposition in ("triage", "quarantined"):
            reason += "; parse problems: " + "; ".join(mail.defects[:3])
        message = Message.create(**self._base_row(f, sha, mail), kind=verdict.kind,
                                 disposition=decision.disposition, reason=reason[:1000],
                                 member=member, body_sha256=body_sha)
        if decision.credit:
            record.credit(message, member, verdict.kind, now, self.tz, self.clock,
                          self.pseudonym_key)
        elif decision.reply:
            extra = {}
            if decision.reply == "no_credit":
                extra = {"kind": verdict.kind, "reason_text": decision.reason}
            elif decision.reply == "rsvp_ack":
                extra = {"answer": verdict.rsvp}
            record.queue_reply(decision.reply, message, member, now, self.tz, self.clock,
                               extra)
        return message


def _excerpt(text: str, limit: int = 300) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    out = " ".join(lines)
    return out if len(out) <= limit else out[: limit - 1] + "…"
