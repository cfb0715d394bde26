"""MIME structure read straight from the bytes: header block, multipart split, decoding.

Why not ``email.message_from_bytes``: the stdlib feed parser walks the message line by
line in Python, so a large mail costs in proportion to its lines, and mail-parser adds
its own pass on top (the figures are in the README: "How mail is read"). Here headers are split with one pass
over the header lines and multipart bodies with ``bytes.find`` on the boundary, so the
cost follows the number of parts, not the number of lines. mail-parser stays in the
path for what it does well: RFC 2047 encoded words
(``mailparser.utils.decode_header_part``), after we rewrite Korean charset labels so
it does not garble them. The usual shape of an encoded subject or name (base64 words
in utf-8 or cp949) is decoded directly, step for step as mail-parser would
(``_decode_b_words``; ``tests/test_parse_fast_paths.py`` holds the two to the same
answer).

Nothing here raises on bad input: every problem becomes a human-readable defect
string, and the caller decides what a defect means.
"""
from __future__ import annotations

import binascii
import codecs
import email.message
import logging
import mimetypes
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from functools import lru_cache

from mailparser.utils import decode_header_part

# mail-parser logs a header it cannot decode, text and all, at ERROR: that is a member's
# name or subject in the log. The text is kept as it came instead (which is all it does).
logging.getLogger("mailparser.utils").setLevel(logging.CRITICAL)

# Labels Korean mailers put on what is really cp949 (a superset of EUC-KR).
# Python maps ks_c_5601-1987 to strict euc_kr, which fails on cp949-only syllables
# such as 똠 and then mail-parser falls back to utf-8 "ignore": the text is garbled.
KOREAN_CHARSETS = frozenset({
    "ks_c_5601-1987", "ks_c_5601_1987", "ks_c_5601", "ks_c_5601-1989", "ksc5601",
    "ksc_5601", "ks_x_1001", "euc-kr", "euc_kr", "euckr", "x-euc-kr", "cp949", "ms949",
    "windows-949", "x-windows-949", "uhc", "x-uhc", "korean",
})

# When a part declares no charset (or a wrong one) we try these, in order.
FALLBACK_CODECS = ("utf-8", "cp949")

MAX_DEPTH = 30          # multipart nesting we follow; deeper is reported, not parsed
MAX_PARTS = 500         # parts per message we look at
MAX_FIELDS = 1000       # header fields per entity we keep (Postfix allows ~100 KB of headers)

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t]+(?==\?)")
_PARAM = re.compile(r';\s*([^\s=;"]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')
_QUOTED_PAIR = re.compile(r"\\(.)")


@lru_cache(maxsize=512)
def python_codec(label: str) -> str | None:
    """The Python codec for a MIME charset label, or None when unknown."""
    key = label.strip().strip('"').lower()
    if key in KOREAN_CHARSETS:
        return "cp949"
    if key in ("", "unknown-8bit", "x-unknown", "unknown"):
        return None
    try:
        info = codecs.lookup(key)
    except (LookupError, ValueError):   # ValueError: a label with a NUL byte in it
        return None
    # Python also has codecs that are not text encodings (base64, zlib, hex, rot13, uu,
    # bz2 ...) or that read escapes and domain names, not text: as a mail's charset they
    # are unknown, never run.
    if not info._is_text_encoding or info.name in NOT_CHARSETS:
        return None
    return info.name


NOT_CHARSETS = frozenset({"punycode", "idna", "unicode-escape", "raw-unicode-escape",
                          "undefined", "charmap", "utf-8-sig"})
_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> tuple[str, bool]:
    """UTF-7 (and only such odd codecs) can decode to lone surrogates, which no database
    or encoder takes: they become U+FFFD. (text, whether any were replaced)"""
    cleaned = _SURROGATE.sub("\ufffd", text)
    return cleaned, cleaned is not text and cleaned != text


def decode_bytes(data: bytes, label: str | None, where: str) -> tuple[str, str | None]:
    """Decode text bytes with the declared charset, else utf-8, else cp949.

    Returns (text, defect). A defect starting with "guessed charset" means the text was
    recovered intact; any other defect means characters were replaced.
    """
    if not data:
        return "", None
    codec = python_codec(label) if label else None
    if codec is not None:
        try:
            text = data.decode(codec)
        except UnicodeError:
            pass
        else:
            if codec == "utf-7":
                text, replaced = without_surrogates(text)
                if replaced:
                    return text, (f"{where}: UTF-7 text with broken characters; they were "
                                  "replaced")
            return text, None
    if data.isascii():
        return data.decode("ascii"), None
    for candidate in FALLBACK_CODECS:
        if candidate == codec:
            continue
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError:
            continue
        if label:
            why = f"declared {label!r} does not fit" if codec else f"unknown charset {label!r}"
        else:
            why = "no charset declared"
        return text, f"guessed charset {candidate} for {where} ({why})"
    text = data.decode(codec or "utf-8", "replace")
    if codec == "utf-7":
        text = without_surrogates(text)[0]
    declared = f"declared {label!r}" if label else "no charset declared"
    return text, (f"{where}: bytes are not valid text in any known charset ({declared}); "
                  "unreadable characters were replaced")


def header_text(value: str, defects: list[str] | None = None, name: str = "") -> str:
    """A header value from ``split_header_block`` (latin-1 text) to real text: ASCII as
    is, raw 8-bit bytes read as utf-8, else cp949; otherwise replaced (and a defect)."""
    if value.isascii():
        return value.strip()
    data = value.encode("latin-1")
    for candidate in FALLBACK_CODECS:
        try:
            return data.decode(candidate).strip()
        except UnicodeDecodeError:
            continue
    if defects is not None:
        defects.append(f"{name or 'a'} header: raw bytes are neither utf-8 nor cp949; "
                       "unreadable characters were replaced")
    return data.decode("utf-8", "replace").strip()


def _relabel(match: re.Match) -> str:
    charset = match.group(1).split("*", 1)[0]      # RFC 2231 language suffix: utf-8*ko
    codec = python_codec(charset) or "utf-8"
    return f"=?{codec}?{match.group(2)}?{match.group(3)}?="


def unknown_word_charsets(text: str) -> tuple[str, ...]:
    """Charsets of RFC 2047 encoded words in ``text`` that we cannot decode."""
    return tuple(m.group(1) for m in _ENCODED_WORD.finditer(text)
                 if python_codec(m.group(1).split("*", 1)[0]) is None)


# What Gmail, Outlook and Naver write for a Korean subject or name: base64 words in one
# charset, blank-separated, plain printable ASCII (no "=") around them, on one line.
_B_WORDS = re.compile(r"([\t -<>-~]*?)(=\?[\w.:-]+\?[Bb]\?[A-Za-z0-9+/]*=*\?="
                      r"(?:[ \t]*=\?[\w.:-]+\?[Bb]\?[A-Za-z0-9+/]*=*\?=)*)([\t -<>-~]*)", re.A)
_B_WORD = re.compile(r"=\?([\w.:-]+)\?[Bb]\?([A-Za-z0-9+/]*=*)\?=", re.A)


def _decode_b_words(text: str) -> tuple[str, tuple[str, ...]] | None:
    """(``decode_words``, ``unknown_word_charsets``) of the shape above, done directly (it
    costs three times as much through ``email.header``); None for anything else. Step by
    step what ``email.header`` and mail-parser do there: words of one charset are joined
    as bytes before decoding, the blanks between them dropped, the text around kept; the
    decoded text is NFC-normalised, read as utf-8 ignoring errors if the charset does not
    fit (an unknown one is read as utf-8), and the result stripped."""
    m = _B_WORDS.fullmatch(text)
    if m is None:
        return None
    before, words, after = m.groups()
    codec = None
    data = b""
    unknown: list[str] = []
    for label, payload in _B_WORD.findall(words):
        word_codec = python_codec(label)
        if word_codec is None:
            unknown.append(label)
            word_codec = "utf-8"
        if codec is not None and word_codec != codec:
            return None          # words in different charsets are decoded one by one
        codec = word_codec
        if len(payload) % 4:     # Postel's law, as email.header: add missing padding
            payload += "==="[:4 - len(payload) % 4]
        try:
            data += binascii.a2b_base64(payload)
        except binascii.Error:
            return None          # the general path reports it
    if codec not in ("utf-8", "cp949"):
        return None
    try:
        decoded = data.decode(codec)
    except UnicodeDecodeError:
        decoded = data.decode("utf-8", "ignore")
    readable = (before.lstrip() + unicodedata.normalize("NFC", decoded) + after).strip()
    return readable, tuple(unknown)


@lru_cache(maxsize=4096)   # members' names repeat from mail to mail
def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words (Korean labels read as cp949)."""
    if "=?" not in text:
        return text
    fast = _decode_b_words(text) if text.isascii() else None
    return fast[0] if fast else _decode_words_with_mailparser(text)


@lru_cache(maxsize=4096)   # a member's From: header is the same in every mail
def decode_header_value(text: str) -> tuple[str, tuple[str, ...]]:
    """(``decode_words(text)``, ``unknown_word_charsets(text)``), at once when it can."""
    if text.count("=?") > MANY_WORDS:
        return decode_many_words(text), unknown_word_charsets(text)
    fast = _decode_b_words(text) if text.isascii() else None
    return fast or (decode_words(text), unknown_word_charsets(text))


# The stdlib's decode_header (under mail-parser) takes time growing with the square of the
# number of encoded words (tens of thousands of words take seconds); past this many,
# decode_many_words.
MANY_WORDS = 64


def decode_many_words(text: str) -> str:
    """RFC 2047 decoding in one pass: what decode_words gives, in time linear in the
    length. Blanks between two encoded words are dropped, the bytes of neighbouring
    words in one charset are joined before decoding (a character may be split between
    them), an unknown charset is read as utf-8, and what cannot be read is replaced."""
    out: list[str] = []
    codec: str | None = None
    pending = bytearray()
    pos = 0
    previous_was_word = False

    def flush() -> None:
        nonlocal codec
        if codec is not None:
            try:
                out.append(bytes(pending).decode(codec, "replace"))
            except (LookupError, UnicodeError):
                out.append(bytes(pending).decode("utf-8", "replace"))
            pending.clear()
            codec = None

    for m in _ENCODED_WORD.finditer(text):
        between = text[pos:m.start()]
        if between and not (previous_was_word and not between.strip(" \t\r\n")):
            flush()
            out.append(between)
        label, kind, payload = m.groups()
        word_codec = python_codec(label.split("*", 1)[0]) or "utf-8"
        ascii_payload = payload.encode("ascii", "replace")     # raw 8-bit inside a word
        if kind in "Bb":
            ascii_payload += b"==="[:(4 - len(ascii_payload) % 4) % 4]
            try:
                data = binascii.a2b_base64(ascii_payload)
            except binascii.Error:
                data = ascii_payload
        else:
            data = binascii.a2b_qp(ascii_payload.replace(b"_", b" "))
        if word_codec != codec:
            flush()
            codec = word_codec
        pending.extend(data)
        pos = m.end()
        previous_was_word = True
    flush()
    out.append(text[pos:])
    return unicodedata.normalize("NFC", "".join(out)).strip()


def _decode_words_with_mailparser(text: str) -> str:
    """The general way: any mix of words, charsets and raw text, through mail-parser."""
    relabelled = _ENCODED_WORD.sub(_relabel, text)
    if relabelled.isascii():
        return decode_header_part(relabelled)
    # Raw 8-bit text mixed with encoded words: decode word by word so the raw part
    # is not pushed through the encoded-word machinery (which assumes ASCII).
    relabelled = _BETWEEN_WORDS.sub(r"\1", relabelled)
    return _ENCODED_WORD.sub(lambda m: decode_header_part(m.group(0)), relabelled).strip()


@dataclass
class HeaderBlock:
    # (name as written, unfolded value). Values are latin-1 text, one character per
    # byte, so raw 8-bit bytes survive until ``header_text`` decodes them properly.
    fields: list[tuple[str, str]]
    body: bytes
    defects: list[str] = field(default_factory=list)


_HEADER_END = re.compile(rb"\n\r?\n")
# One field: printable name, colon, value, continuation lines (CRLF or LF + space/tab).
_FIELD = re.compile(r"^([\x21-\x39\x3b-\x7e]+)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)", re.M)


def _unfold(value: str) -> str:
    if "\n" in value:
        value = value.replace("\r\n", "").replace("\n", "")
    return value[:-1] if value.endswith("\r") else value


def _valid_name(name: str) -> bool:
    return bool(name) and name.isascii() and name.isprintable() and " " not in name


def split_header_block(raw: bytes, where: str = "message") -> HeaderBlock:
    """Split header fields from the body the way RFC 5322 (and the stdlib) does.

    A line that is neither a header nor a continuation ends the header block and starts
    the body, with a defect (the stdlib's MissingHeaderBodySeparatorDefect).
    """
    start = 0
    if raw.startswith(b"From "):                     # mbox envelope line
        nl = raw.find(b"\n")
        start = len(raw) if nl < 0 else nl + 1
    if raw.startswith(b"\n", start) or raw.startswith(b"\r\n", start):
        return HeaderBlock([], raw[raw.find(b"\n", start) + 1:])
    end = _HEADER_END.search(raw, start)
    if end is None:
        head, body = raw[start:], b""
    else:
        head, body = raw[start:end.start()], raw[end.end():]
    text = head.decode("latin-1")
    # Fast path: one regex pass. Every line that is not a continuation must have started a
    # field; if one did not, the slow path finds it and says which.
    lf_text = text.replace("\r\n", "\n") if "\r" in text else text
    if lf_text.find("\r") == len(lf_text) - 1:
        # The only CR left ends the last line (the block ends at "\n\r\n"): dropping it
        # here is what unfolding that value would do, for all values at once.
        lf_text = lf_text[:-1]
    found = _FIELD.findall(lf_text)
    lines = 1 + lf_text.count("\n")
    # As many fields as lines: no continuation lines, no stray line (the usual case).
    folds = 0 if len(found) == lines else lf_text.count("\n ") + lf_text.count("\n\t")
    if len(found) == lines - folds and lf_text[:1] not in (" ", "\t"):
        if "\r" in lf_text:          # a CR not part of a CRLF
            found = [(name, _unfold(value)) if "\n" in value or "\r" in value else (name, value)
                     for name, value in found]
        elif folds:
            found = [(name, value.replace("\n", "")) if "\n" in value else (name, value)
                     for name, value in found]
        return _capped(HeaderBlock(found, body), where)
    return _capped(_split_slowly(raw, text, start, body, where), where)


def _capped(block: HeaderBlock, where: str) -> HeaderBlock:
    if len(block.fields) > MAX_FIELDS:
        block.defects.append(f"{where}: {len(block.fields):,} header fields; only the first "
                             f"{MAX_FIELDS:,} were read")
        del block.fields[MAX_FIELDS:]
    return block


def _split_slowly(raw: bytes, text: str, start: int, body: bytes, where: str) -> HeaderBlock:
    """Line by line, to say exactly which line is wrong."""
    fields: list[list[str]] = []
    defects: list[str] = []
    offset = start
    for line in text.split("\n"):
        line_at = offset
        offset += len(line) + 1
        if line.endswith("\r"):
            line = line[:-1]
        if line[:1] in (" ", "\t"):
            if fields:
                fields[-1][1] += line
            else:
                defects.append(f"{where}: first header line is a continuation line")
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if colon and _valid_name(name):
            fields.append([name, value])
            continue
        if fields:
            defects.append(f"{where}: header block ends at a line that is not a header "
                           "(blank line after the headers missing?)")
        else:
            defects.append(f"{where}: does not start with a header block")
        return HeaderBlock([(f[0], f[1]) for f in fields], raw[line_at:], defects)
    return HeaderBlock([(f[0], f[1].replace("\r", "")) for f in fields], body, defects)


def parse_params(value: str) -> tuple[str, dict[str, str]]:
    """'text/plain; charset="x"' -> ('text/plain', {'charset': 'x'}), with RFC 2231."""
    main, params = _parse_params(value)
    return main, dict(params)        # a copy: the cached one must not change


@lru_cache(maxsize=1024)   # 'text/plain; charset="utf-8"' comes with nearly every mail
def _parse_params(value: str) -> tuple[str, dict[str, str]]:
    main, _, rest = value.partition(";")
    main = main.strip().lower()
    params: dict[str, str] = {}
    if not rest:
        return main, params
    extended = False
    for m in _PARAM.finditer(";" + rest):
        name = m.group(1).lower()
        if m.group(2) is not None:
            val = _QUOTED_PAIR.sub(r"\1", m.group(2))
        else:
            val = m.group(3).strip().strip('"')
        extended = extended or "*" in name
        params.setdefault(name, val)
    if extended:
        _join_rfc2231(params)
    return main, params


def _join_rfc2231(params: dict[str, str]) -> None:
    segments: dict[str, list[tuple[int, bool, str]]] = {}
    for key in [k for k in params if "*" in k]:
        base, _, rest = key.partition("*")
        encoded = rest == "" or rest.endswith("*")
        number = rest.rstrip("*")
        index = int(number) if number.isdigit() else 0
        segments.setdefault(base, []).append((index, encoded, params.pop(key)))
    for base, parts in segments.items():
        parts.sort(key=lambda p: p[0])
        charset, buf = None, bytearray()
        for i, (_, encoded, val) in enumerate(parts):
            if encoded:
                if i == 0 and val.count("'") >= 2:
                    charset, _lang, val = val.split("'", 2)
                buf += urllib.parse.unquote_to_bytes(val)
            else:
                buf += val.encode("utf-8")
        text, _ = decode_bytes(bytes(buf), charset or None, f"parameter {base}")
        params.setdefault(base, text)


def decode_transfer(payload: bytes, cte: str, where: str) -> tuple[bytes, str | None]:
    """Undo Content-Transfer-Encoding. Returns (bytes, defect or None)."""
    if cte in ("", "7bit", "8bit", "binary"):
        return payload, None
    if cte == "base64":
        try:
            return binascii.a2b_base64(payload), None
        except binascii.Error:
            data = re.sub(rb"[^A-Za-z0-9+/]", b"", payload)
            data = data[: len(data) - len(data) % 4]
            return (binascii.a2b_base64(data),
                    f"{where}: damaged base64 (decoded what could be read)")
    if cte == "quoted-printable":
        return binascii.a2b_qp(payload), None
    if cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        msg = email.message.Message()
        msg["Content-Transfer-Encoding"] = "x-uuencode"
        msg.set_payload(payload.decode("ascii", "surrogateescape"))
        return msg.get_payload(decode=True), None
    return payload, (f"{where}: unknown Content-Transfer-Encoding {cte!r}; "
                     "kept the bytes as they are")


@dataclass
class Split:
    parts: list[bytes]
    found: bool          # at least one boundary line
    closed: bool         # the closing boundary line was seen
    truncated: bool      # more than MAX_PARTS parts; the rest were not split


def split_multipart(body: bytes, boundary: str) -> Split:
    """The parts between the boundary lines of a multipart body."""
    delim = b"--" + boundary.encode("utf-8", "surrogateescape")
    starts: list[tuple[int, int]] = []     # (line start, start of next line)
    closed = truncated = False
    search = 0
    while True:
        if len(starts) > MAX_PARTS:
            truncated = True
            break
        if search == 0 and body.startswith(delim):
            at = 0
        else:
            hit = body.find(b"\n" + delim, search)
            if hit < 0:
                break
            at = hit + 1
        after = at + len(delim)
        eol = body.find(b"\n", after)
        line_end = len(body) if eol < 0 else eol
        is_close = body.startswith(b"--", after)
        tail = body[after + (2 if is_close else 0):line_end]
        search = after
        if tail.strip():                  # e.g. boundary "abc" inside line "--abcdef"
            continue
        if is_close:
            starts.append((at, line_end))
            closed = True
            break
        starts.append((at, line_end + 1))
    if not starts:
        return Split([], False, False, False)
    parts = []
    bounds = starts if closed or truncated else starts + [(len(body) + 1, len(body))]
    for (_, begin), (next_at, _) in zip(bounds, bounds[1:]):
        chunk = body[begin:max(begin, next_at - 1)]   # the newline before a delimiter is its own
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
        parts.append(chunk)
    return Split(parts, True, closed, truncated)


@dataclass
class Leaf:
    """One non-multipart part, transfer-decoded."""
    content_type: str
    disposition: str          # '', 'inline' or 'attachment'
    filename: str
    charset: str | None
    payload: bytes
    where: str


@dataclass
class MimeResult:
    leaves: list[Leaf] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    content_type: str = "text/plain"            # of the top-level entity
    params: dict[str, str] = field(default_factory=dict)


MIME_FIELDS = ("content-type", "content-disposition", "content-transfer-encoding")


def mime_fields(fields: list[tuple[str, str]]) -> dict[str, str]:
    """The MIME headers of an entity (first of each), by lower-case name."""
    found: dict[str, str] = {}
    for name, value in fields:
        key = name.lower()
        if key in MIME_FIELDS and key not in found:
            found[key] = header_text(value)
    return found


def walk(mime: dict[str, str], body: bytes, result: MimeResult,
         default_type: str = "text/plain", path: str = "1", depth: int = 0) -> None:
    """Collect the leaves of one entity (recursing into multiparts) into ``result``.
    ``mime`` holds the entity's MIME headers as ``mime_fields`` returns them."""
    where = "message body" if path == "1" else f"part {path}"
    ctype, params = parse_params(mime.get("content-type", ""))
    if "/" not in ctype:
        if ctype:
            result.defects.append(f"{where}: invalid Content-Type {ctype!r}; "
                                  f"read as {default_type}")
        ctype, params = default_type, ({} if ctype else params)
    if depth == 0:
        result.content_type, result.params = ctype, params
    if ctype.startswith("multipart/"):
        boundary = params.get("boundary", "")
        if not boundary:
            result.defects.append(f"{where}: {ctype} without a boundary; read as text")
            ctype = "text/plain"
        elif depth >= MAX_DEPTH:
            result.defects.append(f"{where}: nested deeper than {MAX_DEPTH} levels; not read")
            return
        else:
            split = split_multipart(body, boundary)
            if not split.found:
                result.defects.append(f"{where}: {ctype} boundary never appears; read as text")
                ctype = "text/plain"
            elif not split.parts:
                result.defects.append(f"{where}: {ctype} has no parts")
                return
            else:
                if split.truncated:
                    result.defects.append(f"{where}: more than {MAX_PARTS} parts; "
                                          "the rest were skipped")
                elif not split.closed:
                    result.defects.append(f"{where}: {ctype} has no closing boundary "
                                          "(message cut off?)")
                child_default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
                for i, chunk in enumerate(split.parts, 1):
                    if len(result.leaves) >= MAX_PARTS:
                        result.defects.append(f"{where}: more than {MAX_PARTS} parts; rest skipped")
                        return
                    sub_path = f"{path}.{i}"
                    block = split_header_block(chunk, f"part {sub_path}")
                    # A part may legally have no headers at all: body only, after a blank line.
                    result.defects.extend(d for d in block.defects
                                          if "does not start with a header block" not in d)
                    walk(mime_fields(block.fields), block.body, result, child_default, sub_path,
                         depth + 1)
                return
    disposition = mime.get("content-disposition", "")
    disposition, dparams = parse_params(disposition) if disposition else ("", {})
    filename = dparams.get("filename") or params.get("name") or ""
    if filename:
        filename = decode_words(filename).strip().replace("\x00", "\ufffd")
    cte = mime.get("content-transfer-encoding", "").strip().lower()
    payload, defect = decode_transfer(body, cte, where)
    if defect:
        result.defects.append(defect)
    result.leaves.append(Leaf(ctype, disposition if disposition in ("inline", "attachment") else "",
                              filename, params.get("charset"), payload, where))


def unnamed(content_type: str, index: int) -> str:
    """A stand-in file name for an attachment that has none."""
    ext = mimetypes.guess_extension(content_type, strict=False) or ""
    return f"unnamed-{index}{ext}"
