"""The group's life cycle on real mailboxes (Maildir and Dovecot) and a real SQLite file:
recruitment rounds and applications in arrival order, quota and waitlist, extension,
appointment, resignation -> vacancy -> offer -> acceptance or expiry, term end, purge."""
from __future__ import annotations

import datetime as dt
import mailbox
import os
from pathlib import Path

import pytest

from mailworker import cli
from mailworker.application_form import read_application
from mailworker.group import purge, recruitment, roster, vacancies
from mailworker.group.steps import run_group_steps
from mailworker.ingest.maildir_source import MaildirSource
from mailworker.ingest.pipeline import Ingestor
from mailworker.ingest.sources import folder_names
from mailworker.models import (AuditEntry, Application, HourCredit, Member, MemberAddress,
                               Message, Outbox, RecruitmentRound, Vacancy)
from mailworker.outbound.digest import gather
from mailworker.outbound.templates import Renderer
from tests.mailfactory import REVIEW_KO, make_mail
from tests.group_support import imap_pass
from tests.roster import load_roster

KEY = b"k" * 32
SEOUL = dt.timezone(dt.timedelta(hours=9))
GROUP = {"term_start": "2026-01-01", "term_end": "2026-12-31", "offer_days": 7}


def apply_mail(sender: str, name: str = "", category: str = "대학생", subject: str = "[지원] 단원 지원합니다",
               body: str | None = None, **kw) -> bytes:
    if body is None:
        body = f"이름: {name}\n분야: {category}\n연락처: 010-0000-0000\n잘 부탁드립니다."
    kw.setdefault("sender_name", name)
    return make_mail(sender=sender, subject=subject, body=body, **kw)


class World:
    """A Maildir inbox, the roster of tests/roster.py, and one worker round = one ingest
    pass followed by the group's steps (what the service does)."""

    def __init__(self, cfg, clock):
        self.cfg, self.clock = cfg, clock
        self.box = mailbox.Maildir(cfg.inbox.path, factory=None, create=True)
        self.source = MaildirSource(cfg.inbox.path, folder_names(cfg))
        self.source.open()
        self.members = load_roster(clock)

    def deliver(self, *raws: bytes) -> list[str]:
        return [self.box.add(raw) for raw in raws]

    def round(self):
        result = Ingestor(self.cfg, self.clock, self.source, KEY, keep_outcomes=True).run_pass()
        return result, run_group_steps(self.cfg, self.clock)

    def outbox(self, template: str) -> list[Outbox]:
        return list(Outbox.select().where(Outbox.template == template).order_by(Outbox.id))

    def cli(self, *argv: str) -> int:
        return cli.main(["--config", str(self.cfg.path), *argv], clock=self.clock)


@pytest.fixture
def world(make_config, clock, tmp_path):
    def build(database_url: str | None = None, **group):
        raw = {"inbox": {"type": "maildir", "path": str(tmp_path / "Maildir")},
               "general": {"state_dir": str(tmp_path / "state")},
               "ledger": {"directory": str(tmp_path / "ledger")},
               "staff": {"addresses": ["staff@example.org"]},
               "group": {**GROUP, **group}}
        if database_url:
            raw["database"] = {"url": database_url}
        cfg = make_config(raw)
        from mailworker.db import open_from_config
        open_from_config(cfg, clock)
        return World(cfg, clock)
    return build


def _open(world, until="2026-12-08", seats=None):
    return recruitment.start_round(world.cfg, world.clock, dt.date.fromisoformat(until), seats)


# --- applications --------------------------------------------------------------------

def test_application_form_reading():
    form = read_application("[지원] 대학생 홍길동", "")
    assert form.applies and form.category == "student" and form.name == ""
    form = read_application("문의", "이름: 김하나 분야: 일반시민 연락처: 010")   # excerpt: one line
    assert form.signal == "application form in the text"
    assert (form.name, form.category) == ("김하나", "citizen")
    assert read_application("[apply]", "Name: Jane Doe\nCategory: blockchain developer").category \
        == "developer"
    assert not read_application("앱 오류", REVIEW_KO).applies
    assert read_application("거버넌스 단원 신청합니다", "").applies
    assert read_application("Application for membership", "").applies
    assert not read_application("기술 지원 요청", "").applies     # 지원 = support here
    # a name ending like a label ("지원 분야") is still the whole name
    form = read_application("x", "지원합니다. 이름: 오지원 분야: 대학생 소속: 서울시립대")
    assert (form.name, form.category) == ("오지원", "student")
    # an empty form line is no value (the next line is not taken for it)
    form = read_application("[지원]", "이름:\n분야: 대학생")
    assert (form.name, form.category) == ("", "student")


def test_applications_in_arrival_order_with_their_places(world):
    """Arrival order is the inbox's delivery order (Maildir: delivery time), not the file
    names' order nor the Date: headers."""
    w = world()
    _open(w, seats={"student": 2, "citizen": 1})
    keys = w.deliver(apply_mail("a@example.com", "가나다"),
                     apply_mail("b@example.com", "라마바"),
                     apply_mail("c@example.com", "사아자", category="일반시민"))
    # delivered c first, then b, then a (mtime), whatever the names and Date: headers say
    base = w.clock.now().timestamp() - 300
    for i, key in enumerate(reversed(keys)):
        path = Path(w.cfg.inbox.path) / "new" / key
        os.utime(path, (base + i, base + i))
    result, steps = w.round()
    assert result.dispositions["recorded"] == 3
    assert "applications: 3 application mail(s) handled" in steps
    apps = list(Application.select().order_by(Application.id))
    assert [a.email for a in apps] == ["c@example.com", "b@example.com", "a@example.com"]
    assert [(a.name, a.category) for a in apps] == [("사아자", "citizen"), ("라마바", "student"),
                                                   ("가나다", "student")]
    replies = {o.to_addr: o.context for o in w.outbox("application_received")}
    assert replies["c@example.com"]["place"] == 1
    last = replies["a@example.com"]
    assert (last["place"], last["category_place"]) == (3, 2)
    assert Message.select().where(Message.kind == "application").count() == 3
    # nothing said "not a registered address"
    assert not w.outbox("non_member_reply")
    # handled once: another round changes nothing
    _, steps = w.round()
    assert steps == [] and Outbox.select().where(
        Outbox.template == "application_received").count() == 3


def test_applications_in_order_on_dovecot(dovecot, make_config, clock, tmp_path):
    """On IMAP the arrival order is the server's UID order."""
    cfg = make_config({"inbox": dovecot.inbox_config(),
                       "general": {"state_dir": str(tmp_path / "state")},
                       "ledger": {"directory": str(tmp_path / "ledger")}, "group": GROUP})
    from mailworker.db import open_from_config
    open_from_config(cfg, clock)
    load_roster(clock)
    recruitment.start_round(cfg, clock, dt.date(2026, 12, 8), {"developer": 1})
    senders = [f"dev{i}@example.com" for i in range(4)]
    # Date: headers run backwards: they must not decide the order
    dovecot.append([apply_mail(s, f"개발자{i}", "블록체인 개발자",
                               date=dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.timezone.utc)
                               - dt.timedelta(hours=i))
                    for i, s in enumerate(senders)])
    imap_pass(cfg, clock)
    assert dovecot.count("INBOX") == 0 and dovecot.count("Processed") == 4
    assert [a.email for a in Application.select().order_by(Application.id)] == senders
    recruitment.close_round(clock)
    assert [a.status for a in Application.select().order_by(Application.id)] == [
        "selected", "waitlisted", "waitlisted", "waitlisted"]


def test_missing_category_is_asked_and_the_place_kept(world):
    w = world()
    _open(w)
    w.deliver(apply_mail("x@example.com", body="단원으로 활동하고 싶습니다.", sender_name="",
                         subject="[신청] 단원"),
              apply_mail("y@example.com", "둘째"))
    w.round()
    ask = w.outbox("application_incomplete")
    assert len(ask) == 1 and ask[0].context["missing"] == ["name", "category"]
    rendered = Renderer(w.cfg).render("application_incomplete", ask[0].context)
    assert "이름, 지원 분야" in rendered.text and "분야: (대학생" in rendered.text
    # a reply with the category alone (no tag, no whole form) still belongs to the application
    w.deliver(make_mail(sender="x@example.com", sender_name="", subject="Re: 정보 보내드립니다",
                        body="분야: 블록체인 기업인"))
    result, _ = w.round()
    assert result.dispositions["recorded"] == 1 and not w.outbox("non_member_reply")
    ask = w.outbox("application_incomplete")
    assert len(ask) == 2 and ask[1].context["missing"] == ["name"]
    w.deliver(make_mail(sender="x@example.com", sender_name="", subject="Re: 이름",
                        body="이름: 첫째"))
    w.round()
    app = Application.get(Application.email == "x@example.com")
    assert (app.name, app.category) == ("첫째", "business")
    last = w.outbox("application_received")[-1]
    assert last.to_addr == "x@example.com" and last.context["place"] == 1


def test_outside_a_round_the_closed_reply_at_most_once_a_day(world):
    w = world()
    w.deliver(apply_mail("late@example.com", "늦음"), apply_mail("late@example.com", "늦음"))
    result, _ = w.round()
    assert result.dispositions["non_member"] == 2
    assert len(w.outbox("recruitment_closed")) == 1 and not w.outbox("non_member_reply")
    assert Application.select().count() == 0
    w.clock.advance(days=1)
    w.deliver(apply_mail("late@example.com", "늦음"))
    w.round()
    assert len(w.outbox("recruitment_closed")) == 2
    text = Renderer(w.cfg).render("recruitment_closed", w.outbox("recruitment_closed")[0].context)
    assert "모집 기간이 아니" in text.text


def test_application_recorded_in_time_counts_even_if_handled_after_the_close(world):
    """Ingest recorded it while the round was open; staff closed the round before the
    group's step ran: it is placed as the close would have placed it, not refused."""
    w = world()
    _open(w, seats={"citizen": 1, "student": 1})
    w.deliver(apply_mail("c1@example.com", "시민1", "일반시민"))
    w.round()
    w.deliver(apply_mail("c2@example.com", "시민2", "일반시민"),
              apply_mail("s1@example.com", "학생1", "대학생"))
    Ingestor(w.cfg, w.clock, w.source, KEY).run_pass()     # recorded, not yet handled
    w.clock.advance(minutes=5)
    recruitment.close_round(w.clock)
    run_group_steps(w.cfg, w.clock)
    status = {a.email: a.status for a in Application.select()}
    assert status == {"c1@example.com": "selected", "c2@example.com": "waitlisted",
                      "s1@example.com": "selected"}
    assert not w.outbox("recruitment_closed")
    assert len(w.outbox("application_received")) == 3


# --- close, quota, waitlist, accept, extension -------------------------------------------

def test_quota_first_come_waitlist_and_appointment(world, capsys):
    w = world()
    assert w.cli("recruit", "open", "--until", "2026-12-08",
                 "--seats", "student=2,citizen=1") == 0
    w.deliver(*[apply_mail(f"s{i}@example.com", f"학생{i}") for i in range(4)],
              apply_mail("c0@example.com", "시민0", "일반시민"))
    w.round()
    assert w.cli("recruit", "close") == 0
    assert [a.status for a in Application.select().order_by(Application.id)] == [
        "selected", "selected", "waitlisted", "waitlisted", "selected"]
    assert w.cli("recruit", "accept") == 0
    out = capsys.readouterr().out
    assert "3 new member(s) appointed" in out
    letters = w.outbox("appointment")
    assert sorted(o.to_addr for o in letters) == ["c0@example.com", "s0@example.com",
                                                  "s1@example.com"]
    rendered = Renderer(w.cfg).render("appointment", letters[0].context)
    assert "위촉" in rendered.subject and "2026-01-01부터 2026-12-31까지" in rendered.text
    assert "봉사시간" in rendered.text
    assert RecruitmentRound.get().status == "accepted"
    # the new member's review earns an hour like anyone's
    w.deliver(make_mail(sender="s0@example.com", sender_name="학생0"))
    result, _ = w.round()
    assert result.dispositions["credited"] == 1
    assert w.cli("seats") == 0
    seats = capsys.readouterr().out
    assert "waitlisted" in seats and "total: 7 of 100 seats filled" in seats
    row = {r.category: r for r in roster.seats()}["student"]
    assert (row.filled, row.vacant, row.waitlisted) == (3, 37, 2)


def test_round_past_its_end_is_reported_and_extended(world, capsys):
    w = world()
    _open(w, until="2026-11-26", seats={"developer": 2})
    w.deliver(apply_mail("d1@example.com", "개발1", "개발자"))
    w.round()
    w.clock.set(dt.datetime(2026, 11, 27, 9, 0, tzinfo=SEOUL))     # the end date is past
    w.deliver(apply_mail("d2@example.com", "개발2", "개발자"))
    result, _ = w.round()
    assert result.dispositions["non_member"] == 1 and len(w.outbox("recruitment_closed")) == 1
    summary = recruitment.round_summary(w.cfg, RecruitmentRound.get(), w.clock)
    assert summary["ended"] and summary["short"] == {"developer": 1}
    ctx = gather(w.cfg, w.clock, dt.date(2026, 11, 27))
    assert ctx["roster"]["round"]["ended"]
    digest = Renderer(w.cfg).render("digest", ctx)
    assert "recruit extend --until" in digest.text and "블록체인 개발자 1" in digest.text
    assert w.cli("recruit", "extend", "--until", "2026-11-26") == 2
    assert w.cli("recruit", "extend", "--until", "2026-12-03") == 0
    w.deliver(apply_mail("d2@example.com", "개발2", "개발자"))
    result, _ = w.round()
    assert result.dispositions["recorded"] == 1
    assert Application.select().count() == 2
    assert RecruitmentRound.get().extensions == 1


# --- resignation, vacancy, offers ----------------------------------------------------------

def _waitlist(w, *emails, category="대학생"):
    _open(w, seats={"student": 1})
    w.deliver(apply_mail("first@example.com", "선발", category),
              *[apply_mail(e, e.split("@")[0], category) for e in emails])
    w.round()
    recruitment.close_round(w.clock)
    recruitment.accept_round(w.cfg, w.clock)


def test_resignation_confirmed_becomes_a_vacancy_offered_and_accepted(world, capsys):
    w = world()
    _waitlist(w, "wait1@example.com", "wait2@example.com")
    # 김민지 (student) earned two hours, then asks to leave
    w.deliver(make_mail(), make_mail(subject="두번째 품평",
                                     body="증명서 발급 화면에서 PDF 저장 버튼을 누르면 앱이 멈춥니다. "
                                          "갤럭시 S23에서 세 번 모두 같은 증상이었고 재설치해도 "
                                          "그대로입니다. 확인 부탁드립니다."))
    w.round()
    w.deliver(make_mail(subject="[해촉] 단원 활동 종료 요청",
                        body="개인 사정으로 단원 활동을 그만두고 싶습니다. 해촉 요청드립니다."))
    w.round()
    request = Message.get(Message.kind == "resignation")
    assert request.disposition == "recorded" and request.decided_at is None
    ctx = gather(w.cfg, w.clock, dt.date(2026, 11, 26))
    assert [r["display_name"] for r in ctx["resignations"]] == ["김민지"]
    digest = Renderer(w.cfg).render("digest", ctx)
    assert "members resign kim.minji@example.net --confirm" in digest.text
    # without --confirm nothing happens
    assert w.cli("members", "resign", "kim.minji@example.net") == 0
    assert f"request #{request.id}" in capsys.readouterr().out
    assert Member.get(Member.display_name == "김민지").status == "active"
    assert w.cli("members", "resign", "kim.minji@example.net", "--confirm") == 0
    out = capsys.readouterr().out
    assert "2 hour(s) in total" in out and "1 vacancy offer(s) sent" in out
    minji = Member.get(Member.display_name == "김민지")
    assert minji.status == "resigned"
    assert Message.get_by_id(request.id).decided_at is not None      # request answered
    assert AuditEntry.get(AuditEntry.action == "member.resign_confirm").item.startswith("김민지")
    confirmation = w.outbox("resignation_confirmed")
    assert len(confirmation) == 1 and confirmation[0].context["total_hours"] == 2
    assert "2시간" in Renderer(w.cfg).render("resignation_confirmed",
                                             confirmation[0].context).text
    vacancy = Vacancy.get()
    assert vacancy.category == "student" and vacancy.status == "offered"
    offer = w.outbox("vacancy_offer")
    assert [o.to_addr for o in offer] == ["wait1@example.com"]
    assert "2026-12-02 10:00" in Renderer(w.cfg).render("vacancy_offer", offer[0].context).text
    # the resigned member's mail earns nothing any more
    w.deliver(make_mail(subject="세번째", body=REVIEW_KO + " 세 번째."))
    result, _ = w.round()
    assert result.dispositions["no_credit"] == 1
    # the applicant accepts by replying within the days
    w.clock.advance(days=3)
    w.deliver(make_mail(sender="wait1@example.com", sender_name="wait1",
                        subject="Re: [결원 단원 제안]", body="네, 기꺼이 수락하겠습니다."))
    result, _ = w.round()
    assert result.dispositions["recorded"] == 1 and not w.outbox("non_member_reply")
    assert Application.get(Application.email == "wait1@example.com").status == "appointed"
    assert Vacancy.get().status == "filled"
    assert [o.to_addr for o in w.outbox("appointment")][-1] == "wait1@example.com"
    assert MemberAddress.get(MemberAddress.email == "wait1@example.com").member.status == "active"


def test_unanswered_offer_expires_to_the_next_and_a_late_reply_is_refused(world):
    w = world()
    _waitlist(w, "slow@example.com", "next@example.com")
    vacancies.resign(w.cfg, w.clock, "kim.minji@example.net", True, "test")
    w.round()
    assert [o.to_addr for o in w.outbox("vacancy_offer")] == ["slow@example.com"]
    student = {r.category: r for r in roster.seats()}["student"]
    # a new round would not offer the seat that is already offered
    assert student.offers == 1 and roster.empty_seats()["student"] == student.vacant - 1
    w.clock.advance(days=7, minutes=1)
    w.round()
    assert Application.get(Application.email == "slow@example.com").status == "expired"
    assert [o.to_addr for o in w.outbox("vacancy_offer")] == ["slow@example.com",
                                                              "next@example.com"]
    w.deliver(make_mail(sender="slow@example.com", subject="Re: 제안", body="수락합니다"))
    result, _ = w.round()
    assert result.dispositions["non_member"] == 1     # the offer is gone
    w.deliver(make_mail(sender="next@example.com", subject="Re: 제안", body="죄송하지만 거절합니다."))
    w.round()
    assert Application.get(Application.email == "next@example.com").status == "declined"
    vacancy = Vacancy.get()
    assert vacancy.status == "call_needed"         # nobody left on the waitlist
    ctx = gather(w.cfg, w.clock, dt.date(2026, 12, 3))
    assert ctx["roster"]["vacancies"][0]["status"] == "call_needed"
    digest = Renderer(w.cfg).render("digest", ctx).text
    assert "notice send --template recruitment_call --to all" in digest


# --- term ------------------------------------------------------------------------------------

def test_term_notice_a_month_before_then_final_statement_and_no_more_hours(world):
    w = world()
    w.deliver(make_mail())
    w.round()
    assert not w.outbox("term_end_notice")        # 2026-11-25: more than 30 days left
    w.clock.set(dt.datetime(2026, 12, 2, 9, 0, tzinfo=SEOUL))
    w.round()
    w.round()
    notices = w.outbox("term_end_notice")
    assert len(notices) == 4 and {o.context["term_end"] for o in notices} == {"2026-12-31"}
    w.clock.set(dt.datetime(2026, 12, 31, 23, 59, tzinfo=SEOUL))
    w.deliver(make_mail(subject="마지막 품평",
                            body="지갑 앱의 송금 내역 화면이 날짜순으로 정렬되지 않습니다. "
                                 "어제 보낸 내역이 맨 아래에 보여서 찾기 어렵습니다. 고쳐 주세요."))
    result, _ = w.round()
    assert result.dispositions["credited"] == 1
    # past midnight: mail that comes before the step ran earns nothing either
    w.clock.set(dt.datetime(2027, 1, 1, 0, 1, tzinfo=SEOUL))
    w.deliver(make_mail(subject="새해 품평", body=REVIEW_KO + " 새해."))
    result, steps = w.round()
    assert result.dispositions["no_credit"] == 1
    assert "term: term ended: final statement queued for 4 member(s)" in steps
    statements = w.outbox("final_statement")
    minji = next(o for o in statements if o.to_addr == "kim.minji@example.net")
    assert minji.context["total_hours"] == 2
    text = Renderer(w.cfg).render("final_statement", minji.context).text
    assert "봉사시간 합계: 2시간" in text
    assert {m.status for m in Member.select()} == {"term_ended"}
    w.round()
    assert len(w.outbox("final_statement")) == 4


def test_a_stale_term_date_never_ends_anyone(world):
    """The plan's 2020 default on a worker first run in 2026: nothing ends, hours go on."""
    w = world(term_start="2019-01-01", term_end="2020-12-31")
    w.deliver(make_mail())
    result, steps = w.round()
    assert result.dispositions["credited"] == 1 and steps == []
    assert {m.status for m in Member.select()} == {"active"}


# --- personal data ----------------------------------------------------------------------------

def test_purge_applicants_then_former_members_keeping_hours(world, capsys):
    w = world(term_start="2026-01-01", term_end="2026-12-31", member_retention_days=30)
    _waitlist(w, "wl@example.com")
    w.deliver(make_mail())
    w.round()
    w.clock.advance(days=29)
    assert w.cli("members", "purge", "--dry-run") == 0
    assert "nothing to delete now" in capsys.readouterr().out
    w.clock.advance(days=2)
    assert w.cli("members", "purge", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "would delete: applicant wl@example.com (waitlisted" in out
    assert Application.select().count() == 2                   # dry run: still there
    result, steps = w.round()
    assert "purge: personal data deleted: 1 applicant(s), 0 former member(s)" in steps
    assert [a.email for a in Application.select()] == ["first@example.com"]  # appointed stays
    assert Message.select().where(Message.sender == "wl@example.com").count() == 0
    assert Outbox.select().where(Outbox.to_addr == "wl@example.com").count() == 0
    # the term ends (the worker saw it running), then 30 days later the contact data goes
    w.clock.set(dt.datetime(2027, 1, 1, 9, 0, tzinfo=SEOUL))
    w.round()
    from mailworker.group import exports
    from mailworker.models import HourExportRow
    assert exports.create_export(w.cfg, w.clock, None, None) is not None
    w.clock.set(dt.datetime(2027, 1, 31, 9, 0, tzinfo=SEOUL))
    assert w.cli("members", "purge", "--dry-run") == 0
    assert "would delete: contact data of 김민지 (term_ended); 1 hour(s) kept" in \
        capsys.readouterr().out
    assert w.cli("members", "purge") == 0
    assert MemberAddress.select().count() == 0
    minji = Member.get(Member.uuid == w.members["kim.minji@example.net"].uuid)
    assert minji.display_name.startswith("(deleted ") and minji.contact_purged_at
    assert HourCredit.select().where(HourCredit.member == minji).count() == 1
    row = HourExportRow.get(HourExportRow.member == minji)      # the export row stays, nameless
    assert row.name == minji.display_name and row.subject == "" and row.hours == 1
    assert Message.select().where(Message.sender == "kim.minji@example.net").count() == 0
    assert purge.plan(w.cfg, w.clock).members == []


# --- schema, templates ------------------------------------------------------------------------

def test_schema_2_database_is_upgraded(cfg, clock):
    from mailworker import db as db_mod
    from mailworker import models
    database = db_mod.open_from_config(cfg, clock)
    database.drop_tables(models.LIFECYCLE_TABLES)
    database.execute_sql('ALTER TABLE "member" DROP COLUMN "contact_purged_at"')
    models.SchemaVersion.delete().where(models.SchemaVersion.version > 2).execute()
    database.close()
    database = db_mod.open_from_config(cfg, clock)
    try:
        assert db_mod.current_version(database) == max(db_mod.MIGRATIONS)
        assert "contact_purged_at" in {c.name for c in database.get_columns("member")}
        assert all(database.table_exists(t._meta.table_name) for t in models.LIFECYCLE_TABLES)
    finally:
        database.close()


SAMPLES = {
    "application_received": {"display_name": "홍길동", "place": 3, "category": "student",
                             "category_place": 2, "seats": 40, "last_day": "2018-12-14",
                             "missing": [], "subject": "[지원]", "in_reply_to": None,
                             "received_local": "2018-12-03 10:00"},
    "recruitment_closed": {"subject": "[지원]", "in_reply_to": None,
                           "received_local": "2018-12-03 10:00"},
    "appointment": {"display_name": "홍길동", "category": "citizen",
                    "term_start": "2019-01-01", "term_end": "2020-12-31"},
    "resignation_confirmed": {"display_name": "홍길동", "resigned_local": "2019-05-01",
                              "total_hours": 12, "reviews": 9, "proposals": 3},
    "vacancy_offer": {"display_name": "홍길동", "category": "developer",
                      "reply_by": "2019-05-08 10:00", "offer_days": 7,
                      "term_end": "2020-12-31"},
    "term_end_notice": {"display_name": "홍길동", "term_end": "2020-12-31",
                        "total_hours": 12, "reviews": 9, "proposals": 3},
    "final_statement": {"display_name": "홍길동", "category": "business",
                        "term_start": "2019-01-01", "term_end": "2020-12-31",
                        "total_hours": 12, "reviews": 9, "proposals": 3},
    "recruitment_call": {"last_day": "2019-06-14", "seats": "대학생 2"},
}
SAMPLES["application_incomplete"] = {**SAMPLES["application_received"], "category": None,
                                     "missing": ["category"]}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_life_cycle_templates_in_korean_and_english(cfg, name):
    renderer = Renderer(cfg)
    ko = renderer.render(name, {**SAMPLES[name], "language": "ko"})
    en = renderer.render(name, {**SAMPLES[name], "language": "en"})
    assert any("\uac00" <= c <= "\ud7a3" for c in ko.text)
    assert ko.subject != en.subject
    assert "Dear" in en.text or "Hello" in en.text
    for value in ("홍길동", "2020-12-31", "12"):
        if value in str(SAMPLES[name].values()):
            assert value in ko.text and value in en.text and value in ko.html


@pytest.mark.parametrize("group, message", [
    ({"term_end": "2020-13-01"}, r"\[group\] term_end must be a date like"),
    ({"term_start": "2021-01-01"}, r"term_end \(2020-12-31\) must come after term_start"),
    ({"offer_days": 0}, r"\[group\] offer_days must be at least 1"),
])
def test_bad_group_settings_are_named(make_config, group, message):
    from mailworker.errors import ConfigError
    with pytest.raises(ConfigError, match=message):
        make_config({"group": group})


def test_recruit_commands_refuse_what_cannot_be_done(world, capsys):
    w = world()
    assert w.cli("recruit", "close") == 2
    assert "no round is open" in capsys.readouterr().err
    assert w.cli("recruit", "open", "--until", "2026-11-24") == 2
    assert "that day is already over" in capsys.readouterr().err
    assert w.cli("recruit", "open", "--until", "2026-12-08", "--seats", "student=41") == 2
    assert "more than the plan's 40 seats" in capsys.readouterr().err
    assert w.cli("recruit", "open", "--until", "2026-12-08") == 0
    assert "39" in capsys.readouterr().out           # every empty student seat
    assert w.cli("recruit", "open", "--until", "2026-12-09") == 2
    assert "already open" in capsys.readouterr().err
    assert w.cli("recruit", "accept") == 2
    assert "no closed round" in capsys.readouterr().err
    assert w.cli("members", "resign", "nobody@example.org", "--confirm") == 2


def test_demo_shows_a_round_and_a_resignation_turning_into_a_vacancy(tmp_path, capsys,
                                                                     monkeypatch):
    import email
    import email.policy
    import sqlite3
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "1. 오지원 (student): selected" in out and "2. 강하늘 (student): waitlisted" in out
    assert "4. 배유나 (category not given yet): incomplete" in out
    assert "Resignation confirmed (members resign --confirm): 이서연" in out
    assert "Vacancy: one student seat, offered to 강하늘" in out
    db = sqlite3.connect(tmp_path / "var" / "demo" / "mailworker.db")
    templates = {t for (t,) in db.execute("SELECT template FROM outbox WHERE status = 'sent'")}
    assert {"application_received", "application_incomplete", "appointment",
            "resignation_confirmed", "vacancy_offer"} <= templates
    subjects = []
    for path in (tmp_path / "var" / "demo" / "sent-mail").glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        subjects.append(str(msg["Subject"]))
    assert any(s.startswith("[Application received]") for s in subjects)   # Emma: English
    assert any(s.startswith("[결원 단원 제안]") for s in subjects)
    assert cli.main(["demo"]) == 0                  # the second run changes nothing here
    assert "Recruitment round" not in capsys.readouterr().out
    assert db.execute("SELECT COUNT(*) FROM application").fetchone()[0] == 4


def test_the_year_on_postgresql(world, pg):
    """Round, waitlist, resignation, offer, acceptance, digest and purge on PostgreSQL."""
    w = world(database_url=pg.new_database("group_year"), applicant_retention_days=1)
    _waitlist(w, "pg1@example.com", "pg2@example.com")
    assert [a.status for a in Application.select().order_by(Application.id)] == [
        "appointed", "waitlisted", "waitlisted"]
    vacancies.resign(w.cfg, w.clock, "kim.minji@example.net", True, "test")
    w.round()
    w.deliver(make_mail(sender="pg1@example.com", subject="Re: 제안", body="수락합니다"))
    w.round()
    assert Vacancy.get().status == "filled"
    ctx = gather(w.cfg, w.clock, dt.date(2026, 11, 26))
    assert ctx["roster"]["vacancies"] == [] and ctx["roster"]["round"] is None
    w.clock.advance(days=2)
    _, steps = w.round()
    assert "purge: personal data deleted: 1 applicant(s), 0 former member(s)" in steps
    assert {r.category: r.filled for r in roster.seats()}["student"] == 2   # 1 left, 2 came


def test_an_unanswerable_sender_does_not_stop_the_step(world, caplog):
    """A quoted local part with a comma is no usable address: ingest sets that mail aside
    for staff (sender unclear) before the group step sees it, and the next application
    goes on."""
    w = world()
    _open(w)
    w.deliver(apply_mail('"kim,lee"@example.com', "쉼표"), apply_mail("ok@example.com", "정상"))
    result, steps = w.round()
    assert result.dispositions["recorded"] == 1 and result.dispositions["triage"] == 1
    assert "applications: 1 application mail(s) handled" in steps
    assert [a.email for a in Application.select()] == ["ok@example.com"]
    assert "kim,lee" not in caplog.text
    _, steps = w.round()
    assert steps == []


def test_any_way_of_resigning_vacates_the_seat_once(world):
    """`members set-status … resigned` (and the digest's 해촉 확인, which does the same)
    also make the vacancy and the confirmation mail; members who had resigned before the
    group first ran get neither."""
    w = world()
    old = w.members["junho.choi@example.co.kr"]
    old.status, old.resigned_at = "resigned", dt.datetime(2026, 1, 5)
    old.save()
    w.round()
    assert Vacancy.select().count() == 0
    assert w.cli("members", "set-status", "seoyeon.lee@example.org", "resigned") == 0
    _, steps = w.round()
    assert "resignations: 1 seat(s) vacated by resignation" in steps
    assert [(v.category, v.status) for v in Vacancy.select()] == [("citizen", "call_needed")]
    assert [o.to_addr for o in w.outbox("resignation_confirmed")] == ["seoyeon.lee@example.org"]
    _, steps = w.round()
    assert Vacancy.select().count() == 1 and steps == []
