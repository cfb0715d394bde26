"""Ingest against a real Dovecot on 127.0.0.1: filing, limits, crashes, restarts, UIDVALIDITY."""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from mailworker.db import open_from_config
from mailworker.errors import SourceAuthError, SourceUnavailable
from mailworker.ingest.imap_source import ImapSource, from_config
from mailworker.ingest.pipeline import Ingestor
from mailworker.models import HourCredit, Message, Outbox
from tests.mailfactory import PROPOSAL_KO, REVIEW_EN, make_mail, unique_review
from tests.roster import load_roster
from tests.servers.dovecot import process_alive

KEY = b"k" * 32


@pytest.fixture
def imap_world(dovecot, make_config, clock, tmp_path):
    def build(inbox=None, **sections):
        raw = {"inbox": {**dovecot.inbox_config(), **(inbox or {})},
               "general": {"state_dir": str(tmp_path / "state")},
               "ledger": {"directory": str(tmp_path / "ledger")}}
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        cfg = make_config(raw)
        open_from_config(cfg, clock)
        load_roster(clock)
        return cfg
    return build


def run_pass(cfg, clock):
    source = from_config(cfg)
    source.open()
    try:
        return Ingestor(cfg, clock, source, KEY).run_pass()
    finally:
        source.close()


def korean_legacy_mail() -> bytes:
    body = "지갑 앱 설치 후 로그인 화면에서 멈춥니다. 오류 수정 부탁드립니다. 매번 재현됩니다."
    return (b"From: =?ks_c_5601-1987?B?" + __import__("base64").b64encode(
        "최준호".encode("cp949")) + b"?= <junho.choi@example.co.kr>\r\n"
        b"To: group@example.org\r\nSubject: =?ks_c_5601-1987?B?" +
        __import__("base64").b64encode("지갑 앱 오류".encode("cp949")) + b"?=\r\n"
        b"Message-ID: <legacy-1@example.co.kr>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0900\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ks_c_5601-1987\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body.encode("cp949") + b"\r\n")


def test_full_path_files_every_kind_and_leaves_flags_alone(imap_world, dovecot, clock):
    cfg = imap_world()
    dovecot.append([
        make_mail(),
        make_mail(subject="[제안] 블록체인 봉사시간", body=PROPOSAL_KO),
        make_mail(sender="stranger@example.com", body=REVIEW_EN),
        make_mail(subject="Automatic reply: out of office", body="I am away until Monday.",
                  headers={"Auto-Submitted": "auto-replied"}),
        make_mail(subject="안녕하세요", body="사진 잘 받았습니다. 감사합니다. 좋은 하루 되세요."),
        korean_legacy_mail(),
        make_mail(sender="seoyeon.lee@example.org", sender_name="이서연", subject="문의",
                  body="다음 정례회의 장소가 어디인가요?"),
        make_mail(sender="daniel.park@example.com", sender_name="Daniel Park",
                  subject="내 봉사시간", body="\n"),
    ])
    result = run_pass(cfg, clock)
    assert result.recorded == 8
    by_sender = {(m.sender, m.kind): m.disposition for m in Message.select()}
    assert by_sender[("junho.choi@example.co.kr", "review")] == "credited"
    legacy = Message.get(Message.sender == "junho.choi@example.co.kr")
    assert legacy.subject == "지갑 앱 오류"
    assert HourCredit.select().count() == 3
    # Issue 11: the thanks note is `other` (Processed, was Triage), the question waits in
    # Triage, the subject command is answered (Processed).
    kinds = {m.sender: (m.kind, m.disposition) for m in Message.select()}
    assert kinds["seoyeon.lee@example.org"] == ("question", "triage")
    assert kinds["daniel.park@example.com"] == ("question", "answered")
    assert ("other", "noted") in kinds.values()
    assert dovecot.count("INBOX") == 0
    assert dovecot.count("Processed") == 7 and dovecot.count("Triage") == 1
    with dovecot.client() as c:
        c.select_folder("Processed", readonly=True)
        flags = c.get_flags(c.search(["ALL"]))
        assert all(b"\\Seen" not in f for f in flags.values())   # BODY.PEEK only


def test_oversize_message_is_never_downloaded(imap_world, dovecot, clock):
    cfg = imap_world(limits={"max_message_bytes": 50_000})
    dovecot.append([make_mail(attachment=("installer.apk", os.urandom(200_000))), make_mail(
        subject="두 번째 오류", body=REVIEW_EN)])
    run_pass(cfg, clock)
    big = Message.get(Message.disposition == "quarantined")
    assert big.hash_basis == "headers" and big.size > 200_000 and "too large" in big.reason
    assert dovecot.count("Quarantine") == 1 and dovecot.count("Processed") == 1


def test_five_hundred_messages_in_one_pass(imap_world, dovecot, clock):
    cfg = imap_world(ingest={"daily_credit_cap": 1000})
    dovecot.append([unique_review(i) for i in range(500)])
    result = run_pass(cfg, clock)
    assert result.seen == 500 and result.recorded == 500
    assert HourCredit.select().count() == 500
    assert dovecot.count("INBOX") == 0 and dovecot.count("Processed") == 500


def test_uidvalidity_change_does_not_process_twice(imap_world, dovecot, clock, caplog):
    cfg = imap_world()
    mails = [make_mail(), make_mail(subject="지도 앱 버그", body=REVIEW_EN)]
    dovecot.append(mails)
    run_pass(cfg, clock)
    # The mailbox is rebuilt (new UIDVALIDITY) and an old backup restored into it.
    dovecot.recreate_inbox()
    dovecot.append(mails)
    result = run_pass(cfg, clock)
    assert result.already == 2 and result.recorded == 0
    assert HourCredit.select().count() == 2 and Outbox.select().count() == 2
    assert "UIDVALIDITY" in caplog.text and dovecot.count("INBOX") == 0


def test_server_without_move_gets_copy_delete_uid_expunge(dovecot, imap_world, clock):
    dovecot.stop()
    dovecot.extra_conf = ("imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
                          "SORT LITERAL+ UIDPLUS NAMESPACE")
    dovecot.write_conf()
    dovecot.start()
    cfg = imap_world()
    with dovecot.client() as c:
        assert not c.has_capability("MOVE")
        c.select_folder("INBOX")
    dovecot.append([make_mail(), make_mail(subject="버그", body=REVIEW_EN)])
    # A message another client marked \Deleted must survive: we never EXPUNGE blindly.
    with dovecot.client() as c:
        c.append("INBOX", make_mail(subject="someone else's", body=REVIEW_EN + "x"),
                 flags=[b"\\Deleted"])
    run_pass(cfg, clock)
    assert dovecot.count("Processed") == 2
    assert dovecot.count("INBOX") == 1   # the other client's \Deleted mail is still there


def test_wrong_password_and_unreachable_server_say_so(dovecot):
    bad = ImapSource("127.0.0.1", dovecot.port, "plain", dovecot.user, "wrong", "INBOX",
                     {"processed": "P", "quarantine": "Q", "triage": "T"}, timeout=5)
    with pytest.raises(SourceAuthError, match=f"127.0.0.1:{dovecot.port} refused the login"):
        bad.open()
    assert "wrong" not in repr(bad)
    dovecot.stop()
    gone = ImapSource("127.0.0.1", dovecot.port, "plain", dovecot.user, dovecot.password,
                      "INBOX", {"processed": "P", "quarantine": "Q", "triage": "T"}, timeout=5)
    with pytest.raises(SourceUnavailable, match=f"127.0.0.1:{dovecot.port} unreachable"):
        gone.open()


def test_worker_reconnects_after_dovecot_restart_during_idle(imap_world, dovecot, clock):
    from mailworker.service import Service
    cfg = imap_world(schedule={"outbox_seconds": 2, "ledger_seconds": 2},
                     inbox={"reconnect_max_seconds": 1})
    stop = threading.Event()
    service = Service(cfg, clock, stop=stop)
    worker = threading.Thread(target=service.run_forever, daemon=True)
    worker.start()
    try:
        dovecot.append([make_mail()])
        wait_for(lambda: Message.select().count() == 1, "first mail processed")
        time.sleep(0.5)                  # the worker is now in IDLE
        dovecot.restart()
        dovecot.append([make_mail(subject="재시작 후 오류", body=REVIEW_EN)])
        wait_for(lambda: Message.select().count() == 2, "mail after the restart processed")
        assert dovecot.count("INBOX") == 0
    finally:
        stop.set()
        worker.join(15)
    assert not worker.is_alive()


def wait_for(cond, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


def _count(db_path, sql) -> int:
    con = sqlite3.connect(db_path, timeout=30)
    try:
        return con.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def test_sigkill_mid_batch_then_rerun_records_each_message_exactly_once(
        imap_world, dovecot, clock, tmp_path):
    n = 600
    # move_every below n: the worker also files on a second connection, and is killed
    # while moves are under way too.
    cfg = imap_world(inbox={"batch_size": 10, "move_every": 50},
                     ingest={"daily_credit_cap": 10_000})
    db_path = str(cfg.base_dir / "var" / "mailworker.db")   # the default [database] url
    dovecot.append([unique_review(i) for i in range(n)])
    env = {**os.environ, "MW_TEST_IMAP_PASSWORD": dovecot.password}
    cmd = [sys.executable, "-m", "mailworker", "--config", str(cfg.path), "run"]
    kills = had_helpers = 0
    for threshold in (1, n // 3, (2 * n) // 3):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if _count(db_path, "SELECT COUNT(*) FROM message") >= threshold:
                break
            time.sleep(0.005)
        if proc.poll() is None:
            helpers = _children(proc.pid)      # the analysis process of a long pass
            had_helpers += bool(helpers)
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
            deadline = time.monotonic() + 10
            while any(process_alive(pid) for pid in helpers) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not any(process_alive(pid) for pid in helpers), "a helper process outlived it"
        proc.wait(10)
    assert kills >= 2, "the worker finished before it could be killed; raise n"
    assert had_helpers, "no kill happened while the analysis process ran"
    assert 0 < _count(db_path, "SELECT COUNT(*) FROM message") < n
    rerun = subprocess.run(cmd[:-1] + ["run", "--once"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert _count(db_path, "SELECT COUNT(*) FROM message") == n
    assert _count(db_path, "SELECT COUNT(DISTINCT sha256) FROM message") == n
    assert _count(db_path, "SELECT COUNT(*) FROM hour_credit") == n
    assert _count(db_path, "SELECT COUNT(DISTINCT message_id) FROM hour_credit") == n
    assert _count(db_path, "SELECT COUNT(*) FROM outbox WHERE template='ack'") == n
    assert _count(db_path, "SELECT COUNT(*) FROM ledger_event") == n
    assert dovecot.count("INBOX") == 0 and dovecot.count("Processed") == n


def test_tls_is_verified_and_an_untrusted_certificate_is_refused(
        tls_cert, monkeypatch, make_config, clock):
    from tests.servers.dovecot import Dovecot, server_dir
    from tests.servers.ports import free_port
    imaps_port = free_port()
    base = server_dir()
    server = Dovecot(base / "d", extra_conf=(
        f"ssl = yes\nssl_cert = <{tls_cert.cert_path}\nssl_key = <{tls_cert.key_path}\n"
        f"service imap-login {{\n  inet_listener imaps {{\n    address = 127.0.0.1\n"
        f"    port = {imaps_port}\n    ssl = yes\n  }}\n}}\n"))
    server.start()
    try:
        monkeypatch.setenv("MW_TEST_IMAP_PASSWORD", server.password)
        folders = {"processed": "Processed", "quarantine": "Quarantine", "triage": "Triage"}
        untrusted = ImapSource("127.0.0.1", imaps_port, "tls", server.user, server.password,
                               "INBOX", folders, timeout=5)
        with pytest.raises(SourceUnavailable, match="certificate not trusted.*ca_file"):
            untrusted.open()
        for port, security in ((imaps_port, "tls"), (server.port, "starttls")):
            cfg = make_config({"inbox": {**server.inbox_config(), "port": port,
                                         "security": security,
                                         "ca_file": str(tls_cert.cert_path)}},
                              name=f"{security}.toml")
            source = from_config(cfg)
            source.open()
            assert source.waiting() == []
            source.close()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_fetch_answers_are_read_in_both_orders_and_unsolicited_flags_are_skipped():
    from mailworker.ingest.imap_source import uid_set
    from mailworker.ingest.imap_wire import bodies_from_fetch
    data = [(b"1 (UID 7 BODY[] {5}", b"hello"), b")",
            b"2 (FLAGS (\\Seen) UID 8)",                     # another client's flag change
            (b"3 (BODY[] {3}", b"abc"), b" UID 9)"]
    assert bodies_from_fetch(data) == {7: b"hello", 9: b"abc"}
    for odd in ([(b"1 (UID 7 RFC822.SIZE 5 BODY[] {5}", b"hello"), b")"],
                [(b"1 (UID 7 BODY[] {5}", b"hello")],
                [(b"1 (BODY[] {5}", b"hello"), b" FLAGS (\\Seen))"],
                [b"1 (UID 7 BODY[] NIL)"]):
        with pytest.raises(ValueError):
            bodies_from_fetch(odd)
    assert uid_set([9, 1, 2, 3, 7, 10, 3]) == "1:3,7,9:10"
    assert uid_set([5]) == "5"


def test_a_flag_change_by_another_client_during_the_pass_changes_nothing(
        dovecot, imap_world, clock, monkeypatch):
    from mailworker.ingest import imap_wire
    cfg = imap_world(ingest={"daily_credit_cap": 100})
    dovecot.append([unique_review(i) for i in range(6)])
    answers = []
    real = imap_wire.bodies_from_fetch

    def spy(data):
        answers.append(list(data))
        return real(data)
    monkeypatch.setattr(imap_wire, "bodies_from_fetch", spy)
    source = from_config(cfg)
    source.open()
    try:
        uids = [int(k) for k in source.waiting()]
        with dovecot.client() as other:          # flags another client sets meanwhile
            other.select_folder("INBOX")
            other.add_flags(uids[1:4], [b"\\Flagged"])
        got = source.fetch([str(u) for u in uids], cfg.limits.max_message_bytes, {})
        assert [f.key for f in got] == [str(u) for u in uids]
        assert all(f.data.startswith(b"From:") or b"\r\nFrom:" in f.data for f in got)
        assert [f.size for f in got] == [len(f.data) for f in got]
        # Dovecot told us about the flags inside the FETCH answer; they were skipped.
        assert any(isinstance(a, bytes) and b"FLAGS (\\Flagged" in a for a in answers[0])
        result = Ingestor(cfg, clock, source, KEY).run_pass()
    finally:
        source.close()
    assert result.recorded == 6 and HourCredit.select().count() == 6
    assert dovecot.count("INBOX") == 0


def test_only_large_messages_are_asked_for_their_size(dovecot, imap_world):
    cfg = imap_world()
    big = make_mail(subject="큰 메일", body=REVIEW_EN + "x" * 300_000)
    dovecot.append([make_mail(), big, make_mail(subject="두번째", body=REVIEW_EN)])
    source = from_config(cfg)
    source.open()
    try:
        keys = source.waiting()
        large = source.large(keys, 256 * 1024)
        assert list(large) == [keys[1]] and large[keys[1]] > 300_000
        assert source.large(keys, 10_000_000) == {}
        assert source.large([], 1) == {}
    finally:
        source.close()


def test_sizes_of_many_large_messages_are_asked_for_in_parts(dovecot, imap_world, monkeypatch):
    """A backlog full of attachments: the sizes come in several FETCH commands (one
    command line for all could be longer than the server takes), none left out."""
    from mailworker.ingest import imap_source
    monkeypatch.setattr(imap_source, "SIZE_FETCH_UIDS", 2)
    cfg = imap_world()
    bigs = [make_mail(subject=f"첨부 {i}", body=REVIEW_EN + "x" * (40_000 + i)) for i in range(5)]
    dovecot.append([make_mail(), *bigs, make_mail(subject="작은 메일", body=REVIEW_EN)])
    source = from_config(cfg)
    source.open()
    sent = []
    real_fetch = source.client.fetch
    monkeypatch.setattr(source.client, "fetch",
                        lambda uids, items: sent.append(list(uids)) or real_fetch(uids, items))
    try:
        keys = source.waiting()
        large = source.large(keys, 32 * 1024)
    finally:
        source.close()
    assert sorted(large, key=int) == keys[1:6]
    assert [large[k] > 40_000 for k in keys[1:6]] == [True] * 5
    assert [len(part) for part in sent] == [2, 2, 1]


def test_a_long_pass_files_on_a_second_connection_while_it_fetches(
        dovecot, imap_world, clock, monkeypatch):
    opened = []
    real = ImapSource.filer

    def filer(self):
        twin = real(self)
        opened.append(twin)
        return twin
    monkeypatch.setattr(ImapSource, "filer", filer)
    cfg = imap_world(inbox={"batch_size": 10, "move_every": 20},
                     ingest={"daily_credit_cap": 1000})
    dovecot.append([unique_review(i) for i in range(95)])
    result = run_pass(cfg, clock)
    assert result.recorded == 95 and len(opened) == 1
    assert opened[0]._client is None                  # closed at the end of the pass
    assert dovecot.count("INBOX") == 0 and dovecot.count("Processed") == 95
    assert Message.select().count() == 95
    # A short pass files on the one connection it has.
    dovecot.append([unique_review(100 + i) for i in range(5)])
    assert run_pass(cfg, clock).recorded == 5 and len(opened) == 1


def test_the_inbox_is_listed_as_ranges_without_other_clients_deleted_mail(dovecot, imap_world):
    cfg = imap_world()
    dovecot.append([unique_review(i) for i in range(10)])
    with dovecot.client() as other:
        other.select_folder("INBOX")
        other.add_flags([3], [b"\\Deleted"])          # UID 3, marked by someone else
    source = from_config(cfg)
    source.open()
    try:
        assert source.client.has_capability("ESEARCH")
        keys = source.waiting()
        assert list(keys) == ["1", "2"] + [str(u) for u in range(4, 11)] and len(keys) == 9
        assert keys._ranges == [(1, 2), (4, 10)]     # two ranges, not nine numbers
    finally:
        source.close()


def test_key_ranges_behave_like_a_list_of_keys():
    from mailworker.ingest.sources import KeyRanges, chunks
    keys = KeyRanges.parse("9:12,1:3,5,4")
    assert list(keys) == ["1", "2", "3", "4", "5", "9", "10", "11", "12"] and len(keys) == 9
    assert keys[0] == "1" and keys[5] == "9" and keys[-1] == "12" and keys[1:3] == ["2", "3"]
    assert "10" in keys and "7" not in keys and "x" not in keys
    assert keys == list(keys) and KeyRanges.from_numbers([3, 1, 2]) == ["1", "2", "3"]
    assert [len(c) for c in chunks(keys, 4)] == [4, 4, 1]
    assert len(KeyRanges.parse("")) == 0 and list(KeyRanges.parse("")) == []
    with pytest.raises(IndexError):
        keys[9]


def test_imaplib_protocol_trace_only_runs_when_its_logger_listens(dovecot, imap_world, caplog):
    import logging
    cfg = imap_world()
    source = from_config(cfg)
    source.open()
    try:
        assert source._client._imap.debug == 0          # nobody listens: nothing formatted
    finally:
        source.close()
    caplog.set_level(logging.DEBUG, logger="imapclient.imaplib")
    source.open()
    try:
        assert source._client._imap.debug > 0           # troubleshooting: the trace is kept
        source.waiting()
    finally:
        source.close()
    assert dovecot.password not in caplog.text
