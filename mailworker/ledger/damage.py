"""Replicas found damaged, and the scheduled full audit that finds them.

A replica is *damaged* when its own stored data no longer recomputes (a flipped leaf, a
replaced hash, a rewritten history). It is found three ways: it refuses to sign
(``ReplicaDamaged``), the appender sees its tree differ from the quorum checkpoint, or the
full audit (``ledger verify``, run by the service every ``[ledger] audit_every``) says so.
Each records it here, in the main database's ``state`` table, so every later append
leaves it out of the quorum, ``ledger status`` and the staff digest name it, until
``ledger repair`` rebuilds it (or a later full audit finds it clean).
"""
from __future__ import annotations

import datetime as dt
import json
import logging

from .. import models
from ..clock import Clock, to_utc
from ..config import parse_every
from ..db import state_get, state_set

log = logging.getLogger(__name__)

DAMAGED_KEY = "ledger.damaged"
LAST_AUDIT_KEY = "ledger.audit.last"


def _main_db() -> bool:
    return models.db_proxy.obj is not None


def damaged_replicas() -> dict[str, dict]:
    """name -> {"since": ISO time (UTC), "why": text}; empty without the main database."""
    if not _main_db():
        return {}
    try:
        value = json.loads(state_get(DAMAGED_KEY) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def mark_damaged(name: str, why: str, clock: Clock) -> None:
    if not _main_db():
        return
    with models.db_proxy.atomic():
        found = damaged_replicas()
        if name in found and found[name].get("why") == why:
            return
        since = found.get(name, {}).get("since") or _stamp(clock)
        found[name] = {"since": since, "why": why[:1000]}
        state_set(DAMAGED_KEY, json.dumps(found, sort_keys=True), clock.now())
    log.error("ledger: %s is damaged and left out of the quorum until repaired: %s", name, why)


def clear_damaged(name: str, clock: Clock) -> bool:
    """Forget the damage of ``name`` (after a repair or a clean audit); True if it was."""
    if not _main_db():
        return False
    with models.db_proxy.atomic():
        found = damaged_replicas()
        if found.pop(name, None) is None:
            return False
        state_set(DAMAGED_KEY, json.dumps(found, sort_keys=True), clock.now())
    log.info("ledger: %s is no longer marked damaged", name)
    return True


def damage_text(name: str, entry: dict) -> str:
    return (f"DAMAGED since {entry.get('since', '?')}: {entry.get('why', '')}; left out of the "
            f"quorum until `mailworker ledger repair {name}`")


def _stamp(clock: Clock) -> str:
    return to_utc(clock.now()).strftime("%Y-%m-%d %H:%M UTC")


# --- the scheduled audit --------------------------------------------------------------

def audit_due(cfg, clock: Clock) -> bool:
    every = parse_every(cfg.ledger.audit_every)
    if every is None or not _main_db():
        return False
    last = state_get(LAST_AUDIT_KEY)
    if last is None:
        return True
    try:
        when = dt.datetime.fromisoformat(last)
    except ValueError:
        return True
    return (to_utc(clock.now()) - to_utc(when)).total_seconds() >= every


def run_audit(cfg, clock: Clock):
    """Verify every replica in full and record what it found; returns the VerifyReport.
    The time is recorded first, so an audit that dies is not retried at once."""
    from .audit import verify_ledger
    state_set(LAST_AUDIT_KEY, to_utc(clock.now()).isoformat(), clock.now())
    report = verify_ledger(cfg)
    for name, r in report.replicas.items():
        if r["state"] == "damaged":
            first = "; ".join(r["problems"][:2]) or r["summary"]
            mark_damaged(name, f"the audit found: {first}", clock)
        elif r["state"] in ("ok", "behind"):
            clear_damaged(name, clock)
    log.info("ledger audit: %s", "all replicas agree with the quorum" if report.ok
             else "PROBLEMS FOUND; see `mailworker ledger verify`")
    return report
