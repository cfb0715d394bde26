"""The audit trail (감사 기록): every staff action, from the command line or by mail.

Who (the staff address, or the operating-system user behind ``sudo``), what, on which
item, when, why, and how (cli/mail). ``record`` is called inside the transaction of
the action itself, so an action and its entry commit together or not at all. An action
that changes a member's hours also queues a ledger event, pseudonymised (the member by
their keyed pseudonym, the staff member by a keyed pseudonym of their name).
"""
from __future__ import annotations

import datetime as dt
import getpass
import os
from typing import Mapping

from .clock import Clock, local_day_bounds_utc, naive_utc
from .events import canonical_json, staff_action_leaf
from .models import AuditEntry, LedgerEvent, Message
from .pseudonym import pseudonym, staff_pseudonym

HOWS = ("cli", "mail")


def cli_actor(by: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """Who runs a staff command: the user behind ``sudo`` (``SUDO_USER``), else the login
    user. A name given with ``--by`` is kept too, but never replaces the login."""
    env = os.environ if env is None else env
    login = env.get("SUDO_USER") or ""
    if not login:
        try:
            login = getpass.getuser()
        except (KeyError, OSError):
            login = f"uid {os.getuid()}"
    if by and by.strip() and by.strip() != login:
        return f"{login} (as {by.strip()})"
    return login


def record(clock: Clock, *, actor: str, how: str, action: str, item: str = "",
           reason: str = "", detail: str = "", hours: int = 0, token: str | None = None,
           message: Message | None = None, member_uuid: str | None = None,
           msg_sha256: str | None = None, pseudonym_key: bytes | None = None) -> AuditEntry:
    """Write one audit entry (and the ledger event when ``hours`` changed)."""
    if how not in HOWS:
        raise ValueError(f"how must be one of {HOWS}, got {how!r}")
    now = clock.now()
    entry = AuditEntry.create(at=naive_utc(now), actor=actor[:250], how=how, action=action,
                              item=item[:250], reason=reason or "", detail=detail or "",
                              hours=hours, token=token, message=message)
    if hours:
        if not (member_uuid and msg_sha256 and pseudonym_key):
            raise ValueError(f"{action}: an action that changes hours needs the member, "
                             "the message and the pseudonym key for its ledger event")
        leaf = staff_action_leaf(action, how, msg_sha256, hours, now,
                                 pseudonym(pseudonym_key, member_uuid),
                                 staff_pseudonym(pseudonym_key, actor))
        LedgerEvent.create(event_type="staff_action",
                           payload=canonical_json(leaf).decode("utf-8"),
                           dedup_key=f"staff_action:{entry.id}", created_at=naive_utc(now))
    return entry


def entries(since: dt.date | None = None, tz=None, until: dt.date | None = None
            ) -> list[AuditEntry]:
    """Entries from local day ``since`` (inclusive) to ``until`` (inclusive), oldest first."""
    query = AuditEntry.select()
    if since is not None:
        query = query.where(AuditEntry.at >= local_day_bounds_utc(since, tz)[0])
    if until is not None:
        query = query.where(AuditEntry.at < local_day_bounds_utc(until, tz)[1])
    return list(query.order_by(AuditEntry.at, AuditEntry.id))
