"""SIGKILL of a sending worker in the middle of a batch: never two different mails per row.

A real ``python -m mailworker outbox send`` subprocess sends to a real aiosmtpd server.
When the server has received the third message, and before it answers 250, the test
kills the worker with SIGKILL: the third row was handed to the server but never marked
sent. A rerun sends what is left; the third row goes again with the same Message-ID and
the same content, and every other row exactly once.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections import defaultdict

from mailworker.clock import FixedClock
from mailworker.models import Outbox
from mailworker.outbound.sender import drain_outbox
from mailworker.outbox import domain_of, enqueue
from tests.outbound_support import add_members, bodies, open_db, outbound_config

ROWS = 6
KILL_AT = 3


def test_sigkill_mid_batch_never_sends_two_different_messages(smtp_factory, make_config,
                                                              tmp_path):
    worker: dict[str, subprocess.Popen] = {}
    killed = threading.Event()

    def kill_mid_batch(received):
        if len(server.messages) == KILL_AT and not killed.is_set():
            os.kill(worker["proc"].pid, signal.SIGKILL)
            killed.set()

    server = smtp_factory("plain", on_message=kill_mid_batch)
    cfg = outbound_config(make_config, tmp_path, server.outgoing_config(rate_per_minute=1000))
    # The worker reads the real clock; queue the rows a minute "ago" in real time.
    real_now = dt.datetime.now(dt.timezone.utc)
    clock = FixedClock(real_now - dt.timedelta(minutes=1))
    db = open_db(cfg, clock)
    try:
        members = add_members(clock)
        member_list = list(members.values())
        rows = []
        for n in range(ROWS):
            m = member_list[n % len(member_list)]
            rows.append(enqueue(f"triage:{n:064d}", "triage_notice", m.primary_address,
                                {"display_name": m.display_name, "subject": f"메일 {n}번",
                                 "received_local": "2026-11-25 10:03", "in_reply_to": None},
                                clock, member=m, domain=domain_of(cfg)))
        db.close()

        worker["proc"] = subprocess.Popen(
            [sys.executable, "-m", "mailworker", "--config", str(cfg.path), "outbox", "send"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
        worker["proc"].communicate(timeout=60)
        assert killed.is_set(), "the worker finished before the kill point"
        assert worker["proc"].returncode == -signal.SIGKILL

        db = open_db(cfg, clock)
        states = {r.id: (r.status, r.attempts) for r in Outbox.select()}
        assert sum(1 for s, _ in states.values() if s == "sent") == KILL_AT - 1
        in_flight = rows[KILL_AT - 1]
        assert states[in_flight.id] == ("pending", 1)       # claimed, never marked sent

        # The rerun comes after the dead worker's lease on that row has run out.
        lease = 3 * cfg.outgoing.timeout_seconds + 60
        later = FixedClock(real_now + dt.timedelta(seconds=lease + 5))
        result = drain_outbox(cfg, later)
        assert result.sent == ROWS - (KILL_AT - 1) and result.failed == 0
        assert all(r.status == "sent" for r in Outbox.select())
    finally:
        db.close()

    copies = defaultdict(list)
    for got in server.messages:
        copies[got.message_id].append(got)
    assert set(copies) == {r.message_id for r in rows}    # nothing but the rows' own IDs
    for row in rows:
        sent = copies[row.message_id]
        expected = 2 if row.id == in_flight.id else 1
        assert len(sent) == expected, row.key
        first, *again = [c.message for c in sent]
        for other in again:
            # Same mail: same subject, recipient and body; only the Date may differ.
            assert other["Subject"] == first["Subject"]
            assert other["To"] == first["To"]
            assert bodies(other) == bodies(first)
        assert f"메일 {rows.index(row)}번" in first["Subject"]
