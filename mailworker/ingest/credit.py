"""Crediting rules: given a classified message and its sender, what happens to it.

Pure decisions over the database's history; the pipeline writes the result. A wrong
credit is worse than a triage, so every refusal names its reason for the member and
the staff.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.errors import HeaderDefect
from email.headerregistry import Address
from typing import Iterable

import peewee as pw

from ..clock import half_year_start, local_day, local_day_bounds_utc
from ..models import CREDITABLE_KINDS, CreditedText, HourCredit, Member, Message
from ..prepared import select_in
from . import bands as band_store
from .fingerprint import NEAR_SIMILARITY, TextPrint, similarity

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
    # Only a plain ASCII address that the mail builder takes gets mail from us: anything
    # else in a stranger's From is more likely damage or an attack than a mailbox, and
    # its reply could only fail.
    if not address or "@" not in address or not (address.isascii() and address.isprintable()):
        return False
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError, HeaderDefect):
        return False
    local = address.split("@", 1)[0].lower()
    return not any(local == p or local.startswith(p + "+") for p in NO_REPLY_LOCALPARTS)


@dataclass(frozen=True)
class EarlierText:
    """A credited text that a new one repeats (exactly, or nearly: ``similarity`` < 1)."""
    message_id: int | None         # None: credited earlier in the batch being written
    member_id: int
    similarity: float = 1.0

    def where(self) -> str:
        return (f"message #{self.message_id}" if self.message_id
                else "a message recorded in the same pass")


def decide(*, kind: str, kind_reason: str, member: Member | None, sender: str,
           auth_ok: bool, auth_reason: str, new_text_chars: int,
           earlier_text: EarlierText | None, credited_today: int,
           duplicate_of: Message | None, min_body_chars: int, daily_cap: int,
           reply_to_non_members: bool, from_problem: str | None = None,
           no_words: str | None = None, earlier_member: Member | None = None,
           term_over: bool = False, request: str | None = None) -> Decision:
    """The disposition of one message, from facts the caller looked up (no I/O here).

    ``earlier_text``: the credited text this one repeats, if any (``earlier_member`` is
    whose it was, for the staff's reason). A question with a ``request`` (hours, receipts,
    password, help) comes back with the reply "self_service": ``selfservice.plan`` decides
    the answer from the database."""
    if duplicate_of is not None:
        earlier = f"message #{duplicate_of.id}" if duplicate_of.id else "a message in this batch"
        return Decision("duplicate", f"same Message-ID as {earlier} "
                        f"({duplicate_of.disposition}); recorded once")
    if from_problem and kind not in ("bounce", "auto_reply"):
        # Who really wrote is unclear: nobody is credited and nobody is answered (the
        # member named in it did not necessarily send it).
        return Decision("triage", f"sender unclear, not credited: {from_problem}")
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
        return Decision("no_credit", f"{kind} not credited: only {new_text_chars} letters or "
                        f"digits of new text (at least {min_body_chars} needed)",
                        reply="no_credit")
    if no_words:
        return Decision("no_credit", f"{kind} not credited: {no_words}", reply="no_credit")
    if earlier_text is not None:
        same = ("the same text" if earlier_text.similarity >= 1.0 else
                f"nearly the same text ({earlier_text.similarity:.0%} alike)")
        if earlier_text.member_id == member.id:
            return Decision("no_credit", f"{kind} not credited: {same} was already credited "
                            f"to you earlier", reply="no_credit")
        # Someone else's credited text: staff decide (the member is not told whose).
        other = (f"{earlier_member.display_name} (member #{earlier_member.id})"
                 if earlier_member is not None else f"member #{earlier_text.member_id}")
        return Decision("triage", f"{kind} not credited: {same} as {earlier_text.where()}, "
                        f"credited to {other}; sent now by {member.display_name} "
                        f"(member #{member.id})")
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
    """Per-member tallies read once per pass (one query a member), then kept in memory.

    Only the worker credits automatically, one pass at a time; a staff triage decision
    made during a pass can make a tally one hour low until the next pass. Which of a
    batch's texts were credited before, exactly or nearly, is read with a few queries per
    batch (``load_texts``), so memory stays flat however many messages a pass reads.

    A message's credit counts only once its rows are kept (``keep``); ``drop`` takes it
    back when the message is quarantined instead, so the tallies always match the rows."""

    def __init__(self, tz):
        self.tz = tz
        self._tallies: dict[int, MemberTally] = {}
        self._texts: dict[str, list[EarlierText]] = {}        # fingerprint -> credited
        self._sketches: dict[int, list[_Sketch]] = {}         # band key -> credited here
        self._keys_by_band: dict[int, list[int]] = {}         # band key -> stored texts
        self._stored: dict[int, _Sketch] = {}                 # stored candidates, by key
        self._pending: list[tuple[MemberTally, TextPrint | None, EarlierText | None]] = []

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
        # One walk over the member's half-year in the (member, time, hours) index; the
        # day lies inside the half-year.
        is_today = (HourCredit.credited_at >= start) & (HourCredit.credited_at < end)
        today, half = (HourCredit.select(
            pw.fn.COALESCE(pw.fn.SUM(pw.Case(None, [(is_today, HourCredit.hours)], 0)), 0),
            pw.fn.COALESCE(pw.fn.SUM(HourCredit.hours), 0))
            .where((HourCredit.member == member) & (HourCredit.credited_at >= hy_start))
            .tuples().get())
        return MemberTally(day, today, hy, half)

    def load_texts(self, prints: Iterable[TextPrint]) -> None:
        """Read which of these texts were already credited, exactly or nearly, and to
        whom: one query for the fingerprints, one for the sketches' band keys in each
        of the two tables that keep them (``bands``).

        Only the text hash in WHERE: it is nearly unique, and a planner without
        statistics may otherwise walk the (huge) member or disposition index instead."""
        prints = list(prints)
        shas = {p.sha for p in prints} | {p.legacy_sha for p in prints if p.legacy_sha}
        rows = select_in((Message.body_sha256, Message.member, Message.disposition, Message.id),
                         Message.body_sha256, sorted(shas))
        for sha, member_id, disposition, message_id in rows:
            if disposition == "credited" and member_id is not None:
                self._texts.setdefault(sha, []).append(EarlierText(message_id, member_id))
        # Which credited texts share band keys with these texts: only the keys (two
        # integers a row, read from the band tables' own indexes); a text is a candidate
        # for one of these texts when it shares at least MIN_SHARED_BANDS of its keys,
        # and only the candidates' sketches are read.
        keys_by_band = band_store.texts_by_band(b for p in prints for b in p.bands)
        wanted = set()
        for p in prints:
            wanted.update(_shared_enough(keys_by_band.get(b, ()) for b in p.bands))
        if not wanted:
            return
        self._keys_by_band.update(keys_by_band)
        rows = select_in((CreditedText.key, CreditedText.msg_sha256, CreditedText.member,
                          CreditedText.signature), CreditedText.key, sorted(wanted))
        ids = dict(select_in((Message.sha256, Message.id), Message.sha256,
                             sorted({sha for _, sha, _, _ in rows})))
        for key, sha, member_id, signature in rows:
            self._stored[key] = _Sketch(sha, member_id, ids.get(sha), bytes(signature))

    def earlier_text(self, member: Member, text: TextPrint | None) -> EarlierText | None:
        """The credited text this one repeats (``load_texts`` must have read this batch):
        the same text first, the member's own before anyone else's; else the nearest
        text at least ``NEAR_SIMILARITY`` alike."""
        if text is None:
            return None
        same = self._texts.get(text.sha) or (self._texts.get(text.legacy_sha)
                                             if text.legacy_sha != text.sha else None)
        if same:
            return next((e for e in same if e.member_id == member.id), same[0])
        candidates = [self._stored[k] for k in
                      _shared_enough(self._keys_by_band.get(b, ()) for b in text.bands)
                      if k in self._stored]
        candidates += _shared_enough(self._sketches.get(b, ()) for b in text.bands)
        best: EarlierText | None = None
        for sketch in candidates:
            alike = similarity(sketch.signature, text.signature)
            if alike >= NEAR_SIMILARITY and (best is None or alike > best.similarity):
                best = EarlierText(sketch.message_id, sketch.member_id, min(alike, 0.999))
        return best

    def credited(self, member: Member, now: dt.datetime, text: TextPrint | None) -> None:
        t = self.tally(member, now)
        t.today += 1
        t.half_year += 1
        entry = None
        if text is not None:
            entry = EarlierText(None, member.id)
            self._texts.setdefault(text.sha, []).append(entry)
            sketch = _Sketch(text.sha, member.id, None, text.signature)
            for band in text.bands:
                self._sketches.setdefault(band, []).append(sketch)
        self._pending.append((t, text, entry))

    def keep(self) -> None:
        """The message's rows were kept: its credit stands."""
        self._pending.clear()

    def drop(self) -> None:
        """The message's rows were dropped: take its credit back."""
        for t, text, entry in self._pending:
            t.today -= 1
            t.half_year -= 1
            if text is not None:
                self._texts[text.sha].remove(entry)
                for band in text.bands:
                    self._sketches[band] = [s for s in self._sketches[band]
                                            if s.sha != text.sha or s.message_id is not None]
        self._pending.clear()

    def batch_written(self) -> None:
        """The batch's rows are in the database now; forget its texts."""
        self._texts.clear()
        self._sketches.clear()
        self._keys_by_band.clear()
        self._stored.clear()
        self._pending.clear()


@dataclass(frozen=True)
class _Sketch:
    sha: str
    member_id: int
    message_id: int | None
    signature: bytes


# A credited text is compared with a new one only when they share this many band keys. A
# near-copy (90 % alike) shares about 7 of the 16, and at least 2 with a chance of 99.8 %;
# texts that merely share a phrase share one now and then, and are not compared at all.
MIN_SHARED_BANDS = 2


def _shared_enough(groups) -> list:
    """The items found in at least MIN_SHARED_BANDS of the groups (each group: what one
    of a text's band keys points to), in the order first met."""
    counts: dict = {}
    for group in groups:
        for item in group:
            counts[item] = counts.get(item, 0) + 1
    return [item for item, n in counts.items() if n >= MIN_SHARED_BANDS]
