"""Crediting rules: given a classified message and its sender, what happens to it.

Pure decisions over the database's history; the pipeline writes the result. A wrong
credit is worse than a triage, so every refusal names its reason for the member and
the staff.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

import peewee as pw

from ..clock import half_year_start, local_day, local_day_bounds_utc
from ..models import CREDITABLE_KINDS, HourCredit, Member, Message
from ..prepared import select_in

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
           auth_ok: bool, auth_reason: str, new_text_chars: int, same_text_credited: bool,
           credited_today: int, duplicate_of: Message | None, min_body_chars: int,
           daily_cap: int, reply_to_non_members: bool, term_over: bool = False,
           request: str | None = None) -> Decision:
    """The disposition of one message, from facts the caller looked up (no I/O here).

    A question with a ``request`` (hours, receipts, password, help) comes back with the
    reply "self_service": ``selfservice.plan`` decides the answer from the database."""
    if duplicate_of is not None:
        earlier = f"message #{duplicate_of.id}" if duplicate_of.id else "a message in this batch"
        return Decision("duplicate", f"same Message-ID as {earlier} "
                        f"({duplicate_of.disposition}); recorded once")
    if kind == "bounce":
        return Decision("bounce", kind_reason)
    if kind == "auto_reply":
        return Decision("ignored", kind_reason)
    if member is None:
        reply = "non_member_reply" if reply_to_non_members and may_reply_to(sender) else None
        return Decision("non_member", f"{sender or 'no sender address'} is not a registered "
                        f"member address ({kind}: {kind_reason})", reply=reply)
    if kind == "other":
        return Decision("noted", f"thanks/acknowledgement kept, no reply ({kind_reason})")
    if kind == "question":
        if request:
            return Decision("answered", f"self-service {request} ({kind_reason})",
                            reply="self_service")
        return Decision("triage", f"question for staff: {kind_reason}",
                        reply="question_received")
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
    if term_over:
        # The group step marks members term_ended after the end; until it has, the
        # configured end date alone stops the hours.
        return Decision("no_credit", f"{kind} after the end of the term "
                        "([group] term_end); not credited")
    if not auth_ok:
        # No reply: the real member did not necessarily send it.
        return Decision("no_credit", f"{kind} not credited: {auth_reason}")
    if new_text_chars < min_body_chars:
        return Decision("no_credit", f"{kind} not credited: only {new_text_chars} characters of "
                        f"new text (at least {min_body_chars} needed)", reply="no_credit")
    if same_text_credited:
        return Decision("no_credit", f"{kind} not credited: the same text was already "
                        "credited earlier", reply="no_credit")
    if credited_today >= daily_cap:
        return Decision("no_credit", f"{kind} not credited: daily limit of {daily_cap} "
                        f"hour(s) reached", reply="no_credit")
    return Decision("credited", f"{kind_reason}; 1 hour credited", credit=True, reply="ack")


@dataclass
class MemberTally:
    """A member's credit counts as far as the rules need them, kept current during a pass."""
    day: dt.date
    today: int
    half_year_start: dt.date
    half_year: int


class CreditHistory:
    """Per-member tallies read once per pass (two queries a member), then kept in memory.

    Only the worker credits automatically, one pass at a time; a staff triage decision
    made during a pass can make a tally one hour low until the next pass. Which of a
    batch's texts were credited before is read with one query per batch
    (``load_texts``), so memory stays flat however many messages a pass reads.

    A message's credit counts only once its rows are kept (``keep``); ``drop`` takes it
    back when the message is quarantined instead, so the tallies always match the rows."""

    def __init__(self, tz):
        self.tz = tz
        self._tallies: dict[int, MemberTally] = {}
        self._batch_texts: set[tuple[int, str]] = set()
        self._pending: list[tuple[MemberTally, tuple[int, str] | None]] = []

    def tally(self, member: Member, now: dt.datetime) -> MemberTally:
        day = local_day(now, self.tz)
        t = self._tallies.get(member.id)
        if t is None or t.day != day:
            t = self._load(member, now, day)
            self._tallies[member.id] = t
        return t

    def _load(self, member: Member, now: dt.datetime, day: dt.date) -> MemberTally:
        start, end = local_day_bounds_utc(day, self.tz)
        hy = half_year_start(now, self.tz)
        hy_start, _ = local_day_bounds_utc(hy, self.tz)
        total = pw.fn.COALESCE(pw.fn.SUM(HourCredit.hours), 0)
        today = (HourCredit.select(total).where(
            (HourCredit.member == member) & (HourCredit.credited_at >= start)
            & (HourCredit.credited_at < end)).scalar())
        half = (HourCredit.select(total).where(
            (HourCredit.member == member) & (HourCredit.credited_at >= hy_start)).scalar())
        return MemberTally(day, today, hy, half)

    def load_texts(self, body_sha256s: Iterable[str]) -> None:
        """Read which of these texts were already credited, and to whom (one query).

        Only the text hash in WHERE: it is nearly unique, and a planner without
        statistics may otherwise walk the (huge) member or disposition index instead."""
        rows = select_in((Message.body_sha256, Message.member, Message.disposition),
                         Message.body_sha256, sorted(set(body_sha256s)))
        self._batch_texts.update((member_id, sha) for sha, member_id, disposition in rows
                                 if disposition == "credited" and member_id is not None)

    def same_text_credited(self, member: Member, body_sha256: str | None) -> bool:
        """Whether this member's text was credited before (``load_texts`` must have read
        this batch's texts)."""
        return bool(body_sha256) and (member.id, body_sha256) in self._batch_texts

    def credited(self, member: Member, now: dt.datetime, body_sha256: str | None) -> None:
        t = self.tally(member, now)
        t.today += 1
        t.half_year += 1
        text = (member.id, body_sha256) if body_sha256 else None
        if text is not None:
            self._batch_texts.add(text)
        self._pending.append((t, text))

    def keep(self) -> None:
        """The message's rows were kept: its credit stands."""
        self._pending.clear()

    def drop(self) -> None:
        """The message's rows were dropped: take its credit back."""
        for t, text in self._pending:
            t.today -= 1
            t.half_year -= 1
            if text is not None:
                self._batch_texts.discard(text)
        self._pending.clear()

    def batch_written(self) -> None:
        """The batch's rows are in the database now; forget its texts."""
        self._batch_texts.clear()
        self._pending.clear()
