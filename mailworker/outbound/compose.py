"""Turning one outbox row into the bytes of one mail.

Every mail is multipart/alternative (text + HTML, UTF-8) with RFC 2047 encoded Korean
subjects and names; attachments named in the row are resolved here, when sending:
``ledger_receipt`` (the ledger's receipt as JSON, waiting a while for the quorum),
``file`` (e.g. a member's installer package),
``package_password`` (derived now, so the password is never stored), ``smime`` (the whole
content encrypted to the member's registered certificate), ``hours_statement`` and
``member_receipts`` (a member's own record, see ``statement.py``). The Message-ID is the row's,
fixed at enqueue time, so a resend after a crash is the same message.
"""
from __future__ import annotations

import datetime as dt
import email.header
import email.policy
import email.utils
import json
import re
from dataclasses import dataclass, field
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from ..clock import to_utc
from ..errors import MailworkerError
from ..ledger.merkle import LedgerError
from ..ledger.receipt import ReceiptSource, build_receipt
from ..models import Outbox
from ..outbox import parse_recipients
from ..safetext import message_id_or_none, one_line
from .statement import hours_statement, member_receipts
from .templates import Renderer

# Header folding is most of what the standard library spends writing a mail (it parses
# each value into a tree and refolds it). Our own headers are
# encoded once when set (``FoldedHeader``); the MIME headers the email package sets on
# the parts are written as they are when that already is their wire form.
_VERBATIM_MIME = frozenset({"content-type", "content-transfer-encoding",
                            "content-disposition", "content-id", "mime-version"})


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, but each header class is built once: the standard
    one builds a new class with ``type()`` for every header it parses."""

    def __init__(self):
        super().__init__()
        self._built: dict[type, type] = {}

    def __getitem__(self, name):
        cls = self.registry.get(name.lower(), self.default_class)
        built = self._built.get(cls)
        if built is None:
            built = self._built[cls] = type("_" + cls.__name__, (cls, self.base_class), {})
        return built


class _Policy(email.policy.EmailPolicy):
    """``email.policy.SMTP`` (CRLF) with 7bit transfer encoding, writing a MIME header
    verbatim when its value is short printable ASCII, which is then exactly what the
    full refold would write; anything else (long, non-ASCII, defective) is refolded."""

    # The public folding methods (generators call one of the two); the standard library's
    # own refold stays the answer for everything the shortcut does not cover.
    def fold(self, name, value):
        verbatim = self._verbatim(name, value)
        return verbatim if verbatim is not None else super().fold(name, value)

    def fold_binary(self, name, value):
        verbatim = self._verbatim(name, value)
        return (verbatim.encode("ascii") if verbatim is not None
                else super().fold_binary(name, value))

    def _verbatim(self, name, value) -> str | None:
        if (name.lower() in _VERBATIM_MIME and hasattr(value, "name")
                and not getattr(value, "defects", True)):
            text = str(value)
            if (text.isascii() and text.isprintable() and "=?" not in text
                    and len(name) + 2 + len(text) <= self.max_line_length):
                return f"{name}: {text}{self.linesep}"
        return None


# 7bit: every text part is base64 or quoted-printable, so any relay accepts it.
POLICY = _Policy(linesep="\r\n", cte_type="7bit", header_factory=_HeaderClasses())
# The same without the verbatim shortcut: what the shortcut must agree with (tests).
REFERENCE_POLICY = email.policy.SMTP.clone(cte_type="7bit")

# Replies to a member's own mail are auto-replies in the RFC 3834 sense; the rest is
# generated mail. Both tell vacation responders not to answer us.
REPLY_TEMPLATES = {"ack", "no_credit", "triage_notice", "non_member_reply",
                   "resignation_ack", "rsvp_ack", "too_large", "staff_action_done",
                   "staff_action_refused", "application_received", "application_incomplete",
                   "recruitment_closed", "question_received", "hours_statement",
                   "receipts_again", "help", "triage_reply"}


_MAX_LINE = 78
_MSG_ID = re.compile(r"^<[!-~]{3,900}>$")


class FoldedHeader(str):
    """A header already in its wire form: ``wire`` is ASCII, folded with "\\n " to
    78 columns, encoded words where needed; ``str()`` is the readable value.

    The policy keeps values that carry a ``name`` as they are and calls their ``fold``,
    so the email package neither parses nor refolds them. Non-ASCII text is encoded with
    ``email.header.Header``: the email package's own folder (Python 3.11) drops the
    space between two encoded words when it splits a long Korean subject over lines
    ("품평 2 · 제안" arrives as "품평 2 ·제안"); ``Header`` keeps every space inside an
    encoded word.
    """

    def __new__(cls, name: str, value: str, wire: str):
        obj = str.__new__(cls, value)
        obj.name = name
        obj.wire = wire
        return obj

    def fold(self, *, policy) -> str:
        return f"{self.name}: {self.wire.replace(chr(10), policy.linesep)}{policy.linesep}"


def _fits(name: str, wire: str) -> bool:
    lines = wire.split("\n")
    return (wire.isascii() and len(name) + 2 + len(lines[0]) <= _MAX_LINE
            and all(len(line) <= _MAX_LINE and line[:1] == " " for line in lines[1:]))


def _needs_encoding(text: str) -> bool:
    # "=?" in plain text would be read as the start of an encoded word.
    return not text.isascii() or "=?" in text or not text.isprintable()


def _header_encode(name: str, text: str, charset: str) -> str:
    # Fold at spaces only: a break after "," would add a space when the line is unfolded.
    return email.header.Header(text, charset=charset, header_name=name,
                               maxlinelen=_MAX_LINE).encode(splitchars=" ", linesep="\n")


def _subject_header(subject: str) -> FoldedHeader:
    wire = _header_encode("Subject", subject,
                          "utf-8" if _needs_encoding(subject) else "us-ascii")
    if not _fits("Subject", wire):
        # A word too long for a line: encoded words can be split anywhere.
        wire = _header_encode("Subject", subject, "utf-8")
    return FoldedHeader("Subject", subject, wire)


_SPECIALS = frozenset('()<>@,:;.\\"[]')


def _address_header(name: str, mailboxes: list[tuple[str, Address]]) -> FoldedHeader | None:
    """``Name: display name <addr>`` (one mailbox) or ``Name: a, b, ...`` (bare
    addresses), folded; None when it is left to the email package's folding (several
    named mailboxes, a non-ASCII address, a line that does not fit)."""
    if not all(a.addr_spec.isascii() for _, a in mailboxes):
        return None
    display = mailboxes[0][0] if len(mailboxes) == 1 else ""
    if len(mailboxes) > 1 and any(d for d, _ in mailboxes):
        return None
    if display:
        if _needs_encoding(display):
            phrase = _header_encode(name, display, "utf-8")
        elif _SPECIALS.isdisjoint(display):
            phrase = display
        else:
            phrase = '"' + email.utils.quote(display) + '"'
        spec = f"<{mailboxes[0][1].addr_spec}>"
        last = phrase.rsplit("\n", 1)[-1]
        used = len(last) + (len(name) + 2 if "\n" not in phrase else 0)
        wire = phrase + (" " if used + 1 + len(spec) <= _MAX_LINE else "\n ") + spec
    else:
        wire, used = "", len(name) + 2
        for i, (_, addr) in enumerate(mailboxes):
            spec = addr.addr_spec
            if i and used + 2 + len(spec) > _MAX_LINE:
                wire, used = wire + ",\n ", 1
            elif i:
                wire, used = wire + ", ", used + 2
            wire, used = wire + spec, used + len(spec)
    if not _fits(name, wire):
        return None
    readable = ", ".join(str(Address(display_name=d, username=a.username, domain=a.domain))
                         for d, a in mailboxes)
    return FoldedHeader(name, readable, wire)


class ComposeError(MailworkerError):
    """This row cannot become a mail (a missing value or file); it fails without sending."""


@dataclass
class Prepared:
    data: bytes
    envelope_from: str
    recipients: list[str]
    notes: list[str] = field(default_factory=list)   # for last_error / logs, never secrets


@dataclass
class Deferred:
    until: dt.datetime      # aware UTC
    why: str


RECEIPT_WAIT_NOTE = "waiting for the ledger receipt"   # the sender looks for it


@dataclass
class _Parts:
    context: dict
    attachments: list[tuple[bytes, str, str, str]] = field(default_factory=list)
    smime: bool = False
    notes: list[str] = field(default_factory=list)


def prepare(cfg, row: Outbox, now: dt.datetime, renderer: Renderer,
            receipts: ReceiptSource | None = None) -> Prepared | Deferred:
    """The mail for ``row`` now, or ``Deferred`` if an attachment is not ready yet.
    ``receipts``: the drain pass's ledger source (one is opened for this row if None)."""
    parts = _resolve(cfg, row, now, receipts)
    if isinstance(parts, Deferred):
        return parts
    rendered = renderer.render(row.template, parts.context)
    recipients = parse_recipients(row.to_addr)
    msg = _body(rendered.text, rendered.html, parts)
    if parts.smime:
        msg = _smime_envelope(msg, row)
    _headers(msg, cfg, row, rendered.subject, recipients, now, parts.context)
    return Prepared(msg.as_bytes(policy=POLICY), cfg.outgoing.from_address, recipients,
                    parts.notes)


# --- attachments and late values ----------------------------------------------------

def _resolve(cfg, row: Outbox, now: dt.datetime, receipts: ReceiptSource | None
             ) -> _Parts | Deferred:
    # Set when a receipt is attached below; the ack template says how to get one otherwise.
    parts = _Parts(context={"receipt_attached": False, **row.context})
    for spec in row.attachments:
        try:
            waited = _resolve_one(cfg, row, now, spec, parts, receipts)
        except KeyError as exc:
            raise ComposeError(f"outbox row #{row.id}: attachment {spec.get('kind')!r} "
                               f"lacks the value {exc}") from None
        if waited is not None:
            return waited
    return parts


def _resolve_one(cfg, row: Outbox, now: dt.datetime, spec: dict, parts: _Parts,
                 receipts: ReceiptSource | None) -> Deferred | None:
    kind = spec.get("kind")
    if kind == "ledger_receipt":
        return _resolve_receipt(cfg, row, now, spec, parts, receipts)
    if kind == "file":
        _resolve_file(row, spec, parts)
    elif kind == "chart":
        pass    # a digest queued by an older version: its chart is drawn in HTML now
    elif kind == "package_password":
        from .packages import member_password
        parts.context["password"] = member_password(cfg, spec["version"],
                                                    spec["member_uuid"])
    elif kind == "smime":
        parts.smime = True
    elif kind == "hours_statement":
        parts.context.update(hours_statement(cfg, spec["member_id"], now))
    elif kind == "member_receipts":
        files, values = member_receipts(cfg, spec["member_id"], receipts)
        parts.attachments.extend(files)
        parts.context.update(values)
    else:
        raise ComposeError(f"outbox row #{row.id}: unknown attachment kind {kind!r}")
    return None


def _resolve_receipt(cfg, row, now, spec, parts: _Parts,
                     receipts: ReceiptSource | None) -> Deferred | None:
    sha = spec["msg_sha256"]
    problem = ""
    try:
        receipt = (receipts.build(sha) if receipts is not None
                   else build_receipt(cfg, sha))
    except LedgerError as exc:
        # Replicas down or a proof that does not check: the member still gets the mail.
        receipt, problem = None, f" ({exc})"
    if receipt is not None:
        data = json.dumps(receipt, ensure_ascii=False, indent=2, sort_keys=True).encode()
        parts.attachments.append((data, "application", "json", f"receipt-{sha[:12]}.json"))
        parts.context["receipt_attached"] = True
        return None
    waited = (to_utc(now) - to_utc(row.created_at)).total_seconds()
    if waited < cfg.outgoing.receipt_wait_seconds:
        recheck = max(5, cfg.schedule.ledger_seconds)
        return Deferred(to_utc(now) + dt.timedelta(seconds=recheck),
                        RECEIPT_WAIT_NOTE + " (quorum not reached yet)" + problem)
    parts.context["receipt_attached"] = False
    parts.notes.append(f"sent without the ledger receipt after {int(waited)} s{problem}")
    return None


def _resolve_file(row, spec, parts: _Parts) -> None:
    path = Path(spec["path"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ComposeError(f"outbox row #{row.id}: attachment {path} cannot be read: "
                           f"{exc.strerror}") from None
    main, _, sub = spec.get("content_type", "application/octet-stream").partition("/")
    parts.attachments.append((data, main, sub, spec.get("filename") or path.name))


# --- MIME structure ----------------------------------------------------------------

def _body(text: str, html: str, parts: _Parts) -> EmailMessage:
    body = EmailMessage(policy=POLICY)
    body.set_content(text, subtype="plain", charset="utf-8")
    body.add_alternative(html, subtype="html", charset="utf-8")
    for data, main, sub, filename in parts.attachments:
        body.add_attachment(data, main, sub, filename=filename)
    return body


def _smime_envelope(body: EmailMessage, row: Outbox) -> EmailMessage:
    member = row.member
    pem = member.certificate if member is not None else None
    if not pem:
        raise ComposeError(f"outbox row #{row.id}: S/MIME was asked for but the member has "
                           "no registered certificate")
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError as exc:
        raise ComposeError(f"outbox row #{row.id}: the member's certificate cannot be "
                           f"read: {exc}") from None
    inner = body.as_bytes(policy=POLICY)
    try:
        der = (pkcs7.PKCS7EnvelopeBuilder().set_data(inner).add_recipient(cert)
               .set_content_encryption_algorithm(algorithms.AES256)
               .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))
    except (TypeError, ValueError) as exc:
        raise ComposeError(f"outbox row #{row.id}: cannot encrypt to the member's "
                           f"certificate: {exc}") from None
    outer = EmailMessage(policy=POLICY)
    outer.set_content(der, "application", "pkcs7-mime", disposition="attachment",
                      filename="smime.p7m",
                      params={"smime-type": "enveloped-data", "name": "smime.p7m"})
    return outer


def _headers(msg: EmailMessage, cfg, row: Outbox, subject: str, recipients: list[str],
             now: dt.datetime, context: dict) -> None:
    try:
        sender = [(one_line(cfg.outgoing.from_name),
                   Address(addr_spec=cfg.outgoing.from_address))]
        if len(recipients) == 1 and row.member is not None:
            # A name stored before names were checked (or by hand) may hold CR/LF.
            to = [(one_line(row.member.display_name), Address(addr_spec=recipients[0]))]
        else:
            to = [("", Address(addr_spec=a)) for a in recipients]
    except (ValueError, IndexError, TypeError) as exc:
        raise ComposeError(f"outbox row #{row.id}: bad address in From ({cfg.outgoing.from_address}) "
                           f"or To ({row.to_addr}): {exc}") from None
    for name, mailboxes in (("From", sender), ("To", to)):
        # The email package's folding only for what ours does not handle.
        msg[name] = _address_header(name, mailboxes) or [
            Address(display_name=d, addr_spec=a.addr_spec) for d, a in mailboxes]
    msg["Subject"] = _subject_header(one_line(subject))
    date = format_datetime(to_utc(now).astimezone(cfg.tz))
    msg["Date"] = FoldedHeader("Date", date, date)
    own_id = message_id_or_none(row.message_id)
    if own_id is None:
        raise ComposeError(f"outbox row #{row.id}: its Message-ID {row.message_id!r} is not "
                           "a usable msg-id (changed in the database?)")
    msg["Message-ID"] = _simple("Message-ID", own_id)
    # The member's Message-ID is a stranger's text: threading is left out when it is not
    # a plain msg-id, never the mail.
    ref = message_id_or_none(context.get("in_reply_to"))
    if ref:
        msg["In-Reply-To"] = _simple("In-Reply-To", ref)
        msg["References"] = _simple("References", ref)
    auto = "auto-replied" if row.template in REPLY_TEMPLATES else "auto-generated"
    msg["Auto-Submitted"] = FoldedHeader("Auto-Submitted", auto, auto)
    language = context.get("language", "ko")
    msg["Content-Language"] = _simple("Content-Language", language)


def _simple(name: str, value: str) -> str:
    """A one-token ASCII value (a Message-ID) as it is; anything odd (spaces, non-ASCII
    from a member's mail) is left to the email package's parser and folder."""
    if _MSG_ID.match(value) or (value.isascii() and value.isalnum()):
        return FoldedHeader(name, value, value)
    return value
