"""Replicas found damaged: recorded until repaired.

A replica is *damaged* when its own stored data no longer recomputes (a flipped leaf, a
replaced hash, a rewritten history). It is found three ways: it refuses to sign
(``ReplicaDamaged``), the appender sees its tree differ from the quorum checkpoint, or the
full audit (``audit.run_audit``, every ``[ledger] audit_every``) says so.
Each records it here, in the main database's ``state`` table, so every later append
leaves it out of the quorum, ``ledger status`` and the staff digest name it, until
``ledger repair`` rebuilds it (or a later full audit finds it clean).
"""
from __future__ import annotations

import json
import logging

from .. import models
from ..clock import Clock, to_utc
from ..db import state_get, state_set

log = logging.getLogger(__name__)

DAMAGED_KEY = "ledger.damaged"


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
