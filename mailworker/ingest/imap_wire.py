"""The one place that reaches inside imapclient (and the imaplib connection it wraps).

Three things imapclient's public API cannot do cheaply: read an ESEARCH answer (a whole
backlog listed as ``1:100000`` instead of one number per message), read a body-only FETCH
answer without its general response parser (a sixth of the ingest cost), and drop the
EXPUNGE notices imaplib keeps for every message we move. Each has a fast path through
private names and a public path doing the same work with imapclient's documented API.

The fast path is taken only when every private name it uses is there, and the library
versions are ones it was tested with (``TESTED_IMAPCLIENT``); a new imapclient release
therefore can make reading mail slower, never break it. ``tests/test_imap_wire.py`` runs
both paths against the same Dovecot and checks that they agree.
"""
from __future__ import annotations

import logging
import re

import imapclient
from imapclient import IMAPClient
from imapclient.response_parser import parse_fetch_response

from .sources import KeyRanges

log = logging.getLogger(__name__)

# imapclient versions whose private names the fast path was tested with (major.minor).
TESTED_IMAPCLIENT = ("3.0", "3.1", "4.0", "4.1")
_IMAPLIB_NAMES = ("_command", "_command_complete", "_simple_command", "_untagged_response",
                  "untagged_responses", "debug", "sock")
_ESEARCH_ALL = re.compile(rb"\bALL ([0-9:,]+)")
_FETCH_HEAD = re.compile(rb"^\d+ \((?:UID (\d+) )?BODY\[\] \{\d+\}$")
_TRAILING_UID = re.compile(rb"^ UID (\d+)\)$")


def fast_path_usable(client: IMAPClient) -> bool:
    """Whether this client offers every private name the fast path needs, at a tested
    version of imapclient."""
    version = ".".join(imapclient.__version__.split(".")[:2])
    imap = getattr(client, "_imap", None)
    return (version in TESTED_IMAPCLIENT and imap is not None
            and hasattr(client, "_checkok")
            and all(hasattr(imap, name) for name in _IMAPLIB_NAMES))


class ImapWire:
    """Fast or public: the same answers either way (see the module docstring)."""

    def __init__(self, client: IMAPClient, fast: bool | None = None):
        self.client = client
        self.fast = fast_path_usable(client) if fast is None else fast
        if fast and not fast_path_usable(client):
            raise ValueError("the fast IMAP path needs imapclient's private names, which "
                             f"imapclient {imapclient.__version__} does not have")

    def quiet_trace(self) -> None:
        """imapclient turns imaplib's protocol trace on and sends it to its logger; with the
        logger off the trace still formats every line (a FETCH answer's repr too): about a
        third of the cost of reading mail. Off unless someone listens."""
        if self.fast and not logging.getLogger("imapclient.imaplib").isEnabledFor(
                logging.DEBUG):
            self.client._imap.debug = 0

    def waiting(self) -> KeyRanges:
        """UIDs in the selected folder not marked \\Deleted."""
        if self.fast and self.client.has_capability("ESEARCH"):
            # UID SEARCH RETURN (ALL) NOT DELETED (RFC 4731): imapclient does not read it.
            imap = self.client._imap
            typ, data = imap._simple_command("UID", "SEARCH", "RETURN", "(ALL)", "NOT",
                                             "DELETED")
            self.client._checkok("search", typ, data)
            typ, data = imap._untagged_response(typ, data, "ESEARCH")
            text = b" ".join(d for d in data if isinstance(d, bytes))
            found = _ESEARCH_ALL.search(text)
            return KeyRanges.parse(found.group(1).decode("ascii") if found else "")
        return KeyRanges.from_numbers(self.client.search(["NOT", "DELETED"]))

    def fetch_bodies(self, uids: list[int], uid_text: str) -> dict[int, bytes]:
        """UID FETCH BODY.PEEK[] of these UIDs (``uid_text``: the same as a sequence set):
        {uid: raw message}."""
        if not self.fast:
            found = self.client.fetch(uids, ["BODY.PEEK[]"])
            return {uid: d[b"BODY[]"] for uid, d in found.items() if b"BODY[]" in d}
        imap = self.client._imap
        tag = imap._command("UID", "FETCH", uid_text, "(BODY.PEEK[])")
        typ, data = imap._command_complete("FETCH", tag)
        self.client._checkok("fetch", typ, data)
        typ, data = imap._untagged_response(typ, data, "FETCH")
        self.forget_expunges()   # moves made on the filing connection are told here too
        try:
            return bodies_from_fetch(data)
        except ValueError:
            # Anything unexpected goes to imapclient's own general parser.
            parsed = parse_fetch_response(data, False, True)
            return {uid: d[b"BODY[]"] for uid, d in parsed.items() if b"BODY[]" in d}

    def forget_expunges(self) -> None:
        """Drop the server's EXPUNGE notices for what we just filed: imaplib keeps every
        untagged answer nobody asked for, which would grow with each message filed. The
        public path has no way to reach them; the connection is renewed often enough
        (every IDLE renewal and reconnect) that they stay small there."""
        if self.fast:
            self.client._imap.untagged_responses.pop("EXPUNGE", None)

    def closed(self) -> bool:
        """Whether the connection's socket is gone (so IDLE DONE cannot be sent)."""
        if not self.fast:
            return False            # the caller's IDLE DONE then fails and is suppressed
        try:
            sock = self.client._imap.sock
            return sock is None or sock.fileno() < 0
        except (AttributeError, OSError):
            return True


def bodies_from_fetch(data: list) -> dict[int, bytes]:
    """Messages from the untagged answers to ``UID FETCH set (BODY.PEEK[])``.

    Each answer is ``(b'SEQ (UID n BODY[] {len}', literal)`` then ``b')'`` (or the UID
    after the literal, ``b' UID n)'``). Unsolicited FETCH answers without a literal (a flag
    change by another client) are skipped. Raises ValueError on anything else."""
    out: dict[int, bytes] = {}
    i, n = 0, len(data)
    while i < n:
        item = data[i]
        i += 1
        if not isinstance(item, tuple):
            if isinstance(item, bytes) and b"BODY[" not in item:
                continue    # e.g. b'3 (FLAGS (\\Seen) UID 7)'
            raise ValueError(f"unexpected FETCH answer {item[:60]!r}")
        m = _FETCH_HEAD.match(item[0])
        if m is None or i >= n or not isinstance(data[i], bytes):
            raise ValueError(f"unexpected FETCH answer {item[0][:60]!r}")
        tail = data[i]
        i += 1
        if m.group(1) is not None and tail == b")":
            out[int(m.group(1))] = item[1]
            continue
        t = _TRAILING_UID.match(tail) if m.group(1) is None else None
        if t is None:
            raise ValueError(f"unexpected end of FETCH answer {tail[:60]!r}")
        out[int(t.group(1))] = item[1]
    return out
