"""Volunteer hours (봉사시간) per member and per category, counted from ``HourCredit`` rows.

One hour per credited review or proposal; the staff report these to the district volunteer
centre and use them to choose the half-year's best contributors.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import peewee as pw

from .clock import DEFAULT_ZONE, local_day_bounds_utc
from .errors import NotFound
from .members import QUOTAS, find_member_by_address
from .models import CATEGORIES, HourCredit, Member, MemberAddress


@dataclass
class MemberHours:
    member_id: int
    display_name: str
    primary_address: str
    category: str
    status: str
    hours: int
    reviews: int
    proposals: int


@dataclass
class CategoryHours:
    category: str
    quota: int
    active_members: int
    hours: int
    reviews: int
    proposals: int


def _since_utc(since: dt.date | None, tz: ZoneInfo) -> dt.datetime | None:
    return None if since is None else local_day_bounds_utc(since, tz)[0]


def hours_by_member(since: dt.date | None = None, member_email: str | None = None,
                    tz: ZoneInfo | None = None, until: dt.date | None = None
                    ) -> list[MemberHours]:
    """Hours of every member (active ones even with none; others only if they earned some),
    most hours first. ``since`` and ``until`` (both included) are local calendar days
    (Asia/Seoul unless ``tz``);
    ``member_email`` (any of the member's addresses) limits the list to that member and
    raises ``NotFound`` if no member has that address."""
    tz = tz or ZoneInfo(DEFAULT_ZONE)
    only: Member | None = None
    if member_email is not None:
        only = find_member_by_address(member_email)
        if only is None:
            raise NotFound(f"no member has the address {member_email!r} "
                           "(see: mailworker members list)")

    is_review = pw.Case(None, [(HourCredit.kind == "review", 1)], 0)
    is_proposal = pw.Case(None, [(HourCredit.kind == "proposal", 1)], 0)
    credits = HourCredit.select(
        HourCredit.member,
        pw.fn.COALESCE(pw.fn.SUM(HourCredit.hours), 0).alias("hours"),
        pw.fn.SUM(is_review).alias("reviews"),
        pw.fn.SUM(is_proposal).alias("proposals"))
    start = _since_utc(since, tz)
    if start is not None:
        credits = credits.where(HourCredit.credited_at >= start)
    if until is not None:
        credits = credits.where(HourCredit.credited_at < local_day_bounds_utc(until, tz)[1])
    if only is not None:
        credits = credits.where(HourCredit.member == only)
    totals = {row.member_id: row for row in credits.group_by(HourCredit.member)}

    members = Member.select()
    if only is not None:
        members = members.where(Member.id == only.id)
    primary: dict[int, str] = {}
    for a in (MemberAddress.select()
              .order_by(MemberAddress.is_primary.asc(), MemberAddress.id.desc())):
        primary[a.member_id] = a.email  # the last write wins: primary, else the first alias

    result = []
    for m in members:
        t = totals.get(m.id)
        if t is None and m.status != "active" and only is None:
            continue
        result.append(MemberHours(
            member_id=m.id, display_name=m.display_name, primary_address=primary.get(m.id, ""),
            category=m.category, status=m.status,
            hours=int(t.hours) if t else 0, reviews=int(t.reviews or 0) if t else 0,
            proposals=int(t.proposals or 0) if t else 0))
    result.sort(key=lambda r: (-r.hours, r.display_name, r.member_id))
    return result


def hours_by_category(rows: list[MemberHours]) -> list[CategoryHours]:
    """Totals per category (plan order) for the rows of ``hours_by_member``."""
    out = []
    for c in CATEGORIES:
        mine = [r for r in rows if r.category == c]
        out.append(CategoryHours(
            category=c, quota=QUOTAS[c],
            active_members=sum(1 for r in mine if r.status == "active"),
            hours=sum(r.hours for r in mine), reviews=sum(r.reviews for r in mine),
            proposals=sum(r.proposals for r in mine)))
    return out
