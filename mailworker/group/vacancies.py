"""Resignation (해촉) -> vacancy (결원) -> offer down the waitlist -> a new member.

A resignation mail that ingest recorded becomes a pending request for staff; staff
confirm it (``members resign EMAIL --confirm``), the member gets a confirmation with their
final hours, and the seat becomes a vacancy of its category. A vacancy is offered to the
first waitlisted applicant of that category (arrival order); the applicant accepts by
replying within ``[group] offer_days``, else the offer expires and goes to the next one.
With nobody waiting, the vacancy asks for a new call (the digest proposes it).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import peewee as pw

from ..clock import Clock, naive_utc
from ..errors import MailworkerError
from ..members import RosterError, find_member_by_address
from ..models import (Application, Member, Message, RecruitmentRound, ResignationRequest,
                      Vacancy, db_proxy)
from ..outbox import domain_of, enqueue
from . import roster
from .appointment import appoint

log = logging.getLogger(__name__)

# A reply to an offer that says no (anything else within the time accepts).
DECLINE_WORDS = ("거절", "사양", "포기", "어렵습니다", "못하겠", "않겠", "decline", "no thanks",
                 "not interested", "cannot accept", "can't accept")


class VacancyError(MailworkerError):
    """A resignation or vacancy command cannot be done as asked."""


# --- resignation requests ------------------------------------------------------------

def resignation_step(cfg, clock: Clock) -> str:
    """Turn recorded resignation mail into pending requests for staff (once each)."""
    query = (Message.select().join(ResignationRequest, pw.JOIN.LEFT_OUTER,
                                   on=(ResignationRequest.message == Message.id))
             .where((Message.disposition == "recorded") & (Message.kind == "resignation")
                    & Message.member.is_null(False) & ResignationRequest.id.is_null())
             .order_by(Message.id))
    added = 0
    for message in query:
        pending = ResignationRequest.get_or_none(
            (ResignationRequest.member == message.member_id)
            & (ResignationRequest.status == "pending"))
        active = message.member.status == "active"
        ResignationRequest.create(
            member=message.member_id, message=message, requested_at=message.received_at,
            # a second mail adds nothing new; a member already gone needs no request
            status="pending" if active and pending is None else "merged")
        added += active and pending is None
    return f"{added} resignation request(s) waiting for staff" if added else ""


def pending_resignations() -> list[ResignationRequest]:
    return list(ResignationRequest.select(ResignationRequest, Member).join(Member)
                .where(ResignationRequest.status == "pending")
                .order_by(ResignationRequest.id))


@dataclass
class Resignation:
    member: Member
    request: ResignationRequest | None
    totals: dict
    vacancy: Vacancy | None = None


def resign(cfg, clock: Clock, email: str, confirm: bool, by: str = "staff") -> Resignation:
    """Show (``confirm`` False) or carry out a member's resignation."""
    member = find_member_by_address(email)
    if member is None:
        raise RosterError(f"no member has the address {email!r}; see `mailworker members list`")
    request = (ResignationRequest.select().where((ResignationRequest.member == member)
                                                 & (ResignationRequest.status == "pending"))
               .first())
    totals = roster.member_totals(member)
    done = Resignation(member, request, totals)
    if not confirm:
        return done
    if member.status not in ("active", "suspended"):
        raise VacancyError(f"{member.display_name} is {member.status}, not a serving member; "
                           "nothing to confirm")
    now = naive_utc(clock.now())
    with db_proxy.atomic():
        member.status = "resigned"
        member.resigned_at = now
        member.status_reason = "resignation confirmed"
        member.save()
        if request is None:
            request = ResignationRequest.create(member=member, requested_at=now)
        request.status = "confirmed"
        request.confirmed_at = now
        request.confirmed_by = by
        request.save()
        done.request = request
        done.vacancy = Vacancy.create(category=member.category, left_by=member, opened_at=now)
        enqueue(f"resigned:{member.uuid}", "resignation_confirmed", member.primary_address,
                {"display_name": member.display_name,
                 "resigned_local": roster.local_text(now, cfg.tz, with_time=False), **totals},
                clock, member=member, domain=domain_of(cfg))
    return done


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
