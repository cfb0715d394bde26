"""Questions members can have answered by mail without staff (self-service).

The classifier says what a question asks for (``Classification.request``); this module
turns that into the answer to queue, from what the database knows: the hours statement
and the receipts are filled in by the outbound stage when the mail is sent (so they are
current), the help text is a template, and the installer password is re-sent the way a
release sends it, with three guards:

* only when the sender authentication rule passes (the same rule as crediting:
  ``ingest.auth.authentication_verdict``, applied by the analysis);
* only to the member's registered (primary) address, whichever address asked;
* at most once a day per member (the outbox key carries the local date).

What cannot be answered (no package was mailed, authentication failed, a resigned member)
goes to staff (triage) with the "we received your question" reply.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..clock import local_day
from ..models import Member, Outbox
from .credit import Decision

ANSWER_TEMPLATE = {"hours": "hours_statement", "receipts": "receipts_again", "help": "help"}


@dataclass(frozen=True)
class Answer:
    """The decision for the message, and how its reply is queued."""
    decision: Decision
    key: str | None = None                 # outbox key (None: the usual one per message)
    to: str | None = None                  # recipient (None: the sender)
    extra: dict = field(default_factory=dict)
    attachments: list = field(default_factory=list)


def latest_mailed_package(member: Member) -> Outbox | None:
    """The member's newest installer package mail whose password goes by mail."""
    rows = (Outbox.select().where((Outbox.member == member) & (Outbox.template == "package")
                                  & (Outbox.key.startswith("package:")))
            .order_by(Outbox.id.desc()))
    for row in rows:
        if row.context.get("password_delivery") == "mail":
            return row
    return None


def password_key(version: str, member: Member, day: dt.date) -> str:
    return f"pkgpw-again:{version}:{member.uuid}:{day.isoformat()}"


def plan(member: Member, request: str, *, auth_ok: bool, auth_reason: str, now: dt.datetime,
         tz, kind_reason: str) -> Answer:
    """What to do with a member's self-service question (``request`` in SELF_SERVICE)."""
    if request in ANSWER_TEMPLATE:
        attachments = []
        if request == "hours":
            attachments = [{"kind": "hours_statement", "member_id": member.id}]
        elif request == "receipts":
            attachments = [{"kind": "member_receipts", "member_id": member.id}]
        what = {"hours": "hours statement", "receipts": "ledger receipts",
                "help": "list of mail commands"}[request]
        return Answer(Decision("answered", f"{what} sent automatically ({kind_reason})",
                               reply=ANSWER_TEMPLATE[request]), attachments=attachments)
    if request != "password":
        raise ValueError(f"not a self-service request: {request!r}")
    refused = _password_refusal(member, auth_ok, auth_reason)
    if refused:
        return Answer(Decision("triage", f"password re-send not done: {refused}; waiting for "
                                         f"staff ({kind_reason})", reply="question_received"))
    package = latest_mailed_package(member)
    if package is None:
        return Answer(Decision("triage", "password re-send not done: no installer package was "
                                         "mailed to this member with its password by mail; "
                                         f"waiting for staff ({kind_reason})",
                               reply="question_received"))
    version = package.context["version"]
    key = password_key(version, member, local_day(now, tz))
    if Outbox.select().where(Outbox.key == key).exists():
        return Answer(Decision("answered", f"password of package {version} was already re-sent "
                                           f"today (at most once a day); not sent again"))
    address = member.primary_address
    return Answer(
        Decision("answered", f"password of package {version} re-sent to the member's "
                             f"registered address ({kind_reason})", reply="package_password"),
        key=key, to=address,
        extra={"version": version, "package_name": package.context.get("package_name", ""),
               "resent": True},
        attachments=[{"kind": "package_password", "version": version,
                      "member_uuid": member.uuid}])


def _password_refusal(member: Member, auth_ok: bool, auth_reason: str) -> str:
    if member.status != "active":
        return f"the member is {member.status}"
    if not auth_ok:
        return f"sender authentication did not pass ({auth_reason})"
    if not member.primary_address:
        return "the member has no registered address"
    return ""
