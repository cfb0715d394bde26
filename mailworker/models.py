"""Database tables (peewee). The schema is created and upgraded by ``mailworker.db``.

Times are naive UTC datetimes. The stages meet here: ingest writes ``Message``,
``HourCredit``, ``Outbox`` and ``LedgerEvent`` rows in one transaction; the outbound
sender drains ``Outbox``; the ledger appender drains ``LedgerEvent``.
"""
from __future__ import annotations

import json

import peewee as pw

from .vocabulary import CREDITABLE_KINDS, KINDS  # noqa: F401  (re-exported)

db_proxy = pw.DatabaseProxy()

CATEGORIES = ("student", "citizen", "developer", "business")
CATEGORY_KO = {"student": "대학생", "citizen": "일반시민", "developer": "블록체인 개발자",
               "business": "블록체인 기업인"}
MEMBER_STATUSES = ("active", "resigned", "suspended", "term_ended")

# The classifier's kinds (KINDS, CREDITABLE_KINDS) are in mailworker.vocabulary: the
# analysis process reads them without loading the database modules.
# Not a classifier's kind: mail from a staff address or with a digest's action token,
# routed before member classification (mailworker.ingest.staff_mail).
STAFF_KIND = "staff_action"
# Not a classifier's kind either: a non-member's application (or reply to a vacancy offer),
# decided by ingest from the recruitment state (mailworker.ingest.application).
APPLICATION_KIND = "application"

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
    "staff_pending",  # staff action mail, recorded by ingest, not yet performed
    "staff_done",     # staff action performed (see the audit trail)
    "staff_refused",  # staff action refused; the sender was told why
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
    contact_purged_at = pw.DateTimeField(null=True)  # name/addresses deleted (members purge)
    volunteer_id = pw.CharField(null=True)    # the member's ID on the volunteer-centre portal

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
    kind = pw.CharField()                     # one of KINDS, STAFF_KIND, APPLICATION_KIND
    disposition = pw.CharField(index=True)    # one of DISPOSITIONS
    reason = pw.TextField()                   # short, for people
    member = pw.ForeignKeyField(Member, null=True, backref="messages")
    body_sha256 = pw.CharField(null=True, index=True)  # of the normalised new text
    excerpt = pw.TextField(default="")        # first lines of the new text, for the digest
    attachments = JSONField(default=list)     # [{name, size, sha256, content_type}]
    in_reply_to = pw.CharField(null=True)
    thread_refs = pw.TextField(null=True)     # rsvp: References' Message-IDs (spaced, no <>)
    rsvp_answer = pw.CharField(null=True)     # attend | decline, for kind rsvp
    decided_by = pw.CharField(null=True)      # staff decision on triage: who
    decided_at = pw.DateTimeField(null=True)


class HourCredit(BaseModel):
    message = pw.ForeignKeyField(Message, unique=True, backref="credit")
    member = pw.ForeignKeyField(Member, backref="credits", index=False)
    kind = pw.CharField()
    hours = pw.IntegerField(default=1)
    credited_at = pw.DateTimeField(index=True)
    by = pw.CharField(default="auto")         # auto | staff:<name>

    class Meta:
        # A member's hours since a date are summed from the index alone (the ingest pass
        # reads each sender's day and half-year): the rows themselves are never visited.
        indexes = ((("member", "credited_at", "hours"), False),)


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
    sent_sha256 = pw.CharField(null=True)     # of the bytes sent (kept when context is cleared)
    pruned_at = pw.DateTimeField(null=True)   # context cleared ([outgoing] keep_sent_days)

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


def text_key(msg_sha256: str) -> int:
    """A credited text's compact key: the first 8 bytes of its message's content hash as
    a signed 64-bit number (a chance collision in 2**64 could only make two texts share
    look-up rows, never credit anything)."""
    return int.from_bytes(bytes.fromhex(msg_sha256[:16]), "big", signed=True)


class CreditedText(BaseModel):
    """The sketch of a credited text (see ``ingest.fingerprint``), so a near-copy sent
    later, by anyone, is found. Keyed by ``text_key`` of the message's content hash."""
    key = pw.BigIntegerField(primary_key=True)
    msg_sha256 = pw.CharField()               # which message (found through message.sha256)
    member = pw.ForeignKeyField(Member, backref="credited_texts", index=False)
    signature = pw.BlobField()


class TextBand(BaseModel):
    """Look-up keys of a credited text's sketch, one per band: a near-copy shares one.
    Sixteen rows per credited text, so each is two integers and nothing else: on SQLite
    the table is its own index (WITHOUT ROWID, made by migration 3)."""
    band = pw.BigIntegerField()
    text = pw.BigIntegerField(column_name="text_key")    # CreditedText.key

    class Meta:
        primary_key = pw.CompositeKey("band", "text")


class RecentBand(BaseModel):
    """Band keys of recently credited texts on their way into ``TextBand``: a small table,
    so a batch's keys share its pages (see ``ingest.bands``). Same shape, made WITHOUT
    ROWID on SQLite by migration 11."""
    band = pw.BigIntegerField()
    text = pw.BigIntegerField(column_name="text_key")    # CreditedText.key

    class Meta:
        table_name = "text_band_recent"
        primary_key = pw.CompositeKey("band", "text")


class State(BaseModel):
    """Small named values: last fetch time, mailbox UIDVALIDITY, digest sent dates."""
    key = pw.CharField(primary_key=True)
    value = pw.TextField()
    updated_at = pw.DateTimeField()


class StaffRequest(BaseModel):
    """What ingest read from a staff action mail, for the executor to check and perform
    (mailworker.staff_actions). Keyed by the message's content hash, like an hour credit,
    so ingest can write it in a batch before the message has an id."""
    message_sha256 = pw.CharField(unique=True)
    tokens = JSONField(default=list)          # token-shaped words found (subject first)
    auth_ok = pw.BooleanField()               # the crediting rule's authentication verdict
    auth_reason = pw.TextField(default="")
    reason = pw.TextField(default="")         # what the staff member wrote in the body
    created_at = pw.DateTimeField()


class AuditEntry(BaseModel):
    """One staff action (감사 기록), from the command line or from mail: who, what, on
    which item, when, why, how. A mail action keeps its token: a token is used once."""
    at = pw.DateTimeField(index=True)
    actor = pw.CharField()                    # staff address, or the OS user behind sudo
    how = pw.CharField()                      # cli | mail
    action = pw.CharField()                   # e.g. triage.accept_review, member.set_status
    item = pw.CharField(default="")           # e.g. "message #12", "member kim@..."
    reason = pw.TextField(default="")
    detail = pw.TextField(default="")         # what came of it, for people
    hours = pw.IntegerField(default=0)        # volunteer hours the action changed
    token = pw.CharField(null=True, unique=True)
    message = pw.ForeignKeyField(Message, null=True, backref="audit_entries", index=False)


# --- the group's meetings, commendation and hour exports (mailworker.group) -----------

RSVP_ANSWERS = ("attend", "decline")


class Meeting(BaseModel):
    """A regular meeting (정례회의). Its notices are Outbox rows keyed ``meeting:<id>:...``:
    a reply to one of their Message-IDs is an answer for this meeting."""
    title = pw.CharField()
    starts_at = pw.DateTimeField()            # UTC
    place = pw.CharField()
    created_at = pw.DateTimeField()
    notice_sent_at = pw.DateTimeField(null=True)   # when `meeting notice` queued the notices
    reminded_at = pw.DateTimeField(null=True)      # when the reminder step queued reminders


class Rsvp(BaseModel):
    """A member's answer for a meeting: the latest wins (one row per meeting and member)."""
    meeting = pw.ForeignKeyField(Meeting, backref="rsvps", on_delete="CASCADE")
    member = pw.ForeignKeyField(Member, backref="rsvps")
    answer = pw.CharField()                   # one of RSVP_ANSWERS
    message = pw.ForeignKeyField(Message, backref="rsvps")
    answered_at = pw.DateTimeField()          # the message's Date (else when received), UTC
    matched_by = pw.CharField()               # how the reply was tied to the meeting

    class Meta:
        indexes = ((("meeting", "member"), True),)


class Attendance(BaseModel):
    """Who was there: what the allowance is paid on (not the RSVPs). No bank data."""
    meeting = pw.ForeignKeyField(Meeting, backref="attendance", on_delete="CASCADE")
    member = pw.ForeignKeyField(Member, backref="attendance")
    amount_krw = pw.IntegerField()            # the allowance when it was recorded
    recorded_at = pw.DateTimeField()
    source = pw.CharField()                   # list | file name of the sign-in sheet

    class Meta:
        indexes = ((("meeting", "member"), True),)


class QualityScore(BaseModel):
    """A staff judgement (1-5) of one credited review or proposal, for the commendation."""
    message = pw.ForeignKeyField(Message, unique=True, backref="quality")
    score = pw.IntegerField()
    scored_by = pw.CharField()
    scored_at = pw.DateTimeField()


class HourExport(BaseModel):
    """One export batch of credited activity for the volunteer centre."""
    created_at = pw.DateTimeField()
    since = pw.DateField(null=True)           # local days asked for
    until = pw.DateField(null=True)
    rows = pw.IntegerField(default=0)
    corrections = pw.IntegerField(default=0)


class HourExportRow(BaseModel):
    """A credited activity as exported: once (unique message), with the values sent."""
    batch = pw.ForeignKeyField(HourExport, backref="export_rows")
    message = pw.ForeignKeyField(Message, unique=True, backref="exported")
    member = pw.ForeignKeyField(Member, backref="exported")
    name = pw.CharField()
    volunteer_id = pw.CharField(default="")
    activity_date = pw.DateField()            # local day the mail arrived
    hours = pw.IntegerField()
    kind = pw.CharField()
    subject = pw.CharField()
    sha256 = pw.CharField()


class HourExportCorrection(BaseModel):
    """An exported activity whose credit was withdrawn later, listed once for correction."""
    batch = pw.ForeignKeyField(HourExport, backref="export_corrections")
    row = pw.ForeignKeyField(HourExportRow, unique=True, backref="correction")


GROUP_TABLES = [Meeting, Rsvp, Attendance, QualityScore, HourExport, HourExportRow,
                HourExportCorrection]


# --- the group's life cycle (mailworker.group; ingest reads the round state) ------------

ROUND_STATUSES = ("open", "closed", "accepted")
# State key: the [group] term_end the group step saw running. Only such a term ends
# (statuses, no more hours): a stale configured date must not stop everyone's hours.
TERM_RUNNING_KEY = "group.term_running"
APPLICATION_STATUSES = (
    "applied",      # recorded in an open round, waiting for the close
    "selected",     # within the category's seats at the close; staff accept next
    "waitlisted",   # beyond the seats: offered a vacancy later, in arrival order
    "incomplete",   # no category known at the close: cannot be placed
    "offered",      # a vacancy offer is waiting for the applicant's reply
    "appointed",    # became a member
    "declined",     # declined an offer
    "expired",      # did not answer an offer in time
)


class RecruitmentRound(BaseModel):
    """One open call (모집). At most one round is open at a time."""
    opened_at = pw.DateTimeField()
    until = pw.DateTimeField()                # end, exclusive (naive UTC of local midnight)
    seats = JSONField(default=dict)           # {category: seats offered}
    status = pw.CharField(default="open")     # one of ROUND_STATUSES
    closed_at = pw.DateTimeField(null=True)
    accepted_at = pw.DateTimeField(null=True)
    extensions = pw.IntegerField(default=0)


class Application(BaseModel):
    """One applicant in a round. ``id`` order is arrival order (see group/recruitment.py)."""
    round = pw.ForeignKeyField(RecruitmentRound, backref="applications")
    message = pw.ForeignKeyField(Message, unique=True, null=True, backref="applications",
                                 on_delete="SET NULL")
    email = pw.CharField()                    # lower-cased
    name = pw.CharField(default="")
    category = pw.CharField(null=True)        # one of CATEGORIES, None until known
    language = pw.CharField(default="ko")
    received_at = pw.DateTimeField()          # when ingest recorded the first mail
    status = pw.CharField(default="applied")  # one of APPLICATION_STATUSES
    member = pw.ForeignKeyField(Member, null=True, backref="applications")
    offer_until = pw.DateTimeField(null=True)  # vacancy offer: reply before this
    decided_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("round", "email"), True),)


class ApplicationMail(BaseModel):
    """A recorded application/offer-reply mail the group step has handled (once)."""
    message = pw.ForeignKeyField(Message, unique=True, on_delete="CASCADE")
    application = pw.ForeignKeyField(Application, null=True, on_delete="SET NULL")
    handled_at = pw.DateTimeField()


class Vacancy(BaseModel):
    """An empty seat (결원) left by a member, offered down the category's waitlist."""
    category = pw.CharField()
    left_by = pw.ForeignKeyField(Member, null=True, on_delete="SET NULL")
    opened_at = pw.DateTimeField()
    status = pw.CharField(default="open")     # open | offered | call_needed | filled
    offer = pw.ForeignKeyField(Application, null=True, on_delete="SET NULL")
    filled_at = pw.DateTimeField(null=True)


LIFECYCLE_TABLES = [RecruitmentRound, Application, ApplicationMail, Vacancy]

ALL_TABLES = [SchemaVersion, Member, MemberAddress, Message, HourCredit, Outbox,
              LedgerEvent, State, CreditedText, StaffRequest, AuditEntry,
              *GROUP_TABLES, *LIFECYCLE_TABLES]
