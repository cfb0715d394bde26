"""The staff's daily digest: what came in yesterday and what needs a person.

The digest *dated* D is the one due at ``[schedule] digest_time`` (local) on day D; it
reports the mail received on D-1 ("yesterday") plus the current triage queue, failed
outgoing mail, the half-year's hours per category, the ledger's health and a 30-day chart
(bars of table cells in the HTML part, of block characters in the text part).

Exactly one digest per day: its outbox key is ``digest:<D>``, so queueing it again (after
a restart, or by hand) returns the same row. Catch-up: ``digest_due`` lists every day from
the first day the worker ran (``State digest.first_day``), at most
``[schedule] digest_catch_up_days`` back, whose digest time has passed and which has no
digest row yet; a worker that was down at 09:00 sends the missed digest when it is back.
The decision uses the injected clock only.
"""
from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import quote

import peewee as pw

from .. import audit
from ..action_tokens import action_key, mailto_body, sign
from ..members import open_resignation_requests
from ..staff_registry import actions_for, link_expiry

from ..clock import (Clock, half_year_start, local_day, local_day_bounds_utc, naive_utc,
                     to_utc)
from ..db import state_get, state_set
from ..errors import MailworkerError
from ..models import (CATEGORIES, HourCredit, HourExportRow, LedgerEvent, Meeting, Member,
                      Message, Outbox, Rsvp)
from ..outbox import domain_of, enqueue

log = logging.getLogger(__name__)

FIRST_DAY_KEY = "digest.first_day"
CHART_DAYS = 30
CHART_BAR_PX = 90        # the tallest bar in the HTML chart
CHART_TEXT_BLOCKS = 24   # the longest bar in the text chart, in █ characters
LIST_LIMITS = {"items": 100, "triage": 30, "non_members": 20, "quarantined": 20,
               "failures": 20, "resignations": 30, "audit": 50}
EXCERPT_CHARS = 200


def digest_key(day: dt.date) -> str:
    return f"digest:{day.isoformat()}"


def _digest_time(cfg) -> dt.time:
    hh, mm = cfg.schedule.digest_time.split(":")
    return dt.time(int(hh), int(mm))


def digest_due(cfg, clock: Clock) -> list[dt.date]:
    """Days whose digest should have gone out by now and has not been queued."""
    if not cfg.staff.addresses:
        return []
    now_local = to_utc(clock.now()).astimezone(cfg.tz)
    today = now_local.date()
    last_due = today if now_local.time() >= _digest_time(cfg) else today - dt.timedelta(days=1)
    first = state_get(FIRST_DAY_KEY)
    if first is None:
        # A fresh install starts with today's digest, never with digests of the past.
        state_set(FIRST_DAY_KEY, today.isoformat(), clock.now())
        first_day = today
    else:
        first_day = dt.date.fromisoformat(first)
    start = max(first_day, last_due - dt.timedelta(days=cfg.schedule.digest_catch_up_days - 1))
    days = []
    d = start
    while d <= last_due:
        days.append(d)
        d += dt.timedelta(days=1)
    if not days:
        return []
    queued = {o.key for o in Outbox.select(Outbox.key)
              .where(Outbox.key.in_([digest_key(d) for d in days]))}
    return [d for d in days if digest_key(d) not in queued]


def next_digest_day(cfg, clock: Clock) -> dt.date:
    """The date of the next digest to go out: today's while it is not queued yet (before
    ``digest_time``), else tomorrow's, which covers today so far."""
    today = local_day(clock.now(), cfg.tz)
    if Outbox.get_or_none(Outbox.key == digest_key(today)) is None:
        return today
    return today + dt.timedelta(days=1)


def contributions_on(cfg, day: dt.date) -> int:
    """Reviews and proposals received on a local day (what a digest's list counts)."""
    start, end = local_day_bounds_utc(day, cfg.tz)
    return (Message.select().where((Message.received_at >= start) & (Message.received_at < end)
                                   & Message.kind.in_(("review", "proposal"))
                                   & Message.disposition.in_(("credited", "no_credit"))
                                   & Message.member.is_null(False)).count())


def queue_digest(cfg, clock: Clock, day: dt.date) -> Outbox | None:
    """Queue the digest dated ``day`` (idempotent); None when no staff address is set."""
    addresses = cfg.staff.addresses
    if not addresses:
        log.warning("no digest queued: [staff] addresses is empty in %s", cfg.where)
        return None
    existing = Outbox.get_or_none(Outbox.key == digest_key(day))
    if existing is not None:
        return existing
    return enqueue(digest_key(day), "digest", ", ".join(addresses), gather(cfg, clock, day),
                   clock, domain=domain_of(cfg))


def gather(cfg, clock: Clock, day: dt.date) -> dict:
    """The digest's values (JSON), the 30-day chart's bars included."""
    tz = cfg.tz
    now = to_utc(clock.now())
    covered = day - dt.timedelta(days=1)
    start, end = local_day_bounds_utc(covered, tz)
    in_day = (Message.received_at >= start) & (Message.received_at < end)

    def local(when: dt.datetime | None) -> str:
        return to_utc(when).astimezone(tz).strftime("%Y-%m-%d %H:%M") if when else ""

    def who(m: Message) -> str:
        return m.member.display_name if m.member_id else (m.sender or "(no sender)")

    item_query = (Message.select(Message, Member).join(Member, pw.JOIN.LEFT_OUTER)
                  .where(in_day & Message.kind.in_(("review", "proposal"))
                         & Message.disposition.in_(("credited", "no_credit"))
                         & Message.member.is_null(False))
                  .order_by(Message.received_at))
    credits = {c.message_id: c.hours for c in HourCredit.select()
               .join(Message).where(in_day)}
    items = [{"id": m.id, "display_name": m.member.display_name,
              "category": m.member.category, "kind": m.kind, "subject": m.subject,
              "excerpt": _excerpt(m.excerpt), "disposition": m.disposition,
              "reason": m.reason, "hours": credits.get(m.id, 0)}
             for m in item_query.limit(LIST_LIMITS["items"])]
    all_items = list(item_query.select(Message.kind, Message.disposition).tuples())
    counts = {"review": sum(1 for k, _ in all_items if k == "review"),
              "proposal": sum(1 for k, _ in all_items if k == "proposal"),
              "credited": sum(1 for _, d in all_items if d == "credited"),
              "not_credited": sum(1 for _, d in all_items if d != "credited")}

    triage_q = (Message.select(Message, Member).join(Member, pw.JOIN.LEFT_OUTER)
                .where(Message.disposition == "triage").order_by(Message.received_at))
    links = ActionLinks(cfg, now)
    triage = [{"id": m.id, "display_name": who(m), "subject": m.subject, "kind": m.kind,
               "received_local": local(m.received_at), "reason": m.reason,
               "actions": links.for_item("triage", m.id)}
              for m in triage_q.limit(LIST_LIMITS["triage"])]
    questions_waiting = triage_q.where(Message.kind == "question").count()
    # Members' thanks and chatter, and questions answered automatically: counts only.
    day_counts = dict(Message.select(Message.disposition, pw.fn.COUNT(Message.id))
                      .where(in_day & Message.disposition.in_(("noted", "answered")))
                      .group_by(Message.disposition).tuples())
    resign_q = open_resignation_requests()
    resignations = [{"id": m.id, "display_name": m.member.display_name,
                     "address": m.sender, "subject": m.subject,
                     "received_local": local(m.received_at),
                     "actions": links.for_item("resignation", m.id)}
                    for m in resign_q.limit(LIST_LIMITS["resignations"])]
    audit_rows = audit.entries(covered, tz, until=covered)
    audit_list = [{"when_local": local(e.at), "actor": e.actor, "how": e.how,
                   "action": e.action, "item": e.item, "reason": e.reason,
                   "detail": e.detail} for e in audit_rows[:LIST_LIMITS["audit"]]]
    non_q = (Message.select().where(in_day & (Message.disposition == "non_member"))
             .order_by(Message.received_at))
    non_members = [{"sender": m.sender or "(no sender)", "subject": m.subject,
                    "received_local": local(m.received_at)}
                   for m in non_q.limit(LIST_LIMITS["non_members"])]
    quar_q = (Message.select().where(in_day & (Message.disposition == "quarantined"))
              .order_by(Message.received_at))
    quarantined = [{"id": m.id, "sender": m.sender or "(no sender)", "subject": m.subject,
                    "reason": m.reason, "received_local": local(m.received_at)}
                   for m in quar_q.limit(LIST_LIMITS["quarantined"])]
    fail_q = Outbox.select().where(Outbox.status == "failed").order_by(Outbox.id.desc())
    failures = [{"id": o.id, "template": o.template, "to": o.to_addr,
                 "error": o.last_error[:300], "attempts": o.attempts,
                 "created_local": local(o.created_at)}
                for o in fail_q.limit(LIST_LIMITS["failures"])]

    context = {
        "language": cfg.staff.language,
        "day": day.isoformat(), "covered_day": covered.isoformat(),
        "generated_local": local(now),
        "items": items, "items_total": len(all_items), "counts": counts,
        "triage": triage, "triage_total": triage_q.count(),
        "questions_waiting": questions_waiting,
        "other_total": day_counts.get("noted", 0), "answered_total": day_counts.get("answered", 0),
        "resignations": resignations, "resignations_total": resign_q.count(),
        "audit": audit_list, "audit_total": len(audit_rows),
        "links_valid_local": local(links.expires),
        "non_members": non_members, "non_members_total": non_q.count(),
        "quarantined": quarantined, "quarantined_total": quar_q.count(),
        "failures": failures, "failures_total": fail_q.count(),
        "pending_total": Outbox.select().where(Outbox.status == "pending").count(),
        "hours": _hours(cfg, covered),
        "ledger": _ledger(cfg),
        "chart": _chart(cfg, covered),
        "group": _group_meetings(cfg, covered, now),
        "roster": group_roster(cfg, clock),
        "decisions": _group_decisions(cfg, now, links),
    }
    return context


class ActionLinks:
    """The digest's action links: ``mailto:`` the group inbox with a prepared subject and
    body holding a signed token (RFC 6068: subject and body percent-encoded as UTF-8,
    line breaks as %0D%0A). The key is read only when the digest has an item to act on."""

    def __init__(self, cfg, now: dt.datetime):
        self.cfg = cfg
        self.expires = link_expiry(cfg, now)
        self.address = cfg.staff.action_address or cfg.outgoing.from_address
        self.language = cfg.staff.language
        self._key: bytes | None = None

    def for_item(self, item_type: str, item_id: int) -> list[dict]:
        out = []
        for action in actions_for(item_type):
            if self._key is None:
                self._key = action_key(self.cfg)
            token = sign(self._key, action.code, item_id, self.expires)
            label = action.label(self.language)
            subject = f"{label} #{item_id} [{token}]"
            body = mailto_body(token, self.language).replace("\n", "\r\n")
            href = (f"mailto:{quote(self.address, safe='@')}?subject={quote(subject, safe='')}"
                    f"&body={quote(body, safe='')}")
            out.append({"label": label, "href": href, "token": token,
                        "needs_reason": action.needs_reason})
        return out


def _excerpt(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1] + "…"


def _hours(cfg, covered: dt.date) -> dict:
    tz = cfg.tz
    midday = dt.datetime.combine(covered, dt.time(12), tzinfo=tz)
    hy_start = half_year_start(midday, tz)
    since = naive_utc(dt.datetime.combine(hy_start, dt.time(0), tzinfo=tz))
    rows = (HourCredit.select(Member.category, pw.fn.SUM(HourCredit.hours),
                              pw.fn.COUNT(pw.fn.DISTINCT(HourCredit.member)))
            .join(Member).where(HourCredit.credited_at >= since)
            .group_by(Member.category).tuples())
    per = {cat: (int(h or 0), int(n or 0)) for cat, h, n in rows}
    label = (f"{hy_start.year}년 {'상' if hy_start.month == 1 else '하'}반기"
             if cfg.staff.language == "ko"
             else f"{hy_start.year} H{1 if hy_start.month == 1 else 2}")
    out = [{"category": c, "hours": per.get(c, (0, 0))[0], "members": per.get(c, (0, 0))[1]}
           for c in CATEGORIES]
    return {"half_year": label, "rows": out, "total": sum(r["hours"] for r in out)}


def _ledger(cfg) -> dict:
    from ..ledger.merkle import LedgerError
    from ..ledger.status import ledger_status
    pending = LedgerEvent.select().where(LedgerEvent.leaf_index.is_null()).count()
    try:
        status = ledger_status(cfg)
    except (MailworkerError, LedgerError) as exc:
        return {"ok": False, "error": str(exc), "pending": pending, "damaged": []}
    def shown(value) -> str:
        return "-" if value is None else str(value)

    replicas = [{"name": shown(r.get("name")), "size": shown(r.get("size")),
                 "lag": shown(r.get("lag")), "health": shown(r.get("health"))}
                for r in status.get("replicas", [])]
    checkpoint = (status.get("checkpoint_summary") or status.get("last_checkpoint")
                  or "none yet")
    # Damaged replicas go to the top of the digest: staff must repair them.
    damaged = [{"name": shown(r.get("name")), "health": shown(r.get("health"))}
               for r in status.get("replicas", []) if r.get("damaged")]
    return {"ok": True, "error": "", "size": status.get("size", 0), "pending": pending,
            "checkpoint": str(checkpoint), "replicas": replicas, "damaged": damaged}


def _chart(cfg, last_day: dt.date) -> dict:
    """Reviews and proposals per local day over CHART_DAYS days ending ``last_day``, as
    bars the templates draw from table cells (HTML) and block characters (text): labels
    stay real text, and mail clients show it without images, SVG or scripts."""
    tz = cfg.tz
    first_day = last_day - dt.timedelta(days=CHART_DAYS - 1)
    start, _ = local_day_bounds_utc(first_day, tz)
    _, end = local_day_bounds_utc(last_day, tz)
    counts = {first_day + dt.timedelta(days=i): 0 for i in range(CHART_DAYS)}
    for (received,) in (Message.select(Message.received_at)
                        .where((Message.received_at >= start) & (Message.received_at < end)
                               & Message.kind.in_(("review", "proposal"))
                               & Message.disposition.in_(("credited", "no_credit")))
                        .tuples()):
        d = to_utc(received).astimezone(tz).date()
        if d in counts:
            counts[d] += 1
    days = sorted(counts)
    values = [counts[d] for d in days]
    top = max(values)
    busiest = days[values.index(top)] if top else last_day
    return {"days": CHART_DAYS, "total": sum(values), "max": top,
            "max_day": busiest.isoformat(), "first_day": first_day.isoformat(),
            "last_day": last_day.isoformat(), "bar_px": CHART_BAR_PX,
            "bars": [_bar(d, n, top, i == 0) for i, (d, n) in enumerate(zip(days, values))]}


def _bar(day: dt.date, value: int, top: int, first: bool) -> dict:
    """One day's bar: its height in pixels (HTML) and in block characters (text). The
    label is the day of the month; the month is added where it starts and on the first."""
    return {"date": day.isoformat(), "value": value, "weekday": day.weekday(),
            "weekend": day.weekday() >= 5,
            "label": f"{day.month}/{day.day}" if first or day.day == 1 else str(day.day),
            "date_label": f"{day.month:02d}/{day.day:02d}",
            "height": -(-value * CHART_BAR_PX // top) if value else 0,
            "blocks": -(-value * CHART_TEXT_BLOCKS // top) if value else 0}


# --- the group's sections: next meeting, half-year ranking, hours not yet registered ----
# Read from the database (the rules live in mailworker.group, which outbound may not import;
# a test keeps the ranking here in the same order as `mailworker awards`).

def _group_meetings(cfg, covered: dt.date, now: dt.datetime) -> dict:
    return {"meeting": _next_meeting(cfg, now), "ranking": _half_year_ranking(cfg, covered),
            "unexported": _unexported_hours(cfg, now)}


def _next_meeting(cfg, now: dt.datetime) -> dict | None:
    meeting = (Meeting.select().where(Meeting.starts_at >= naive_utc(now))
               .order_by(Meeting.starts_at, Meeting.id).first())
    if meeting is None:
        return None
    answers = [a for (a,) in Rsvp.select(Rsvp.answer).where(Rsvp.meeting == meeting).tuples()]
    prefix = f"meeting:{meeting.id}:notice:"
    noticed = (Outbox.select().where(Outbox.key.startswith(prefix)).count())
    local = to_utc(meeting.starts_at).astimezone(cfg.tz)
    return {"id": meeting.id, "title": meeting.title, "place": meeting.place,
            "when_local": local.strftime("%Y-%m-%d %H:%M"),
            "noticed": noticed, "attend": answers.count("attend"),
            "decline": answers.count("decline"),
            "unanswered": max(noticed - len(answers), 0)}


def _half_year_ranking(cfg, covered: dt.date) -> dict | None:
    """The top of the commendation ranking in the last days of a half-year."""
    first = dt.date(covered.year, 1 if covered.month <= 6 else 7, 1)
    last = dt.date(covered.year, 6, 30) if covered.month <= 6 else dt.date(covered.year, 12, 31)
    if (last - covered).days >= cfg.group.awards_digest_days or cfg.group.awards_top <= 0:
        return None
    start = local_day_bounds_utc(first, cfg.tz)[0]
    end = local_day_bounds_utc(last, cfg.tz)[1]
    per: dict[int, dict] = {}
    for member_id, kind, credited_at in (
            HourCredit.select(HourCredit.member, HourCredit.kind, HourCredit.credited_at)
            .where((HourCredit.credited_at >= start) & (HourCredit.credited_at < end)
                   & HourCredit.kind.in_(("review", "proposal")))
            .order_by(HourCredit.credited_at, HourCredit.id).tuples()):
        t = per.setdefault(member_id, {"review": 0, "proposal": 0})
        t[kind] += 1
        t["reached"] = credited_at
    members = {m.id: m for m in Member.select().where(Member.id.in_(list(per)))} if per else {}
    order = sorted(per, key=lambda i: (-(per[i]["review"] + per[i]["proposal"]),
                                       per[i]["reached"], members[i].display_name, i))
    rows = [{"rank": n, "display_name": members[i].display_name,
             "category": members[i].category, "resigned": members[i].status == "resigned",
             "reviews": per[i]["review"], "proposals": per[i]["proposal"],
             "total": per[i]["review"] + per[i]["proposal"]}
            for n, i in enumerate(order[:cfg.group.awards_top], 1)]
    half = f"{covered.year}H{1 if covered.month <= 6 else 2}"
    label = (f"{covered.year}년 {'상' if covered.month <= 6 else '하'}반기"
             if cfg.staff.language == "ko" else half)
    return {"half": half, "label": label, "last_day": last.isoformat(), "rows": rows,
            "members": len(per)}


def _unexported_hours(cfg, now: dt.datetime) -> dict | None:
    """Credited activity older than [group] registration_warn_days in no export batch."""
    days = cfg.group.registration_warn_days
    cutoff_day = to_utc(now).astimezone(cfg.tz).date() - dt.timedelta(days=days)
    cutoff = local_day_bounds_utc(cutoff_day, cfg.tz)[0]
    waiting = ((Message.received_at < cutoff)
               & Message.id.not_in(HourExportRow.select(HourExportRow.message)))
    count, hours = (HourCredit.select(pw.fn.COUNT(HourCredit.id), pw.fn.SUM(HourCredit.hours))
                    .join(Message).where(waiting).tuples().get())
    if not count:
        return None
    oldest = (Message.select(Message.received_at).join(HourCredit).where(waiting)
              .order_by(Message.received_at).scalar())
    return {"count": int(count), "hours": int(hours or 0), "days": days,
            "oldest": to_utc(oldest).astimezone(cfg.tz).date().isoformat()}


# --- the group's decisions with digest actions (지원 승인, 참석 기록) ---------------------

ATTENDANCE_DAYS = 30      # a meeting this recent with no attendance recorded is listed


def _group_decisions(cfg, now: dt.datetime, links: "ActionLinks") -> list[dict]:
    """Items of the group that wait for staff: a closed recruitment round's selected
    applicants to accept, and meetings held without attendance recorded (the allowance is
    paid on it). Read from the group's tables; the actions are registered by the group."""
    from ..models import Application, Attendance, RecruitmentRound
    tz = cfg.tz
    out = []
    r = (RecruitmentRound.select().where(RecruitmentRound.status == "closed")
         .order_by(RecruitmentRound.id.desc()).first())
    if r is not None:
        selected = (Application.select().where((Application.round == r)
                                               & (Application.status == "selected")).count())
        out.append({"what": "round", "id": r.id, "count": selected,
                    "actions": links.for_item("application", r.id)})
    stored_now = naive_utc(now)
    held = (Meeting.select().where((Meeting.starts_at < stored_now) & (
        Meeting.starts_at >= stored_now - dt.timedelta(days=ATTENDANCE_DAYS)))
            .order_by(Meeting.starts_at))
    for meeting in held:
        if Attendance.select().where(Attendance.meeting == meeting).exists():
            continue
        out.append({"what": "attendance", "id": meeting.id, "title": meeting.title,
                    "when_local": to_utc(meeting.starts_at).astimezone(tz)
                    .strftime("%Y-%m-%d %H:%M"),
                    "actions": links.for_item("attendance", meeting.id)})
    return out


# --- the group's life cycle (templates ko|en/_digest_group_roster.j2) ------------------

def group_roster(cfg, clock: Clock) -> dict:
    """Open round and applications, vacancies and offers (pending resignations have their
    own section with the 해촉 확인 action).

    Read from the group's tables (outbound never imports the group package)."""
    from ..models import Application, RecruitmentRound, Vacancy
    tz = cfg.tz
    now = naive_utc(clock.now())

    def local(when, with_time=True) -> str:
        if when is None:
            return ""
        return to_utc(when).astimezone(tz).strftime("%Y-%m-%d %H:%M" if with_time
                                                    else "%Y-%m-%d")

    round_ctx = None
    r = RecruitmentRound.get_or_none(RecruitmentRound.status == "open")
    if r is not None:
        counts = dict(Application.select(Application.category, pw.fn.COUNT(Application.id))
                      .where(Application.round == r).group_by(Application.category).tuples())
        rows = [{"category": c, "seats": r.seats.get(c, 0), "applications": counts.get(c, 0)}
                for c in CATEGORIES if r.seats.get(c, 0) or counts.get(c)]
        last_day = (to_utc(r.until).astimezone(tz) - dt.timedelta(seconds=1)).date()
        round_ctx = {"id": r.id, "last_day": last_day.isoformat(),
                     "ended": now >= r.until, "rows": rows,
                     "unknown": counts.get(None, 0),
                     "total": sum(counts.values()),
                     "short": [{"category": row["category"],
                                "seats": row["seats"] - row["applications"]}
                               for row in rows if row["applications"] < row["seats"]],
                     "extensions": r.extensions}
    vacancies = []
    for v in (Vacancy.select().where(Vacancy.status != "filled").order_by(Vacancy.id)):
        offer = v.offer if v.offer_id else None
        vacancies.append({"category": v.category, "status": v.status,
                          "opened_local": local(v.opened_at, False),
                          "offered_to": offer.name if offer else "",
                          "reply_by": local(offer.offer_until) if offer else ""})
    return {"round": round_ctx, "vacancies": vacancies}
