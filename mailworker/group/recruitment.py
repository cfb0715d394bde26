"""Recruitment rounds (모집): open, take applications in arrival order, close, accept.

Arrival order is the order ingest recorded the mail, i.e. ``Message.id``: within a pass
ingest records the inbox in the order the server received it (IMAP UID order, Maildir
delivery time), and a later pass reads later mail. An applicant's place is fixed by their
first mail (``Application.id`` follows it, as mail is handled in ``Message.id`` order);
a second mail (e.g. with the missing category) keeps the place.

At the close, each category's seats go to its first applicants (first come, first
served); the rest wait on the category's waitlist, in the same order. Staff confirm with
``recruit accept``, which makes the selected applicants members and sends the
appointment mail (위촉 안내).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

import peewee as pw

from ..application_form import read_application
from ..clock import Clock, naive_utc
from ..errors import MailworkerError
from ..members import QUOTAS, RosterError
from ..models import (APPLICATION_KIND, CATEGORIES, Application, ApplicationMail, Message,
                      RecruitmentRound, db_proxy)
from ..outbox import domain_of, enqueue
from . import roster
from .appointment import appoint
from .vacancies import answer_offer

log = logging.getLogger(__name__)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


class RecruitmentError(MailworkerError):
    """A recruitment command cannot be done as asked."""


# --- staff commands ------------------------------------------------------------------

def parse_seats(text: str) -> dict[str, int]:
    """``student=40,citizen=30`` -> {'student': 40, 'citizen': 30}."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, number = part.partition("=")
        name = name.strip().lower()
        if name not in CATEGORIES or not number.strip().isdigit():
            raise RecruitmentError(f"--seats {text!r}: write CATEGORY=NUMBER pairs such as "
                                   f"student=40,citizen=30 (categories: {', '.join(CATEGORIES)})")
        out[name] = int(number)
        if out[name] > QUOTAS[name]:
            raise RecruitmentError(f"--seats: {name}={out[name]} is more than the plan's "
                                   f"{QUOTAS[name]} seats")
    return out


def open_round() -> RecruitmentRound | None:
    return RecruitmentRound.get_or_none(RecruitmentRound.status == "open")


def latest_round() -> RecruitmentRound | None:
    return RecruitmentRound.select().order_by(RecruitmentRound.id.desc()).first()


def _end_of(day: dt.date, cfg) -> dt.datetime:
    return roster.local_midnight_utc(day + dt.timedelta(days=1), cfg.tz)


def start_round(cfg, clock: Clock, until: dt.date,
                seats: dict[str, int] | None = None) -> RecruitmentRound:
    """Open a round taking applications through the local day ``until``."""
    now = naive_utc(clock.now())
    if open_round() is not None:
        raise RecruitmentError("a round is already open; see `mailworker recruit status`, "
                               "extend it with `recruit extend --until DATE` or close it")
    end = _end_of(until, cfg)
    if end <= now:
        raise RecruitmentError(f"--until {until}: that day is already over")
    offered = seats if seats is not None else roster.empty_seats()
    offered = {c: n for c, n in offered.items() if n > 0}
    if not offered:
        raise RecruitmentError("no empty seat in any category (see `mailworker seats`); "
                               "name the seats with --seats student=N,...")
    return RecruitmentRound.create(opened_at=now, until=end, seats=offered, status="open")


def extend_round(cfg, clock: Clock, until: dt.date) -> RecruitmentRound:
    r = open_round()
    if r is None:
        raise RecruitmentError("no round is open; open one with `mailworker recruit open`")
    end = _end_of(until, cfg)
    if end <= r.until:
        raise RecruitmentError(f"--until {until}: the round already runs through "
                               f"{roster.last_day_text(r.until, cfg.tz)}; give a later day")
    r.until = end
    r.extensions += 1
    r.save()
    return r


@dataclass
class CloseResult:
    round: RecruitmentRound
    selected: dict[str, int]
    waitlisted: dict[str, int]
    incomplete: int


def close_round(clock: Clock) -> CloseResult:
    """Give each category's seats to its first applicants; the rest go on the waitlist."""
    r = open_round()
    if r is None:
        raise RecruitmentError("no round is open")
    selected = {c: 0 for c in CATEGORIES}
    waitlisted = {c: 0 for c in CATEGORIES}
    with db_proxy.atomic():
        apps = list(Application.select().where((Application.round == r)
                                               & (Application.status == "applied"))
                    .order_by(Application.id))
        incomplete = 0
        for app in apps:
            if app.category is None or not app.name:
                app.status = "incomplete"
                incomplete += 1
            elif selected[app.category] < r.seats.get(app.category, 0):
                app.status = "selected"
                selected[app.category] += 1
            else:
                app.status = "waitlisted"
                waitlisted[app.category] += 1
            app.save()
        r.status = "closed"
        r.closed_at = naive_utc(clock.now())
        r.save()
    return CloseResult(r, selected, waitlisted, incomplete)


@dataclass
class AcceptResult:
    appointed: list[Application]
    problems: list[str]


def accept_round(cfg, clock: Clock) -> AcceptResult:
    """Make the selected applicants of the closed round members; queue their 위촉 안내."""
    r = (RecruitmentRound.select().where(RecruitmentRound.status == "closed")
         .order_by(RecruitmentRound.id.desc()).first())
    if r is None:
        raise RecruitmentError("no closed round waits for acceptance; close the open round "
                               "first with `mailworker recruit close`")
    result = AcceptResult([], [])
    apps = (Application.select().where((Application.round == r)
                                       & (Application.status == "selected"))
            .order_by(Application.id))
    with db_proxy.atomic():
        for app in apps:
            try:
                appoint(cfg, clock, app)
            except RosterError as exc:
                result.problems.append(f"application #{app.id}: {exc}")
                continue
            result.appointed.append(app)
        r.status = "accepted"
        r.accepted_at = naive_utc(clock.now())
        r.save()
    return result


# --- status ------------------------------------------------------------------------

def round_summary(cfg, r: RecruitmentRound, clock: Clock) -> dict:
    """Per category: seats, applications (by status); plus the round's dates."""
    counts: dict[str, dict[str, int]] = {c: {} for c in (*CATEGORIES, "unknown")}
    for cat, status, n in (Application.select(Application.category, Application.status,
                                              pw.fn.COUNT(Application.id))
                           .where(Application.round == r)
                           .group_by(Application.category, Application.status).tuples()):
        counts[cat or "unknown"][status] = n
    rows = [{"category": c, "seats": r.seats.get(c, 0),
             "applications": sum(counts[c].values()), **counts[c]} for c in CATEGORIES]
    now = naive_utc(clock.now())
    return {"id": r.id, "status": r.status, "opened": roster.local_text(r.opened_at, cfg.tz),
            "last_day": roster.last_day_text(r.until, cfg.tz), "extensions": r.extensions,
            "ended": r.status == "open" and now >= r.until, "rows": rows,
            "unknown": sum(counts["unknown"].values()),
            "total": sum(row["applications"] for row in rows) + sum(counts["unknown"].values()),
            "short": {row["category"]: row["seats"] - row["applications"]
                      for row in rows if row["applications"] < row["seats"]}}


def places(app: Application) -> tuple[int, int | None]:
    """The applicant's place in the round, and within their category (if known)."""
    same = Application.select().where((Application.round == app.round)
                                      & (Application.id <= app.id))
    overall = same.count()
    if app.category is None:
        return overall, None
    return overall, same.where(Application.category == app.category).count()


# --- the step: application mail ----------------------------------------------------

def unhandled_application_mail() -> pw.ModelSelect:
    return (Message.select().join(ApplicationMail, pw.JOIN.LEFT_OUTER,
                                  on=(ApplicationMail.message == Message.id))
            .where((Message.disposition == "recorded") & (Message.kind == APPLICATION_KIND)
                   & ApplicationMail.id.is_null())
            .order_by(Message.id))


def take_application(cfg, clock: Clock, message: Message) -> Application | None:
    """Record or update the sender's application in the open round and queue the reply
    (inside the caller's transaction)."""
    r = open_round()
    email = message.sender
    late = r is None
    if late:
        # recorded while the round was open, handled after staff closed it: it still counts
        r = (RecruitmentRound.select()
             .where((RecruitmentRound.opened_at <= message.received_at)
                    & (RecruitmentRound.closed_at > message.received_at))
             .order_by(RecruitmentRound.id.desc()).first())
    if r is None or not email:
        if email:
            day = roster.local_text(message.received_at, cfg.tz, with_time=False)
            enqueue(f"recruitclosed:{email}:{day}", "recruitment_closed", email,
                    {"subject": message.subject, "in_reply_to": message.message_id,
                     "received_local": roster.local_text(message.received_at, cfg.tz),
                     "language": _language_of(message)},
                    clock, domain=domain_of(cfg))
        return None
    form = read_application(message.subject, message.excerpt)
    name = form.name or message.sender_name.strip()
    app = Application.get_or_none((Application.round == r) & (Application.email == email))
    if app is None:
        app = Application.create(round=r, message=message, email=email, name=name[:100],
                                 category=form.category, language=_language_of(message),
                                 received_at=message.received_at)
    elif app.status == "applied":
        app.name = (form.name or app.name or name)[:100]
        app.category = form.category or app.category
        app.save()
    if late and app.status == "applied":
        _place_after_close(r, app)
    overall, in_category = places(app)
    missing = [what for what, have in (("name", app.name), ("category", app.category))
               if not have]
    ctx = {"display_name": app.name or email, "place": overall,
           "category": app.category, "category_place": in_category,
           "seats": r.seats.get(app.category, 0) if app.category else 0,
           "last_day": roster.last_day_text(r.until, cfg.tz), "missing": missing,
           "subject": message.subject, "in_reply_to": message.message_id,
           "received_local": roster.local_text(message.received_at, cfg.tz),
           "language": app.language}
    template = "application_incomplete" if missing else "application_received"
    enqueue(f"application:{message.sha256}", template, email, ctx, clock,
            domain=domain_of(cfg))
    return app


def _place_after_close(r: RecruitmentRound, app: Application) -> None:
    """What the close would have made of an application it did not see (it arrived last):
    a seat still free if the round awaits acceptance, else the waitlist."""
    if app.category is None or not app.name:
        app.status = "incomplete"
    else:
        taken = Application.select().where(
            (Application.round == r) & (Application.category == app.category)
            & Application.status.in_(("selected", "appointed"))).count()
        free = r.status == "closed" and taken < r.seats.get(app.category, 0)
        app.status = "selected" if free else "waitlisted"
    app.save()


def _language_of(message: Message) -> str:
    return "ko" if _HANGUL.search(message.subject + message.excerpt) else "en"


def application_step(cfg, clock: Clock) -> str:
    """Handle application mail ingest recorded: applications and offer replies."""
    handled = 0
    for message in unhandled_application_mail():
        try:
            with db_proxy.atomic():
                app = answer_offer(cfg, clock, message)
                if app is None:
                    app = take_application(cfg, clock, message)
                ApplicationMail.create(message=message, application=app,
                                       handled_at=naive_utc(clock.now()))
        except (ValueError, pw.IntegrityError) as exc:
            # A stranger's mail must not stop the step (it would fail again every round):
            # it is marked handled, and staff see it in `recruit status` / the inbox folder.
            log.warning("application mail #%d could not be handled (%s); left for staff",
                        message.id, type(exc).__name__)
            ApplicationMail.create(message=message, application=None,
                                   handled_at=naive_utc(clock.now()))
        handled += 1
    return f"{handled} application mail(s) handled" if handled else ""
