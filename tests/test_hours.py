"""Volunteer hours from HourCredit rows, per member and per category, and `mailworker hours`."""
from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from zoneinfo import ZoneInfo

import pytest

from mailworker import cli
from mailworker import db as db_mod
from mailworker.errors import NotFound
from mailworker.hours import hours_by_category, hours_by_member
from mailworker.members import add_member
from mailworker.models import HourCredit, Message

SEOUL = ZoneInfo("Asia/Seoul")
UTC = dt.timezone.utc
_serial = itertools.count(1)


def credit(member, kind: str, when_utc: dt.datetime, hours: int = 1) -> None:
    n = next(_serial)
    when = when_utc.replace(tzinfo=None)
    msg = Message.create(sha256=f"{n:064x}", message_id=f"<{n}@example.org>",
                         source="maildir:/test", uid=str(n), sender=member.primary_address,
                         subject=f"{kind} {n}", received_at=when, kind=kind,
                         disposition="credited", reason="test", member=member)
    HourCredit.create(message=msg, member=member, kind=kind, hours=hours, credited_at=when)


@pytest.fixture
def people(database, clock):
    minji = add_member("김민지", "kim.minji@example.net", "student", clock,
                       aliases=["mj@example.org"])
    daniel = add_member("Daniel Park", "daniel.park@example.com", "developer", clock)
    seoyeon = add_member("이서연", "seoyeon.lee@example.org", "citizen", clock)
    gone = add_member("최준호", "junho.choi@example.co.kr", "business", clock)
    quiet_gone = add_member("정하은", "haeun@example.org", "citizen", clock)
    t = dt.datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    credit(minji, "review", t)
    credit(minji, "review", t + dt.timedelta(days=1))
    credit(minji, "proposal", t + dt.timedelta(days=2))
    credit(daniel, "proposal", t)
    # 2026-11-24 15:30 UTC is already 2026-11-25 00:30 in Seoul.
    credit(daniel, "review", dt.datetime(2026, 11, 24, 15, 30, tzinfo=UTC))
    credit(gone, "review", t)
    for m in (gone, quiet_gone):
        m.status = "resigned"
        m.save()
    return {"minji": minji, "daniel": daniel, "seoyeon": seoyeon, "gone": gone}


def test_hours_per_member_most_first(people):
    rows = hours_by_member()
    assert [(r.display_name, r.hours, r.reviews, r.proposals) for r in rows] == [
        ("김민지", 3, 2, 1),
        ("Daniel Park", 2, 1, 1),
        ("최준호", 1, 1, 0),       # resigned, but earned hours: still reported
        ("이서연", 0, 0, 0),       # active without hours: listed
    ]                              # 정하은: resigned without hours, left out
    assert rows[0].primary_address == "kim.minji@example.net"
    assert rows[2].status == "resigned"


def test_since_is_a_local_seoul_day(people):
    rows = {r.display_name: r for r in hours_by_member(since=dt.date(2026, 11, 25))}
    assert rows["Daniel Park"].hours == 1 and rows["Daniel Park"].reviews == 1
    assert rows["김민지"].hours == 0
    assert "최준호" not in rows
    # In UTC the same credit falls on the 24th.
    rows = {r.display_name: r for r in hours_by_member(since=dt.date(2026, 11, 25),
                                                       tz=ZoneInfo("UTC"))}
    assert rows["Daniel Park"].hours == 0


def test_one_member_by_any_address(people):
    rows = hours_by_member(member_email="MJ@example.org")
    assert [(r.display_name, r.hours) for r in rows] == [("김민지", 3)]
    rows = hours_by_member(member_email="junho.choi@example.co.kr",
                           since=dt.date(2026, 12, 1))
    assert [(r.display_name, r.hours) for r in rows] == [("최준호", 0)]
    with pytest.raises(NotFound, match="no member has the address 'who@example.org'"):
        hours_by_member(member_email="who@example.org")


def test_hours_are_summed_not_counted(people):
    credit(people["seoyeon"], "proposal", dt.datetime(2026, 11, 21, tzinfo=UTC), hours=2)
    row = hours_by_member(member_email="seoyeon.lee@example.org")[0]
    assert (row.hours, row.reviews, row.proposals) == (2, 0, 1)


def test_category_totals(people):
    totals = {t.category: t for t in hours_by_category(hours_by_member())}
    assert list(totals) == ["student", "citizen", "developer", "business"]
    assert (totals["student"].hours, totals["student"].active_members,
            totals["student"].quota) == (3, 1, 40)
    assert (totals["developer"].reviews, totals["developer"].proposals) == (1, 1)
    assert (totals["business"].hours, totals["business"].active_members) == (1, 0)
    assert totals["citizen"].hours == 0 and totals["citizen"].active_members == 1


def test_no_members_no_rows(database):
    assert hours_by_member() == []
    assert all(t.hours == 0 for t in hours_by_category([]))


# --- the CLI ------------------------------------------------------------------------------

@pytest.fixture
def config_path(tmp_path, clock):
    path = tmp_path / "mailworker.toml"
    path.write_text('[database]\nurl = "sqlite:///state/mailworker.db"\n', encoding="utf-8")
    database = db_mod.open_database("sqlite:///state/mailworker.db", tmp_path, clock)
    minji = add_member("김민지", "kim.minji@example.net", "student", clock)
    daniel = add_member("Daniel Park", "daniel.park@example.com", "developer", clock)
    credit(minji, "review", dt.datetime(2026, 11, 20, 3, tzinfo=UTC))
    credit(minji, "proposal", dt.datetime(2026, 11, 21, 3, tzinfo=UTC))
    credit(daniel, "review", dt.datetime(2026, 11, 24, 15, 30, tzinfo=UTC))
    database.close()
    return path


def run(argv, capsys, clock):
    code = cli.main(argv, clock=clock)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_table(config_path, capsys, clock):
    code, out, err = run(["--config", str(config_path), "hours"], capsys, clock)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "봉사시간 volunteer hours, all time"
    assert lines[1].split() == ["이름", "name", "이메일", "email", "분야", "category", "시간",
                                "hours", "품평", "reviews", "제안", "proposals"]
    assert lines[3].split() == ["김민지", "kim.minji@example.net", "대학생", "(student)",
                                "2", "1", "1"]
    assert lines[4].split() == ["Daniel", "Park", "daniel.park@example.com", "블록체인",
                                "개발자", "(developer)", "1", "1", "0"]
    assert "합계 total" in out
    total = next(line for line in lines if line.startswith("합계 total"))
    assert total.split() == ["합계", "total", "2/100", "3", "2", "1"]


def test_cli_csv_opens_in_excel(config_path, capsys, clock):
    code, out, err = run(["--config", str(config_path), "hours", "--csv",
                          "--since", "2026-11-21"], capsys, clock)
    assert code == 0, err
    assert out.startswith("\ufeff") and "\r\n" in out
    rows = list(csv.DictReader(io.StringIO(out.lstrip("\ufeff"))))
    assert [(r["name"], r["category_ko"], r["hours"], r["reviews"], r["proposals"])
            for r in rows] == [("Daniel Park", "블록체인 개발자", "1", "1", "0"),
                               ("김민지", "대학생", "1", "0", "1")]


def test_cli_one_member_and_errors(config_path, capsys, clock):
    code, out, err = run(["--config", str(config_path), "hours", "--member",
                          "DANIEL.PARK@example.com"], capsys, clock)
    assert code == 0
    assert "daniel.park@example.com" in out and "kim.minji" not in out
    assert "합계" not in out

    code, out, err = run(["--config", str(config_path), "hours", "--member", "x@example.org"],
                         capsys, clock)
    assert code == 2 and "no member has the address 'x@example.org'" in err

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--config", str(config_path), "hours", "--since", "21/11/2026"], clock=clock)
    assert exit_info.value.code == 2
    assert "'21/11/2026' is not a date like 2026-07-01" in capsys.readouterr().err


def test_same_numbers_on_postgresql(pg, clock):
    database = db_mod.open_database(pg.new_database("hours"), clock=clock)
    try:
        minji = add_member("김민지", "kim.minji@example.net", "student", clock)
        daniel = add_member("Daniel Park", "daniel.park@example.com", "developer", clock)
        credit(minji, "review", dt.datetime(2026, 11, 20, 3, tzinfo=UTC))
        credit(minji, "proposal", dt.datetime(2026, 11, 21, 3, tzinfo=UTC))
        credit(daniel, "review", dt.datetime(2026, 11, 24, 15, 30, tzinfo=UTC))
        rows = hours_by_member(since=dt.date(2026, 11, 21))
        assert [(r.display_name, r.hours, r.reviews, r.proposals) for r in rows] == [
            ("Daniel Park", 1, 1, 0), ("김민지", 1, 0, 1)]
        assert sum(t.hours for t in hours_by_category(hours_by_member())) == 3
    finally:
        database.close()
