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
    monkeypatch.setenv("COLUMNS", "220")
    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert "credited" in first and "non_member" in first and "triage" in first
    db = tmp_path / "var" / "demo" / "mailworker.db"
    import sqlite3
    credits = sqlite3.connect(db).execute("SELECT COUNT(*) FROM hour_credit").fetchone()[0]
    assert credits >= 3
    assert main(["demo"]) == 0
    second = capsys.readouterr().out
    assert "Nothing was credited twice" in second
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
    # The second run shows what the first one recorded, not "(no subject) None ... None".
    rows = [line for line in second.splitlines() if "already recorded:" in line]
    assert f"0 new, {len(rows)} already recorded" in second
    assert sum("already recorded: credited" in r for r in rows) == credits
    assert "None" not in second
    # (A resigned member's name and subjects are purged by the demo's own resignation.)
    assert all("(no subject)" not in r for r in rows if "(deleted " not in r)
    assert any("review" in r and "로그인이 안 됩니다" in r for r in rows)
    assert any("already recorded: triage" in r and "waiting for staff" in r for r in rows)


def _demo_json(capsys) -> list[dict]:
    import json
    assert main(["demo", "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_demo_table_fits_the_terminal_and_shows_all_with_wide_or_json(tmp_path, capsys,
                                                                     monkeypatch):
    from mailworker.table import width
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "220")
    mails = _demo_json(capsys)
    assert len(mails) >= 15 and all(m["already"] is False for m in mails)
    longest = max(mails, key=lambda m: len(m["reason"]))
    assert {"n", "from", "subject", "kind", "result", "hours", "reason"} <= set(longest)

    def table(out):
        return [line for line in out.splitlines() if line[:3].strip().isdigit()]

    # 220 columns: reasons longer than the old fixed cut (60) are shown in full.
    assert main(["demo"]) == 0
    wide_terminal = table(capsys.readouterr().out)
    assert max(width(line) for line in wide_terminal) <= 220
    long_reasons = [m["reason"] for m in mails if 60 < width(m["reason"]) <= 72]
    missing = [r for r in long_reasons if not any(r in line for line in wide_terminal)]
    assert long_reasons and not missing, (missing, wide_terminal)
    # 100 columns: every line fits (Korean counted double), and the text says it was cut.
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert max(width(line) for line in table(out)) <= 100
    assert "…" in out and "--wide or --json" in out
    # --json of a later run: what the first run recorded, one object per mail (the demo's
    # own resignation purged one member's name and subjects in between).
    again = _demo_json(capsys)
    assert [a["n"] for a in again] == [m["n"] for m in mails]
    assert all(a["already"] and a["result"] == f"already recorded: {m['result']}"
               and a["kind"] == m["kind"] and a["reason"] == m["reason"]
               and a["earlier_hours"] == m["hours"] for a, m in zip(again, mails))
    assert sum(a["subject"] == m["subject"] for a, m in zip(again, mails)) >= len(mails) - 2
    # --wide cuts nothing whatever the terminal.
    assert main(["demo", "--wide"]) == 0
    wide = capsys.readouterr().out
    assert "…" not in "\n".join(table(wide))
    assert all(a["reason"] in wide and a["subject"] in wide for a in again)


def test_demo_workspace_can_send_a_release(tmp_path, capsys, monkeypatch):
    import stat
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    key = tmp_path / "var" / "demo" / "ledger" / "release.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # The hints as printed, from --config on (the program name depends on how it was run).
    hints = [h[h.index("--config"):] for h in
             (line.split("#")[0].split() for line in out.splitlines() if " release " in line)]
    assert [h[2:4] for h in hints] == [["release", "build"], ["release", "send"]]
    for hint in hints:
        assert main(hint) == 0
    sent = capsys.readouterr().out
    assert "release 1.0: queued" in sent and "0 failed" in sent
    assert main(hints[1]) == 0
    assert "nothing to send: every member already has release 1.0" in capsys.readouterr().out
    # The digest hint previews the digest that covers the demo's mail.
    digest = next(line.split("#")[0].split() for line in out.splitlines() if " digest " in line)
    assert main(digest[digest.index("--config"):]) == 0
    preview = capsys.readouterr().out
    assert "today, so far" in preview and "no reviews or proposals" not in preview
    assert "로그인이 안 됩니다" in preview


def test_missing_config_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILWORKER_CONFIG", raising=False)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "no configuration found" in err and "Traceback" not in err
