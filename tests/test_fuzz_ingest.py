"""Fuzzing the ingest path with hostile mail: parse -> classify -> record -> outbound.

A seeded mutator (tests/hostile_mail.py) makes a few thousand mails of the kinds an
attacker or a broken mailer sends; they go through a real Maildir, the real pipeline and
a real SQLite file, then the outbox is drained to the file transport. No exception may
escape, every message must end with a disposition, and outgoing mail must keep flowing.
Hypothesis then throws arbitrary text at the header readers. ``benchmarks/fuzz_ingest.py``
runs the same generator over 10,000+ mails by hand.
"""
from __future__ import annotations

import hashlib
import logging
import mailbox
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailworker.ingest.analysis import Rules, analyze
from mailworker.ingest.fingerprint import text_print
from mailworker.ingest.parse import parse_message, single_mailbox
from mailworker.models import DISPOSITIONS, Message, Outbox
from mailworker.outbound.sender import drain_outbox
from tests.hostile_mail import OURS, hostile_mails
from tests.test_ingest_pipeline import KEY, world  # noqa: F401 - the fixture
from mailworker.ingest.pipeline import Ingestor

CASES = 2000
_CONTROL = set(map(chr, range(32))) | {"\x7f", "\x85", "\u2028", "\u2029"}


def test_hostile_mail_never_stops_ingest_nor_the_outbox(world, caplog, tmp_path):
    w = world(ingest={"trusted_authserv_id": OURS, "daily_credit_cap": 1000,
                      "reply_to_non_members": True},
              outgoing={"directory": str(tmp_path / "sent"), "receipt_wait_seconds": 0,
                        "rate_per_minute": 100000})
    mails = hostile_mails(CASES, seed=10, words=3000)
    box = mailbox.Maildir(w.cfg.inbox.path, factory=None, create=True)
    for raw in mails:
        box.add(raw)
    delivered = {hashlib.sha256(p.read_bytes()).hexdigest()
                 for d in ("new", "cur") for p in (Path(w.cfg.inbox.path) / d).iterdir()}
    caplog.set_level(logging.WARNING)

    result = Ingestor(w.cfg, w.clock, w.source, KEY).run_pass()

    assert result.seen == CASES and w.inbox_count() == 0
    recorded = {m.sha256: m for m in Message.select()}
    assert set(recorded) == delivered                      # every one, once
    assert {m.disposition for m in recorded.values()} <= set(DISPOSITIONS)
    assert all(m.reason for m in recorded.values())
    for m in recorded.values():                             # stored header values are clean
        for value in (m.subject, m.sender_name, m.message_id or "", m.in_reply_to or ""):
            assert not _CONTROL & set(value), (m.id, value)
    # hostile mail earns nothing in another's name
    for m in recorded.values():
        if m.disposition == "credited":
            assert "attacker" not in m.sender and "," not in m.sender
    dispositions = {d for d in (m.disposition for m in recorded.values())}
    assert {"credited", "triage", "no_credit", "non_member"} <= dispositions
    assert "Traceback" not in caplog.text

    queued = Outbox.select().count()
    assert queued > 100
    drained = drain_outbox(w.cfg, w.clock)
    assert drained.sent + drained.failed == queued, drained
    assert drained.sent >= queued * 0.99
    assert Outbox.select().where(Outbox.status == "pending").count() == 0
    assert len(list((tmp_path / "sent").rglob("*.eml"))) == drained.sent


_HEADER_TEXT = st.text(alphabet=st.characters(codec="utf-8", categories=None), max_size=300)


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(sender=_HEADER_TEXT, subject=_HEADER_TEXT, message_id=_HEADER_TEXT,
       body=st.text(max_size=500))
def test_any_header_text_is_read_without_error_and_stored_clean(sender, subject, message_id,
                                                                 body):
    raw = (f"From: {sender}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
           f"Authentication-Results: {OURS}; dkim=pass header.d={sender}\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n"
           f"{body}\r\n").encode("utf-8", "surrogatepass")
    a = analyze(raw, Rules(OURS, ("relay.example",)))
    assert a.error is None, a.error
    for value in (a.subject, a.from_name, a.message_id or "", a.in_reply_to or ""):
        assert not _CONTROL & set(value)
    if a.from_addr:
        assert single_mailbox(a.from_addr)[1].lower() == a.from_addr
    parse_message(raw[:len(raw) // 2])


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=400))
def test_fingerprint_never_fails_and_ignores_invisible_changes(text):
    tp = text_print(text)
    if tp is None:
        return
    assert tp.chars <= len(unicodedata.normalize("NFKC", text).casefold())
    again = text_print(text.replace(" ", " \u200b") + ".")
    assert again is not None and again.sha == tp.sha
