"""Database tables (peewee). The schema is created and upgraded by ``mailworker.db``.

Times are naive UTC datetimes. The stages meet here: ingest writes ``Message``,
``HourCredit``, ``Outbox`` and ``LedgerEvent`` rows in one transaction; the outbound
sender drains ``Outbox``; the ledger appender drains ``LedgerEvent``.
"""
from __future__ import annotations

import json

import peewee as pw

db_proxy = pw.DatabaseProxy()

CATEGORIES = ("student", "citizen", "developer", "business")
CATEGORY_KO = {"student": "대학생", "citizen": "일반시민", "developer": "블록체인 개발자",
               "business": "블록체인 기업인"}
MEMBER_STATUSES = ("active", "resigned", "suspended")

# question: a member asks something (never credited); other: thanks, acknowledgement,
# chatter (never credited, no staff triage; counted in the digest).
KINDS = ("review", "proposal", "question", "other", "resignation", "rsvp", "auto_reply",
         "bounce", "triage")
CREDITABLE_KINDS = ("review", "proposal")

# What happened to a message. Folder: Triage for "triage", Quarantine for "quarantined",
# Processed for everything else.
DISPOSITIONS = (
    "credited",      # review/proposal from a member, one hour credited
    "no_credit",     # review/proposal accepted but not credited (reason says why)
    "triage",        # unclear; waits for staff (mailworker triage ...)
    "rejected",      # staff rejected a triage item
    "non_member",    # sender is not a registered member address
    "recorded",      # resignation / rsvp recorded for staff
    "answered",      # a question answered automatically (hours, receipts, password, help)
    "noted",         # thanks / acknowledgement / chatter: kept, counted, no reply
    "ignored",       # auto-reply
    "bounce",        # delivery status notification
    "duplicate",     # same Message-ID already recorded
    "quarantined",   # unreadable, oversize or failed to process
)


_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)   # built once, not per row


class JSONField(pw.TextField):
    def db_value(self, value):
        if value is None:
            return None
        if not value and isinstance(value, list):
            return "[]"                  # most messages have no attachments
        return _JSON.encode(value)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        database = db_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = pw.IntegerField(primary_key=True)
    applied_at = pw.DateTimeField()


class Member(BaseModel):
    uuid = pw.CharField(unique=True)          # stable, random; the pseudonym is keyed on it
    display_name = pw.CharField()
    category = pw.CharField()                 # one of CATEGORIES
    status = pw.CharField(default="active")   # one of MEMBER_STATUSES
    language = pw.CharField(default="ko")     # template language: ko or en
    certificate = pw.TextField(null=True)     # PEM S/MIME cert: packages go encrypted to it
    created_at = pw.DateTimeField()
    resigned_at = pw.DateTimeField(null=True)
    status_reason = pw.TextField(null=True)   # why staff set the status (members set-status)

    @property
    def primary_address(self) -> str:
        row = (MemberAddress.select().where(MemberAddress.member == self)
               .order_by(MemberAddress.is_primary.desc(), MemberAddress.id).first())
        return row.email if row else ""


class MemberAddress(BaseModel):
    member = pw.ForeignKeyField(Member, backref="addresses", on_delete="CASCADE")
    email = pw.CharField(unique=True)         # lower-cased
    is_primary = pw.BooleanField(default=False)


class Message(BaseModel):
    sha256 = pw.CharField(unique=True)        # of the raw bytes (or of the headers if oversize)
    hash_basis = pw.CharField(default="raw")  # raw | headers
    message_id = pw.CharField(index=True, null=True)
    source = pw.CharField()                   # e.g. imap://host/INBOX or maildir:/path
    uidvalidity = pw.BigIntegerField(null=True)
    uid = pw.CharField(null=True)             # IMAP UID or Maildir key
    sender = pw.CharField()                   # lower-cased From: address ('' if none)
    sender_name = pw.CharField(default="")
    subject = pw.TextField(default="")
    sent_at = pw.DateTimeField(null=True)     # Date: header, UTC
    received_at = pw.DateTimeField(index=True)  # when we recorded it, UTC
    size = pw.IntegerField(default=0)
    kind = pw.CharField()                     # one of KINDS
    disposition = pw.CharField(index=True)    # one of DISPOSITIONS
    reason = pw.TextField()                   # short, for people
    member = pw.ForeignKeyField(Member, null=True, backref="messages")
    body_sha256 = pw.CharField(null=True, index=True)  # of the normalised new text
    excerpt = pw.TextField(default="")        # first lines of the new text, for the digest
    attachments = JSONField(default=list)     # [{name, size, sha256, content_type}]
    in_reply_to = pw.CharField(null=True)
    decided_by = pw.CharField(null=True)      # staff decision on triage: who
    decided_at = pw.DateTimeField(null=True)


class HourCredit(BaseModel):
    message = pw.ForeignKeyField(Message, unique=True, backref="credit")
    member = pw.ForeignKeyField(Member, backref="credits")
    kind = pw.CharField()
    hours = pw.IntegerField(default=1)
    credited_at = pw.DateTimeField(index=True)
    by = pw.CharField(default="auto")         # auto | staff:<name>


class Outbox(BaseModel):
    """One mail to send. Rendered and sent by mailworker.outbound."""
    key = pw.CharField(unique=True)           # idempotency key, e.g. ack:<sha256>
    template = pw.CharField()                 # template name under templates/
    to_addr = pw.CharField()
    member = pw.ForeignKeyField(Member, null=True, backref="outbox", index=False)
    context = JSONField(default=dict)         # template values (no secrets)
    attachments = JSONField(default=list)     # [{kind, ...}] resolved when sending
    message_id = pw.CharField(unique=True)    # fixed Message-ID: a resend is the same mail
    status = pw.CharField(default="pending")  # pending|sent|failed|cancelled
    attempts = pw.IntegerField(default=0)
    not_before = pw.DateTimeField()           # earliest (next) attempt
    after = pw.ForeignKeyField("self", null=True, backref="followers",
                               index=False)     # send only after this one (looked up by id)
    last_error = pw.TextField(default="")
    created_at = pw.DateTimeField()
    sent_at = pw.DateTimeField(null=True)

    class Meta:
        # The sender asks for pending rows that are due; counts go by status.
        indexes = ((("status", "not_before"), False),)


class LedgerEvent(BaseModel):
    """A leaf waiting to be appended to the ledger. Payload holds no personal data."""
    event_type = pw.CharField()               # contribution | package | meeting
    payload = pw.TextField()                  # canonical JSON (the leaf data)
    dedup_key = pw.CharField(unique=True)     # e.g. contribution:<sha256>
    created_at = pw.DateTimeField()
    leaf_index = pw.BigIntegerField(null=True, index=True)
    appended_at = pw.DateTimeField(null=True)


class State(BaseModel):
    """Small named values: last fetch time, mailbox UIDVALIDITY, digest sent dates."""
    key = pw.CharField(primary_key=True)
    value = pw.TextField()
    updated_at = pw.DateTimeField()


ALL_TABLES = [SchemaVersion, Member, MemberAddress, Message, HourCredit, Outbox,
              LedgerEvent, State]
