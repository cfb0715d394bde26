"""Meeting answers (RSVPs): tie each recorded answer to its meeting, and remind the silent.

Ingest records a member's answer as a message of kind ``rsvp`` with ``rsvp_answer``,
``in_reply_to`` and ``thread_refs``. ``match_new_replies`` (a group step) reads the new
ones and finds the meeting, in this order:
  1. a Message-ID the reply points at (In-Reply-To first, then References newest first)
     is one of our meeting notices or reminders (outbox keys ``meeting:<id>:...``), our
     acknowledgement of an earlier answer, or the member's own earlier answer;
  2. the subject names one meeting (its date as the notice writes it, or its title):
     Outlook often drops the thread headers but keeps "RE:" / "회신:" + our subject;
  3. only one meeting is open (noticed and still ahead).
The latest answer wins (by the message's Date); an answer matching no meeting goes to
triage, and its acknowledgement is held back while still unsent.
"""
from __future__ import annotations

import datetime as dt
import logging
import re

from ..clock import Clock, naive_utc, to_utc
from ..db import state_get, state_set
from ..errors import MailworkerError, NotFound
from ..models import Meeting, Member, Message, Outbox, Rsvp, db_proxy
from ..vocabulary import without_reply_prefix
from .meetings import (answer_counts, date_label, meeting_id_of_key, noticed_member_ids,
                       queue_meeting_mail)

log = logging.getLogger(__name__)

CURSOR_KEY = "group.rsvp.cursor"     # the last message id this step has looked at
BATCH = 500


def _bracketed(ids: list[str]) -> list[str]:
    return [f"<{i}>" for i in ids]


def _thread_ids(message: Message) -> list[str]:
    """Ids the reply points at, the most telling first."""
    refs = (message.thread_refs or "").split()
    ids = ([message.in_reply_to] if message.in_reply_to else []) + list(reversed(refs))
    return list(dict.fromkeys(i for i in ids if i))


def _by_thread(message: Message) -> tuple[Meeting, str] | None:
    ids = _thread_ids(message)
    if not ids:
        return None
    found: dict[str, tuple[int, str]] = {}     # id -> (meeting id, how)
    for row in Outbox.select(Outbox.key, Outbox.message_id).where(
            Outbox.message_id.in_(_bracketed(ids))):
        mid = meeting_id_of_key(row.key)
        if mid is not None:
            what = row.key.split(":")[2]
            found[row.message_id.strip("<>")] = (mid, f"reply to our meeting {what}")
        elif row.key.startswith("rsvp:"):
            earlier = (Rsvp.select(Rsvp.meeting).join(Message)
                       .where(Message.sha256 == row.key[len("rsvp:"):]).first())
            if earlier is not None:
                found[row.message_id.strip("<>")] = (earlier.meeting_id,
                                                     "reply to our acknowledgement")
    for row in (Rsvp.select(Rsvp.meeting, Message.message_id).join(Message)
                .where(Message.message_id.in_(ids)).tuples()):
        found.setdefault(row[1], (row[0], "reply to an earlier answer"))
    for i in ids:
        if i in found:
            mid, how = found[i]
            meeting = Meeting.get_or_none(Meeting.id == mid)
            if meeting is not None:
                return meeting, how
    return None


def _by_subject(message: Message, meetings: list[Meeting], tz) -> tuple[Meeting, str] | None:
    subject = without_reply_prefix(message.subject or "").casefold()
    if not subject:
        return None
    hits = [m for m in meetings
            if any(label.casefold() in subject
                   for label in (date_label(m, tz, "ko"), date_label(m, tz, "en"), m.title))]
    if len(hits) == 1:
        return hits[0], "subject names the meeting"
    return None


def _only_open(message: Message, meetings: list[Meeting]) -> tuple[Meeting, str] | None:
    when = message.received_at
    open_ = [m for m in meetings if m.notice_sent_at is not None and m.starts_at > when]
    if len(open_) == 1:
        return open_[0], "the only open meeting"
    return None


def match_meeting(message: Message, tz, meetings: list[Meeting] | None = None
                  ) -> tuple[Meeting, str] | None:
    meetings = meetings if meetings is not None else list(Meeting.select())
    return (_by_thread(message) or _by_subject(message, meetings, tz)
            or _only_open(message, meetings))


def record_answer(meeting: Meeting, member: Member, answer: str, message: Message,
                  how: str) -> bool:
    """Keep the answer unless a later one is already recorded; True if it now stands."""
    when = message.sent_at or message.received_at
    existing = Rsvp.get_or_none((Rsvp.meeting == meeting) & (Rsvp.member == member))
    if existing is None:
        Rsvp.create(meeting=meeting, member=member, answer=answer, message=message,
                    answered_at=when, matched_by=how)
        return True
    if (existing.answered_at, existing.message_id) > (when, message.id):
        return False            # an older answer that arrived late changes nothing
    existing.answer, existing.message, existing.answered_at = answer, message, when
    existing.matched_by = how
    existing.save()
    return True


def _to_triage(message: Message, why: str, clock: Clock) -> None:
    message.disposition = "triage"
    message.reason = f"{why}; {message.reason}"[:1000]
    message.save()
    # The member is told once staff decide; an unsent "we got your answer" would mislead.
    (Outbox.update(status="cancelled", last_error=f"held back: {why}")
     .where((Outbox.key == f"rsvp:{message.sha256}") & (Outbox.status == "pending"))
     .execute())


def match_new_replies(cfg, clock: Clock) -> str:
    """The group step: every rsvp message recorded since the last run gets its meeting."""
    cursor = int(state_get(CURSOR_KEY, "0") or 0)
    newest = Message.select(Message.id).order_by(Message.id.desc()).scalar() or 0
    if newest <= cursor:
        return ""
    matched = triaged = 0
    meetings = list(Meeting.select())
    while True:
        # rsvp_answer is written by ingest for every answer since schema 7; older answers
        # (without it) stay as they were recorded.
        batch = list(Message.select().where((Message.id > cursor) & (Message.id <= newest)
                                            & (Message.kind == "rsvp")
                                            & (Message.disposition == "recorded")
                                            & Message.member.is_null(False)
                                            & Message.rsvp_answer.in_(("attend", "decline")))
                     .order_by(Message.id).limit(BATCH))
        for message in batch:
            with db_proxy.atomic():
                found = match_meeting(message, cfg.tz, meetings)
                if found is None:
                    _to_triage(message, f"meeting answer ({message.rsvp_answer}) matches "
                                        "no meeting (assign it: mailworker meeting rsvp "
                                        f"MEETING_ID --message {message.id})", clock)
                    triaged += 1
                else:
                    meeting, how = found
                    record_answer(meeting, message.member, message.rsvp_answer, message, how)
                    matched += 1
                state_set(CURSOR_KEY, str(message.id), clock.now())
            cursor = message.id
        if len(batch) < BATCH:
            break
    state_set(CURSOR_KEY, str(newest), clock.now())
    if not matched and not triaged:
        return ""
    return f"{matched} meeting answer(s) recorded, {triaged} sent to triage"


def assign_answer(meeting: Meeting, message_id: int, answer: str | None, staff: str,
                  clock: Clock) -> Rsvp:
    """Staff tie a member's mail (e.g. an answer waiting in triage) to a meeting; the
    acknowledgement held back for it goes out after all."""
    message = Message.get_or_none(Message.id == message_id)
    if message is None:
        raise NotFound(f"no message #{message_id}; see `mailworker triage list`")
    if message.member_id is None:
        raise MailworkerError(f"message #{message_id} is not from a member address")
    answer = answer or message.rsvp_answer
    if answer not in ("attend", "decline"):
        raise MailworkerError(f"message #{message_id}: say which answer with --answer "
                              "attend or --answer decline")
    if message.disposition not in ("triage", "recorded"):
        raise MailworkerError(f"message #{message_id} is {message.disposition} "
                              f"({message.reason}); only a meeting answer can be assigned")
    now = naive_utc(clock.now())
    with db_proxy.atomic():
        record_answer(meeting, message.member, answer, message, f"assigned by staff ({staff})")
        if message.disposition == "triage":
            message.disposition = "recorded"
            message.kind = "rsvp"
            message.rsvp_answer = answer
            message.reason = (f"meeting answer ({answer}) assigned by staff ({staff}) to "
                              f"meeting #{meeting.id}; {message.reason}")[:1000]
            message.decided_by, message.decided_at = staff, now
            message.save()
            (Outbox.update(status="pending", last_error="", not_before=now)
             .where((Outbox.key == f"rsvp:{message.sha256}") & (Outbox.status == "cancelled"))
             .execute())
    return Rsvp.get((Rsvp.meeting == meeting) & (Rsvp.member == message.member))


def reminder_due(meeting: Meeting, now: dt.datetime, days: int, tz) -> bool:
    if days <= 0 or meeting.notice_sent_at is None or meeting.reminded_at is not None:
        return False
    if meeting.starts_at <= naive_utc(now):
        return False
    if naive_utc(now) < meeting.notice_sent_at + dt.timedelta(days=1):
        return False        # a late notice gets a day before anyone is reminded
    start_day = to_utc(meeting.starts_at).astimezone(tz).date()
    return to_utc(now).astimezone(tz).date() >= start_day - dt.timedelta(days=days)


def queue_reminders(cfg, clock: Clock) -> str:
    """The group step: members who got the notice and have not answered, N days before."""
    now = clock.now()
    days = cfg.group.rsvp_reminder_days
    done = []
    for meeting in (Meeting.select().where(Meeting.reminded_at.is_null()
                                           & Meeting.notice_sent_at.is_null(False))):
        if not reminder_due(meeting, now, days, cfg.tz):
            continue
        answered = {r.member_id for r in Rsvp.select(Rsvp.member).where(Rsvp.meeting == meeting)}
        silent = noticed_member_ids(meeting) - answered
        members = list(Member.select().where(Member.id.in_(silent)
                                             & (Member.status == "active"))
                       .order_by(Member.id)) if silent else []
        with db_proxy.atomic():
            report = queue_meeting_mail(cfg, clock, meeting, "meeting_reminder", "reminder",
                                        members)
            meeting.reminded_at = naive_utc(now)
            meeting.save()
        done.append(f"meeting #{meeting.id}: {report.queued} reminder(s)")
    return "; ".join(done)


def meeting_summary(meeting: Meeting, tz) -> dict:
    """Answers so far, for the digest and `meeting show`."""
    counts = answer_counts(meeting)
    return {"id": meeting.id, "title": meeting.title, "date": date_label(meeting, tz, "ko"),
            "place": meeting.place, "attend": counts.attend, "decline": counts.decline,
            "unanswered": counts.unanswered}
