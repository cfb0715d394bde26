"""Turning one outbox row into the bytes of one mail.

Every mail is multipart/alternative (text + HTML, UTF-8) with RFC 2047 encoded Korean
subjects and names; attachments named in the row are resolved here, when sending:
``ledger_receipt`` (the ledger's receipt as JSON, waiting a while for the quorum),
``file`` (e.g. a member's installer package), ``chart`` (an inline PNG in the HTML part),
``package_password`` (derived now, so the password is never stored), ``smime`` (the whole
content encrypted to the member's registered certificate). The Message-ID is the row's,
fixed at enqueue time, so a resend after a crash is the same message.
"""
from __future__ import annotations

import datetime as dt
import email.header
import email.policy
import json
from dataclasses import dataclass, field
from email.headerregistry import Address
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
from .chart import bar_chart_png
from .templates import Renderer

# 7bit: every text part is base64 or quoted-printable, so any relay accepts it.
POLICY = email.policy.SMTP.clone(cte_type="7bit")

# Replies to a member's own mail are auto-replies in the RFC 3834 sense; the rest is
# generated mail. Both tell vacation responders not to answer us.
REPLY_TEMPLATES = {"ack", "no_credit", "triage_notice", "non_member_reply",
                   "resignation_ack", "rsvp_ack"}


class EncodedHeader(str):
    """A non-ASCII header value folded by ``email.header.Header``.

    The email package's own folder (Python 3.11) drops the space between two encoded
    words when it splits a long Korean subject over lines ("품평 2 · 제안" arrives as
    "품평 2 ·제안"). The policy keeps values that carry a ``name`` as they are and calls
    their ``fold``; ``Header`` keeps every space inside an encoded word.
    """

    def __new__(cls, name: str, value: str):
        obj = str.__new__(cls, value)
        obj.name = name
        return obj

    def fold(self, *, policy) -> str:
        encoded = email.header.Header(str(self), charset="utf-8",
                                      header_name=self.name).encode(linesep=policy.linesep)
        return f"{self.name}: {encoded}{policy.linesep}"


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


@dataclass
class _Parts:
    context: dict
    attachments: list[tuple[bytes, str, str, str]] = field(default_factory=list)
    related: list[tuple[bytes, str, str, str]] = field(default_factory=list)  # data, main, sub, cid
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
        cid = f"chart-{row.id}@{cfg.outgoing.from_address.rsplit('@', 1)[-1]}"
        png = bar_chart_png(spec["values"], spec.get("labels"), spec.get("weekend"),
                            spec.get("width", 600), spec.get("height", 180))
        parts.related.append((png, "image", "png", cid))
        parts.context["chart_cid"] = cid
    elif kind == "package_password":
        from .packages import member_password
        parts.context["password"] = member_password(cfg, spec["version"],
                                                    spec["member_uuid"])
    elif kind == "smime":
        parts.smime = True
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
                        "waiting for the ledger receipt (quorum not reached yet)" + problem)
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
    if parts.related:
        html_part = body.get_body(("html",))
        for data, main, sub, cid in parts.related:
            html_part.add_related(data, main, sub, cid=f"<{cid}>", disposition="inline",
                                  filename=f"{cid.split('@')[0]}.{sub}")
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
        msg["From"] = Address(display_name=cfg.outgoing.from_name,
                              addr_spec=cfg.outgoing.from_address)
        if len(recipients) == 1 and row.member is not None:
            msg["To"] = Address(display_name=row.member.display_name,
                                addr_spec=recipients[0])
        else:
            msg["To"] = [Address(addr_spec=a) for a in recipients]
    except (ValueError, IndexError, TypeError) as exc:
        raise ComposeError(f"outbox row #{row.id}: bad address in From ({cfg.outgoing.from_address}) "
                           f"or To ({row.to_addr}): {exc}") from None
    msg["Subject"] = EncodedHeader("Subject", subject) if not subject.isascii() else subject
    msg["Date"] = format_datetime(to_utc(now).astimezone(cfg.tz))
    msg["Message-ID"] = row.message_id
    reply_to = context.get("in_reply_to")
    if reply_to:
        ref = reply_to if reply_to.startswith("<") else f"<{reply_to}>"
        msg["In-Reply-To"] = ref
        msg["References"] = ref
    msg["Auto-Submitted"] = "auto-replied" if row.template in REPLY_TEMPLATES else "auto-generated"
    msg["Content-Language"] = context.get("language", "ko")
