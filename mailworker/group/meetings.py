"""Regular meetings (정례회의): the meeting, its notices, attendance, allowances and budget.

A meeting's notices and reminders are ordinary outbox rows whose keys start with
``meeting:<id>:`` (see ``notice_key``); their fixed Message-IDs are what a member's reply
points at, which is how ``rsvp.py`` knows which meeting an answer is for. The allowance
is paid on the attendance list, never on the answers; no bank data is stored.
"""
from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import peewee as pw

from ..clock import Clock, naive_utc, to_utc
from ..errors import MailworkerError, NotFound
from ..members import find_member_by_address, normalize_email
from ..models import (CATEGORY_KO, Attendance, Meeting, Member, Outbox, Rsvp, db_proxy)
from ..outbox import domain_of, enqueue

WEEKDAYS_KO = "월화수목금토일"
NOTICE_PREFIX = "meeting:"


class MeetingError(MailworkerError):
    """A meeting command cannot do what was asked (bad date, unknown address, ...)."""


def notice_key(meeting_id: int, what: str, member: Member) -> str:
    """``meeting:<id>:notice:<uuid>`` or ``meeting:<id>:reminder:<uuid>``."""
    return f"{NOTICE_PREFIX}{meeting_id}:{what}:{member.uuid}"


def meeting_id_of_key(key: str) -> int | None:
    """The meeting an outbox key belongs to, or None for any other mail."""
    if not key.startswith(NOTICE_PREFIX):
        return None
    part = key[len(NOTICE_PREFIX):].split(":", 1)[0]
    return int(part) if part.isdigit() else None


def parse_local_datetime(text: str, tz) -> dt.datetime:
    """``YYYY-MM-DD HH:MM`` (local time) as an aware datetime."""
    try:
        naive = dt.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise MeetingError(f"--date {text!r}: write the local date and time as "
                           "\"YYYY-MM-DD HH:MM\", e.g. \"2019-05-23 19:00\"") from None
    return naive.replace(tzinfo=tz)


def half_label(when: dt.datetime, tz) -> str:
    local = to_utc(when).astimezone(tz)
    return f"{local.year}년 {'상' if local.month <= 6 else '하'}반기"


def date_label(meeting: Meeting, tz, language: str = "ko") -> str:
    """How the meeting's time is written in mails (and recognised in reply subjects)."""
    local = to_utc(meeting.starts_at).astimezone(tz)
    if language == "en":
        return f"{local:%a %d %b %Y, %H:%M}"
    return (f"{local.year}년 {local.month}월 {local.day}일({WEEKDAYS_KO[local.weekday()]}) "
            f"{local:%H:%M}")


def create_meeting(starts: dt.datetime, place: str, clock: Clock, tz,
                   title: str | None = None) -> Meeting:
    if not place.strip():
        raise MeetingError("--place must not be empty")
    title = (title or "").strip()[:200] or f"{half_label(starts, tz)} 정례회의"
    return Meeting.create(title=title, starts_at=naive_utc(starts), place=place.strip()[:250],
                          created_at=naive_utc(clock.now()))


def get_meeting(meeting_id: int) -> Meeting:
    meeting = Meeting.get_or_none(Meeting.id == meeting_id)
    if meeting is None:
        raise NotFound(f"no meeting #{meeting_id}; see `mailworker meeting list`")
    return meeting


def list_meetings() -> list[Meeting]:
    return list(Meeting.select().order_by(Meeting.starts_at, Meeting.id))


# --- notices ---------------------------------------------------------------------------

def notice_context(meeting: Meeting, member: Member, tz, agenda: str = "") -> dict:
    """The values of meeting_notice / meeting_reminder for one member."""
    language = member.language
    return {"meeting_id": meeting.id, "meeting_title": meeting.title,
            "meeting_date": date_label(meeting, tz, language), "place": meeting.place,
            "agenda": agenda, "display_name": member.display_name, "language": language}


def active_members() -> list[Member]:
    return list(Member.select().where(Member.status == "active").order_by(Member.id))


@dataclass
class QueueReport:
    queued: int = 0
    already: int = 0
    skipped: list[str] = field(default_factory=list)


def queue_meeting_mail(cfg, clock: Clock, meeting: Meeting, template: str, what: str,
                       members: list[Member], agenda: str = "") -> QueueReport:
    """One outbox row per member (idempotent by key), in one transaction."""
    report = QueueReport()
    domain = domain_of(cfg)
    with db_proxy.atomic():
        for member in members:
            address = member.primary_address
            if not address:
                report.skipped.append(f"{member.display_name}: no e-mail address")
                continue
            key = notice_key(meeting.id, what, member)
            if Outbox.get_or_none(Outbox.key == key) is not None:
                report.already += 1
                continue
            enqueue(key, template, address, notice_context(meeting, member, cfg.tz, agenda),
                    clock, member=member, domain=domain)
            report.queued += 1
        if what == "notice" and meeting.notice_sent_at is None and report.queued:
            meeting.notice_sent_at = naive_utc(clock.now())
            meeting.save()
    return report


def unanswered_members(meeting: Meeting) -> list[Member]:
    answered = {r.member_id for r in Rsvp.select(Rsvp.member).where(Rsvp.meeting == meeting)}
    silent = noticed_member_ids(meeting) - answered
    if not silent:
        return []
    return list(Member.select().where(Member.id.in_(list(silent))).order_by(Member.display_name))


def noticed_member_ids(meeting: Meeting) -> set[int]:
    prefix = f"{NOTICE_PREFIX}{meeting.id}:notice:"
    return {o.member_id for o in Outbox.select(Outbox.member)
            .where(Outbox.key.startswith(prefix) & Outbox.member.is_null(False))}


# --- answers ---------------------------------------------------------------------------

@dataclass
class AnswerCounts:
    attend: int
    decline: int
    unanswered: int


def answer_counts(meeting: Meeting) -> AnswerCounts:
    answers = [r.answer for r in Rsvp.select(Rsvp.answer).where(Rsvp.meeting == meeting)]
    noticed = noticed_member_ids(meeting)
    answered = {r.member_id for r in Rsvp.select(Rsvp.member).where(Rsvp.meeting == meeting)}
    return AnswerCounts(answers.count("attend"), answers.count("decline"),
                        len(noticed - answered))


def answers(meeting: Meeting) -> list[Rsvp]:
    return list(Rsvp.select(Rsvp, Member).join(Member).where(Rsvp.meeting == meeting)
                .order_by(Rsvp.answer, Member.display_name))


# --- attendance and allowance ----------------------------------------------------------

SIGN_IN_EMAIL_COLUMNS = ("email", "e-mail", "이메일", "메일", "전자우편")


def read_sign_in(path: Path) -> list[str]:
    """The addresses on a sign-in sheet (CSV; UTF-8, with or without BOM, or CP949 as
    Korean Excel saves it): the column headed email/이메일, else every cell with an @."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise MeetingError(f"{path}: cannot read the sign-in sheet: {exc.strerror}") from None
    for encoding in ("utf-8-sig", "cp949"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise MeetingError(f"{path}: not UTF-8 or CP949 text; save it as CSV UTF-8")
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    if not rows:
        raise MeetingError(f"{path}: the sign-in sheet is empty")
    header = [c.strip().lower() for c in rows[0]]
    column = next((i for i, h in enumerate(header) if h in SIGN_IN_EMAIL_COLUMNS), None)
    if column is not None:
        found = [r[column].strip() for r in rows[1:] if len(r) > column and r[column].strip()]
    else:
        found = [c.strip() for r in rows for c in r if "@" in c]
    if not found:
        raise MeetingError(f"{path}: no e-mail addresses found (give a column headed "
                           "'email' or '이메일')")
    return found


@dataclass
class AttendanceReport:
    added: list[Member] = field(default_factory=list)
    already: list[Member] = field(default_factory=list)
    removed: list[Member] = field(default_factory=list)


def _members_for(emails: list[str]) -> list[Member]:
    members, unknown = {}, []
    for email in emails:
        member = find_member_by_address(normalize_email(email))
        if member is None:
            unknown.append(email)
        else:
            members[member.id] = member
    if unknown:
        raise MeetingError("not a member address (nothing was recorded): "
                           + ", ".join(unknown) + "; see `mailworker members list`")
    return list(members.values())


def record_attendance(cfg, clock: Clock, meeting: Meeting, emails: list[str],
                      source: str = "list") -> AttendanceReport:
    """Mark members present (all or nothing); the amount is the allowance now in force."""
    members = _members_for(emails)
    report = AttendanceReport()
    now = naive_utc(clock.now())
    with db_proxy.atomic():
        for member in members:
            if Attendance.get_or_none((Attendance.meeting == meeting)
                                      & (Attendance.member == member)):
                report.already.append(member)
                continue
            Attendance.create(meeting=meeting, member=member,
                              amount_krw=cfg.group.allowance_krw, recorded_at=now,
                              source=source[:250])
            report.added.append(member)
    return report


def remove_attendance(meeting: Meeting, emails: list[str]) -> AttendanceReport:
    members = _members_for(emails)
    report = AttendanceReport()
    with db_proxy.atomic():
        for member in members:
            gone = (Attendance.delete().where((Attendance.meeting == meeting)
                                              & (Attendance.member == member)).execute())
            (report.removed if gone else report.already).append(member)
    return report


@dataclass
class AllowanceRow:
    name: str
    category: str
    category_ko: str
    amount_krw: int
    status: str


def allowance_rows(meeting: Meeting) -> list[AllowanceRow]:
    """What the payment officer pays for this meeting: one row per attendee."""
    rows = (Attendance.select(Attendance, Member).join(Member)
            .where(Attendance.meeting == meeting).order_by(Member.category, Member.display_name))
    return [AllowanceRow(a.member.display_name, a.member.category,
                         CATEGORY_KO.get(a.member.category, a.member.category), a.amount_krw,
                         a.member.status)
            for a in rows]


@dataclass
class BudgetMeeting:
    meeting: Meeting
    attendees: int
    paid_krw: int


@dataclass
class BudgetYear:
    year: int
    budget_krw: int
    meetings: list[BudgetMeeting]

    @property
    def paid_krw(self) -> int:
        return sum(m.paid_krw for m in self.meetings)

    @property
    def remaining_krw(self) -> int:
        return self.budget_krw - self.paid_krw


def budget(cfg, year: int | None = None) -> list[BudgetYear]:
    """Allowances per meeting and per (local) year against ``[group] budget_krw``."""
    tz = cfg.tz
    paid = {mid: (n, total) for mid, n, total in
            Attendance.select(Attendance.meeting, pw.fn.COUNT(Attendance.id),
                              pw.fn.SUM(Attendance.amount_krw))
            .group_by(Attendance.meeting).tuples()}
    years: dict[int, BudgetYear] = {}
    for meeting in list_meetings():
        y = to_utc(meeting.starts_at).astimezone(tz).year
        if year is not None and y != year:
            continue
        n, total = paid.get(meeting.id, (0, 0))
        years.setdefault(y, BudgetYear(y, cfg.group.budget_krw, [])).meetings.append(
            BudgetMeeting(meeting, int(n), int(total or 0)))
    if year is not None and year not in years:
        years[year] = BudgetYear(year, cfg.group.budget_krw, [])
    return [years[y] for y in sorted(years)]
