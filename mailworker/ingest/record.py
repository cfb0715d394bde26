"""Writing a decision down: the one place that turns a message and what was decided about
it into rows (the message row, its credit, the near-copy sketch, the reply, the ledger
event).

Rows go to a sink (see ``sink.py``) inside the caller's transaction, so a message's row,
credit, outbox rows and ledger event commit together or not at all. The pipeline decides
(``pipeline.py`` orchestrates, ``credit.py`` holds the rules) and hands the decision to
``MessageRows``; staff triage uses ``credit`` and ``queue_reply`` directly.
"""
from __future__ import annotations

import datetime as dt
import functools

import peewee as pw

from typing import Callable

from .. import outbox
from ..clock import half_year_start, naive_utc, to_utc
from ..events import canonical_json, contribution_leaf
from ..models import HourCredit, Member, Message
from ..pseudonym import pseudonym
from .analysis import Analysis, summary
from .parse import parse_headers_only
from .sources import Fetched

MAX_THREAD_REFS = 20   # the newest References are enough to find the mail replied to

REPLY_KEY_PREFIX = {"ack": "ack", "no_credit": "nocredit", "triage_notice": "triage",
                    "resignation_ack": "resign", "rsvp_ack": "rsvp", "too_large": "toolarge",
                    "non_member_reply": "nonmember", "recruitment_closed": "recruitclosed",
                    "question_received": "question", "hours_statement": "hours",
                    "receipts_again": "receipts", "help": "help", "triage_reply": "decided"}
ONCE_A_DAY = ("non_member_reply", "recruitment_closed")   # per address and local day


@functools.lru_cache(maxsize=256)
def half_year_label(when: dt.datetime, tz, language: str) -> str:
    start = half_year_start(when, tz)
    if language == "en":
        return f"{start.year} H{1 if start.month == 1 else 2}"
    return f"{start.year}년 {'상' if start.month == 1 else '하'}반기"


def half_year_hours(member: Member, when: dt.datetime, tz) -> int:
    start = dt.datetime.combine(half_year_start(when, tz), dt.time(0), tzinfo=tz)
    return (HourCredit.select(pw.fn.COALESCE(pw.fn.SUM(HourCredit.hours), 0))
            .where((HourCredit.member == member) & (HourCredit.credited_at >= naive_utc(start)))
            .scalar())


def reply_context(message: Message, member: Member | None, now: dt.datetime, tz) -> dict:
    language = member.language if member is not None else "ko"
    ctx = {"language": language, "subject": message.subject,
           "received_local": _local_minute(now, tz), "in_reply_to": message.message_id}
    if member is not None:
        ctx["display_name"] = member.display_name
    return ctx


@functools.lru_cache(maxsize=256)
def _local_minute(now: dt.datetime, tz) -> str:
    local = to_utc(now).astimezone(tz)
    return (f"{local.year:04d}-{local.month:02d}-{local.day:02d} "
            f"{local.hour:02d}:{local.minute:02d}")


def queue_reply(cfg, sink, template: str, message: Message, member: Member | None,
                now: dt.datetime, clock, extra: dict | None = None, *, key: str | None = None,
                to: str | None = None, attachments: list | None = None) -> None:
    """Queue the reply ``template`` to ``message``'s sender (or ``to``). ``key`` replaces
    the usual one-per-message outbox key (e.g. a once-a-day key)."""
    tz = cfg.tz
    ctx = reply_context(message, member, now, tz)
    ctx.update(extra or {})
    to = to or message.sender
    if key is None and template in ONCE_A_DAY:   # at most one a day per address
        key = (f"{REPLY_KEY_PREFIX[template]}:{to}:"
               f"{to_utc(now).astimezone(tz).date().isoformat()}")
    elif key is None:
        key = f"{REPLY_KEY_PREFIX[template]}:{message.sha256}"
    if attachments is None:
        attachments = ([{"kind": "ledger_receipt", "msg_sha256": message.sha256}]
                       if template == "ack" else [])
    sink.outbox(outbox.new_row(key, template, to, ctx, clock, member=member,
                               attachments=attachments, domain=outbox.domain_of(cfg)))


def credit(cfg, sink, message: Message, member: Member, kind: str, now: dt.datetime, clock,
           pseudonym_key: bytes, by: str = "auto", half_year_total: int | None = None) -> None:
    """One hour for ``message``: credit row, acknowledgement, ledger event.

    ``half_year_total`` (hours this half-year including this one) saves a query when
    the caller already keeps count."""
    tz = cfg.tz
    if half_year_total is None:
        half_year_total = half_year_hours(member, now, tz) + 1
    sink.credit(message.sha256, {"member": member, "kind": kind, "hours": 1,
                                 "credited_at": naive_utc(now), "by": by})
    leaf = contribution_leaf(message.sha256, kind, 1, now,
                             pseudonym(pseudonym_key, member.uuid))
    sink.event({"event_type": "contribution", "payload": canonical_json(leaf).decode("utf-8"),
                "dedup_key": f"contribution:{message.sha256}", "created_at": naive_utc(now)})
    queue_reply(cfg, sink, "ack", message, member, now, clock, extra={
        "kind": kind, "hours": 1, "total_hours": half_year_total,
        "half_year": half_year_label(now, tz, member.language), "msg_sha256": message.sha256})


def _thread_refs(references: list[str]) -> str | None:
    """References as stored for the group's RSVP matching: the last few ids, no <>."""
    ids = [r.strip("<> ")[:250] for r in references[-MAX_THREAD_REFS:] if r.strip("<> ")]
    return " ".join(ids) or None


class MessageRows:
    """The rows of one message of a pass, from the message and what was decided.

    ``remember`` is told of every message row written, so later messages of the batch
    see it (duplicates by Message-ID)."""

    def __init__(self, cfg, clock, source, pseudonym_key: bytes,
                 remember: Callable[[Message], None]):
        self.cfg, self.clock, self.source = cfg, clock, source
        self.pseudonym_key = pseudonym_key
        self.remember = remember

    def base_row(self, f: Fetched, sha: str, a: Analysis | None) -> dict:
        now = naive_utc(self.clock.now())
        row = dict(sha256=sha, hash_basis="headers" if f.headers_only else "raw",
                   source=self.source.name, uidvalidity=self.source.uidvalidity, uid=f.key,
                   size=f.size, received_at=now, sender="", subject="")
        if a is not None:
            # CharField columns are varchar(255) on PostgreSQL: keep within them.
            row.update(message_id=a.message_id[:250] if a.message_id else None,
                       sender=a.from_addr[:250],
                       sender_name=a.from_name[:250], subject=a.subject[:2000],
                       sent_at=naive_utc(a.date) if a.date else None,
                       attachments=a.attachments,
                       in_reply_to=a.in_reply_to[:250] if a.in_reply_to else None,
                       thread_refs=(_thread_refs(a.references) if a.kind == "rsvp"
                                    else None),
                       rsvp_answer=a.rsvp if a.kind == "rsvp" else None,
                       excerpt=a.excerpt)
        return row

    def insert(self, sink, row: dict) -> Message:
        message = sink.message(row)
        self.remember(message)
        return message

    def quarantine(self, f: Fetched, sink, reason: str) -> Message:
        return self.insert(sink, {**self.base_row(f, f.sha256, None), "kind": "triage",
                                  "disposition": "quarantined", "reason": reason,
                                  "member": None, "body_sha256": None})

    def oversize(self, f: Fetched, sink, now: dt.datetime, members: dict) -> Message:
        """Quarantine a message we did not download; tell the member (never a stranger:
        that would be backscatter) how large mail may be."""
        head = summary(parse_headers_only(f.data, f.size))
        limit = self.cfg.limits.max_message_bytes
        member = members.get(head.from_addr) if head.from_addr else None
        message = self.insert(sink, {
            **self.base_row(f, f.sha256, head), "kind": "triage",
            "disposition": "quarantined", "member": member, "body_sha256": None,
            "reason": f"too large: {f.size / 1e6:.1f} MB is over the {limit / 1e6:.1f} MB "
                      f"limit ([limits] max_message_bytes); not downloaded"})
        if member is not None:
            queue_reply(self.cfg, sink, "too_large", message, member, now, self.clock,
                        {"size_mb": f"{f.size / 1e6:.1f}", "limit_mb": f"{limit / 1e6:g}"})
        return message

    def decided(self, f: Fetched, a: Analysis, sink, now: dt.datetime, *, kind: str,
                decision, member: Member | None, answer=None,
                half_year_total: int | None = None) -> Message:
        """The message row as decided, then its credit (with the text's sketch, so a later
        near-copy is found) or its reply."""
        cfg, sha = self.cfg, f.sha256
        reason = decision.reason
        defects = [d for d in a.defects if d != a.from_problem]   # already in the reason
        if defects and decision.disposition in ("triage", "quarantined"):
            reason += "; parse problems: " + "; ".join(defects[:3])
        message = self.insert(sink, {
            **self.base_row(f, sha, a), "kind": kind,
            "disposition": decision.disposition, "reason": reason[:1000], "member": member,
            "body_sha256": a.body_sha})
        if decision.credit:
            if a.text is not None:
                sink.text(sha, member.id, a.text.signature, a.text.bands)
            credit(cfg, sink, message, member, a.kind, now, self.clock, self.pseudonym_key,
                   half_year_total=half_year_total)
        elif decision.reply and answer is not None:
            queue_reply(cfg, sink, decision.reply, message, member, now, self.clock,
                        answer.extra, key=answer.key, to=answer.to,
                        attachments=answer.attachments)
        elif decision.reply:
            extra = {}
            if decision.reply == "no_credit":
                extra = {"kind": a.kind, "reason_text": decision.reason}
            elif decision.reply == "rsvp_ack":
                extra = {"answer": a.rsvp}
            queue_reply(cfg, sink, decision.reply, message, member, now, self.clock, extra)
        return message
