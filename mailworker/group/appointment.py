"""Appointment (위촉): an applicant becomes a member and gets the appointment mail."""
from __future__ import annotations

from ..clock import Clock, naive_utc
from ..members import add_member
from ..models import Application
from ..outbox import domain_of, enqueue
from . import roster


def appoint(cfg, clock: Clock, app: Application) -> None:
    """The applicant becomes a member and gets the appointment mail (in the caller's
    transaction)."""
    member = add_member(app.name, app.email, app.category, clock, language=app.language)
    app.status = "appointed"
    app.member = member
    app.decided_at = naive_utc(clock.now())
    app.save()
    t = roster.term(cfg)
    enqueue(f"appointment:{app.id}", "appointment", app.email,
            {"display_name": member.display_name, "category": member.category,
             "term_start": t.first_day.isoformat(), "term_end": t.last_day.isoformat()},
            clock, member=member, domain=domain_of(cfg))
