"""Text that came from mail or from staff, made safe for one line of a mail header.

A header value must stay on its line: CR, LF and every other character Python's
``str.splitlines`` breaks on (``\\x1c``-``\\x1e``, ``\\x85``, U+2028/U+2029) would let a name
or a Message-ID start a header of its own, and the email package refuses them with a
``ValueError`` that stopped the outbox. Control characters have no place in a name either.
"""
from __future__ import annotations

import re
import unicodedata

# Line and paragraph separators are not category Cc but still end a line.
_SEPARATORS = frozenset("\u2028\u2029")
_RUNS_OF_SPACE = re.compile(r"\s+")
# A msg-id as we write it: <left@right>, printable ASCII without spaces or angle brackets.
# Something that looks like an e-mail address, with or without angle brackets.
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")
_MSG_ID = re.compile(r"<[!-;=?-~]{1,900}@[!-;=?-~]{1,250}>")


def is_control(ch: str) -> bool:
    return ch in _SEPARATORS or unicodedata.category(ch) == "Cc"


def control_characters(text: str) -> list[str]:
    """The control characters in ``text`` as readable escapes ('\\r', '\\x1c'), each once."""
    found: list[str] = []
    for ch in text:
        if is_control(ch):
            shown = repr(ch)[1:-1]
            if shown not in found:
                found.append(shown)
    return found


def one_line(text: str) -> str:
    """``text`` with every control character a space and runs of space folded to one."""
    if text.isprintable():
        return text
    cleaned = "".join(" " if is_control(ch) else ch for ch in text)
    return _RUNS_OF_SPACE.sub(" ", cleaned).strip()


def message_id_or_none(value: str | None) -> str | None:
    """``<left@right>`` when ``value`` is a usable msg-id (angle brackets added when
    missing), None otherwise: a reference we cannot write is left out, not repaired."""
    if not value:
        return None
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    return value if _MSG_ID.fullmatch(value) else None


def without_addresses(text: str) -> str:
    """``text`` for a log line: every e-mail address (a server's reply often quotes the
    recipient) replaced by ``[address]``. Staff see the full text in the outbox row."""
    return _ADDRESS.sub("[address]", text)
