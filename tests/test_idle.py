"""An idle service (empty inbox, nothing queued) writes nothing and starts nothing.

Measured in a child process from the kernel's own counters (``/proc/self/io``: every
write, pwrite and writev the process makes) and by counting thread starts, over ten
rounds of the real service loop on a Maildir inbox, a file transport and four ledger
replicas, after three rounds that set everything up."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import skip_unless

PROBE = r'''
import datetime as dt, json, sys, threading
from pathlib import Path
from mailworker import config as config_mod
from mailworker.clock import FixedClock
from mailworker.db import open_from_config
from mailworker.service import RoundReport, Service

work = Path(sys.argv[1])
cfg = config_mod.load(work / "mailworker.toml")
clock = FixedClock(dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.timezone.utc))
open_from_config(cfg, clock)
service = Service(cfg, clock)
service._audit_inline = False          # as in run_forever

def one_round():
    clock.advance(seconds=30)           # time passes between rounds, as in the loop
    report = RoundReport()
    report.ingest = service.read_inbox()
    service.after_ingest(report)
    assert not report.errors, report.errors

for _ in range(3):
    one_round()
started = []
real_start = threading.Thread.start
def counting_start(self, *a, **kw):
    started.append(self.name)
    return real_start(self, *a, **kw)
threading.Thread.start = counting_start

def io():
    return {k: int(v) for k, v in (line.split(": ") for line in
            open("/proc/self/io").read().splitlines() if line)}
before = io()
for _ in range(10):
    one_round()
after = io()
print(json.dumps({"write_calls": after["syscw"] - before["syscw"],
                  "bytes_written": after["wchar"] - before["wchar"],
                  "threads_started": started}))
'''

CONFIG = """\
[general]
state_dir = "."
[inbox]
type = "maildir"
path = "Maildir"
[outgoing]
transport = "file"
directory = "sent-mail"
[database]
url = "sqlite:///mailworker.db"
[ledger]
directory = "ledger"
[staff]
addresses = ["secretariat@seoul.go.kr"]
"""


def test_an_idle_service_writes_nothing_and_starts_no_thread(tmp_path):
    skip_unless(Path("/proc/self/io").exists(), "/proc/self/io is not available here")
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "Maildir" / sub).mkdir(parents=True)
    (tmp_path / "mailworker.toml").write_text(CONFIG, encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"write_calls": 0, "bytes_written": 0, "threads_started": []}, seen


def test_the_probe_sees_a_round_that_does_work(tmp_path):
    """The same measurement, with one mail arriving: it must see the writes and threads
    (so the idle test above cannot pass for a blind probe)."""
    from tests.mailfactory import make_mail
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "Maildir" / sub).mkdir(parents=True)
    (tmp_path / "mailworker.toml").write_text(CONFIG, encoding="utf-8")
    probe = PROBE.replace("for _ in range(10):\n    one_round()",
                          "import mailbox\nmailbox.Maildir(work / 'Maildir').add("
                          f"{make_mail()!r})\none_round()")
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["write_calls"] > 0 and seen["threads_started"]
