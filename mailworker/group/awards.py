"""The half-year commendation (시장 표창): members ranked by their credited reviews and
proposals in a half-year (H1 = January-June, H2 = July-December, local time).

Order: more credited reviews + proposals first; at equal counts, whoever reached the
count earlier (the time of their last counted credit). Staff may judge single messages
1-5 (``awards score``); the average is shown beside the counts for the nomination.
Resigned members stay in the ranking, marked, since the half's work was theirs.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ..clock import Clock, local_day_bounds_utc, naive_utc, to_utc
from ..errors import MailworkerError, NotFound
from ..models import CATEGORY_KO, HourCredit, Member, Message, QualityScore

_HALF = re.compile(r"^\s*(\d{4})\s*-?\s*H([12])\s*$", re.I)
SCORES = range(1, 6)


class AwardsError(MailworkerError):
    """A commendation command cannot do what was asked."""


@dataclass(frozen=True)
class Half:
    year: int
    part: int          # 1 or 2

    @property
    def label(self) -> str:
        return f"{self.year}H{self.part}"

    @property
    def label_ko(self) -> str:
        return f"{self.year}년 {'상' if self.part == 1 else '하'}반기"

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, 1 if self.part == 1 else 7, 1)

    @property
    def last_day(self) -> dt.date:
        return dt.date(self.year, 6, 30) if self.part == 1 else dt.date(self.year, 12, 31)

    def bounds_utc(self, tz) -> tuple[dt.datetime, dt.datetime]:
        return (local_day_bounds_utc(self.first_day, tz)[0],
                local_day_bounds_utc(self.last_day, tz)[1])


def parse_half(text: str) -> Half:
    m = _HALF.match(text or "")
    if not m:
        raise AwardsError(f"--half {text!r}: write YEAR then H1 (January-June) or H2 "
                          "(July-December), e.g. 2019H1")
    return Half(int(m.group(1)), int(m.group(2)))


def half_of(day: dt.date) -> Half:
    return Half(day.year, 1 if day.month <= 6 else 2)


@dataclass
class AwardRow:
    rank: int
    member_id: int
    name: str
    email: str
    category: str
    status: str
    reviews: int
    proposals: int
    hours: int
    reached_at: dt.datetime       # when the member reached the count (UTC)
    score_avg: float | None
    scored: int

    @property
    def count(self) -> int:
        return self.reviews + self.proposals

    @property
    def category_ko(self) -> str:
        return CATEGORY_KO.get(self.category, self.category)


def ranking(cfg, half: Half) -> list[AwardRow]:
    start, end = half.bounds_utc(cfg.tz)
    per: dict[int, dict] = {}
    credits = (HourCredit.select(HourCredit.member, HourCredit.kind, HourCredit.hours,
                                 HourCredit.credited_at, HourCredit.message)
               .where((HourCredit.credited_at >= start) & (HourCredit.credited_at < end)
                      & HourCredit.kind.in_(("review", "proposal")))
               .order_by(HourCredit.credited_at, HourCredit.id))
    message_ids = []
    for c in credits:
        t = per.setdefault(c.member_id, {"review": 0, "proposal": 0, "hours": 0,
                                         "reached": c.credited_at, "scores": []})
        t[c.kind] += 1
        t["hours"] += c.hours
        t["reached"] = c.credited_at
        message_ids.append((c.message_id, c.member_id))
    if not per:
        return []
    by_message = dict(message_ids)
    for q in QualityScore.select().where(QualityScore.message.in_(list(by_message))):
        per[by_message[q.message_id]]["scores"].append(q.score)
    members = {m.id: m for m in Member.select().where(Member.id.in_(list(per)))}
    rows = []
    for member_id, t in per.items():
        m = members[member_id]
        scores = t["scores"]
        rows.append(AwardRow(0, member_id, m.display_name, m.primary_address, m.category,
                             m.status, t["review"], t["proposal"], t["hours"], t["reached"],
                             round(sum(scores) / len(scores), 2) if scores else None,
                             len(scores)))
    rows.sort(key=lambda r: (-r.count, r.reached_at, r.name, r.member_id))
    for i, r in enumerate(rows, 1):
        r.rank = i
    return rows


def reached_local(row: AwardRow, tz) -> str:
    return f"{to_utc(row.reached_at).astimezone(tz):%Y-%m-%d %H:%M}"


def score_message(message_id: int, score: int, staff: str, clock: Clock) -> QualityScore:
    """Staff's 1-5 judgement of one credited review or proposal (a new score replaces)."""
    if score not in SCORES:
        raise AwardsError(f"score {score}: give a whole number from 1 to 5")
    message = Message.get_or_none(Message.id == message_id)
    if message is None:
        raise NotFound(f"no message #{message_id}; the digest and `mailworker triage list` "
                       "show message numbers")
    if HourCredit.get_or_none(HourCredit.message == message) is None:
        raise AwardsError(f"message #{message_id} is not a credited review or proposal "
                          f"({message.disposition}); only credited ones count")
    now = naive_utc(clock.now())
    row = QualityScore.get_or_none(QualityScore.message == message)
    if row is None:
        return QualityScore.create(message=message, score=score, scored_by=staff, scored_at=now)
    row.score, row.scored_by, row.scored_at = score, staff, now
    row.save()
    return row


CSV_HEADER = ["순위 rank", "이름 name", "이메일 email", "분야 category", "상태 status",
              "품평 reviews", "제안 proposals", "합계 total", "봉사시간 hours",
              "품질점수 score", "채점 수 scored", "달성일 reached"]


def csv_rows(rows: list[AwardRow], tz) -> list[list]:
    return [[r.rank, r.name, r.email, r.category_ko,
             "해촉 resigned" if r.status == "resigned" else r.status,
             r.reviews, r.proposals, r.count, r.hours,
             "" if r.score_avg is None else r.score_avg, r.scored, reached_local(r, tz)]
            for r in rows]
