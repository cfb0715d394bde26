"""The ingest pipeline end to end on a real Maildir and a real SQLite file.

Crediting rules, replies, ledger events and filing, for every kind. The same code path
runs against Dovecot in test_ingest_imap.py.
"""
from __future__ import annotations

import json
import mailbox
import os
import sysconfig
import threading
from pathlib import Path

import pytest

from mailworker.ingest import pipeline as pipeline_mod
from mailworker.ingest import triage
from mailworker.ingest.maildir_source import MaildirSource
from mailworker.ingest.pipeline import Ingestor
from mailworker.ingest.sources import folder_names
from mailworker.models import HourCredit, LedgerEvent, Member, Message, Outbox
from tests.conftest import skip_unless
from tests.mailfactory import PROPOSAL_KO, REVIEW_EN, make_mail, unique_review
from tests.roster import load_roster

KEY = b"k" * 32


@pytest.fixture
def world(make_config, clock, tmp_path):
    def build(**sections):
        raw = {"inbox": {"type": "maildir", "path": str(tmp_path / "Maildir")}}
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        cfg = make_config(raw)
        from mailworker.db import open_from_config
        open_from_config(cfg, clock)
        members = load_roster(clock)
        source = MaildirSource(cfg.inbox.path, folder_names(cfg))
        source.open()
        return World(cfg, clock, source, members)
    return build


class World:
    def __init__(self, cfg, clock, source, members):
        self.cfg, self.clock, self.source, self.members = cfg, clock, source, members
        self.box = mailbox.Maildir(cfg.inbox.path, factory=None, create=True)

    def deliver(self, *raws: bytes) -> None:
        for raw in raws:
            self.box.add(raw)

    def run(self):
        return Ingestor(self.cfg, self.clock, self.source, KEY, keep_outcomes=True).run_pass()

    def folder_count(self, role_folder: str) -> int:
        return len(list((Path(self.cfg.inbox.path) / f".{role_folder}" / "cur").iterdir()))

    def inbox_count(self) -> int:
        root = Path(self.cfg.inbox.path)
        return sum(1 for d in ("new", "cur") for _ in (root / d).iterdir())


def only(query):
    rows = list(query)
    assert len(rows) == 1, rows
    return rows[0]


def test_review_is_credited_acknowledged_ledgered_and_filed(world):
    w = world()
    w.deliver(make_mail())
    result = w.run()
    assert result.recorded == 1 and result.dispositions["credited"] == 1
    msg = only(Message.select())
    assert (msg.kind, msg.disposition) == ("review", "credited")
    assert msg.subject == "전자증명서 앱 오류"
    assert msg.member.display_name == "김민지"
    credit = only(HourCredit.select())
    assert credit.hours == 1 and credit.message_id == msg.id
    ack = only(Outbox.select())
    assert ack.template == "ack" and ack.to_addr == "kim.minji@example.net"
    assert ack.context["total_hours"] == 1 and ack.context["kind"] == "review"
    assert ack.attachments == [{"kind": "ledger_receipt", "msg_sha256": msg.sha256}]
    event = only(LedgerEvent.select())
    leaf = json.loads(event.payload)
    assert leaf["msg_sha256"] == msg.sha256 and leaf["hours"] == 1
    assert "kim" not in event.payload and "김민지" not in event.payload
    assert w.inbox_count() == 0 and w.folder_count("Processed") == 1


def test_rerun_with_same_mail_credits_nothing_twice(world):
    w = world()
    raw = make_mail()
    w.deliver(raw)
    w.run()
    w.deliver(raw)            # delivered again (e.g. a crash after commit, before the move)
    result = w.run()
    assert result.already == 1 and result.recorded == 0
    assert HourCredit.select().count() == 1 and Outbox.select().count() == 1
    assert w.inbox_count() == 0


def test_proposal_and_english_review(world):
    w = world()
    w.deliver(make_mail(subject="[제안] 봉사시간 블록체인 기록", body=PROPOSAL_KO),
              make_mail(sender="daniel.park@example.com", sender_name="Daniel Park",
                        subject="S-coin wallet crash", body=REVIEW_EN))
    w.run()
    kinds = {m.sender: (m.kind, m.disposition) for m in Message.select()}
    assert kinds == {"kim.minji@example.net": ("proposal", "credited"),
                     "daniel.park@example.com": ("review", "credited")}
    en_ack = only(Outbox.select().where(Outbox.to_addr == "daniel.park@example.com"))
    assert en_ack.context["language"] == "en" and en_ack.context["half_year"] == "2026 H2"


def test_alias_address_credits_the_same_member(world):
    w = world()
    w.deliver(make_mail(sender="Minji.Kim@Univ.Example.AC.KR"))
    w.run()
    assert only(HourCredit.select()).member.display_name == "김민지"


def test_non_member_gets_one_reply_a_day(world):
    w = world()
    for i in range(2):
        w.deliver(make_mail(sender="stranger@example.com", sender_name="Stranger",
                            subject=f"앱 오류 {i}", body=f"{i} " + REVIEW_EN))
    w.run()
    assert [m.disposition for m in Message.select()] == ["non_member", "non_member"]
    assert Outbox.select().where(Outbox.template == "non_member_reply").count() == 1
    w.clock.advance(days=1)
    w.deliver(make_mail(sender="stranger@example.com", subject="again", body=REVIEW_EN))
    w.run()
    assert Outbox.select().where(Outbox.template == "non_member_reply").count() == 2
    assert HourCredit.select().count() == 0


def test_auto_reply_and_bounce_get_no_answer(world):
    w = world()
    w.deliver(make_mail(subject="부재중: 자동 회신", body="11월 30일까지 휴가입니다. 부재중입니다.",
                        headers={"Auto-Submitted": "auto-replied"}))
    bounce = (b"From: MAILER-DAEMON@mx.example.org\r\nTo: group@example.org\r\n"
              b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx.example.org>\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: multipart/report; "
              b"report-type=delivery-status; boundary=\"XX\"\r\n\r\n--XX\r\n"
              b"Content-Type: text/plain\r\n\r\nDelivery failed.\r\n--XX\r\n"
              b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n"
              b"\r\nFinal-Recipient: rfc822; gone@example.net\r\nAction: failed\r\n"
              b"Status: 5.1.1\r\n\r\n--XX--\r\n")
    w.deliver(bounce)
    w.run()
    got = sorted((m.kind, m.disposition) for m in Message.select())
    assert got == [("auto_reply", "ignored"), ("bounce", "bounce")]
    assert Outbox.select().count() == 0 and HourCredit.select().count() == 0


def test_unclear_mail_goes_to_triage_and_staff_decide(world):
    # Issue 11 changed this test's mails: a thanks note and a question used to go to triage
    # as "unclear"; by the rules they are `other` (noted) and `question` (triage
    # with the "question received" reply). An unclear mail is now one a person could not
    # tell either: here one whose subject carries both tags (a complaint and an idea of
    # equal weight is now one credit, its kind chosen by the learned reading).
    w = world()
    w.deliver(make_mail(subject="안녕하세요", body="지난번 모임 사진 잘 받았습니다. 감사합니다. 좋은 하루 되세요."))
    w.deliver(make_mail(subject="[품평][제안] 의견", body="지갑 앱 송금 화면이 자꾸 멈춥니다. 그리고 기부금 "
                                                   "관리에 블록체인을 도입하는 새로운 서비스를 제안합니다."))
    w.deliver(make_mail(sender="seoyeon.lee@example.org", sender_name="이서연",
                        subject="문의", body="다음 모임 장소가 어디인지 알려주실 수 있나요? 감사합니다."))
    w.run()
    assert only(Message.select().where(Message.kind == "other")).disposition == "noted"
    waiting = triage.pending()
    assert [m.kind for m in waiting] == ["triage", "question"]
    assert w.folder_count("Triage") == 2
    assert Outbox.select().where(Outbox.template == "triage_notice").count() == 1
    assert Outbox.select().where(Outbox.template == "question_received").count() == 1
    accepted = triage.accept(w.cfg, w.clock, waiting[0].id, "review", "staff-kim", KEY)
    assert accepted.disposition == "credited" and "staff-kim" in accepted.reason
    assert only(HourCredit.select()).by == "staff:staff-kim"
    assert LedgerEvent.select().count() == 1
    rejected = triage.reject(w.cfg, w.clock, waiting[1].id, "시청 본관 8층입니다", "staff-kim")
    assert rejected.disposition == "rejected"
    reply = only(Outbox.select().where(Outbox.template == "triage_reply"))
    assert reply.to_addr == "seoyeon.lee@example.org"
    assert reply.context["staff_reason"] == "시청 본관 8층입니다"
    with pytest.raises(Exception, match="not waiting in triage"):
        triage.accept(w.cfg, w.clock, waiting[0].id, "review", "staff-kim", KEY)
    assert HourCredit.select().count() == 1


def test_short_body_same_text_and_daily_cap_are_not_credited(world):
    w = world(ingest={"daily_credit_cap": 2})
    w.deliver(make_mail(subject="[품평] 앱 오류", body="로그인 버그가 있어요"))
    w.run()
    short = only(Message.select())
    assert short.disposition == "no_credit" and "letters or digits" in short.reason
    w.deliver(make_mail(body=REVIEW_EN + " first"))
    w.run()
    w.deliver(make_mail(body=REVIEW_EN + " first"))   # same text, new Message-ID
    w.run()
    same = Message.select().order_by(Message.id.desc()).first()
    assert same.disposition == "no_credit" and "same text" in same.reason
    w.deliver(unique_review(1))
    w.deliver(unique_review(2))
    w.run()
    last = Message.select().order_by(Message.id.desc()).first()
    assert last.disposition == "no_credit" and "daily limit of 2" in last.reason
    assert HourCredit.select().count() == 2
    w.clock.advance(days=1)
    w.deliver(unique_review(3))
    w.run()
    assert HourCredit.select().count() == 3
    assert Outbox.select().where(Outbox.template == "no_credit").count() == 3


def test_same_message_id_different_bytes_is_a_duplicate(world):
    w = world()
    w.deliver(make_mail(message_id="<same@example.net>"))
    w.run()
    w.deliver(b"Received: from relay2\r\n" + make_mail(message_id="<same@example.net>"))
    w.run()
    assert [m.disposition for m in Message.select().order_by(Message.id)] == \
        ["credited", "duplicate"]
    assert HourCredit.select().count() == 1


def test_oversize_mail_is_quarantined_from_its_headers(world):
    w = world(limits={"max_message_bytes": 4096})
    w.deliver(make_mail(attachment=("screenshot.png", b"\x89PNG" + b"x" * 20000)))
    w.run()
    msg = only(Message.select())
    assert msg.disposition == "quarantined" and msg.hash_basis == "headers"
    assert "too large" in msg.reason and "max_message_bytes" in msg.reason
    assert msg.subject == "전자증명서 앱 오류"
    assert w.folder_count("Quarantine") == 1 and HourCredit.select().count() == 0
    told = only(Outbox.select())
    assert told.template == "too_large" and told.context["limit_mb"] == "0.004096"
    assert told.to_addr == "kim.minji@example.net"


def test_spoofed_mail_is_not_credited(world):
    w = world(ingest={"trusted_authserv_id": "mx.seoul.example"})
    w.deliver(make_mail(body=REVIEW_EN + " spoof", headers={
        "Authentication-Results": "mx.seoul.example; spf=fail smtp.mailfrom=example.net; "
                                  "dkim=none; dmarc=fail header.from=example.net"}))
    w.deliver(make_mail(body=REVIEW_EN + " forged-pass", headers={
        "Authentication-Results": "evil.example; spf=pass; dkim=pass; dmarc=pass"}))
    w.deliver(make_mail(body=REVIEW_EN + " genuine", headers={
        "Authentication-Results": "mx.seoul.example; spf=pass smtp.mailfrom=example.net; "
                                  "dkim=pass header.d=example.net; dmarc=pass"}))
    w.run()
    got = [m.disposition for m in Message.select().order_by(Message.id)]
    assert got == ["no_credit", "no_credit", "credited"]
    assert HourCredit.select().count() == 1
    # A failed authentication gets no reply: the real member may not have sent it.
    assert Outbox.select().count() == 1


def test_resigned_member_is_not_credited(world):
    w = world()
    Member.update(status="resigned").execute()
    w.deliver(make_mail())
    w.run()
    msg = only(Message.select())
    assert msg.disposition == "no_credit" and "resigned" in msg.reason


def test_resignation_and_rsvp_are_recorded_and_answered(world):
    w = world()
    w.deliver(make_mail(subject="[해촉] 해촉 요청드립니다",
                        body="개인 사정으로 거버넌스 단원 활동을 그만두고자 해촉을 요청드립니다."))
    w.deliver(make_mail(subject="Re: 11월 정례회의 안내", body="정례회의 참석합니다. 감사합니다.",
                        headers={"In-Reply-To": "<meeting-2026-11@seoul.example>"}))
    w.run()
    got = sorted((m.kind, m.disposition) for m in Message.select())
    assert got == [("resignation", "recorded"), ("rsvp", "recorded")]
    templates = sorted(o.template for o in Outbox.select())
    assert templates == ["resignation_ack", "rsvp_ack"]
    assert only(Outbox.select().where(Outbox.template == "rsvp_ack")).context["answer"] == "attend"


def test_a_message_that_breaks_processing_is_quarantined_and_the_rest_go_on(
        world, monkeypatch):
    # Fault injection into our own code (not a server): classify() blows up on one message.
    from mailworker.ingest import analysis
    w = world()
    real = analysis.classify

    def flaky(mail):
        if "boom" in mail.subject:
            raise RuntimeError("classifier exploded")
        return real(mail)
    monkeypatch.setattr(analysis, "classify", flaky)
    w.deliver(make_mail(subject="boom"), make_mail(subject="앱 오류 신고", body=REVIEW_EN))
    w.run()
    got = {m.subject or "": m.disposition for m in Message.select()}
    quarantined = only(Message.select().where(Message.disposition == "quarantined"))
    assert "classifier exploded" in quarantined.reason
    assert "credited" in got.values() and w.inbox_count() == 0


def test_every_message_of_cpython_email_corpus_gets_a_disposition(world):
    data = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
    files = sorted(data.glob("msg_*.txt")) if data.exists() else []
    skip_unless(bool(files), f"CPython's email test corpus not found at {data}")
    w = world()
    for f in files:
        w.deliver(f.read_bytes())
    result = w.run()
    assert result.seen == len(files)
    assert Message.select().count() + result.already == len(files)
    assert all(m.disposition for m in Message.select())
    assert w.inbox_count() == 0


def test_a_batch_the_database_refuses_is_recorded_again_one_by_one(world, monkeypatch):
    # Fault injection into our own code: the batch's executemany fails once.
    import peewee as pw
    from mailworker.ingest.sink import BatchSink
    real_flush = BatchSink.flush
    calls = []

    def failing_flush(self, now):
        calls.append(1)
        if len(calls) == 1:
            raise pw.IntegrityError("simulated constraint failure")
        return real_flush(self, now)
    monkeypatch.setattr(BatchSink, "flush", failing_flush)
    w = world()
    w.deliver(make_mail(), make_mail(subject="[제안] 제안", body=PROPOSAL_KO))
    result = w.run()
    assert result.recorded == 2
    assert sorted(m.disposition for m in Message.select()) == ["credited", "credited"]
    assert HourCredit.select().count() == 2 and LedgerEvent.select().count() == 2


def test_the_same_pipeline_on_postgresql(pg, make_config, clock, tmp_path):
    url = pg.new_database("ingest")
    cfg = make_config({"inbox": {"type": "maildir", "path": str(tmp_path / "Maildir")},
                       "database": {"url": url}})
    from mailworker.db import open_from_config
    database = open_from_config(cfg, clock)
    try:
        load_roster(clock)
        w = World(cfg, clock, MaildirSource(cfg.inbox.path, folder_names(cfg)), None)
        w.source.open()
        long_id = "<" + "x" * 400 + "@example.net>"
        w.deliver(make_mail(), make_mail(sender="stranger@example.com", body=REVIEW_EN),
                  make_mail(subject="[제안] 봉사시간", body=PROPOSAL_KO, message_id=long_id))
        result = w.run()
        assert result.recorded == 3
        assert sorted(m.disposition for m in Message.select()) == \
            ["credited", "credited", "non_member"]
        assert HourCredit.select().count() == 2 and LedgerEvent.select().count() == 2
        assert Outbox.select().count() == 3
        w.deliver(make_mail(subject="[제안] 봉사시간", body=PROPOSAL_KO, message_id=long_id))
        assert w.run().already == 1
    finally:
        database.close()


def test_batches_are_bounded_by_bytes_so_large_mail_keeps_memory_flat():
    from mailworker.ingest.mailbox_io import byte_batches
    large = {"b": 40, "d": 500}      # only sizes over ``small`` are known
    # "d" is over max_bytes: only its headers (64 KiB at most) will be downloaded.
    assert byte_batches(list("abcde"), large, max_bytes=100, budget=60, small=10) == \
        [["a", "b", "c"], ["d"], ["e"]]
    assert byte_batches(list("abc"), large, max_bytes=100, budget=1000, small=10) == \
        [["a", "b", "c"]]
    # A message whose size was not asked for counts as ``small`` bytes.
    assert byte_batches(list("xyz"), {}, max_bytes=100, budget=60, small=30) == \
        [["x", "y"], ["z"]]


def test_plain_mail_comes_in_batches_of_the_configured_size(world):
    """Mail whose size is not asked for (small mail) counts as SMALL_BYTES: a batch of
    the default 500 such messages fits the byte budget, so the count bounds it."""
    from mailworker.ingest.mailbox_io import BATCH_BYTES, SMALL_BYTES, MailboxIO
    assert 500 * SMALL_BYTES <= BATCH_BYTES
    w = world(inbox={"batch_size": 7})
    w.deliver(*[unique_review(i) for i in range(16)])
    with MailboxIO(w.source, 7, w.cfg.limits.max_message_bytes, long_pass=1000) as io:
        assert io.list() == 16
        io.start()
        assert [len(b) for b in io.batches(threading.Event())] == [7, 7, 2]


def test_rows_go_in_as_few_statements_as_the_parameter_limit_allows(world, monkeypatch):
    """Every row of a batch is written, however the rows are split between multi-row
    INSERTs; a split that lost or doubled a row would show in the counts."""
    from mailworker import prepared
    from mailworker.ingest import sink as sink_mod
    statements = []
    real_execute_rows = prepared.execute_rows

    def counting(sql_for, rows):
        statements.append(len(rows))
        return real_execute_rows(sql_for, rows)
    monkeypatch.setattr(prepared, "MAX_PARAMETERS", 100)   # a few rows per statement
    monkeypatch.setattr(sink_mod, "execute_rows", counting)
    w = world(ingest={"daily_credit_cap": 100})
    w.deliver(*[unique_review(i) for i in range(23)])
    result = w.run()
    assert result.recorded == 23
    assert Message.select().count() == 23 and HourCredit.select().count() == 23
    assert LedgerEvent.select().count() == 23 and Outbox.select().count() == 23
    assert len({m.sha256 for m in Message.select()}) == 23
    assert {c.message.sha256 for c in HourCredit.select()} == {m.sha256 for m in Message.select()}
    assert statements and sum(statements) == 23   # the credits, in one call for the batch


def test_multi_row_statements_come_from_peewees_public_api(database):
    """Several rows in one INSERT, as peewee itself writes them (no SQL edited as text),
    keeping ON CONFLICT and dropping RETURNING."""
    from mailworker.ingest.sink import _credit_statement
    from mailworker.prepared import _insert_statement
    statement = _insert_statement(HourCredit, on_conflict_ignore=True)
    assert statement.many_sql(3) == (
        'INSERT OR IGNORE INTO "hour_credit" ("message_id", "member_id", "kind", "hours", '
        '"credited_at", "by") VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?), '
        '(?, ?, ?, ?, ?, ?)')
    assert statement.many_sql(3) is statement.many_sql(3)          # built once per count
    assert "RETURNING" not in statement.many_sql(2).upper()
    credits = _credit_statement()
    two = credits.many_sql(2)
    assert two.count("(?, ?, ?, ?, ?, ?)") == 2
    assert two.endswith('AS v JOIN "message" AS m ON m."sha256" = v.column1')


def test_a_quarantined_message_takes_its_credit_back_so_the_daily_cap_holds(
        world, monkeypatch):
    # Fault injection into our own code: queueing the ack of one message blows up after
    # its credit was counted. Its rows are dropped, and so must its count be.
    from mailworker.ingest import record
    real = record.queue_reply

    def flaky(cfg, sink, template, message, *args, **kwargs):
        if template == "ack" and "boom" in message.subject:
            raise RuntimeError("template store exploded")
        return real(cfg, sink, template, message, *args, **kwargs)
    monkeypatch.setattr(record, "queue_reply", flaky)
    w = world(ingest={"daily_credit_cap": 2})
    # In this order: one credited and kept, then the one that fails, then two more.
    for i, raw in enumerate([unique_review(1), make_mail(subject="boom 신고", body=REVIEW_EN),
                             unique_review(2), unique_review(3)]):
        key = w.box.add(raw)
        os.utime(Path(w.cfg.inbox.path) / "new" / key, (1_700_000_000 + i,) * 2)
    w.run()
    got = sorted(m.disposition for m in Message.select())
    assert got == ["credited", "credited", "no_credit", "quarantined"], got
    assert HourCredit.select().count() == 2


def test_nothing_leaves_the_inbox_before_its_batch_is_on_disk(world, monkeypatch):
    from mailworker.ingest.commits import IngestCommits
    from mailworker.models import db_proxy
    events = []
    real_durable, real_file = IngestCommits.durable, MaildirSource.file

    def durable(self):
        events.append("durable")
        return real_durable(self)

    def file(self, moves):
        events.append("file")
        return real_file(self, moves)
    monkeypatch.setattr(IngestCommits, "durable", durable)
    monkeypatch.setattr(MaildirSource, "file", file)
    w = world(inbox={"batch_size": 2, "move_every": 2})
    w.deliver(*[unique_review(i) for i in range(5)])
    assert w.run().recorded == 5 and w.inbox_count() == 0
    assert events.count("file") >= 3
    assert all(events[i - 1] == "durable" for i, e in enumerate(events) if e == "file")
    # Outside the pass, every commit is synced again (synchronous=FULL).
    assert db_proxy.execute_sql("PRAGMA synchronous").fetchone()[0] == 2
    assert db_proxy.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000


def test_the_write_ahead_log_is_copied_into_the_database_on_a_thread(database):
    import os
    from mailworker.ingest.commits import IngestCommits
    from mailworker.models import State
    path = database.database
    before = os.path.getsize(path)
    with IngestCommits(database, interval=0.01) as commits:
        assert database.execute_sql("PRAGMA synchronous").fetchone()[0] == 1
        assert database.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        with database.atomic():
            for i in range(300):
                State.create(key=f"k{i}", value="x" * 3000, updated_at="2026-11-25")
        commits.committed()
        commits.durable()
        deadline = __import__("time").monotonic() + 10
        while os.path.getsize(path) < before + 300 * 3000:
            assert __import__("time").monotonic() < deadline, "the log was never copied"
            __import__("time").sleep(0.01)
    assert State.select().count() == 300


def test_the_writer_is_held_off_only_while_the_log_holds_much(database, monkeypatch):
    """The log's file keeps the size it once reached; copying it holds the writer off
    (RESTART) only while what the log holds is past the limit, not for ever after."""
    import os
    import sqlite3
    import time
    from mailworker.ingest import commits as commits_mod
    from mailworker.models import State
    modes = []
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):          # the copying thread's own connection, watched
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(lambda sql: modes.append(sql.split("(")[1].rstrip(")"))
                                if "wal_checkpoint" in sql else None)
        return conn
    monkeypatch.setattr(commits_mod.sqlite3, "connect", connect)

    def copied(count: int) -> None:
        deadline = time.monotonic() + 10
        while len(modes) < count:
            assert time.monotonic() < deadline, f"only {modes} copies"
            time.sleep(0.005)

    limit = 64 * 4096
    with commits_mod.IngestCommits(database, interval=0.0, restart_bytes=limit) as commits:
        with database.atomic():            # a large batch: the log holds more than the limit
            for i in range(200):
                State.create(key=f"big{i}", value="x" * 3000, updated_at="2026-11-25")
        commits.committed()
        copied(1)
        commits.committed()
        copied(2)
        assert modes == ["PASSIVE", "RESTART"]
        for i in range(5):                 # small batches: the file stays large, the log not
            State.create(key=f"small{i}", value="y", updated_at="2026-11-25")
            commits.committed()
            copied(3 + i)
        assert os.path.getsize(database.database + "-wal") > limit
        assert modes[2:] == ["PASSIVE"] * 5
    assert State.select().count() == 205


def test_a_long_pass_tells_systemd_it_is_alive_after_every_batch(world, tmp_path,
                                                                  monkeypatch):
    # A real AF_UNIX datagram socket, as systemd listens on; the service hands
    # sdnotify.watchdog to the pass so a big backlog is not taken for a hang.
    import socket
    from mailworker.service import Service
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    try:
        w = world(inbox={"batch_size": 4}, ingest={"daily_credit_cap": 100})
        w.deliver(*[unique_review(i) for i in range(18)])
        service = Service(w.cfg, w.clock, source=w.source)
        service.connected = True
        assert service.read_inbox().recorded == 18
        pings = []
        sock.setblocking(False)
        while True:
            try:
                pings.append(sock.recv(4096))
            except BlockingIOError:
                break
        assert pings.count(b"WATCHDOG=1") >= 5        # 18 messages in batches of 4
    finally:
        sock.close()


def test_analysis_is_handed_two_batches_ahead_of_the_one_being_written(world, monkeypatch):
    """The analysis process always has the next batch at hand: while batch n is written,
    batches n+1 and n+2 have been handed over already (fewer only at the end)."""
    from mailworker.ingest.analysis import Analyzer
    submitted, seen_at_write = [], []
    real_submit, real_process = Analyzer.submit, Ingestor._process_batch
    monkeypatch.setattr(Analyzer, "submit",
                        lambda self, raws: submitted.append(len(raws)) or real_submit(self, raws))
    monkeypatch.setattr(Ingestor, "_process_batch", lambda self, *a: (
        seen_at_write.append(len(submitted)), real_process(self, *a))[1])
    w = world(inbox={"batch_size": 3})
    w.deliver(*[unique_review(i) for i in range(14)])
    assert w.run().recorded == 14
    assert submitted == [3, 3, 3, 3, 2]
    assert seen_at_write == [3, 4, 5, 5, 5]


def test_a_missing_intent_model_stops_the_pass_before_any_mail_is_read(world, monkeypatch,
                                                                       tmp_path):
    # An installation fault: reported with the file named, and no mail is quarantined or
    # moved for it (read per message, it would quarantine every mail).
    from mailworker.errors import MailworkerError
    from mailworker.ingest import intent_model
    w = world()
    w.deliver(make_mail())
    monkeypatch.setattr(intent_model, "MODEL_PATH", tmp_path / "gone" / "intent_model.json")
    shipped = intent_model.use(None)
    try:
        with pytest.raises(MailworkerError, match=r"gone/intent_model\.json.*train-intent-model"):
            w.run()
    finally:
        intent_model.use(shipped)
    assert w.inbox_count() == 1 and Message.select().count() == 0
