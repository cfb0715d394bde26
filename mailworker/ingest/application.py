"""Mail from strangers that applies to join the group, or answers a vacancy offer.

Ingest only sorts such mail: it records it with the kind ``application`` (and no reply)
while a recruitment round is open or an offer waits for that address, so the group's
step can answer it with the applicant's place; outside a round an application gets the
polite "recruitment is closed" reply (at most once a day per address). The group's state
is read from the database once per pass, never by importing the group package.
"""
from __future__ import annotations

import datetime as dt

from ..clock import naive_utc
from ..db import state_get
from ..models import APPLICATION_KIND, TERM_RUNNING_KEY, Application, RecruitmentRound
from .credit import Decision, may_reply_to


def term_over_at(cfg) -> dt.datetime | None:
    """The instant the term ends (local midnight after ``[group] term_end``), naive UTC;
    None when the worker never saw that term running (a stale date, such as the plan's
    2020 default on a new install, must not stop everyone's hours)."""
    if state_get(TERM_RUNNING_KEY) != cfg.group.term_end:
        return None
    last = dt.date.fromisoformat(cfg.group.term_end)
    return naive_utc(dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0),
                                         tzinfo=cfg.tz))


class ApplicationDesk:
    """The recruitment state ingest needs, read once per pass."""

    def __init__(self):
        open_round = (RecruitmentRound.select(RecruitmentRound.id, RecruitmentRound.until)
                      .where(RecruitmentRound.status == "open").first())
        self.open_until: dt.datetime | None = open_round.until if open_round else None
        # who applied in the open round: their next mail (e.g. the missing category,
        # "분야: 대학생" alone) belongs to their application
        self.applicants: set[str] = (
            {a.email for a in Application.select(Application.email)
             .where(Application.round == open_round.id)} if open_round else set())
        self.offered: set[str] = {a.email for a in Application.select(Application.email)
                                  .where(Application.status == "offered")}

    def non_member(self, kind: str, decision: Decision, sender: str, applies: str,
                   now: dt.datetime) -> tuple[str, Decision]:
        """The kind and decision for a non-member's mail that ``decide`` called non_member."""
        if sender and sender in self.offered:
            return APPLICATION_KIND, Decision(
                "recorded", "reply to a vacancy offer, recorded for the group")
        in_round = self.open_until is not None and naive_utc(now) < self.open_until
        if in_round and sender in self.applicants and not applies:
            applies = "more from an applicant of the open round"
        if not applies:
            return kind, decision
        if in_round:
            return APPLICATION_KIND, Decision(
                "recorded", f"application recorded for the open round ({applies})")
        reply = "recruitment_closed" if may_reply_to(sender) else None
        return kind, Decision("non_member", f"application outside a recruitment round "
                              f"({applies}); not recorded as an applicant", reply=reply)
