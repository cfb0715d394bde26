"""The members' term (임기): the notice a month before its end, the final statement at it.

Only a term the worker saw running is ended (``TERM_RUNNING_KEY``): a configured date
that was already past when the worker first ran (such as the plan's 2020 default on a
new install) must not turn every member into a former one. Each member's mail and status
change commit together, keyed per member, so a crash half-way is finished by the next run.
"""
from __future__ import annotations

import datetime as dt

from ..clock import Clock, naive_utc
from ..db import state_get, state_set
from ..models import TERM_RUNNING_KEY, Member, db_proxy
from ..outbox import domain_of, enqueue
from . import roster


def term_step(cfg, clock: Clock) -> str:
    t = roster.term(cfg)
    now = naive_utc(clock.now())
    running = state_get(TERM_RUNNING_KEY) == cfg.group.term_end
    if t.start <= now < t.end and not running:
        state_set(TERM_RUNNING_KEY, cfg.group.term_end, clock.now())
        running = True
    if not running:
        return ""
    if now >= t.end:
        return _end_term(cfg, clock, t)
    if now >= t.end - dt.timedelta(days=cfg.group.term_notice_days):
        return _notify(cfg, clock, t)
    return ""


def _notify(cfg, clock: Clock, t: roster.Term) -> str:
    done_key = f"group.term_notice:{cfg.group.term_end}"
    if state_get(done_key):
        return ""
    queued = 0
    with db_proxy.atomic():
        for member in Member.select().where(Member.status == "active"):
            enqueue(f"termnotice:{cfg.group.term_end}:{member.uuid}", "term_end_notice",
                    member.primary_address,
                    {"display_name": member.display_name, "term_end": t.last_day.isoformat(),
                     **roster.member_totals(member)},
                    clock, member=member, domain=domain_of(cfg))
            queued += 1
        state_set(done_key, "sent", clock.now())
    return f"term-end notice queued for {queued} member(s)"


def _end_term(cfg, clock: Clock, t: roster.Term) -> str:
    ended = 0
    for member in list(Member.select().where(Member.status == "active")):
        with db_proxy.atomic():
            enqueue(f"finalstatement:{cfg.group.term_end}:{member.uuid}", "final_statement",
                    member.primary_address,
                    {"display_name": member.display_name, "category": member.category,
                     "term_start": t.first_day.isoformat(), "term_end": t.last_day.isoformat(),
                     **roster.member_totals(member)},
                    clock, member=member, domain=domain_of(cfg))
            member.status = "term_ended"
            member.status_reason = f"term ended {t.last_day.isoformat()}"
            member.save()
        ended += 1
    return f"term ended: final statement queued for {ended} member(s)" if ended else ""
