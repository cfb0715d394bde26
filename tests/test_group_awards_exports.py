"""The half-year commendation ranking, hour-export batches for the volunteer centre, the
digest's group sections and free-form announcements, on credits made by real ingest
passes over a Maildir."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from mailworker import cli
from mailworker.db import open_from_config
from mailworker.group import awards, exports
from mailworker.group import meetings as mt
from mailworker.ingest.pipeline import Ingestor
from mailworker.members import set_member_status
from mailworker.models import (AuditEntry, HourCredit, HourExportRow, LedgerEvent, Member, Message,
                               Outbox, Rsvp)
from mailworker.outbound.digest import gather
from mailworker.outbound.templates import Renderer
from tests.mailfactory import PROPOSAL_KO, make_mail, unique_review
from tests.outbound_support import outbound_config
from tests.group_support import CHOI, DANIEL, KEY, KIM, LEE, MaildirWorld, seoul  # noqa: F401
from tests.roster import load_roster

class World(MaildirWorld):
    def __init__(self, cfg, clock):
        super().__init__(cfg, clock)
        self.n = 0

    def send_at(self, when: dt.datetime, *senders_and_kinds) -> None:
        """One ingest pass at ``when`` with a fresh review (or proposal) per entry."""
        self.clock.set(when)
        for sender, kind in senders_and_kinds:
            self.n += 1
            if kind == "proposal":
                raw = make_mail(sender=sender, subject=f"[제안] 아이디어 {self.n}",
                                body=f"{PROPOSAL_KO} 번호 {self.n}.")
            else:
                raw = unique_review(self.n, sender=sender)
            self.box.add(raw)
        self.ingest()

    def cli(self, capsys, *args) -> tuple[int, str, str]:
        code = cli.main(["-c", str(self.cfg.path), *args], clock=self.clock)
        captured = capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture
def world(make_config, tmp_path, clock):
    cfg = outbound_config(make_config, tmp_path,
                          inbox={"type": "maildir", "path": str(tmp_path / "Maildir")},
                          ledger={"directory": str(tmp_path / "ledger")})
    db = open_from_config(cfg, clock)
    load_roster(clock)
    w = World(cfg, clock)
    # H1: one review (not in the H2 ranking). H2: a tie at 2 broken by who got there first.
    w.send_at(seoul(2026, 5, 10, 10, 0), (KIM, "review"))
    w.send_at(seoul(2026, 11, 2, 10, 0), (LEE, "review"), (CHOI, "review"))
    w.send_at(seoul(2026, 11, 3, 9, 0), (LEE, "proposal"))
    w.send_at(seoul(2026, 11, 3, 11, 0), (KIM, "review"), (KIM, "review"))
    w.send_at(seoul(2026, 11, 4, 10, 0), (CHOI, "review"), (DANIEL, "review"))
    assert HourCredit.select().count() == 8
    yield w
    db.close()


# --- the commendation ranking --------------------------------------------------------------

def test_ranking_counts_per_kind_and_breaks_ties_by_who_reached_the_count_first(world):
    set_member_status(DANIEL, "resigned", world.clock, reason="본인 요청")
    rows = awards.ranking(world.cfg, awards.parse_half("2026H2"))
    assert [(r.name, r.reviews, r.proposals, r.hours) for r in rows] == [
        ("이서연", 1, 1, 2), ("김민지", 2, 0, 2), ("최준호", 2, 0, 2), ("Daniel Park", 1, 0, 1)]
    assert [r.rank for r in rows] == [1, 2, 3, 4]
    assert rows[-1].status == "resigned"
    h1 = awards.ranking(world.cfg, awards.parse_half("2026H1"))
    assert [(r.name, r.count) for r in h1] == [("김민지", 1)]


def test_quality_scores_are_shown_and_only_for_credited_messages(world, capsys):
    proposal = Message.get(Message.kind == "proposal")
    code, out, _ = world.cli(capsys, "awards", "score", str(proposal.id), "5", "--by", "박주무관")
    assert code == 0 and "quality score 5" in out
    world.cli(capsys, "awards", "score", str(proposal.id), "4")      # a new score replaces
    world.clock.set(seoul(2026, 11, 5, 9, 0))
    world.box.add(make_mail(sender=LEE, subject="안녕하세요", body="감사합니다. 좋은 하루 되세요."))
    Ingestor(world.cfg, world.clock, world.source, KEY).run_pass()
    thanks = Message.get(Message.subject == "안녕하세요")
    code, _, err = world.cli(capsys, "awards", "score", str(thanks.id), "3")
    assert code == 2 and "not a credited review or proposal" in err
    code, out, _ = world.cli(capsys, "awards", "--half", "2026H2", "--csv")
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"))))
    assert out.startswith("\ufeff") and rows[0][0] == "순위 rank"
    first = rows[1]
    assert first[1] == "이서연" and first[9] == "4.0" and first[10] == "1"
    code, _, err = world.cli(capsys, "awards", "--half", "2026-3")
    assert code == 2 and "2019H1" in err


def test_resigned_members_are_marked_in_the_nomination_csv(world, capsys):
    set_member_status(DANIEL, "resigned", world.clock)
    code, out, _ = world.cli(capsys, "awards", "--half", "2026H2", "--csv")
    rows = {r[1]: r for r in csv.reader(io.StringIO(out.lstrip("\ufeff")))}
    assert rows["Daniel Park"][4] == "해촉 resigned" and rows["김민지"][4] == "active"
    code, out, _ = world.cli(capsys, "awards", "--half", "2026H2")
    assert "Daniel Park (해촉 resigned)" in out


# --- hour exports ----------------------------------------------------------------------

def read_csv_text(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_export_batches_never_hold_an_activity_twice(world, capsys, tmp_path):
    Member.update(volunteer_id="1365-0042").where(Member.display_name == "이서연").execute()
    code, out, err = world.cli(capsys, "hours", "export", "--until", "2026-11-03")
    rows = read_csv_text(out)
    assert rows[0] == exports.HEADER
    assert [(r[0], r[1], r[3], r[5]) for r in rows[1:]] == [
        ("등록", "김민지", "2026-05-10", "품평"), ("등록", "이서연", "2026-11-02", "품평"),
        ("등록", "최준호", "2026-11-02", "품평"), ("등록", "이서연", "2026-11-03", "제안"),
        ("등록", "김민지", "2026-11-03", "품평"), ("등록", "김민지", "2026-11-03", "품평")]
    assert {r[2] for r in rows[1:] if r[1] == "이서연"} == {"1365-0042"}
    assert all(len(r[7]) == 64 and r[4] == "1" and r[8] == "1" for r in rows[1:])
    assert "export batch #1 (new): 6 activities, 6 hour(s)" in err

    code, out, err = world.cli(capsys, "hours", "export", "--until", "2026-11-03")
    assert code == 0 and out == "" and "nothing new to export" in err
    code, out, err = world.cli(capsys, "hours", "export", "-o", str(tmp_path / "b2.csv"))
    second = read_csv_text((tmp_path / "b2.csv").read_text(encoding="utf-8"))
    assert [(r[1], r[3]) for r in second[1:]] == [("최준호", "2026-11-04"),
                                                  ("Daniel Park", "2026-11-04")]
    exported = [r.message_id for r in HourExportRow.select()]
    assert len(exported) == len(set(exported)) == HourCredit.select().count() == 8

    # A batch written again is the same file.
    code, again, err = world.cli(capsys, "hours", "export", "--batch", "1")
    assert read_csv_text(again) == rows and "written again" in err
    code, out, _ = world.cli(capsys, "hours", "batches")
    assert code == 0 and out.count("\n") >= 4


def test_a_credit_withdrawn_after_export_is_listed_once_for_correction(world, capsys):
    world.cli(capsys, "hours", "export")
    proposal = Message.get(Message.kind == "proposal")
    code, out, _ = world.cli(capsys, "hours", "withdraw", str(proposal.id),
                             "--reason", "이미 접수된 제안과 같음", "--by", "박주무관")
    assert code == 0 and "lists it for correction" in out
    proposal = Message.get_by_id(proposal.id)
    assert proposal.disposition == "no_credit" and "withdrawn" in proposal.reason
    entry = AuditEntry.get(AuditEntry.action == "hours.withdraw")
    assert (entry.hours, entry.item, "박주무관" in entry.actor) == (-1, f"message #{proposal.id}",
                                                                 True)
    event = LedgerEvent.get(LedgerEvent.dedup_key == f"staff_action:{entry.id}")
    assert '"hours":-1' in event.payload and proposal.sha256 in event.payload
    assert "이서연" not in event.payload and "박주무관" not in event.payload

    world.send_at(seoul(2026, 11, 6, 10, 0), (KIM, "review"))
    code, out, err = world.cli(capsys, "hours", "export")
    rows = read_csv_text(out)
    assert [(r[0], r[1], r[5]) for r in rows[1:]] == [("등록", "김민지", "품평"),
                                                      ("취소", "이서연", "제안")]
    assert rows[2][7] == proposal.sha256 and rows[2][8] == "1"   # corrects batch 1's row
    assert "1 withdrawn credit(s) to correct" in err
    code, out, err = world.cli(capsys, "hours", "export")
    assert out == "" and "nothing new" in err
    code, again, _ = world.cli(capsys, "hours", "export", "--batch", "2")
    assert read_csv_text(again) == rows
    code, _, err = world.cli(capsys, "hours", "withdraw", str(proposal.id), "--reason", "x")
    assert code == 2 and "has no credited hour" in err


def test_xlsx_export_holds_the_same_rows_with_formulas_kept_as_text(world, capsys, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    Member.update(display_name="=HYPERLINK(\"x\")").where(
        Member.display_name == "최준호").execute()
    path = tmp_path / "batch.xlsx"
    code, _, err = world.cli(capsys, "hours", "export", "--xlsx", "-o", str(path))
    assert code == 0, err
    sheet = openpyxl.load_workbook(path).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == exports.HEADER and len(values) == 9
    assert "'=HYPERLINK(\"x\")" in [v[1] for v in values]
    code, _, err = world.cli(capsys, "hours", "export", "--xlsx")
    assert code == 2 and "--output" in err
    code, _, err = world.cli(capsys, "hours", "export", "-o", str(tmp_path / "no" / "x.csv"))
    assert code == 2 and "nothing was exported" in err
    assert exports.list_batches()[-1].id == 1            # no batch made for the bad path


def test_hours_until_limits_the_period(world, capsys):
    code, out, _ = world.cli(capsys, "hours", "--since", "2026-11-01", "--until", "2026-11-02",
                             "--csv")
    rows = {r[0]: r for r in read_csv_text(out)[1:]}
    assert rows["이서연"][5] == "1" and rows["최준호"][5] == "1" and rows["김민지"][5] == "0"
    code, _, err = world.cli(capsys, "hours", "--since", "2026-11-03", "--until", "2026-11-02")
    assert code == 2 and "after" in err


# --- the digest's group sections ---------------------------------------------------------

def test_digest_shows_the_ranking_only_at_the_end_of_the_half_in_awards_order(world):
    set_member_status(DANIEL, "resigned", world.clock)
    world.clock.set(seoul(2026, 11, 26, 9, 0))
    context = gather(world.cfg, world.clock, dt.date(2026, 11, 26))
    assert context["group"]["ranking"] is None
    world.clock.set(seoul(2026, 12, 20, 9, 0))
    context = gather(world.cfg, world.clock, dt.date(2026, 12, 20))
    ranking = context["group"]["ranking"]
    expected = awards.ranking(world.cfg, awards.parse_half("2026H2"))
    assert [r["display_name"] for r in ranking["rows"]] == [r.name for r in expected]
    assert ranking["rows"][-1]["resigned"] and ranking["half"] == "2026H2"
    text = Renderer(world.cfg).render("digest", context)
    assert "2026년 하반기 시장 표창 순위" in text.text and "Daniel Park (해촉)" in text.text
    assert "시장 표창 순위" in text.html


def test_digest_shows_the_next_meeting_and_warns_about_unexported_hours(world):
    meeting = mt.create_meeting(seoul(2027, 1, 20, 19, 0), "서울시청", world.clock,
                                world.cfg.tz)
    mt.queue_meeting_mail(world.cfg, world.clock, meeting, "meeting_notice", "notice",
                          mt.active_members())
    msg = Message.get(Message.sender == KIM)
    Rsvp.create(meeting=meeting, member=msg.member, answer="attend", message=msg,
                answered_at=msg.received_at, matched_by="test")
    world.clock.set(seoul(2027, 1, 10, 9, 0))     # 61+ days after 2026-11-02..04, not May
    context = gather(world.cfg, world.clock, dt.date(2027, 1, 10))
    group = context["group"]
    assert group["meeting"]["attend"] == 1 and group["meeting"]["unanswered"] == 3
    assert group["unexported"] == {"count": 8, "hours": 8, "days": 60,
                                   "oldest": "2026-05-10"}
    for language in ("ko", "en"):
        rendered = Renderer(world.cfg).render("digest", {**context, "language": language})
        assert str(meeting.id) in rendered.text and "60" in rendered.text
    exports.create_export(world.cfg, world.clock, None, dt.date(2026, 11, 2))
    context = gather(world.cfg, world.clock, dt.date(2027, 1, 10))
    assert context["group"]["unexported"]["count"] == 5
    exports.create_export(world.cfg, world.clock, None, None)
    context = gather(world.cfg, world.clock, dt.date(2027, 1, 10))
    assert context["group"]["unexported"] is None


# --- free-form announcements -----------------------------------------------------------

def test_free_form_announcement_to_a_category_with_dry_run(world, capsys, tmp_path):
    body = tmp_path / "briefing.txt"
    body.write_text("12월 설명회를 엽니다.\n장소: 서울시청 <3층>\n\n"
                    "자세한 안내: https://seoul.example/briefing?id=3.\n", encoding="utf-8")
    code, out, _ = world.cli(capsys, "notice", "send", "--subject", "설명회 안내",
                             "--body-file", str(body), "--to", "student", "--dry-run")
    assert code == 0 and "Subject: 설명회 안내" in out and "12월 설명회를 엽니다." in out
    assert "김민지" in out and "dry run" in out
    assert Outbox.select().where(Outbox.template == "announcement").count() == 0
    code, out, _ = world.cli(capsys, "notice", "send", "--subject", "설명회 안내",
                             "--body-file", str(body), "--to", "student")
    assert code == 0 and "queued 1" in out
    row = Outbox.get(Outbox.template == "announcement")
    rendered = Renderer(world.cfg).render(row.template, row.context)
    assert "장소: 서울시청 <3층>" in rendered.text
    assert "서울시청 &lt;3층&gt;" in rendered.html
    assert ('<a href="https://seoul.example/briefing?id=3">https://seoul.example/briefing?id=3'
            '</a>.') in rendered.html
    assert rendered.html.count("<p>") >= 3        # greeting + two paragraphs
    code, _, err = world.cli(capsys, "notice", "send", "--subject", "x", "--body-file",
                             str(tmp_path / "missing.txt"))
    assert code == 2 and "missing.txt" in err
    code, _, err = world.cli(capsys, "notice", "send", "--subject", "x")
    assert code == 2 and "--body-file" in err


def test_roster_volunteer_id_column_reaches_the_export(world, capsys, tmp_path):
    from mailworker.members import import_roster
    roster = tmp_path / "roster.csv"
    roster.write_text("이름,이메일,분야,봉사포털ID\n최준호,junho.choi@example.co.kr,business,"
                      "1365-77\n", encoding="utf-8-sig")
    import_roster(roster, world.clock)
    assert Member.get(Member.display_name == "최준호").volunteer_id == "1365-77"
    code, out, _ = world.cli(capsys, "hours", "volunteer-id", KIM, "1365-01")
    assert code == 0 and "1365-01" in out
    code, out, _ = world.cli(capsys, "hours", "export")
    ids = {r[1]: r[2] for r in read_csv_text(out)[1:]}
    assert ids == {"김민지": "1365-01", "최준호": "1365-77", "이서연": "", "Daniel Park": ""}


def test_answers_ranking_and_exports_on_postgresql(pg, make_config, tmp_path, clock):
    from mailworker.group import rsvp
    from mailworker.group.credits import withdraw_credit
    from mailworker.group.steps import run_group_steps
    cfg = outbound_config(make_config, tmp_path,
                          inbox={"type": "maildir", "path": str(tmp_path / "Maildir")},
                          ledger={"directory": str(tmp_path / "ledger")},
                          database={"url": pg.new_database("group")})
    db = open_from_config(cfg, clock)
    try:
        load_roster(clock)
        w = World(cfg, clock)
        w.send_at(seoul(2026, 11, 2, 10, 0), (LEE, "review"), (CHOI, "review"))
        w.send_at(seoul(2026, 11, 3, 10, 0), (CHOI, "proposal"))
        a = mt.create_meeting(seoul(2026, 12, 10, 19, 0), "시청", clock, cfg.tz)
        b = mt.create_meeting(seoul(2026, 12, 17, 19, 0), "시청", clock, cfg.tz)
        for m in (a, b):
            mt.queue_meeting_mail(cfg, clock, m, "meeting_notice", "notice",
                                  mt.active_members())
        notice = Outbox.get(Outbox.key.startswith(f"meeting:{a.id}:notice:"),
                            Outbox.to_addr == KIM)
        w.box.add(make_mail(sender=KIM, subject="Re: 안내", body="정례회의 참석합니다.",
                            headers={"In-Reply-To": notice.message_id}))
        Ingestor(cfg, clock, w.source, KEY).run_pass()
        run_group_steps(cfg, clock)
        assert [(r.meeting_id, r.answer) for r in Rsvp.select()] == [(a.id, "attend")]
        assert rsvp.match_new_replies(cfg, clock) == ""
        ranked = awards.ranking(cfg, awards.parse_half("2026H2"))
        assert [(r.name, r.count) for r in ranked] == [("최준호", 2), ("이서연", 1)]
        first = exports.create_export(cfg, clock, None, dt.date(2026, 11, 2))
        assert len(first.rows) == 2
        withdraw_credit(first.rows[0].message_id, "중복", "staff", clock, KEY)
        second = exports.create_export(cfg, clock, None, None)
        assert (len(second.rows), len(second.corrections)) == (1, 1)
        assert exports.create_export(cfg, clock, None, None) is None
        mt.record_attendance(cfg, clock, a, [KIM, LEE])
        assert mt.budget(cfg, 2026)[0].paid_krw == 40000
    finally:
        db.close()
