"""Timed outbound jobs for ``mailworker run``: the daily staff digest, and clearing the
template values of mail sent long ago (``[outgoing] keep_sent_days``).

``schedule`` only sets the rhythm (a check every minute: its own ``.at()`` would read the
machine's wall clock and zone); whether a digest is due, and for which days, is decided by
``digest.digest_due`` with the injected clock and the outbox keys, so restarts, missed
days and a machine clock in another zone change nothing. The service drains the outbox
itself each round, so the queued digest goes out on the next round.
"""
from __future__ import annotations

import logging

import schedule

from ..clock import Clock
from ..models import Outbox
from .digest import digest_due, queue_digest
from .sender import prune_sent

log = logging.getLogger(__name__)


def run_digest_job(cfg, clock: Clock) -> list[Outbox]:
    """Queue every digest that is due (normally none, at 09:00 one, after downtime more)."""
    queued = []
    for day in digest_due(cfg, clock):
        row = queue_digest(cfg, clock, day)
        if row is not None:
            log.info("staff digest for %s queued (outbox #%d)", day, row.id)
            queued.append(row)
    return queued


def build_scheduler(cfg, clock: Clock) -> schedule.Scheduler:
    scheduler = schedule.Scheduler()
    scheduler.every(1).minutes.do(run_digest_job, cfg, clock).tag("digest")
    # schedule only sets the rhythm; what is old enough is decided with the clock.
    scheduler.every(6).hours.do(prune_sent, cfg, clock).tag("prune-sent")
    return scheduler
