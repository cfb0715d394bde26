"""The staff digest: once a day whatever restarts happen, missed days caught up, content."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import schedule

from mailworker import cli
from mailworker.clock import FixedClock
from mailworker.models import HourCredit, Message, Outbox
from mailworker.outbound.digest import digest_due, digest_key, queue_digest
from mailworker.outbound.schedule import build_scheduler
from mailworker.outbound.sender import drain_outbox
from mailworker.outbox import domain_of, enqueue
from tests.outbound_support import add_members, bodies, open_db, outbound_config

KST = dt.timezone(dt.timedelta(hours=9))


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=KST)


@pytest.fixture
def env(make_config, tmp_path):
    clock = FixedClock(at(25, 8, 0))
    cfg = outbound_config(make_config, tmp_path)
    db = open_db(cfg, clock)
    yield cfg, clock
    db.close()


def digest_rows():
    return list(Outbox.select().where(Outbox.template == "digest").order_by(Outbox.id))


def test_one_digest_a_day_across_restarts(env):
    cfg, clock = env
    assert digest_due(cfg, clock) == []             # 08:00: not yet time
    clock.set(at(25, 9, 0))
    assert digest_due(cfg, clock) == [dt.date(2026, 11, 25)]
    scheduler = build_scheduler(cfg, clock)
    assert isinstance(scheduler, schedule.Scheduler) and scheduler.jobs
    scheduler.run_all()
    rows = digest_rows()
    assert [r.key for r in rows] == ["digest:2026-11-25"]
    assert rows[0].to_addr == "staff1@seoul.example, staff2@seoul.example"
    # The worker restarts twice: a new scheduler each time, the same single digest.
    for minutes in (5, 30):
        clock.set(at(25, 9, minutes))
        build_scheduler(cfg, clock).run_all()
    assert queue_digest(cfg, clock, dt.date(2026, 11, 25)).id == rows[0].id
    assert len(digest_rows()) == 1
    assert digest_due(cfg, clock) == []
    # Next morning, the next one.
    clock.set(at(26, 9, 1))
    build_scheduler(cfg, clock).run_all()
    assert [r.key for r in digest_rows()] == ["digest:2026-11-25", "digest:2026-11-26"]


def test_missed_digests_are_caught_up(env):
    cfg, clock = env
    clock.set(at(25, 9, 30))                        # first run of the worker
    build_scheduler(cfg, clock).run_all()
    clock.set(at(28, 10, 0))                        # down from the 25th to the 28th
    assert digest_due(cfg, clock) == [dt.date(2026, 11, d) for d in (26, 27, 28)]
    build_scheduler(cfg, clock).run_all()
    keys = [r.key for r in digest_rows()]
    assert keys == [digest_key(dt.date(2026, 11, d)) for d in (25, 26, 27, 28)]
    assert digest_due(cfg, clock) == []


def test_catch_up_is_bounded_and_a_fresh_install_sends_no_past_digests(make_config,
                                                                      tmp_path):
    clock = FixedClock(at(25, 9, 30))
    cfg = outbound_config(make_config, tmp_path, schedule={"digest_catch_up_days": 2})
    db = open_db(cfg, clock)
    try:
        assert digest_due(cfg, clock) == [dt.date(2026, 11, 25)]   # not the days before
        queue_digest(cfg, clock, dt.date(2026, 11, 25))
        clock.set(at(1, 9, 5, month=12))
        assert digest_due(cfg, clock) == [dt.date(2026, 11, 30), dt.date(2026, 12, 1)]
    finally:
        db.close()


def test_no_staff_address_means_no_digest(make_config, tmp_path):
    clock = FixedClock(at(25, 10))
    cfg = outbound_config(make_config, tmp_path, staff={"addresses": []})
    db = open_db(cfg, clock)
    try:
        assert digest_due(cfg, clock) == []
        assert queue_digest(cfg, clock, dt.date(2026, 11, 25)) is None
        assert cli.main(["--config", str(cfg.path), "digest", "--send"], clock=clock) == 2
    finally:
        db.close()


def add_message(n, kind, disposition, received, member=None, sender=None, subject="",
                reason="", excerpt=""):
    sha = hashlib.sha256(f"m{n}".encode()).hexdigest()
    return Message.create(
        sha256=sha, message_id=f"m{n}@example.net", source="maildir:/tmp/x",
        sender=sender or (member.primary_address if member else "x@example.com"),
        subject=subject, received_at=received.astimezone(dt.timezone.utc).replace(tzinfo=None),
        kind=kind, disposition=disposition, reason=reason, member=member, excerpt=excerpt)


def fill_yesterday(cfg, clock):
    members = add_members(clock)
    minji = members["kim.minji@example.net"]
    daniel = members["daniel.park@example.com"]
    m1 = add_message(1, "review", "credited", at(24, 10), minji, subject="S-지갑 로그인 오류",
                     reason="subject tag [품평]",
                     excerpt="로그인 버튼을 누르면 앱이 멈춥니다. 재설치해도 같습니다.")
    HourCredit.create(message=m1, member=minji, kind="review", hours=1,
                      credited_at=m1.received_at)
    m2 = add_message(2, "proposal", "credited", at(24, 15), daniel,
                     subject="Blockchain voting for 주민참여예산", reason="proposal words",
                     excerpt="It would be great to run participatory budgeting on chain.")
    HourCredit.create(message=m2, member=daniel, kind="proposal", hours=1,
                      credited_at=m2.received_at)
    add_message(3, "review", "no_credit", at(24, 16), minji, subject="S-지갑 로그인 오류",
                reason="same text sent twice")
    add_message(4, "triage", "triage", at(24, 11), minji, subject="질문이 있습니다",
                reason="no review or proposal words")
    add_message(5, "triage", "non_member", at(24, 12), sender="stranger@example.com",
                subject="광고 문의", reason="not a member")
    add_message(6, "triage", "quarantined", at(24, 13), sender="broken@example.com",
                subject="???", reason="unreadable MIME structure")
    add_message(7, "review", "credited", at(23, 10), minji, subject="earlier day")
    add_message(8, "review", "credited", at(25, 1), minji, subject="today, after midnight")
    failed = enqueue("nonmember:gone@example.com:2026-11-24", "non_member_reply",
                     "gone@example.com", {"subject": "x", "received_local": "2026-11-24 12:00",
                                          "in_reply_to": None}, clock, domain=domain_of(cfg))
    Outbox.update(status="failed", attempts=1,
                  last_error="550 5.1.1 <gone@example.com>: no such user").where(
        Outbox.id == failed.id).execute()
    return failed


def test_digest_content_and_chart(env, smtp_factory, make_config, tmp_path):
    cfg, clock = env
    server = smtp_factory("plain")
    cfg = outbound_config(make_config, tmp_path, server.outgoing_config())
    clock.set(at(25, 9, 0))
    failed = fill_yesterday(cfg, clock)
    row = queue_digest(cfg, clock, dt.date(2026, 11, 25))
    assert drain_outbox(cfg, clock).sent == 1
    got = server.messages[0]
    assert got.rcpt_tos == ["staff1@seoul.example", "staff2@seoul.example"]
    msg = got.message
    assert msg["Message-ID"] == row.message_id
    assert msg["Subject"] == ("[일일 요약 2026-11-25] 새 품평 2 · 제안 1 · 분류 대기 1 · "
                              "발송 실패 1")
    text, html = bodies(msg)
    assert "어제 2026-11-24 접수분" in text
    assert "김민지 (대학생) — S-지갑 로그인 오류" in text
    assert "“로그인 버튼을 누르면 앱이 멈춥니다. 재설치해도 같습니다.”" in text
    assert "Daniel Park (블록체인 개발자) — Blockchain voting for 주민참여예산" in text
    assert "불인정: same text sent twice" in text
    assert "earlier day" not in text and "today, after midnight" not in text
    assert "질문이 있습니다" in text and "mailworker triage accept 번호 --as review" in text
    assert "stranger@example.com — 광고 문의" in text
    assert "broken@example.com — ???: unreadable MIME structure" in text
    assert f"#{failed.id} non_member_reply → gone@example.com (1회 시도): 550 5.1.1" in text
    assert "대학생: 1시간 (단원 1명)" in text and "블록체인 개발자: 1시간 (단원 1명)" in text
    assert "합계: 2시간" in text
    assert "2026년 하반기 분야별 봉사시간" in text
    assert "■ 블록체인 장부" in text
    assert "최근 30일 품평·제안 수 (2026-10-26 ~ 2026-11-24): 합계 4건" in text
    # The chart is drawn in the HTML itself: no image part, no <img>.
    assert not [p for p in msg.walk() if p.get_content_maintype() == "image"]
    assert "<img" not in html and "cid:" not in html
    assert "김민지" in html and "&lt;" not in html.split("<body")[0]


def test_digest_command_preview_and_send(env, smtp_factory, make_config, tmp_path, capsys):
    cfg, clock = env
    server = smtp_factory("plain")
    cfg = outbound_config(make_config, tmp_path, server.outgoing_config())
    clock.set(at(25, 11, 0))
    fill_yesterday(cfg, clock)
    args = ["--config", str(cfg.path), "digest", "--date", "2026-11-25"]
    assert cli.main(args + ["--preview"], clock=clock) == 0
    out = capsys.readouterr().out
    assert "Subject: [일일 요약 2026-11-25] 새 품평 2" in out
    assert "S-지갑 로그인 오류" in out
    assert server.messages == []
    assert cli.main(args + ["--send"], clock=clock) == 0
    assert "sent (outbox #" in capsys.readouterr().out
    assert cli.main(args + ["--send"], clock=clock) == 0
    assert "already sent" in capsys.readouterr().out
    assert len(server.messages) == 1
    assert cli.main(["--config", str(cfg.path), "digest", "--date", "25/11"], clock=clock) == 2
    assert "write YYYY-MM-DD" in capsys.readouterr().err


def test_english_digest_for_english_speaking_staff(make_config, tmp_path, capsys):
    clock = FixedClock(at(25, 9, 30))
    cfg = outbound_config(make_config, tmp_path, staff={"language": "en"})
    db = open_db(cfg, clock)
    try:
        fill_yesterday(cfg, clock)
        assert cli.main(["--config", str(cfg.path), "digest"], clock=clock) == 0
        out = capsys.readouterr().out
        assert "Subject: [Daily digest 2026-11-25] 2 reviews · 1 proposals · 1 to triage" in out
        assert "김민지 (university student) — S-지갑 로그인 오류" in out
        assert "Volunteer hours 2026 H2 per category" in out
    finally:
        db.close()


def test_digest_counts_thanks_and_answered_questions_and_marks_waiting_questions(env):
    # Issue 11: `other` (thanks, chatter) and self-service answers are counts; questions
    # for staff stand out in the triage list.
    cfg, clock = env
    clock.set(at(25, 9, 0))
    fill_yesterday(cfg, clock)
    minji = Message.get(Message.subject == "S-지갑 로그인 오류").member
    add_message(20, "other", "noted", at(24, 9), minji, subject="Re: [안내] 정례회의",
                reason="thanks or acknowledgement")
    add_message(21, "other", "noted", at(24, 9, 30), minji, subject="감사합니다")
    add_message(22, "question", "answered", at(24, 10), minji, subject="내 봉사시간")
    add_message(23, "question", "triage", at(24, 14), minji, subject="정례회의 장소 문의",
                reason="question for staff")
    add_message(24, "other", "noted", at(23, 9), minji, subject="earlier day")
    row = queue_digest(cfg, clock, dt.date(2026, 11, 25))
    ctx = row.context
    assert (ctx["other_total"], ctx["answered_total"]) == (2, 1)
    assert ctx["questions_waiting"] == 1 and ctx["triage_total"] == 2
    assert drain_outbox(cfg, clock).sent == 1
    sent = sorted(cfg.resolve(cfg.outgoing.directory).glob("*.eml"))
    from tests.outbound_support import parse
    text, html = bodies(parse(sent[-1].read_bytes()))
    assert "인사·확인 메일 2건, 자동 답변한 문의 1건" in text
    assert "[문의] 김민지 — 정례회의 장소 문의" in text
    assert "(그중 단원 문의 1건)" in text and "[문의]" in html
