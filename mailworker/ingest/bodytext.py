"""Readable body text: HTML to text, and the new text set apart from quotes and signature.

Members reply to city notices from Gmail, Naver, Daum and Outlook, in Korean and in
English; each client marks quoted mail differently. The patterns below are data so a
maintainer can add a client's marker without touching the logic.
"""
from __future__ import annotations

import re
from functools import lru_cache
from html.parser import HTMLParser

# --- HTML to text -----------------------------------------------------------------------

_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "dd", "div", "dl", "dt", "fieldset", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "table", "tr", "ul",
})
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template"})
_OPEN_QUOTE, _CLOSE_QUOTE = "\x01", "\x02"   # blockquote markers, turned into "> " below
_SPACES = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping: list[str] = []
        self.pre = 0

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.skipping.clear()       # a <head> that was never closed
        if tag in _SKIP_TAGS:
            self.skipping.append(tag)
            return
        if tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "blockquote":
            self.out.append("\n" + _OPEN_QUOTE)
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")
        if tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag):
        if tag == "li":
            return
        if tag in _SKIP_TAGS:
            if tag in self.skipping:
                del self.skipping[self.skipping.index(tag):]
            return
        if tag == "blockquote":
            self.out.append(_CLOSE_QUOTE + "\n")
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")
        if tag == "pre" and self.pre:
            self.pre -= 1

    def handle_data(self, data):
        if self.skipping:
            return
        self.out.append(data if self.pre else _SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """Readable text from HTML: scripts and styles dropped, blocks on their own lines,
    blockquotes prefixed with "> " so quoted replies are recognised like plain text."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines: list[str] = []
    depth = 0
    for raw_line in "".join(parser.out).split("\n"):
        depth += raw_line.count(_OPEN_QUOTE)
        line = raw_line.replace(_OPEN_QUOTE, "").replace(_CLOSE_QUOTE, "").strip()
        if line:
            lines.append("> " * depth + line)
        elif lines and lines[-1]:
            lines.append("")
        depth = max(0, depth - raw_line.count(_CLOSE_QUOTE))
    return "\n".join(lines).strip()


# --- quoted replies and signatures ------------------------------------------------------

# Patterns are matched case-insensitively against one stripped line; each list is joined
# into one regular expression at import time.

# "On Tue, Nov 10, 2026 at 9:00 AM Staff <x@y> wrote:" (may wrap onto two lines).
# "2026년 11월 10일 (화) 오전 9:00, 사무국 <x@y>님이 작성:" (Gmail, Korean UI).
# These are followed by ">" lines when the client prefixes; otherwise all below is quoted.
ATTRIBUTION_PATTERNS = [
    r"on\b.{0,300}\bwrote\s*:",
    r"(?=.*(?:20\d\d|@|오전|오후|am|pm)).{0,300}(?:작성|쓴 글|보낸 메일)\s*:",
]
# Lines after which everything is quoted (clients that do not prefix with ">").
SEPARATOR_PATTERNS = [
    r"-{2,}\s*(?:original message|원본 메일|원본 메시지|원래 메시지)\s*-{2,}",
    r"-{2,}\s*(?:forwarded message|전달된 메일|전달된 메시지)\s*-{2,}",
    r"(?:begin forwarded message|전달된 메시지)\s*:",
]
# Outlook puts a header block at the top of the quoted mail: a From line, then Sent/To/Subject.
OUTLOOK_FROM = [r"\*?(?:from|보낸 사람|보낸사람|발신|발신자)\s*:"]
OUTLOOK_NEXT = [r"\*?(?:sent|date|to|cc|subject|보낸 날짜|날짜|받는 사람|받는사람|수신|참조|제목)\s*:"]
RULE_LINE = [r"[_\-=]{5,}"]

# Signature closers: a "-- " line, phone footers, and sign-offs near the end.
MOBILE_FOOTERS = [
    r"sent from my \w+.*",
    r"get outlook for \w+.*",
    r"sent from (?:mail|outlook|yahoo mail|samsung).*",
    r".*(?:에서 보냄|에서 보낸 메일|에서 전송)",
]
CLOSER_PATTERNS = [
    r"(?:best regards|kind regards|warm regards|regards|best|thanks|thank you|many thanks|"
    r"cheers|sincerely|yours sincerely|yours truly)\s*[,.!]*",
    r"(?:감사합니다|고맙습니다|수고하세요|수고하십시오|이만 줄입니다)\s*[.!~^]*",
    r".{1,20}\s?(?:드림|올림|배상)\s*[.]?",
]
CLOSER_TAIL_LINES = 4      # name/contact lines allowed after a sign-off
CLOSER_TAIL_WIDTH = 40     # ...each at most this long
SIGNATURE_MAX_LINES = 15   # a "-- " signature longer than this is probably not one
FOOTER_MAX_WIDTH = 60      # "Sent from my iPhone" lines are short


def _line_matcher(patterns: list[str], whole: bool = True):
    """One compiled test for a list of patterns: whole line, or just its start."""
    joined = "|".join(f"(?:{p})" for p in patterns)
    regex = re.compile(joined, re.I)
    return regex.fullmatch if whole else regex.match


_attribution = _line_matcher(ATTRIBUTION_PATTERNS)
_separator = _line_matcher(SEPARATOR_PATTERNS)
_outlook_from = _line_matcher(OUTLOOK_FROM, whole=False)
_outlook_next = _line_matcher(OUTLOOK_NEXT, whole=False)
_rule_line = _line_matcher(RULE_LINE)


def _remembered(patterns: list[str]):
    """A whole-line yes/no test that remembers its answers: sign-offs and phone footers are
    the same from mail to mail ("감사합니다.", "김민준 드림"), and a case-insensitive match
    on Korean text is not cheap."""
    match = _line_matcher(patterns)

    @lru_cache(maxsize=4096)
    def test(line: str) -> bool:
        return match(line) is not None
    return test


_mobile_footer = _remembered(MOBILE_FOOTERS)
_closer = _remembered(CLOSER_PATTERNS)


def _may_have_quote(text: str) -> bool:
    """False when no line can start a quote, so ``_find_quotes`` would find none; checked
    with a few ``str.find`` calls instead of looking at every line.

    Every marker above needs a ">" line, a line ending in ":" or "-" (separators,
    attributions), or an Outlook "From:" line, which has a ":" too.
    """
    if ">" in text:
        return True
    for mark in ":-":
        at = text.find(mark)
        while at >= 0:
            end = text.find("\n", at)
            if end < 0:
                end = len(text)
            stripped = text[text.rfind("\n", 0, at) + 1:end].strip()
            if stripped[-1] in "-:" or (mark == ":" and _outlook_from(stripped)):
                return True
            at = text.find(mark, end)
    return False


def _is_quote_line(line: str) -> bool:
    return line.lstrip(" ").startswith(">")


def _attribution_span(lines: list[str], i: int) -> int:
    """1 or 2 if an attribution line ("... wrote:") starts at i, else 0."""
    line = lines[i].strip()
    if _attribution(line):
        return 1
    if i + 1 < len(lines) and line:
        joined = line + " " + lines[i + 1].strip()
        if _attribution(joined):
            return 2
    return 0


def _outlook_block(lines: list[str], i: int) -> bool:
    if not _outlook_from(lines[i].strip()):
        return False
    following = [ln.strip() for ln in lines[i + 1:i + 7] if ln.strip()]
    return sum(1 for ln in following[:5] if _outlook_next(ln)) >= 2


def _is_separator(stripped: str) -> bool:
    return stripped[-1] in "-:" and _separator(stripped) is not None


def _find_quotes(lines: list[str]) -> tuple[list[bool], int]:
    """Mark ">" lines and attribution lines; return (marks, cut) where all from cut is quoted."""
    quoted = [False] * len(lines)
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        if _is_quote_line(line):
            quoted[i] = True
            i += 1
            continue
        if _is_separator(stripped):
            return quoted, i
        if ":" in stripped[:12] and _outlook_block(lines, i):
            cut = i
            while cut > 0 and (_rule_line(lines[cut - 1].strip()) or not lines[cut - 1].strip()):
                cut -= 1
            return quoted, cut
        if stripped[-1] == ":" or (i + 1 < len(lines) and lines[i + 1].rstrip().endswith(":")):
            span = _attribution_span(lines, i)
            if span:
                after = next((ln for ln in lines[i + span:] if ln.strip()), "")
                if not _is_quote_line(after):
                    return quoted, i          # unprefixed quote: all below is quoted
                for k in range(i, i + span):
                    quoted[k] = True
                i += span
                continue
        i += 1
    return quoted, len(lines)


def _signature_start(lines: list[str], idx: list[int], dashes: bool = True) -> int:
    """Position in ``idx`` (indexes of new-text lines) where the signature starts.
    ``dashes=False`` says no line is "--", so only the last lines need a look."""
    # Only the last few non-blank lines can start a signature: (position, stripped line).
    tail: list[tuple[int, str]] = []
    # Without a "--" line only sign-offs (last CLOSER_TAIL_LINES + 1) and phone footers
    # (last 3) are looked for.
    keep = SIGNATURE_MAX_LINES + 1
    if not dashes:
        keep = min(keep, max(CLOSER_TAIL_LINES + 1, 3))
    for k in range(len(idx) - 1, -1, -1):
        stripped = lines[idx[k]].strip()
        if stripped:
            tail.append((k, stripped))
            if len(tail) >= keep:
                break
    tail.reverse()
    start = len(idx)
    for k, stripped in tail if dashes else ():
        if stripped == "--":                      # the "-- " delimiter
            start = k
            break
    for k, stripped in tail[-3:]:
        if len(stripped) <= FOOTER_MAX_WIDTH and _mobile_footer(stripped):
            start = min(start, k)
            break
    # A sign-off is followed only by short lines (name, phone): it can be only among the
    # closing lines from which all to the end are short.
    closing = tail[-(CLOSER_TAIL_LINES + 1):]
    short_from = len(closing)
    while short_from and len(closing[short_from - 1][1]) <= CLOSER_TAIL_WIDTH:
        short_from -= 1
    for k, stripped in closing[short_from:]:
        if _closer(stripped):
            start = min(start, k)
            break
    return start


def _join(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def split_reply(text: str) -> tuple[str, str, str]:
    """(new_text, quoted_text, signature) of a plain-text body."""
    lines = text.split("\n")
    quoted, cut = None, len(lines)
    if _may_have_quote(text):
        quoted, cut = _find_quotes(lines)
        if cut == len(lines) and not any(quoted):
            quoted = None
    if quoted is None:          # the common case: nothing quoted
        sig = _signature_start(lines, range(len(lines)), "--" in text)
        if sig == len(lines):
            return text.strip(), "", ""
        return "\n".join(lines[:sig]).strip(), "", _join(lines[sig:])
    idx = [i for i in range(cut) if not quoted[i]]
    sig = _signature_start(lines, idx)
    new_text = _join([lines[i] for i in idx[:sig]])
    signature = _join([lines[i] for i in idx[sig:]])
    quoted_text = _join([lines[i] for i in range(len(lines)) if i >= cut or quoted[i]])
    return new_text, quoted_text, signature
