"""The worker as a process: systemd notifications, SIGTERM, --once, status, the demo."""
from __future__ import annotations

import mailbox
import os
import signal
import socket
import subprocess
import sys
import time

from mailworker.cli import main
from tests.mailfactory import REVIEW_EN, make_mail
from tests.roster import MEMBERS


def _write_config(tmp_path):
    path = tmp_path / "mailworker.toml"
    path.write_text(
        '[inbox]\ntype = "maildir"\npath = "Maildir"\n'
        '[schedule]\noutbox_seconds = 1\nledger_seconds = 1\n', encoding="utf-8")
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email,category,aliases\n" + "".join(
        f"{n},{e},{c},{';'.join(a)}\n" for n, e, c, a in MEMBERS), encoding="utf-8-sig")
    assert main(["--config", str(path), "members", "import", str(roster)]) == 0
    return path


def test_run_notifies_systemd_and_stops_cleanly_on_sigterm(tmp_path):
    cfg_path = _write_config(tmp_path)
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(30)
    box = mailbox.Maildir(str(tmp_path / "Maildir"), factory=None, create=True)
    env = {**os.environ, "NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "2000000"}
    proc = subprocess.Popen([sys.executable, "-m", "mailworker", "--config", str(cfg_path),
                             "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        seen = []
        while "READY=1" not in seen:
            seen.extend(sock.recv(4096).decode().splitlines())
        box.add(make_mail(subject="지갑 앱 오류", body=REVIEW_EN))
        while "WATCHDOG=1" not in seen:
            seen.extend(sock.recv(4096).decode().splitlines())
        deadline = time.monotonic() + 20
        processed = tmp_path / "Maildir" / ".Processed" / "cur"
        while time.monotonic() < deadline and not (processed.exists() and any(processed.iterdir())):
            time.sleep(0.05)
        assert any(processed.iterdir())
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        while "STOPPING=1" not in seen:
            seen.extend(sock.recv(4096).decode().splitlines())
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in err and "Traceback" not in err


def test_run_once_and_status(tmp_path, capsys):
    cfg_path = _write_config(tmp_path)
    box = mailbox.Maildir(str(tmp_path / "Maildir"), factory=None, create=True)
    box.add(make_mail())
    box.add(make_mail(sender="stranger@example.com", body=REVIEW_EN))
    capsys.readouterr()
    assert main(["--config", str(cfg_path), "run", "--once"]) == 0
    out = capsys.readouterr().out
    assert "2 message(s): 2 new" in out and "credited 1" in out and "non_member 1" in out
    assert main(["--config", str(cfg_path), "status"]) == 0
    out = capsys.readouterr().out
    assert "messages: 2 recorded" in out and "volunteer hours credited: 1" in out
    assert "ledger:" in out


def test_demo_twice_credits_nothing_twice(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert "credited" in first and "non_member" in first and "triage" in first
    db = tmp_path / "var" / "demo" / "mailworker.db"
    import sqlite3
    credits = sqlite3.connect(db).execute("SELECT COUNT(*) FROM hour_credit").fetchone()[0]
    assert credits >= 3
    assert main(["demo"]) == 0
    second = capsys.readouterr().out
    assert "already recorded" in second and "Nothing was credited twice" in second
    again = sqlite3.connect(db).execute("SELECT COUNT(*) FROM hour_credit").fetchone()[0]
    assert again == credits
    sent = list((tmp_path / "var" / "demo" / "sent-mail").glob("*.eml"))
    assert sent, "the demo's acknowledgements are written to the file transport"
    # The demo's meeting got both meeting replies, and its hour export holds each credit once.
    assert "1 attend, 1 decline" in first and "1 attend, 1 decline" in second
    assert "Hours export: batch #1" in first and "Hours export: nothing new" in second
    exported = sqlite3.connect(db).execute("SELECT COUNT(*) FROM hour_export_row").fetchone()[0]
    assert exported == credits
    assert (tmp_path / "var" / "demo" / "hours-export-1.csv").read_bytes().startswith(
        b"\xef\xbb\xbf")


def test_missing_config_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILWORKER_CONFIG", raising=False)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "no configuration found" in err and "Traceback" not in err
