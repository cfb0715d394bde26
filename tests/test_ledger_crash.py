"""SIGKILL during an append, at every step and at random moments: a rerun gives the same
tree, no leaf twice, none missing. The appender runs in a real child process that is
killed with SIGKILL (by itself right after a chosen step, or by the test at a random
moment); the test then finishes the work and checks everything."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailworker.ledger.appender import append_pending
from mailworker.ledger.handle import STATE_KEY
from mailworker.db import state_get

from tests.test_ledger_replicas import (add_events, assert_consistent, bring_back,
                                        event_rows, make_ledger, take_down)

ROOT = Path(__file__).resolve().parent.parent

CHILD = r'''
import os, signal, sys
from mailworker import config, db
from mailworker.clock import SystemClock
from mailworker.ledger import appender, replica

cfg = config.load(sys.argv[1])
mode, after = sys.argv[2], int(sys.argv[3])
calls = [0]

def kill_after(fn):
    def wrapped(*args, **kw):
        result = fn(*args, **kw)
        calls[0] += 1
        if calls[0] == after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapped

R = replica.LocalReplica
if mode == "commit":       # a replica committed append + signature; others maybe not
    R.apply_and_sign = kill_after(R.apply_and_sign)
elif mode == "sign":       # inside a replica's append transaction, before it commits
    R.sign = kill_after(R.sign)
elif mode == "mark":       # inside the main-database transaction, before it commits
    appender._mark = kill_after(appender._mark)
elif mode == "committed":  # main database committed; replicas lack the checkpoint note
    appender._Appender._commit_batch = kill_after(appender._Appender._commit_batch)
elif mode == "note":       # handing the last checkpoint to the replicas at the end
    R.store_checkpoint = kill_after(R.store_checkpoint)
elif mode == "catchup":    # a returning replica copied leaves but has not cosigned
    R.append = kill_after(R.append)
db.open_from_config(cfg, SystemClock())
print("started", flush=True)
result = appender.append_pending(cfg, SystemClock())
print("finished", result.appended, flush=True)
'''


def run_child(tmp_path, cfg, mode="none", after=0, kill_at: float | None = None):
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(script), str(cfg.path), mode, str(after)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if kill_at is not None:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(kill_at)
        proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def finish(cfg, clock) -> None:
    for _ in range(5):
        res = append_pending(cfg, clock)
        if res.pending == 0 and not res.waiting:
            return
    raise AssertionError(f"did not finish: {res.message}")


@pytest.mark.parametrize("mode, after", [
    ("commit", 1), ("commit", 2), ("commit", 7), ("sign", 1), ("sign", 3), ("sign", 10),
    ("mark", 1), ("mark", 3), ("committed", 1), ("committed", 4), ("note", 1), ("note", 3),
])
def test_sigkill_after_each_step(make_config, clock, tmp_path, mode, after):
    cfg = make_ledger(make_config, clock, batch_size=5)
    payloads = add_events(23, clock)
    code, out, err = run_child(tmp_path, cfg, mode, after)
    assert code == -signal.SIGKILL, (out, err)
    done_before = sum(1 for r in event_rows() if r.leaf_index is not None)
    assert done_before == 23 if mode == "note" else done_before < 23
    finish(cfg, clock)
    assert_consistent(cfg, payloads)
    assert state_get(STATE_KEY).startswith(f"{cfg.ledger.origin}\n23\n")


def test_sigkill_while_a_returning_replica_catches_up(make_config, clock, tmp_path):
    cfg = make_ledger(make_config, clock, batch_size=5)
    payloads = add_events(2, clock)
    append_pending(cfg, clock)
    take_down(cfg, "replica-1")
    payloads += add_events(10, clock, start=2)
    assert append_pending(cfg, clock).appended == 10
    bring_back(cfg, "replica-1")
    payloads += add_events(4, clock, start=12)
    code, out, err = run_child(tmp_path, cfg, "catchup", 1)
    assert code == -signal.SIGKILL, (out, err)
    finish(cfg, clock)
    assert_consistent(cfg, payloads)


def test_sigkill_at_random_moments(make_config, clock, tmp_path):
    cfg = make_ledger(make_config, clock, batch_size=3)
    payloads = add_events(240, clock)
    rnd = random.Random(20261125)
    kills = 0
    for _ in range(6):
        code, out, err = run_child(tmp_path, cfg, kill_at=rnd.uniform(0.0, 0.4))
        if code == -signal.SIGKILL:
            kills += 1
        else:
            assert code == 0, err
        if all(r.leaf_index is not None for r in event_rows()):
            break
    assert kills >= 1
    finish(cfg, clock)
    assert_consistent(cfg, payloads)
