"""Parse one raw mail into a ``ParsedMail``: headers, readable text, new text, attachments.

How mail-parser is used, and why not its full ``parse_from_bytes``
------------------------------------------------------------------
Measured on this machine (Python 3.11, one core) for a 2.8 KB Korean text mail:
``mailparser.parse_from_bytes`` 455-530 µs, the stdlib ``email.message_from_bytes`` it
wraps 60-75 µs, and for a 1.3 MB mail with a screenshot both take about 33 ms. The
ingest target (>= 25 % of raw IMAP FETCH, ~4,500 msg/s end to end for 2 KB mail, and
>= 50 % of raw MB/s for 1 MB mail) leaves well under 100 µs for parse + classify, so:

* the MIME structure is read by ``mailworker.ingest.mime`` straight from the bytes
  (header lines split once, multipart split with ``bytes.find`` on the boundary, base64
  and quoted-printable undone with ``binascii``);
* mail-parser stays in the path for encoded words (``decode_header_part``, after Korean
  charset labels are rewritten to cp949 so it does not garble them) and for the
  ``Date`` header (``mailparser.dates.parse_mail_date``, which reports bad dates instead of
  guessing);
* what mail-parser gets wrong for Korean mail is done here: ``ks_c_5601-1987`` /
  ``euc-kr`` / ``x-windows-949`` bodies and RFC 2231 file names decoded as cp949,
  ISO-2022-KR bodies decoded (mail-parser hands back the escape sequences), raw 8-bit
  headers read as utf-8 or cp949.

``benchmarks/parse_bench.py`` prints the current numbers next to mail-parser's.

``parse_message`` never raises: a message it cannot read still comes back, with the
problems listed in ``defects``.
"""
from __future__ import annotations

import email.utils
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from mailparser.dates import parse_mail_date

from . import mime
from .bodytext import html_to_text, split_reply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attachment:
    name: str
    size: int
    sha256: str
    content_type: str


@dataclass
class ParsedMail:
    sha256: str                 # hex SHA-256 of the raw bytes
    size: int                   # len(raw)
    message_id: str | None      # without <>, stripped; None if absent
    from_addr: str              # lower-cased addr-spec, '' if none/unparseable
    from_name: str              # decoded display name
    to_addrs: list[str]         # addresses of the To: header(s)
    subject: str                # decoded (encoded-words, Korean charsets)
    date: datetime | None       # aware UTC, None if absent/bad
    text: str                   # whole readable body (text/plain, or HTML turned into text)
    new_text: str               # text with quoted replies and signature removed
    quoted_text: str
    signature: str
    attachments: list[Attachment]
    in_reply_to: str | None     # without <>
    references: list[str]
    content_type: str           # top-level, lower-case e.g. 'multipart/report'
    report_type: str | None     # report-type param of multipart/report, lower-case
    headers: dict[str, list[str]] = field(default_factory=dict)  # lower-case name -> values
    defects: list[str] = field(default_factory=list)  # problems found while parsing

    def header(self, name: str) -> str:
        """First value of a header ('' if absent)."""
        values = self.headers.get(name.lower())
        return values[0] if values else ""


_MSG_ID = re.compile(r"<([^<>\s]+)>")
_BODY_TYPES = ("text/plain", "text/html")
# Parts of delivery and read reports that are machine data, not member attachments.
_REPORT_PARTS = ("message/delivery-status", "message/disposition-notification",
                 "text/rfc822-headers", "message/feedback-report", "message/global-delivery-status",
                 "message/global-headers")
_ISO2022_SHIFT = re.compile(r"\x1b\$\)C|[\x0e\x0f]")


def _new(raw: bytes, size: int) -> ParsedMail:
    return ParsedMail(
        sha256=hashlib.sha256(raw).hexdigest(), size=size, message_id=None, from_addr="",
        from_name="", to_addrs=[], subject="", date=None, text="", new_text="",
        quoted_text="", signature="", attachments=[], in_reply_to=None, references=[],
        content_type="text/plain", report_type=None)


def _index_headers(fields: list[tuple[str, str]]) -> tuple[dict[str, list[str]],
                                                          dict[str, list[str]]]:
    """(raw text, decoded text) of every header, by lower-case name."""
    raw: dict[str, list[str]] = {}
    decoded: dict[str, list[str]] = {}
    for name, value in fields:
        key = name.lower()
        text = mime.header_text(value)
        raw.setdefault(key, []).append(text)
        decoded.setdefault(key, []).append(mime.decode_words(text) if "=?" in text else text)
    return raw, decoded


# "Name <a@b>", "\"Name\" <a@b>" and "a@b" cover nearly every From:; the stdlib address
# parser (25 µs, character by character) handles the rest.
_ADDR = r'[^<>\s"(),;:@\\\[\]]+@[^<>\s"(),;:@\\\[\]]+'
_NAMED_ADDR = re.compile(r'\s*(?:"([^"\\]*)"|([^"<>,;:@\\]*?))\s*<(' + _ADDR + r')>\s*')
_BARE_ADDR = re.compile(r"\s*(" + _ADDR + r")\s*")


def parse_mailbox(value: str) -> tuple[str, str]:
    """(display name still encoded, address) of one mailbox; ('', '') if none."""
    m = _NAMED_ADDR.fullmatch(value)
    if m:
        return (m.group(1) if m.group(1) is not None else m.group(2)), m.group(3)
    m = _BARE_ADDR.fullmatch(value)
    if m:
        return "", m.group(1)
    return email.utils.parseaddr(value)


def _fill_headers(mail: ParsedMail, fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Set the header-derived fields; return the raw header texts by lower-case name."""
    raw, h = _index_headers(fields)
    mail.headers = h

    if "from" not in raw:
        mail.defects.append("From header is missing")
    else:
        raw_from = raw["from"][0]
        name, addr = parse_mailbox(raw_from)
        if "@" in addr and " " not in addr.strip():
            mail.from_addr = addr.strip().lower()
            mail.from_name = " ".join(mime.decode_words(name).split()) if name else ""
        else:
            mail.defects.append(f"From header has no usable address: {raw_from[:80]!r}")

    for value in raw.get("to", ()):
        if _BARE_ADDR.fullmatch(value) or _NAMED_ADDR.fullmatch(value):
            mail.to_addrs.append(parse_mailbox(value)[1].lower())
        else:
            mail.to_addrs.extend(a.lower() for _, a in email.utils.getaddresses([value])
                                 if "@" in a)

    if "subject" in h:
        mail.subject = " ".join(h["subject"][0].split())

    if "message-id" in h:
        value = h["message-id"][0].strip()
        ids = _MSG_ID.findall(value)
        mail.message_id = ids[0] if ids else (value.strip("<> ") or None)

    if "in-reply-to" in h:
        ids = _MSG_ID.findall(h["in-reply-to"][0])
        mail.in_reply_to = ids[0] if ids else (h["in-reply-to"][0].strip("<> ") or None)
    if "references" in h:
        mail.references = _MSG_ID.findall(" ".join(h["references"]))

    if "date" in raw:
        result = parse_mail_date(raw["date"][0])
        mail.date = result.value
        if result.value is None:
            mail.defects.append(f"Date header could not be read ({', '.join(result.reasons)}): "
                                f"{raw['date'][0][:60]!r}")
    return raw


def _set_content_type(mail: ParsedMail, ctype: str, params: dict[str, str]) -> None:
    if "/" in ctype:
        mail.content_type = ctype
    report_type = params.get("report-type")
    mail.report_type = report_type.lower() if report_type else None


def _decode_text(leaf: mime.Leaf, defects: list[str]) -> str:
    payload = leaf.payload
    charset = leaf.charset
    # ISO-2022-KR is 7-bit: its escape sequences pass any ASCII check, so look for them.
    if (charset and mime.python_codec(charset) == "iso2022_kr") or (
            not charset and b"\x1b$)C" in payload):
        charset = "iso-2022-kr"
    text, defect = mime.decode_bytes(payload, charset, f"{leaf.where} ({leaf.content_type})")
    if defect:
        defects.append(defect)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x1b" in text or "\x0e" in text:
        text = _ISO2022_SHIFT.sub("", text)   # an undeclared or broken ISO-2022-KR remnant
    return text


def _fill_body(mail: ParsedMail, fields: list[tuple[str, str]], body: bytes) -> None:
    result = mime.MimeResult()
    mime.walk(fields, body, result)
    _set_content_type(mail, result.content_type, result.params)
    mail.defects.extend(result.defects)
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    for leaf in result.leaves:
        ctype = leaf.content_type
        named = bool(leaf.filename)
        if ctype in _BODY_TYPES and leaf.disposition != "attachment" and (
                not named or leaf.disposition == "inline"):
            text = _decode_text(leaf, mail.defects)
            (plain if ctype == "text/plain" else html).append(text)
        elif ctype in _REPORT_PARTS and not named:
            continue
        else:
            name = leaf.filename or mime.unnamed(ctype, len(attachments) + 1)
            attachments.append(Attachment(name=name, size=len(leaf.payload),
                                          sha256=hashlib.sha256(leaf.payload).hexdigest(),
                                          content_type=ctype))
    mail.attachments = attachments
    plain_text = "\n\n".join(t for t in plain if t.strip())
    if plain_text:
        mail.text = plain_text.strip()
    elif html:
        mail.text = "\n\n".join(html_to_text(t) for t in html).strip()
    mail.new_text, mail.quoted_text, mail.signature = split_reply(mail.text)


def parse_message(raw: bytes) -> ParsedMail:
    """Parse raw RFC 5322 bytes. Never raises; problems are listed in ``defects``."""
    mail = _new(raw, len(raw))
    if not raw.strip():
        mail.defects.append("message is empty")
        return mail
    try:
        block = mime.split_header_block(raw)
        mail.defects.extend(block.defects)
        _fill_headers(mail, block.fields)
        _fill_body(mail, block.fields, block.body)
    except Exception as exc:  # noqa: BLE001 - bad input must never stop the worker
        # A message that trips a bug here is still recorded (as triage, via the defect);
        # the traceback goes to the log so the bug can be fixed.
        log.exception("parser failed on message %s", mail.sha256)
        mail.defects.append(f"parser failed: {type(exc).__name__}: {exc}")
    return mail


def parse_headers_only(raw_headers: bytes, size: int) -> ParsedMail:
    """Parse just the header block of a message too large to download (text stays '')."""
    mail = _new(raw_headers, size)
    try:
        block = mime.split_header_block(raw_headers)
        raw = _fill_headers(mail, block.fields)
        _set_content_type(mail, *mime.parse_params(raw.get("content-type", [""])[0]))
    except Exception as exc:  # noqa: BLE001 - see parse_message
        log.exception("header parser failed on message %s", mail.sha256)
        mail.defects.append(f"parser failed: {type(exc).__name__}: {exc}")
    mail.defects.append(f"only the headers were read: the message is {size:,} bytes")
    return mail


def body_fingerprint(new_text: str) -> str:
    """SHA-256 hex of the new text with case and whitespace differences removed."""
    norm = " ".join(unicodedata.normalize("NFKC", new_text).casefold().split())
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()
