"""The seats: quota per category, who fills them, what is empty, waiting or offered.

Shared facts of the group's life cycle (recruitment, vacancies, terms, purge): the term's
dates, a member's hours, times shown to people in the group's zone.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import peewee as pw

from ..clock import naive_utc, to_utc
from ..members import QUOTAS
from ..models import CATEGORIES, Application, HourCredit, Member, Vacancy


@dataclass
class SeatRow:
    category: str
    quota: int
    filled: int
    vacant: int
    waitlisted: int
    offers: int


def seats() -> list[SeatRow]:
    """Per category: quota, active members, empty seats, waitlisted, pending offers."""
    filled = dict(Member.select(Member.category, pw.fn.COUNT(Member.id))
                  .where(Member.status == "active").group_by(Member.category).tuples())
    waiting = dict(Application.select(Application.category, pw.fn.COUNT(Application.id))
                   .where(Application.status == "waitlisted")
                   .group_by(Application.category).tuples())
    offers = dict(Application.select(Application.category, pw.fn.COUNT(Application.id))
                  .where(Application.status == "offered")
                  .group_by(Application.category).tuples())
    return [SeatRow(c, QUOTAS[c], filled.get(c, 0), max(0, QUOTAS[c] - filled.get(c, 0)),
                    waiting.get(c, 0), offers.get(c, 0)) for c in CATEGORIES]


def empty_seats() -> dict[str, int]:
    """Seats a new round can offer: vacant ones not already offered to a waitlisted
    applicant."""
    return {row.category: max(0, row.vacant - row.offers) for row in seats()}


def local_midnight_utc(day: dt.date, tz) -> dt.datetime:
    """Naive UTC of local midnight starting ``day``."""
    return naive_utc(dt.datetime.combine(day, dt.time(0), tzinfo=tz))


def local_text(when: dt.datetime | None, tz, with_time: bool = True) -> str:
    if when is None:
        return ""
    local = to_utc(when).astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def last_day_text(until: dt.datetime, tz) -> str:
    """The last local day before an exclusive end instant."""
    return (to_utc(until).astimezone(tz) - dt.timedelta(seconds=1)).date().isoformat()


@dataclass(frozen=True)
class Term:
    first_day: dt.date
    last_day: dt.date
    start: dt.datetime           # naive UTC, inclusive
    end: dt.datetime             # naive UTC, exclusive (local midnight after last_day)


def term(cfg) -> Term:
    first = dt.date.fromisoformat(cfg.group.term_start)
    last = dt.date.fromisoformat(cfg.group.term_end)
    return Term(first, last, local_midnight_utc(first, cfg.tz),
                local_midnight_utc(last + dt.timedelta(days=1), cfg.tz))


def member_totals(member: Member) -> dict:
    """A member's credited hours and contributions over all time."""
    rows = (HourCredit.select(HourCredit.kind, pw.fn.COUNT(HourCredit.id),
                              pw.fn.COALESCE(pw.fn.SUM(HourCredit.hours), 0))
            .where(HourCredit.member == member).group_by(HourCredit.kind).tuples())
    per = {kind: (int(n), int(h)) for kind, n, h in rows}
    return {"total_hours": sum(h for _, h in per.values()),
            "reviews": per.get("review", (0, 0))[0],
            "proposals": per.get("proposal", (0, 0))[0]}


def open_vacancies(category: str | None = None) -> pw.ModelSelect:
    query = Vacancy.select().where(Vacancy.status != "filled")
    return query.where(Vacancy.category == category) if category else query
