"""Queueing mail: the one way any part of mailworker asks for a mail to be sent.

``enqueue`` writes an ``Outbox`` row inside the caller's transaction (so a message's
acknowledgement commits together with its credit) and is idempotent on ``key``: asking
twice returns the first row. Each row gets its Message-ID now, once, so however often a
crash makes the sender try again, the member receives the very same message, which mail
clients merge. Sending is ``mailworker.outbound.sender``'s job; this module is core so
that ingest can queue mail without importing the outbound stage.
"""
from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
import secrets
import socket

from .clock import Clock, naive_utc
from .models import Member, Outbox
from .prepared import insert_instance

LANGUAGES = ("ko", "en")
_TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DOMAIN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def domain_of(cfg) -> str:
    """The Message-ID domain: the domain of ``[outgoing] from_address``."""
    return _domain_of_address(cfg.outgoing.from_address)


@functools.lru_cache(maxsize=16)
def _domain_of_address(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip().lower()


@functools.lru_cache(maxsize=1)
def _host_domain() -> str:
    # Same fallback as the standard library's email.utils.make_msgid.
    name = socket.getfqdn().strip().lower()
    return name if _DOMAIN.match(name) else "localhost"


_sequence = itertools.count()
_SCALARS = frozenset({str, int, float, bool, type(None)})


def new_message_id(domain: str) -> str:
    """A unique Message-ID. The left part starts with a per-process counter after a
    random prefix, so the ids of one run sort in the order they were made and the
    database index on them grows at its end instead of at random pages."""
    if domain not in _usable_domains:
        if not _DOMAIN.match(domain):
            raise ValueError(f"not a usable Message-ID domain: {domain!r}")
        _usable_domains.add(domain)
    return f"<{_RUN}.{next(_sequence):010d}@{domain}>"


_usable_domains: set[str] = set()


_RUN = secrets.token_hex(12)   # tells the runs apart (96 random bits): the counter restarts


def _not_plain_json(value, depth: int = 0) -> str:
    """Why ``value`` is not plain JSON (str/int/float/bool/None, lists, dicts with
    string keys), or '' when it is. Cheaper than encoding it just to find out."""
    if type(value) in _SCALARS:
        return ""
    if depth > 20:
        return "nested too deep"
    if isinstance(value, dict):
        for k, v in value.items():
            if type(k) is not str:
                return f"key {k!r} is not a string"
            problem = "" if type(v) in _SCALARS else _not_plain_json(v, depth + 1)
            if problem:
                return f"{k}: {problem}"
        return ""
    if isinstance(value, (list, tuple)):
        for v in value:
            problem = "" if type(v) in _SCALARS else _not_plain_json(v, depth + 1)
            if problem:
                return problem
        return ""
    if isinstance(value, (str, int, float)):   # subclasses (bool is one of int's)
        return ""
    return f"Object of type {type(value).__name__} is not JSON serializable"


def parse_recipients(to_addr: str) -> list[str]:
    """``to_addr`` holds one address, or several separated by commas (staff mail)."""
    return [a.strip() for a in to_addr.split(",") if a.strip()]


def new_row(key: str, template: str, to_addr: str, context: dict, clock: Clock,
            member: Member | None = None, attachments=(), after: Outbox | None = None,
            domain: str | None = None, not_before: dt.datetime | None = None) -> dict:
    """A checked Outbox row (by field name), ready to insert; see ``enqueue``."""
    if not key or len(key) > 255:
        raise ValueError(f"outbox key must be 1..255 characters, got {key!r}")
    if not _TEMPLATE_NAME.match(template):
        raise ValueError(f"not a template name: {template!r}")
    recipients = parse_recipients(to_addr)
    if not recipients or not all("@" in a for a in recipients):
        raise ValueError(f"outbox row {key!r}: not an e-mail address: {to_addr!r}")
    context = dict(context)
    if "language" not in context:
        context["language"] = member.language if member is not None else "ko"
    if context["language"] not in LANGUAGES:
        raise ValueError(f"outbox row {key!r}: language must be one of {LANGUAGES}, "
                         f"got {context['language']!r}")
    attachments = [dict(a) for a in attachments]
    for part in (context, attachments):
        problem = _not_plain_json(part)
        if problem:
            raise ValueError(f"outbox row {key!r}: values must be plain JSON: {problem}")
    now = naive_utc(clock.now())
    return {"key": key, "template": template, "to_addr": ", ".join(recipients),
            "member": member, "context": context, "attachments": attachments,
            "message_id": new_message_id((domain or _host_domain()).lower()),
            "status": "pending", "attempts": 0,
            "not_before": naive_utc(not_before) if not_before else now,
            "after": after, "last_error": "", "created_at": now}


def enqueue(key: str, template: str, to_addr: str, context: dict, clock: Clock,
            member: Member | None = None, attachments=(), after: Outbox | None = None,
            domain: str | None = None, not_before: dt.datetime | None = None) -> Outbox:
    """Queue one mail; return its row (the existing one if ``key`` was queued before).

    ``context`` holds the template's values (JSON; never a secret) and ``language``
    ('ko' or 'en'; taken from the member, else Korean, when missing). ``attachments`` is a
    list of dicts resolved when sending (e.g. ``{"kind": "ledger_receipt", ...}``).
    ``after``: send only once that row has been sent. ``domain``: right-hand side of the
    Message-ID; pass ``domain_of(cfg)`` (without it, the host name is used as the
    standard library does).
    """
    row = new_row(key, template, to_addr, context, clock, member=member,
                  attachments=attachments, after=after, domain=domain, not_before=not_before)
    inserted = insert_instance(Outbox, row, on_conflict_ignore=True)
    return inserted if inserted is not None else Outbox.get(Outbox.key == key)
