"""Resignation (해촉) -> vacancy (결원) -> offer down the waitlist -> a new member.

A resignation mail that ingest recorded is a pending request for staff; staff confirm it
(``members resign EMAIL --confirm`` or the digest's action), the member gets a
confirmation with their final hours, and the seat becomes a vacancy of its category. A
vacancy is offered to the first waitlisted applicant of that category (arrival order);
the applicant accepts by replying within ``[group] offer_days``, else the offer expires
and goes to the next one.
With nobody waiting, the vacancy asks for a new call (the digest proposes it).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import peewee as pw

from ..clock import Clock, naive_utc
from ..db import state_get, state_set
from ..errors import MailworkerError
from ..members import (RosterError, close_resignation_requests, find_member_by_address,
                       open_resignation_requests, set_member_status)
from ..models import Application, Member, Message, RecruitmentRound, Vacancy, db_proxy
from ..outbox import domain_of, enqueue
from . import roster
from .appointment import appoint

log = logging.getLogger(__name__)

# A reply to an offer that says no (anything else within the time accepts).
DECLINE_WORDS = ("거절", "사양", "포기", "어렵습니다", "못하겠", "않겠", "decline", "no thanks",
                 "not interested", "cannot accept", "can't accept")


class VacancyError(MailworkerError):
    """A resignation or vacancy command cannot be done as asked."""


# --- resignations ----------------------------------------------------------------------
# A pending request is the member's resignation mail not yet confirmed (see
# ``members.open_resignation_requests``); staff confirm it with `members resign --confirm`,
# the digest's 해촉 확인 action or `members set-status … resigned`. Whichever way a member
# became resigned, the step below turns their seat into a vacancy and sends the
# confirmation with their final hours, once.

SINCE_KEY = "group.vacancies_since"   # members who resigned before the group ran: no mail


@dataclass
class Resignation:
    member: Member
    requests: list[Message]
    totals: dict
    vacancy: Vacancy | None = None


def resign(cfg, clock: Clock, email: str, confirm: bool, actor: str) -> Resignation:
    """Show (``confirm`` False) or confirm a member's resignation; the seat becomes a
    vacancy and the member gets the confirmation mail (``resignation_step``)."""
    member = find_member_by_address(email)
    if member is None:
        raise RosterError(f"no member has the address {email!r}; see `mailworker members list`")
    requests = list(open_resignation_requests().where(Message.member == member))
    done = Resignation(member, requests, roster.member_totals(member))
    if not confirm:
        return done
    if member.status not in ("active", "suspended"):
        raise VacancyError(f"{member.display_name} is {member.status}, not a serving member; "
                           "nothing to confirm")
    with db_proxy.atomic():
        set_member_status(member.primary_address, "resigned", clock,
                          reason="본인 요청 (해촉 확인)" if requests else "해촉 (사무국 확인)")
        close_resignation_requests(member, actor, clock)
        resignation_step(cfg, clock)
    done.member = Member.get_by_id(member.id)
    done.vacancy = Vacancy.get_or_none(Vacancy.left_by == member)
    return done


def resignation_step(cfg, clock: Clock) -> str:
    """A vacancy and the confirmation mail for every member who resigned since the group
    first ran and has no vacancy yet."""
    now = naive_utc(clock.now())
    since = state_get(SINCE_KEY)
    if since is None:
        state_set(SINCE_KEY, now.isoformat(), clock.now())
        since = now.isoformat()
    left = (Member.select().join(Vacancy, pw.JOIN.LEFT_OUTER, on=(Vacancy.left_by == Member.id))
            .where((Member.status == "resigned") & Vacancy.id.is_null()
                   & (Member.resigned_at >= dt.datetime.fromisoformat(since))))
    opened = 0
    for member in left:
        with db_proxy.atomic():
            Vacancy.create(category=member.category, left_by=member, opened_at=now)
            enqueue(f"resigned:{member.uuid}", "resignation_confirmed", member.primary_address,
                    {"display_name": member.display_name,
                     "resigned_local": roster.local_text(member.resigned_at, cfg.tz,
                                                         with_time=False),
                     **roster.member_totals(member)},
                    clock, member=member, domain=domain_of(cfg))
        opened += 1
    return f"{opened} seat(s) vacated by resignation" if opened else ""


# --- vacancies and offers ------------------------------------------------------------

def next_waitlisted(category: str) -> Application | None:
    return (Application.select().join(RecruitmentRound)
            .where((Application.status == "waitlisted") & (Application.category == category))
            .order_by(RecruitmentRound.id, Application.id).first())


def vacancy_step(cfg, clock: Clock) -> str:
    """Expire unanswered offers, offer open vacancies to the next waitlisted applicant."""
    now = naive_utc(clock.now())
    expired = offered = 0
    with db_proxy.atomic():
        for app in Application.select().where((Application.status == "offered")
                                              & (Application.offer_until <= now)):
            app.status = "expired"
            app.decided_at = now
            app.save()
            (Vacancy.update(status="open", offer=None)
             .where((Vacancy.offer == app) & (Vacancy.status == "offered")).execute())
            expired += 1
        for vacancy in (Vacancy.select().where(Vacancy.status.in_(("open", "call_needed")))
                        .order_by(Vacancy.id)):
            app = next_waitlisted(vacancy.category)
            if app is None:
                if vacancy.status != "call_needed":
                    vacancy.status = "call_needed"
                    vacancy.save()
                continue
            offer(cfg, clock, vacancy, app, now)
            offered += 1
    parts = [f"{offered} vacancy offer(s) sent"] if offered else []
    parts += [f"{expired} offer(s) expired"] if expired else []
    return ", ".join(parts)


def offer(cfg, clock: Clock, vacancy: Vacancy, app: Application, now: dt.datetime) -> None:
    app.status = "offered"
    app.offer_until = now + dt.timedelta(days=cfg.group.offer_days)
    app.save()
    vacancy.status = "offered"
    vacancy.offer = app
    vacancy.save()
    enqueue(f"offer:{vacancy.id}:{app.id}", "vacancy_offer", app.email,
            {"display_name": app.name, "category": app.category, "language": app.language,
             "reply_by": roster.local_text(app.offer_until, cfg.tz),
             "offer_days": cfg.group.offer_days,
             "term_end": roster.term(cfg).last_day.isoformat()},
            clock, domain=domain_of(cfg))


def answer_offer(cfg, clock: Clock, message: Message) -> Application | None:
    """A reply from an applicant holding an offer: accept (a new member) or decline.
    None when the sender holds no offer (the mail is an application then)."""
    app = (Application.select().where((Application.email == message.sender)
                                      & (Application.status == "offered")).first())
    if app is None:
        return None
    vacancy = Vacancy.get_or_none((Vacancy.offer == app) & (Vacancy.status == "offered"))
    if app.offer_until is not None and message.received_at >= app.offer_until:
        return app     # too late: the vacancy step lets the offer expire
    text = f"{message.subject} {message.excerpt}".casefold()
    if any(word in text for word in DECLINE_WORDS):
        app.status = "declined"
        app.decided_at = naive_utc(clock.now())
        app.save()
        if vacancy is not None:
            vacancy.status, vacancy.offer = "open", None
            vacancy.save()
        return app
    try:
        with db_proxy.atomic():
            appoint(cfg, clock, app)
    except RosterError as exc:
        # e.g. the address belongs to a former member: staff decide (digest shows the offer)
        log.warning("offer reply for application #%d could not appoint: %s", app.id, exc)
        return app
    if vacancy is not None:
        vacancy.status = "filled"
        vacancy.filled_at = naive_utc(clock.now())
        vacancy.save()
    return app
