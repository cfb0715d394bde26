"""Parse one raw mail into a ``ParsedMail``: headers, readable text, new text, attachments.

How mail-parser is used, and why not its full ``parse_from_bytes``
------------------------------------------------------------------
mail-parser's full parse alone would cost more than the rest of ingest together and is
slow on large mail (the measured figures are in the README, "How mail is read" and
"Performance"; ``benchmarks/parse_bench.py`` measures them again), so:

* the MIME structure is read by ``mailworker.ingest.mime`` straight from the bytes
  (header block split with one regular expression, multipart bodies split with
  ``bytes.find`` on the boundary, base64 and quoted-printable undone with ``binascii``):
  the cost follows the number of parts, not the number of lines;
* mail-parser stays in the path where it is right: RFC 2047 encoded words
  (``mailparser.utils.decode_header_part``, after Korean charset labels are rewritten to
  cp949 so it does not garble them; the usual base64 shape is decoded directly, with the
  same result) and ``Date`` headers that are not in the plain
  "Tue, 24 Nov 2026 09:00:00 +0900" form (``mailparser.dates.parse_mail_date``, which
  reports bad dates instead of guessing);
* what mail-parser gets wrong for Korean mail is done here: ``ks_c_5601-1987`` /
  ``euc-kr`` / ``x-windows-949`` bodies and RFC 2231 file names decoded as cp949 (it
  garbles them), ISO-2022-KR bodies decoded (it hands back the escape sequences), raw
  8-bit headers read as utf-8 or cp949.

``parse_message`` never raises: a message it cannot read still comes back, with the
problems listed in ``defects``.

Where the time goes is mostly Python's own per-call cost, so the common case takes
shortcuts that give exactly what the general way gives (``tests/test_parse_fast_paths.py``
checks each against it): encoded words, a body without quote markers (a few ``str.find``
calls instead of a look at every line), a member's From:/To: and sign-off lines
remembered from mail to mail, whitespace squashed without splitting into words.
"""
from __future__ import annotations

import email.utils
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache

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
    # Why the sender is not one plain mailbox (several From headers or mailboxes, an
    # address in the display name ...): such mail is never credited. None when clear.
    from_problem: str | None = None
    defects: list[str] = field(default_factory=list)  # problems found while parsing

    def header(self, name: str) -> str:
        """First value of a header ('' if absent)."""
        values = self.headers.get(name.lower())
        return values[0] if values else ""


_MSG_ID = re.compile(r"<([^<>\s]+)>")
_QUOTED_PAIR = re.compile(r"\\(.)")
_BODY_TYPES = ("text/plain", "text/html")
# Parts of delivery and read reports that are machine data, not member attachments.
_REPORT_PARTS = ("message/delivery-status", "message/disposition-notification",
                 "text/rfc822-headers", "message/feedback-report", "message/global-delivery-status",
                 "message/global-headers")
MAX_HTML_CHARS = 300_000
# A header longer than this is cut (and noted): a long References of a long thread fits;
# a 25 MB Subject of encoded words would only cost time.
MAX_HEADER_CHARS = 32_768
_ISO2022_SHIFT = re.compile(r"\x1b\$\)C|[\x0e\x0f]")


def _new(raw: bytes, size: int, sha256: str | None = None) -> ParsedMail:
    return ParsedMail(
        sha256=sha256 or hashlib.sha256(raw).hexdigest(), size=size, message_id=None, from_addr="",
        from_name="", to_addrs=[], subject="", date=None, text="", new_text="",
        quoted_text="", signature="", attachments=[], in_reply_to=None, references=[],
        content_type="text/plain", report_type=None)


def _index_headers(fields: list[tuple[str, str]], defects: list[str]
                   ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(raw text, decoded text) of every header, by lower-case name."""
    raw: dict[str, list[str]] = {}
    decoded: dict[str, list[str]] = {}
    for name, value in fields:
        key = name.lower()
        if len(value) > MAX_HEADER_CHARS:
            defects.append(f"{name[:40]} header over {MAX_HEADER_CHARS:,} characters "
                           f"({len(value):,}): only its beginning was read")
            value = value[:MAX_HEADER_CHARS]
        text = value.strip() if value.isascii() else mime.header_text(value, defects, name)
        readable = text
        if "=?" in text:
            readable, unknown = mime.decode_header_value(text)
            if unknown:
                defects.extend(f"{name} header: unknown charset {charset!r} in an encoded word"
                               for charset in sorted(set(unknown))[:5])
            if not readable.isascii():
                readable, replaced = mime.without_surrogates(readable)
                if replaced:
                    defects.append(f"{name} header: broken characters were replaced")
        if "\x00" in readable:                # PostgreSQL text columns refuse NUL
            defects.append(f"{name} header: NUL characters were replaced")
            readable = readable.replace("\x00", "\ufffd")
        values = raw.get(key)
        if values is None:
            raw[key] = [text]
            decoded[key] = [readable]
        else:
            values.append(text)
            decoded[key].append(readable)
    return raw, decoded


# "Name <a@b>", "\"Name\" <a@b>" and "a@b" cover nearly every From:; the stdlib address
# parser (character by character, many times slower) handles the rest.
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


# The two shortcut patterns backtrack over long runs of blanks (time growing with the
# square of the length, inside one call no time limit can stop): longer values go the
# step-by-step way.
SHORT_ADDRESS = 1000
_ADDR_SPEC = re.compile(r'[^\s<>()\[\],;:@"\\]+@[^\s<>()\[\],;:@"\\]+')


def _structure(value: str) -> str | None:
    """``value`` with quoted text turned to "q" and comments to blanks, same length, so
    commas, colons, angle brackets and "@" left in it are structure (None: unbalanced)."""
    out = []
    quoted = escaped = False
    depth = 0
    for ch in value:
        if escaped:
            out.append("q" if quoted else " ")
            escaped = False
        elif ch == "\\" and (quoted or depth):
            out.append("q" if quoted else " ")
            escaped = True
        elif quoted:
            quoted = ch != '"'
            out.append('"' if not quoted else "q")
        elif depth:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            out.append(" ")
        elif ch == "(":
            depth = 1
            out.append(" ")
        elif ch == '"':
            quoted = True
            out.append('"')
        else:
            out.append(ch)
    return None if quoted or depth else "".join(out)


def single_mailbox(value: str) -> tuple[str, str, str | None]:
    """(display name still encoded, address, problem) of a From: value, read strictly:
    exactly one mailbox, the address only from its addr-spec (never from a display name
    or a comment). ``problem`` says why the value is not one plain mailbox."""
    if len(value) <= SHORT_ADDRESS:
        m = _NAMED_ADDR.fullmatch(value)
        if m:
            return (m.group(1) if m.group(1) is not None else m.group(2)), m.group(3), None
        m = _BARE_ADDR.fullmatch(value)
        if m:
            return "", m.group(1), None
    shape = _structure(value)
    if shape is None:
        return "", "", "From header has an unclosed quote or comment"
    if ":" in shape.split("<", 1)[0]:
        return "", "", "From header is an address group, not one mailbox"
    elements = [part for part in shape.split(",") if part.strip()]
    if len(elements) > 1:
        return "", "", f"From header holds {len(elements)} mailboxes (only one may be credited)"
    if not elements:
        return "", "", "From header has no address"
    if "<" in shape or ">" in shape:
        start, end = shape.find("<"), shape.rfind(">")
        if (shape.count("<") != 1 or shape.count(">") != 1 or end < start
                or shape[end + 1:].strip()):
            return "", "", "From header has more than one or a broken <address>"
        if "@" in shape[:start]:
            return "", "", ("From header's display name holds an address "
                            f"({value[:start].strip()[:80]!r}); the address must be in <>")
        addr = value[start + 1:end].strip()
        name = value[:start].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = _QUOTED_PAIR.sub(r"\1", name[1:-1])
    else:
        addr, name = shape.strip(), ""     # comments blanked out; quotes fail the check
    if not _ADDR_SPEC.fullmatch(addr):
        return "", "", f"From header has no usable address: {value[:80]!r}"
    return name, addr, None


def parse_mailbox(value: str) -> tuple[str, str]:
    """(display name still encoded, address) of one mailbox; ('', '') if none."""
    name, addr, problem = single_mailbox(value)
    return ("", "") if problem else (name, addr)


@lru_cache(maxsize=4096)   # a member writes from the same address and name every time
def _sender(raw_from: str) -> tuple[str, str, str | None]:
    """(lower-case address, decoded display name, problem) of a From: value."""
    name, addr, problem = single_mailbox(raw_from)
    if problem:
        return "", "", problem
    addr = addr.strip()
    if "@" in addr and " " not in addr and addr.isprintable():
        name = mime.decode_words(name) if name else ""
        return addr.lower(), clean_header_value(name), None
    return "", "", f"From header has no usable address: {raw_from[:80]!r}"


@lru_cache(maxsize=1024)   # nearly all mail is to the group's address
def _recipients(value: str) -> tuple[str, ...]:
    """Lower-case addresses of one To: value."""
    short = len(value) <= SHORT_ADDRESS
    bare = _BARE_ADDR.fullmatch(value) if short else None
    named = None if bare or not short else _NAMED_ADDR.fullmatch(value)
    if bare:
        addresses = [bare.group(1)]
    elif named:
        addresses = [named.group(3)]
    else:
        addresses = [a for _, a in email.utils.getaddresses([value])]
    return tuple(a.lower() for a in addresses if "@" in a and a.isprintable())


# Control characters (C0, DEL, C1) and the Unicode line breaks: none may reach a stored
# value that later goes into an outgoing header (a CR/LF there would add headers).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NOT_IN_ID = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029<>]|\s")


def clean_header_value(text: str) -> str:
    """A decoded header text on one line: controls (and lone surrogates, which no
    database takes) become blanks, blanks are squashed."""
    if text.isprintable():
        return text.strip()
    return " ".join(_CONTROL.sub(" ", text).split())


def clean_message_id(text: str) -> str | None:
    """A message id without <>, controls or blanks (None when nothing is left)."""
    return _NOT_IN_ID.sub("", text) or None


def _fill_headers(mail: ParsedMail, fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Set the header-derived fields; return the raw header texts by lower-case name."""
    raw, h = _index_headers(fields, mail.defects)
    mail.headers = h

    if "from" not in raw:
        mail.defects.append("From header is missing")
    else:
        mail.from_addr, mail.from_name, problem = _sender(raw["from"][0])
        if len(raw["from"]) > 1:
            problem = f"the message has {len(raw['from'])} From headers (only one is allowed)"
        if problem:
            mail.from_problem = problem
            mail.defects.append(problem)

    for value in raw.get("to", ()):
        mail.to_addrs.extend(_recipients(value))

    if "subject" in h:
        mail.subject = clean_header_value(" ".join(h["subject"][0].split()))

    if "message-id" in h:
        value = h["message-id"][0].strip()
        ids = _MSG_ID.findall(value)
        mail.message_id = clean_message_id(ids[0] if ids else value)

    if "in-reply-to" in h:
        ids = _MSG_ID.findall(h["in-reply-to"][0])
        mail.in_reply_to = clean_message_id(ids[0] if ids else h["in-reply-to"][0])
    if "references" in h:
        mail.references = [i for i in map(clean_message_id,
                                          _MSG_ID.findall(" ".join(h["references"]))) if i]

    if "date" in raw:
        mail.date = _parse_date(raw["date"][0], mail.defects)
    return raw


# "Tue, 24 Nov 2026 09:00:00 +0900 (KST)": what nearly every mail program writes. Anything
# else (obsolete syntax, named zones, comments elsewhere) goes to mail-parser's reader.
_PLAIN_DATE = re.compile(r"(?:[A-Z][a-z]{2}, ?)?(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) "
                         r"(\d\d):(\d\d)(?::(\d\d))? ([+-])(\d\d)([0-5]\d)(?: \([\w +:-]{1,20}\))?")
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_ZONE_OFFSETS: dict[str, timedelta] = {}    # "+0900" -> timedelta(hours=9), filled as seen


def _parse_date(value: str, defects: list[str]) -> datetime | None:
    m = _PLAIN_DATE.fullmatch(value)
    month = _MONTHS.get(m.group(2)) if m else None
    if month:
        day, _, year, hour, minute, second, sign, zh, zm = m.groups()
        try:   # tzinfo given by position: parsing keyword arguments costs half the call
            local = datetime(int(year), month, int(day), int(hour), int(minute),
                             int(second or 0), 0, timezone.utc)
        except ValueError:          # 31 Feb, second 60 ...: let mail-parser judge it
            pass
        else:
            offset = _ZONE_OFFSETS.get(sign + zh + zm)
            if offset is None:          # a new timedelta per message adds up: keep the few zones seen
                offset = timedelta(hours=int(zh), minutes=int(zm))
                offset = _ZONE_OFFSETS.setdefault(sign + zh + zm,
                                                  offset if sign == "+" else -offset)
            return local - offset
    result = parse_mail_date(value)
    if result.value is None:
        defects.append(f"Date header could not be read ({', '.join(result.reasons)}): "
                       f"{value[:60]!r}")
    return result.value


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
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            text = text.replace("\r", "\n")
    if "\x1b" in text or "\x0e" in text:
        text = _ISO2022_SHIFT.sub("", text)   # an undeclared or broken ISO-2022-KR remnant
    if "\x00" in text:                        # PostgreSQL text columns refuse NUL
        defects.append(f"{leaf.where}: NUL characters in the text were replaced")
        text = text.replace("\x00", "\ufffd")
    return text


def _fill_body(mail: ParsedMail, raw: dict[str, list[str]], body: bytes) -> None:
    result = mime.MimeResult()
    mime.walk({k: raw[k][0] for k in mime.MIME_FIELDS if k in raw}, body, result)
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
    plain_text = "\n\n".join(t for t in plain if t and not t.isspace())   # no strip() copies
    if plain_text:
        mail.text = plain_text.strip()
    elif html:
        markup = "\n".join(html)
        if len(markup) > MAX_HTML_CHARS:      # html.parser is slow on megabytes of markup; enough is enough
            mail.defects.append(f"HTML body over {MAX_HTML_CHARS:,} characters: text taken "
                                "from its beginning only")
            markup = markup[:MAX_HTML_CHARS]
        mail.text = html_to_text(markup)
    mail.new_text, mail.quoted_text, mail.signature = split_reply(mail.text)


def parse_message(raw: bytes, sha256: str | None = None) -> ParsedMail:
    """Parse raw RFC 5322 bytes. Never raises; problems are listed in ``defects``.
    ``sha256``: the hex SHA-256 of ``raw`` when the caller has it already."""
    mail = _new(raw, len(raw), sha256)
    if not raw or raw.isspace():
        mail.defects.append("message is empty")
        return mail
    try:
        block = mime.split_header_block(raw)
        mail.defects.extend(block.defects)
        raw_headers = _fill_headers(mail, block.fields)
        _fill_body(mail, raw_headers, block.body)
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


def squash_spaces(text: str) -> str:
    """``" ".join(text.split())``, without cutting the text into a list of words."""
    flat = text.replace("\n", " ")
    # Printable means the only whitespace left is " " (tabs, NBSP, other separators and
    # controls are not printable); anything else goes the general way.
    if not flat.isprintable():
        return " ".join(text.split())
    while "  " in flat:
        flat = flat.replace("  ", " ")
    return flat.strip(" ")


# classify() may case-fold the new text of the mail in hand more than once: the last
# result is kept, keyed by the very string object (never stale).
_last_fold: tuple[str, str] = ("", "")


def casefolded(text: str) -> str:
    """``text.casefold()``, computed once for the same string object twice in a row."""
    global _last_fold
    last = _last_fold
    if last[0] is text:
        return last[1]
    folded = text.casefold()
    _last_fold = (text, folded)
    return folded
