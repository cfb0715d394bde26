"""Meetings end to end on a real Maildir (and one Dovecot pass): notices, answers threaded
to the right meeting from Gmail- and Outlook-shaped replies, changed answers, triage of
answers matching no meeting, reminders, attendance, allowance CSV and budget."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from mailworker import cli
from mailworker.clock import FixedClock
from mailworker.db import open_from_config
from mailworker.group import meetings as mt
from mailworker.group import rsvp
from mailworker.group.steps import run_group_steps
from mailworker.models import AuditEntry, Attendance, Meeting, Message, Outbox, Rsvp
from tests.mailfactory import make_mail
from tests.outbound_support import outbound_config
from tests.group_support import CHOI, DANIEL, KIM, LEE, MaildirWorld, imap_pass, seoul  # noqa: F401
from tests.roster import load_roster

STAFF_FROM = "서울 블록체인 거버넌스 사무국 <governance@seoul.example>"


class World(MaildirWorld):
    def deliver_and_run(self, *raws: bytes) -> list[str]:
        for raw in raws:
            self.box.add(raw)
        self.ingest()
        return run_group_steps(self.cfg, self.clock)

    def meeting(self, when: dt.datetime, place: str = "서울시청 3층 대회의실") -> Meeting:
        return mt.create_meeting(when, place, self.clock, self.cfg.tz)

    def notice(self, meeting: Meeting) -> mt.QueueReport:
        return mt.queue_meeting_mail(self.cfg, self.clock, meeting, "meeting_notice", "notice",
                                     mt.active_members())

    def notice_row(self, meeting: Meeting, email: str, what: str = "notice") -> Outbox:
        return Outbox.get((Outbox.key.startswith(f"meeting:{meeting.id}:{what}:"))
                          & (Outbox.to_addr == email))

    def answer(self, meeting: Meeting, email: str) -> str | None:
        row = (Rsvp.select().join(Message, on=(Rsvp.message == Message.id))
               .where((Rsvp.meeting == meeting) & (Message.sender == email)).first())
        return row.answer if row else None


@pytest.fixture
def world(make_config, tmp_path, clock):
    cfg = outbound_config(make_config, tmp_path,
                          inbox={"type": "maildir", "path": str(tmp_path / "Maildir")},
                          group={"rsvp_reminder_days": 3})
    db = open_from_config(cfg, clock)
    load_roster(clock)
    yield World(cfg, clock)
    db.close()


def notice_subject(meeting: Meeting, tz) -> str:
    return f"[정례회의 안내] {mt.date_label(meeting, tz)}"


def gmail_reply(sender: str, name: str, notice: Outbox, subject: str, answer: str,
                date: dt.datetime, references: str | None = None) -> bytes:
    """Gmail: In-Reply-To and References, the notice quoted under "On ... wrote:"."""
    body = (f"{answer}\n\nOn Wed, Nov 25, 2026 at 10:00 AM {STAFF_FROM} wrote:\n"
            "> 김민지 님, 안녕하세요.\n>\n> 서울 블록체인 거버넌스 정례회의를 아래와 같이 엽니다.\n"
            "> 참석하신 단원께는 참석수당 20,000원을 드립니다.\n")
    return make_mail(sender=sender, sender_name=name, subject=f"Re: {subject}", body=body,
                     date=date, headers={"In-Reply-To": notice.message_id,
                                         "References": references or notice.message_id})


def outlook_reply(sender: str, name: str, subject: str, answer: str, date: dt.datetime,
                  in_reply_to: str | None = None, prefix: str = "회신") -> bytes:
    """Outlook: Thread-Index/Thread-Topic, "회신:"/"RE:", References often missing,
    the notice under "-----Original Message-----"."""
    body = (f"{answer}\n\n-----Original Message-----\nFrom: {STAFF_FROM}\n"
            "Sent: Wednesday, November 25, 2026 10:00 AM\nSubject: " + subject + "\n\n"
            "서울 블록체인 거버넌스 정례회의를 아래와 같이 엽니다.\n")
    headers = {"Thread-Index": "AdrHq1m2b3c4d5e6f7g8h9i0jA==", "Thread-Topic": subject,
               "X-Mailer": "Microsoft Outlook 16.0"}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
    return make_mail(sender=sender, sender_name=name, subject=f"{prefix}: {subject}",
                     body=body, date=date, headers=headers)


def test_answers_thread_to_the_right_meeting_of_several(world):
    tz = world.cfg.tz
    a = world.meeting(seoul(2026, 12, 10, 19, 0))
    b = world.meeting(seoul(2026, 12, 17, 19, 0))
    assert world.notice(a).queued == 4 and world.notice(b).queued == 4
    assert world.notice(a).already == 4          # a repeated command queues nothing new

    lines = world.deliver_and_run(
        # Gmail, to meeting B: In-Reply-To + References.
        gmail_reply(KIM, "김민지", world.notice_row(b, KIM), notice_subject(b, tz),
                    "참석하겠습니다.", seoul(2026, 11, 25, 11, 0)),
        # Outlook, to meeting A, thread headers lost: the subject names the meeting.
        outlook_reply(LEE, "이서연", notice_subject(a, tz), "이번에는 불참합니다. 죄송합니다.",
                      seoul(2026, 11, 25, 11, 5)),
        # Outlook "RE:" with In-Reply-To only, to meeting A.
        outlook_reply(CHOI, "최준호", notice_subject(a, tz), "참석합니다.",
                      seoul(2026, 11, 25, 11, 10), world.notice_row(a, CHOI).message_id,
                      prefix="RE"),
        # English, Gmail shape, to meeting A, whose subject alone would say nothing.
        gmail_reply(DANIEL, "Daniel Park", world.notice_row(a, DANIEL),
                    "[Regular meeting] see you", "I will attend, thanks.",
                    seoul(2026, 11, 25, 11, 15)),
    )
    assert any("4 meeting answer(s) recorded, 0 sent to triage" in line for line in lines)
    assert world.answer(b, KIM) == "attend" and world.answer(a, KIM) is None
    assert world.answer(a, LEE) == "decline" and world.answer(b, LEE) is None
    assert world.answer(a, CHOI) == "attend"
    assert world.answer(a, DANIEL) == "attend"
    how = {r.member.primary_address: r.matched_by for r in Rsvp.select()}
    assert how[KIM] == "reply to our meeting notice"
    assert how[LEE] == "subject names the meeting"
    assert how[CHOI] == "reply to our meeting notice"
    counts = mt.answer_counts(a)
    assert (counts.attend, counts.decline, counts.unanswered) == (2, 1, 1)
    # Every answer keeps its acknowledgement, which says which answer we understood.
    assert Outbox.select().where(Outbox.template == "rsvp_ack",
                                 Outbox.status == "pending").count() == 4


def test_references_alone_find_the_meeting_when_in_reply_to_is_missing(world):
    a = world.meeting(seoul(2026, 12, 10, 19, 0))
    b = world.meeting(seoul(2026, 12, 17, 19, 0))
    world.notice(a)
    world.notice(b)
    notice = world.notice_row(b, DANIEL)
    raw = make_mail(sender=DANIEL, sender_name="Daniel Park", subject="Re: meeting",
                    body="Sorry, I cannot attend the meeting.", date=seoul(2026, 11, 25, 12, 0),
                    headers={"References": f"<older@example.com> {notice.message_id}"})
    world.deliver_and_run(raw)
    msg = Message.get(Message.sender == DANIEL)
    assert msg.in_reply_to is None and notice.message_id.strip("<>") in msg.thread_refs
    row = Rsvp.get()
    assert (row.meeting_id, row.answer, row.matched_by) == (b.id, "decline",
                                                           "reply to our meeting notice")


def test_a_changed_answer_wins_and_an_older_one_arriving_late_does_not(world):
    tz = world.cfg.tz
    a = world.meeting(seoul(2026, 12, 10, 19, 0))
    world.meeting(seoul(2026, 12, 17, 19, 0))
    for m in Meeting.select():
        world.notice(m)
    notice = world.notice_row(a, KIM)
    world.deliver_and_run(gmail_reply(KIM, "김민지", notice, notice_subject(a, tz),
                                      "참석하겠습니다.", seoul(2026, 11, 25, 11, 0)))
    assert world.answer(a, KIM) == "attend"

    # She answers our acknowledgement (a new thread: References = notice, first answer, ack).
    first = Message.get(Message.sender == KIM)
    ack = Outbox.get(Outbox.key == f"rsvp:{first.sha256}")
    change = make_mail(sender=KIM, subject="Re: [정례회의 참석 회신 확인] 서울 블록체인 거버넌스",
                       body="일정이 생겨 정례회의 참석이 어렵습니다. 죄송합니다.",
                       date=seoul(2026, 11, 26, 9, 0),
                       headers={"In-Reply-To": ack.message_id,
                                "References": f"{notice.message_id} <{first.message_id}> "
                                              f"{ack.message_id}"})
    world.clock.advance(days=1)
    world.deliver_and_run(change)
    row = Rsvp.get(Rsvp.meeting == a)
    assert (row.answer, row.matched_by) == ("decline", "reply to our acknowledgement")
    assert Rsvp.select().count() == 1

    # A mail written before the change (Date earlier) that arrives only now changes nothing.
    late = gmail_reply(KIM, "김민지", notice, notice_subject(a, tz), "참석합니다!",
                       seoul(2026, 11, 25, 18, 0))
    world.clock.advance(hours=1)
    world.deliver_and_run(late)
    assert world.answer(a, KIM) == "decline"
    assert Message.get(Message.subject.contains("Re: [정례"), Message.sent_at ==
                       dt.datetime(2026, 11, 25, 9, 0)).disposition == "recorded"


def test_an_answer_matching_no_meeting_goes_to_triage_without_an_acknowledgement(world, capsys):
    first = world.meeting(seoul(2026, 12, 10, 19, 0))
    world.meeting(seoul(2026, 12, 17, 19, 0))
    for m in Meeting.select():
        world.notice(m)
    fresh = make_mail(sender=CHOI, sender_name="최준호", subject="정례회의 참석",
                      body="정례회의에 참석하겠습니다.", date=seoul(2026, 11, 25, 12, 0))
    lines = world.deliver_and_run(fresh)
    msg = Message.get(Message.sender == CHOI)
    assert msg.kind == "rsvp" and msg.rsvp_answer == "attend"
    assert msg.disposition == "triage"
    assert msg.reason.startswith("meeting answer (attend) matches no meeting")
    assert Rsvp.select().count() == 0
    ack = Outbox.get(Outbox.key == f"rsvp:{msg.sha256}")
    assert ack.status == "cancelled" and "no meeting" in ack.last_error
    assert any("0 meeting answer(s) recorded, 1 sent to triage" in line for line in lines)
    # The step is done with it: running again changes nothing.
    assert run_group_steps(world.cfg, world.clock) == []

    # Staff assign it (the digest's triage list names the command); the ack goes out after all.
    assert f"mailworker meeting rsvp MEETING_ID --message {msg.id}" in msg.reason
    code = cli.main(["-c", str(world.cfg.path), "meeting", "rsvp", str(first.id), "--message",
                     str(msg.id), "--by", "박주무관"], clock=world.clock)
    assert code == 0 and "최준호 — 참석 attend" in capsys.readouterr().out
    assert world.answer(first, CHOI) == "attend"
    msg = Message.get_by_id(msg.id)
    assert msg.disposition == "recorded" and "박주무관" in msg.decided_by
    entry = AuditEntry.get(AuditEntry.action == "meeting.rsvp")
    assert "박주무관" in entry.actor and entry.how == "cli"
    assert Outbox.get_by_id(ack.id).status == "pending"


def test_with_one_open_meeting_a_fresh_answer_is_for_it(world):
    only = world.meeting(seoul(2026, 12, 10, 19, 0))
    world.meeting(seoul(2026, 12, 17, 19, 0))          # not noticed yet: not open
    world.notice(only)
    world.deliver_and_run(make_mail(sender=CHOI, sender_name="최준호", subject="회의 관련",
                                    body="정례회의에 참석하겠습니다.",
                                    date=seoul(2026, 11, 25, 12, 0)))
    row = Rsvp.get()
    assert (row.meeting_id, row.answer, row.matched_by) == (only.id, "attend",
                                                           "the only open meeting")


def test_reminders_go_once_to_members_without_an_answer_n_days_before(world):
    tz = world.cfg.tz
    a = world.meeting(seoul(2026, 12, 10, 19, 0))
    b = world.meeting(seoul(2026, 12, 17, 19, 0))
    world.notice(a)
    world.notice(b)
    world.deliver_and_run(gmail_reply(KIM, "김민지", world.notice_row(a, KIM),
                                      notice_subject(a, tz), "참석하겠습니다.",
                                      seoul(2026, 11, 25, 11, 0)))
    assert rsvp.queue_reminders(world.cfg, world.clock) == ""       # 15 days before: early

    world.clock.set(seoul(2026, 12, 7, 8, 0))                        # 3 days before A
    summary = rsvp.queue_reminders(world.cfg, world.clock)
    assert summary == f"meeting #{a.id}: 3 reminder(s)"
    reminded = {o.to_addr for o in Outbox.select().where(Outbox.template == "meeting_reminder")}
    assert reminded == {DANIEL, LEE, CHOI}
    assert rsvp.queue_reminders(world.cfg, world.clock) == ""        # once
    assert Meeting.get_by_id(a.id).reminded_at is not None
    assert Meeting.get_by_id(b.id).reminded_at is None

    # A reply to the reminder is an answer for its meeting.
    reminder = world.notice_row(a, LEE, "reminder")
    world.deliver_and_run(gmail_reply(LEE, "이서연", reminder, "[정례회의 안내] 참석 여부",
                                      "네, 참석하겠습니다.", seoul(2026, 12, 7, 9, 0)))
    row = Rsvp.get(Rsvp.meeting == a, Rsvp.answer == "attend",
                   Rsvp.matched_by == "reply to our meeting reminder")
    assert row.member.primary_address == LEE


def test_a_late_notice_gets_a_day_before_the_reminder(world):
    a = world.meeting(seoul(2026, 12, 10, 19, 0))
    world.clock.set(seoul(2026, 12, 8, 10, 0))         # inside the 3-day window already
    world.notice(a)
    assert rsvp.queue_reminders(world.cfg, world.clock) == ""
    world.clock.set(seoul(2026, 12, 9, 10, 30))
    assert rsvp.queue_reminders(world.cfg, world.clock) == f"meeting #{a.id}: 4 reminder(s)"


def test_answers_recorded_before_the_upgrade_are_left_as_they_were(world):
    world.meeting(seoul(2026, 12, 10, 19, 0))
    world.deliver_and_run(make_mail(sender=CHOI, sender_name="최준호", subject="정례회의 참석",
                                    body="정례회의에 참석하겠습니다."))
    msg = Message.get(Message.sender == CHOI)
    # As a schema-2 row would be: recorded, without the structured answer.
    Message.update(rsvp_answer=None, disposition="recorded").where(Message.id == msg.id).execute()
    rsvp.state_set(rsvp.CURSOR_KEY, "0", world.clock.now())
    assert rsvp.match_new_replies(world.cfg, world.clock) == ""
    assert Message.get_by_id(msg.id).disposition == "recorded"


def test_reminder_mails_render_in_both_languages(world):
    from mailworker.outbound.sender import drain_outbox
    a = world.meeting(seoul(2026, 12, 10, 19, 0))
    world.notice(a)
    world.clock.set(seoul(2026, 12, 8, 8, 0))
    rsvp.queue_reminders(world.cfg, world.clock)
    result = drain_outbox(world.cfg, world.clock)
    assert not result.failed
    sent = {o.to_addr: o for o in Outbox.select().where(Outbox.template == "meeting_reminder")}
    assert all(o.status == "sent" for o in sent.values()) and len(sent) == 4
    files = list((world.cfg.resolve(world.cfg.outgoing.directory)).rglob("*.eml"))
    texts = [f.read_bytes() for f in files]
    assert any(b"will you attend?" in t for t in texts)


def test_meeting_notice_dry_run_and_send_through_the_cli(world, capsys):
    a = world.meeting(seoul(2026, 12, 10, 19, 0))
    code = cli.main(["-c", str(world.cfg.path), "meeting", "notice", str(a.id), "--dry-run"],
                    clock=world.clock)
    out = capsys.readouterr().out
    assert code == 0 and "Subject: [정례회의 안내] 2026년 12월 10일(목) 19:00" in out
    assert "dry run" in out and Outbox.select().count() == 0
    code = cli.main(["-c", str(world.cfg.path), "meeting", "notice", str(a.id)],
                    clock=world.clock)
    assert code == 0 and "queued 4" in capsys.readouterr().out
    assert Meeting.get_by_id(a.id).notice_sent_at is not None
    code = cli.main(["-c", str(world.cfg.path), "meeting", "show", str(a.id)], clock=world.clock)
    out = capsys.readouterr().out
    assert code == 0 and "0 attend, 0 decline, 4 not answered" in out
    assert "not answered: Daniel Park, 김민지, 이서연, 최준호" in out
    world.clock.set(seoul(2026, 12, 11, 9, 0))
    code = cli.main(["-c", str(world.cfg.path), "meeting", "notice", str(a.id)], clock=world.clock)
    assert code == 2 and "notices go out only before a meeting" in capsys.readouterr().err


# --- attendance, allowance, budget -------------------------------------------------------

def run_cli(world, capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["-c", str(world.cfg.path), *args], clock=world.clock)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_attendance_from_addresses_and_a_sign_in_sheet(world, capsys, tmp_path):
    a = world.meeting(seoul(2026, 12, 10, 19, 0))
    code, out, err = run_cli(world, capsys, "meeting", "attendance", str(a.id),
                             "--present", KIM, "nobody@example.com")
    assert code == 2 and "nobody@example.com" in err and "nothing was recorded" in err
    assert Attendance.select().count() == 0

    code, out, _ = run_cli(world, capsys, "meeting", "attendance", str(a.id),
                           "--present", "Minji.Kim@Univ.Example.AC.KR")      # an alias
    assert code == 0 and "1 marked present" in out
    sheet = tmp_path / "sign-in.csv"
    sheet.write_bytes("이름,이메일,서명\r\n최준호,junho.choi@example.co.kr,o\r\n"
                      "김민지,kim.minji@example.net,o\r\n".encode("cp949"))
    code, out, _ = run_cli(world, capsys, "meeting", "attendance", str(a.id), "--from",
                           str(sheet))
    assert code == 0 and "1 marked present; 1 were already on the list" in out
    assert {x.member.primary_address for x in Attendance.select()} == {KIM, CHOI}

    # The answers are not the attendance list: an "attend" answer pays nothing by itself.
    code, out, _ = run_cli(world, capsys, "meeting", "allowance", str(a.id), "--csv")
    assert code == 0 and out.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"))))
    assert rows[0] == ["이름 name", "분야 category", "금액 amount_krw"]
    assert sorted(rows[1:]) == [["김민지", "대학생", "20000"], ["최준호", "블록체인 기업인", "20000"]]


def test_budget_per_meeting_and_year_with_what_remains(world, capsys, make_config, tmp_path):
    may = world.meeting(seoul(2026, 5, 21, 19, 0))
    nov = world.meeting(seoul(2026, 11, 26, 19, 0))
    nxt = world.meeting(seoul(2027, 5, 20, 19, 0))
    mt.record_attendance(world.cfg, world.clock, may, [KIM, DANIEL, LEE, CHOI])
    mt.record_attendance(world.cfg, world.clock, nov, [KIM, LEE])
    years = mt.budget(world.cfg)
    assert [(y.year, y.paid_krw, y.remaining_krw) for y in years] == [
        (2026, 120000, 3880000), (2027, 0, 4000000)]
    assert [(b.meeting.id, b.attendees, b.paid_krw) for b in years[0].meetings] == [
        (may.id, 4, 80000), (nov.id, 2, 40000)]
    # A later allowance change applies to attendance recorded from then on, not before.
    raised = outbound_config(make_config, tmp_path,
                             inbox={"type": "maildir", "path": str(tmp_path / "Maildir")},
                             group={"allowance_krw": 25000, "budget_krw": 100000})
    mt.record_attendance(raised, world.clock, nxt, [KIM])
    y2027 = mt.budget(raised, 2027)[0]
    assert (y2027.paid_krw, y2027.remaining_krw) == (25000, 75000)
    assert mt.budget(raised, 2026)[0].paid_krw == 120000
    code, out, _ = run_cli(world, capsys, "budget", "--year", "2026")   # the file now: raised
    assert code == 0 and "120,000원" in out and "budget: 100,000원" in out
    assert "remaining: -20,000원  (over budget!)" in out
    assert nxt.id not in [b.meeting.id for b in years[0].meetings]


def test_schema_7_upgrade_from_schema_2_keeps_messages_and_adds_the_group_tables(
        make_config, tmp_path, clock):
    import sqlite3
    from mailworker import db as db_mod
    cfg = make_config({})
    database = open_from_config(cfg, clock)
    path = database.database
    database.close()
    con = sqlite3.connect(path)         # back to schema 2: no group tables, no new columns
    for table in ("meeting", "rsvp", "attendance", "quality_score", "hour_export",
                  "hour_export_row", "hour_export_correction"):
        con.execute(f'DROP TABLE "{table}"')
    for table, column in (("message", "thread_refs"), ("message", "rsvp_answer"),
                          ("member", "volunteer_id")):
        con.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    con.execute("DELETE FROM schema_version WHERE version > 2")
    con.commit()
    con.close()
    database = open_from_config(cfg, clock)
    try:
        assert db_mod.current_version(database) == max(db_mod.MIGRATIONS)
        assert database.table_exists("hour_export_row")
        assert "rsvp_answer" in {c.name for c in database.get_columns("message")}
        assert "volunteer_id" in {c.name for c in database.get_columns("member")}
        db_mod.migrate(database, clock)                 # again: nothing to do, no error
    finally:
        database.close()


def test_outlook_answer_through_dovecot_is_matched(dovecot, make_config, tmp_path):
    clock = FixedClock(dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.timezone.utc))
    cfg = outbound_config(make_config, tmp_path, inbox=dovecot.inbox_config(),
                          ledger={"directory": str(tmp_path / "ledger")})
    db = open_from_config(cfg, clock)
    try:
        load_roster(clock)
        a = mt.create_meeting(seoul(2026, 12, 10, 19, 0), "시청", clock, cfg.tz)
        b = mt.create_meeting(seoul(2026, 12, 17, 19, 0), "시청", clock, cfg.tz)
        for m in (a, b):
            mt.queue_meeting_mail(cfg, clock, m, "meeting_notice", "notice",
                                  mt.active_members())
        notice_b = Outbox.get(Outbox.key.startswith(f"meeting:{b.id}:notice:"),
                              Outbox.to_addr == LEE)
        dovecot.append([outlook_reply(LEE, "이서연", notice_subject(b, cfg.tz), "참석합니다.",
                                      seoul(2026, 11, 25, 11, 0), notice_b.message_id)])
        imap_pass(cfg, clock)
        row = Rsvp.get()
        assert (row.meeting_id, row.answer) == (b.id, "attend")
        assert dovecot.count("Processed") == 1
    finally:
        db.close()
