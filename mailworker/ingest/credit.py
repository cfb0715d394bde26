"""Crediting rules: given a classified message and its sender, what happens to it.

Pure decisions over the database's history; the pipeline writes the result. A wrong
credit is worse than a triage, so every refusal names its reason for the member and
the staff.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import peewee as pw

from ..clock import local_day, local_day_bounds_utc
from ..models import CREDITABLE_KINDS, HourCredit, Member, Message

# Senders we never answer: answering them makes mail loops or backscatter.
NO_REPLY_LOCALPARTS = ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply",
                       "do-not-reply", "bounce", "bounces")


@dataclass(frozen=True)
class Decision:
    disposition: str
    reason: str
    credit: bool = False
    reply: str | None = None      # template of the mail to queue for the sender


def may_reply_to(address: str) -> bool:
    if not address or "@" not in address:
        return False
    local = address.split("@", 1)[0].lower()
    return not any(local == p or local.startswith(p + "+") for p in NO_REPLY_LOCALPARTS)


def decide(*, kind: str, kind_reason: str, member: Member | None, sender: str,
           auth_ok: bool, auth_reason: str, new_text_chars: int, body_sha256: str | None,
           duplicate_of: Message | None, now: dt.datetime, tz, min_body_chars: int,
           daily_cap: int, reply_to_non_members: bool) -> Decision:
    if duplicate_of is not None:
        return Decision("duplicate", f"same Message-ID as message #{duplicate_of.id} "
                        f"({duplicate_of.disposition}); recorded once")
    if kind == "bounce":
        return Decision("bounce", kind_reason)
    if kind == "auto_reply":
        return Decision("ignored", kind_reason)
    if member is None:
        reply = "non_member_reply" if reply_to_non_members and may_reply_to(sender) else None
        return Decision("non_member", f"{sender or 'no sender address'} is not a registered "
                        f"member address ({kind}: {kind_reason})", reply=reply)
    if kind == "resignation":
        return Decision("recorded", f"resignation request recorded for staff ({kind_reason})",
                        reply="resignation_ack")
    if kind == "rsvp":
        return Decision("recorded", f"meeting reply recorded ({kind_reason})", reply="rsvp_ack")
    if kind == "triage":
        return Decision("triage", f"unclear, waiting for staff: {kind_reason}",
                        reply="triage_notice")
    if kind not in CREDITABLE_KINDS:
        return Decision("triage", f"unknown kind {kind!r}", reply="triage_notice")
    if member.status != "active":
        return Decision("no_credit", f"{kind} from a {member.status} member; not credited")
    if not auth_ok:
        # No reply: the real member did not necessarily send it.
        return Decision("no_credit", f"{kind} not credited: {auth_reason}")
    if new_text_chars < min_body_chars:
        return Decision("no_credit", f"{kind} not credited: only {new_text_chars} characters of "
                        f"new text (at least {min_body_chars} needed)", reply="no_credit")
    if body_sha256 and (Message.select(Message.id)
                        .where((Message.member == member) & (Message.body_sha256 == body_sha256)
                               & (Message.disposition == "credited")).exists()):
        return Decision("no_credit", f"{kind} not credited: the same text was already "
                        "credited earlier", reply="no_credit")
    start, end = local_day_bounds_utc(local_day(now, tz), tz)
    today = (HourCredit.select(pw.fn.COALESCE(pw.fn.SUM(HourCredit.hours), 0))
             .where((HourCredit.member == member) & (HourCredit.credited_at >= start)
                    & (HourCredit.credited_at < end)).scalar())
    if today >= daily_cap:
        return Decision("no_credit", f"{kind} not credited: daily limit of {daily_cap} "
                        f"hour(s) reached", reply="no_credit")
    return Decision("credited", f"{kind_reason}; 1 hour credited", credit=True, reply="ack")
