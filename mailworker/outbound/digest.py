"""The staff's daily digest: what came in yesterday and what needs a person.

The digest *dated* D is the one due at ``[schedule] digest_time`` (local) on day D; it
reports the mail received on D-1 ("yesterday") plus the current triage queue, failed
outgoing mail, the half-year's hours per category, the ledger's health and a 30-day chart.

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

import peewee as pw

from ..clock import Clock, half_year_start, local_day_bounds_utc, naive_utc, to_utc
from ..db import state_get, state_set
from ..errors import MailworkerError
from ..models import (CATEGORIES, HourCredit, LedgerEvent, Member, Message, Outbox)
from ..outbox import domain_of, enqueue

log = logging.getLogger(__name__)

FIRST_DAY_KEY = "digest.first_day"
CHART_DAYS = 30
LIST_LIMITS = {"items": 100, "triage": 30, "non_members": 20, "quarantined": 20,
               "failures": 20}
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


def queue_digest(cfg, clock: Clock, day: dt.date) -> Outbox | None:
    """Queue the digest dated ``day`` (idempotent); None when no staff address is set."""
    addresses = cfg.staff.addresses
    if not addresses:
        log.warning("no digest queued: [staff] addresses is empty in %s", cfg.where)
        return None
    existing = Outbox.get_or_none(Outbox.key == digest_key(day))
    if existing is not None:
        return existing
    context, chart = gather(cfg, clock, day)
    return enqueue(digest_key(day), "digest", ", ".join(addresses), context, clock,
                   attachments=[chart], domain=domain_of(cfg))


def gather(cfg, clock: Clock, day: dt.date) -> tuple[dict, dict]:
    """The digest's values (JSON) and its chart attachment spec."""
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
    triage = [{"id": m.id, "display_name": who(m), "subject": m.subject, "kind": m.kind,
               "received_local": local(m.received_at), "reason": m.reason}
              for m in triage_q.limit(LIST_LIMITS["triage"])]
    questions_waiting = triage_q.where(Message.kind == "question").count()
    # Members' thanks and chatter, and questions answered automatically: counts only.
    day_counts = dict(Message.select(Message.disposition, pw.fn.COUNT(Message.id))
                      .where(in_day & Message.disposition.in_(("noted", "answered")))
                      .group_by(Message.disposition).tuples())
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

    chart_ctx, chart_spec = _chart(cfg, covered)
    context = {
        "language": cfg.staff.language,
        "day": day.isoformat(), "covered_day": covered.isoformat(),
        "generated_local": local(now),
        "items": items, "items_total": len(all_items), "counts": counts,
        "triage": triage, "triage_total": triage_q.count(),
        "questions_waiting": questions_waiting,
        "other_total": day_counts.get("noted", 0), "answered_total": day_counts.get("answered", 0),
        "non_members": non_members, "non_members_total": non_q.count(),
        "quarantined": quarantined, "quarantined_total": quar_q.count(),
        "failures": failures, "failures_total": fail_q.count(),
        "pending_total": Outbox.select().where(Outbox.status == "pending").count(),
        "hours": _hours(cfg, covered),
        "ledger": _ledger(cfg),
        "chart": chart_ctx,
    }
    return context, chart_spec


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
        return {"ok": False, "error": str(exc), "pending": pending}
    def shown(value) -> str:
        return "-" if value is None else str(value)

    replicas = [{"name": shown(r.get("name")), "size": shown(r.get("size")),
                 "lag": shown(r.get("lag")), "health": shown(r.get("health"))}
                for r in status.get("replicas", [])]
    checkpoint = (status.get("checkpoint_summary") or status.get("last_checkpoint")
                  or "none yet")
    return {"ok": True, "error": "", "size": status.get("size", 0), "pending": pending,
            "checkpoint": str(checkpoint), "replicas": replicas}


def _chart(cfg, last_day: dt.date) -> tuple[dict, dict]:
    """Reviews and proposals per local day over CHART_DAYS days ending ``last_day``."""
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
    width, height = 600, 180
    spec = {"kind": "chart", "values": values, "labels": [f"{d:%m/%d}" for d in days],
            "weekend": [d.weekday() >= 5 for d in days], "width": width, "height": height}
    ctx = {"days": CHART_DAYS, "total": sum(values), "max": top,
           "max_day": busiest.isoformat(), "first_day": first_day.isoformat(),
           "last_day": last_day.isoformat(), "width": width, "height": height}
    return ctx, spec
