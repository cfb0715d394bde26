"""Writing a decision down: the credit, the reply and the ledger event for one message.

Rows go to a sink (see ``sink.py``) inside the caller's transaction, so a message's row,
credit, outbox rows and ledger event commit together or not at all. Shared by the
pipeline and staff triage.
"""
from __future__ import annotations

import datetime as dt
import functools

import peewee as pw

from .. import outbox
from ..clock import half_year_start, naive_utc, to_utc
from ..events import canonical_json, contribution_leaf
from ..models import HourCredit, Member, Message
from ..pseudonym import pseudonym

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
