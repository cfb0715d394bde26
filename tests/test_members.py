"""Roster import and member lookup on a real SQLite database, and the `members` commands."""
from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest

from mailworker import cli
from mailworker import db as db_mod
from mailworker.errors import ImportRowsError, MailworkerError
from mailworker.members import (QUOTAS, RosterError, add_member, find_member_by_address,
                                import_roster, list_members, read_roster, set_member_status)
from mailworker.models import Member, MemberAddress

HEADER = "name,email,category,aliases,language"
ROSTER = [
    HEADER,
    "김민지,Kim.Minji@Example.net,대학생,minji.kim@univ.example.ac.kr; MJ@example.org,ko",
    "이서연,seoyeon.lee@example.org,일반시민,,",
    "박지훈,jihoon.park@example.com,블록체인 개발자,jh@example.com jh2@example.com,",
    "최준호,junho.choi@example.co.kr,블록체인 기업인,,",
    "Daniel Park,daniel.park@example.com,developer,,en",
    "정하은,haeun.jung@example.org,일반인,,",
    '"Lee, Anna",anna.lee@example.org,citizen,,english',
]


def write_roster(path, lines, encoding="utf-8-sig"):
    # Excel's "CSV UTF-8" adds a BOM and ends lines with CRLF.
    path.write_bytes("\r\n".join(lines).encode(encoding) + b"\r\n")
    return path


def counts():
    return Member.select().count(), MemberAddress.select().count()


def test_excel_roster_with_bom_and_korean_categories(tmp_path, database, clock):
    report = import_roster(write_roster(tmp_path / "roster.csv", ROSTER), clock)
    assert (report.rows, report.created, report.updated, report.unchanged) == (7, 7, 0, 0)
    assert report.warnings == []

    minji = find_member_by_address("kim.minji@example.net")
    assert minji.display_name == "김민지" and minji.category == "student"
    assert minji.language == "ko" and minji.status == "active"
    assert minji.primary_address == "kim.minji@example.net"
    assert str(uuid.UUID(minji.uuid)) == minji.uuid
    assert minji.created_at == clock.now().replace(tzinfo=None)

    assert find_member_by_address("jihoon.park@example.com").category == "developer"
    assert find_member_by_address("junho.choi@example.co.kr").category == "business"
    assert find_member_by_address("haeun.jung@example.org").category == "citizen"
    assert find_member_by_address("daniel.park@example.com").language == "en"
    assert find_member_by_address("anna.lee@example.org").display_name == "Lee, Anna"
    assert counts() == (7, 11)


def test_alias_lookup_is_case_insensitive(tmp_path, database, clock):
    import_roster(write_roster(tmp_path / "roster.csv", ROSTER), clock)
    minji = find_member_by_address("kim.minji@example.net")
    for addr in ("MINJI.KIM@univ.example.ac.kr", "mj@EXAMPLE.org",
                 "김민지 <Minji.Kim@Univ.Example.ac.kr>", "  kim.minji@example.net "):
        assert find_member_by_address(addr) == minji, addr
    assert find_member_by_address("jh2@example.com").display_name == "박지훈"
    assert find_member_by_address("stranger@example.org") is None
    assert find_member_by_address("") is None


def test_cp949_roster_from_plain_excel_csv(tmp_path, database, clock):
    path = write_roster(tmp_path / "roster.csv", ROSTER[:3], encoding="cp949")
    report = import_roster(path, clock)
    assert report.created == 2
    assert find_member_by_address("seoyeon.lee@example.org").display_name == "이서연"


def test_bad_rows_are_listed_by_line_and_nothing_is_imported(tmp_path, database, clock):
    add_member("Existing Member", "taken@example.org", "citizen", clock)
    lines = [
        HEADER,
        "김민지,kim.minji@example.net,대학생,,",              # line 2: fine
        ",nobody@example.org,student,,",                   # line 3: no name
        "이서연,lee@@example.org,일반시민,,",                  # line 4: bad email
        "박지훈,jihoon@example.com,공무원,,",                  # line 5: unknown category
        "",                                                # line 6: blank, skipped
        "Copy,KIM.MINJI@example.net,student,,",            # line 7: duplicate in the file
        "최준호,junho@example.co.kr,business,,fr",             # line 8: bad language
        "정하은,haeun@example.org,citizen,taken@example.org,",  # line 9: another member's
        "Extra,extra@example.org,citizen,,,surplus",       # line 10: too many cells
        "빈칸,,,,",                                        # line 11: email, category empty
    ]
    with pytest.raises(ImportRowsError) as err:
        import_roster(write_roster(tmp_path / "roster.csv", lines), clock)
    by_line = dict(err.value.problems)
    assert sorted(by_line) == [3, 4, 5, 7, 8, 9, 10, 11]
    assert "name is empty" in by_line[3]
    assert "'lee@@example.org' is not an e-mail address" in by_line[4]
    assert "unknown category '공무원'" in by_line[5] and "대학생" in by_line[5]
    assert "kim.minji@example.net is already used on line 2" in by_line[7]
    assert "unknown language 'fr'" in by_line[8]
    assert "taken@example.org belongs to Existing Member" in by_line[9]
    assert "more values than the header has columns" in by_line[10]
    assert "email is empty" in by_line[11] and "category is empty" in by_line[11]
    message = str(err.value)
    assert "roster.csv: 8 bad row(s), nothing imported" in message
    assert "line 5: unknown category" in message
    # Not even the good row 2 was written.
    assert counts() == (1, 1)
    assert find_member_by_address("kim.minji@example.net") is None


def test_address_of_another_member_is_refused_with_nothing_imported(tmp_path, database, clock):
    add_member("Existing Member", "taken@example.org", "citizen", clock)
    lines = [HEADER, "김민지,kim.minji@example.net,대학생,,",
             "정하은,haeun@example.org,citizen,TAKEN@example.org,"]
    with pytest.raises(ImportRowsError) as err:
        import_roster(write_roster(tmp_path / "roster.csv", lines), clock)
    assert err.value.problems == [(3, "address already belongs to another member "
                                      "(taken@example.org belongs to Existing Member)")]
    assert counts() == (1, 1)
    assert find_member_by_address("kim.minji@example.net") is None


def test_two_rows_naming_one_existing_member_are_refused(tmp_path, database, clock):
    add_member("김민지", "kim.minji@example.net", "student", clock, aliases=["mj@example.org"])
    lines = [HEADER, "김민지,kim.minji@example.net,대학생,,", "민지,mj@example.org,대학생,,"]
    with pytest.raises(ImportRowsError) as err:
        import_roster(write_roster(tmp_path / "roster.csv", lines), clock)
    assert err.value.problems[0][0] == 3
    assert "line 2 are both the member 김민지" in err.value.problems[0][1]


def test_missing_columns_are_reported_on_line_1(tmp_path, database, clock):
    path = write_roster(tmp_path / "roster.csv", ["이름,이메일", "김민지,kim@example.net"])
    with pytest.raises(ImportRowsError) as err:
        import_roster(path, clock)
    assert err.value.problems[0][0] == 1
    assert "missing column(s): category" in err.value.problems[0][1]


def test_korean_headers_and_unused_columns(tmp_path, database, clock):
    path = write_roster(tmp_path / "roster.csv", [
        "이름,이메일,분야,추가 이메일,전화번호,비고",
        "김민지,kim@example.net,대학생,kim2@example.net,010-0000-0000,1기"])
    report = import_roster(path, clock)
    assert report.created == 1
    assert report.warnings == ["column(s) not used and ignored: 전화번호, 비고"]
    assert find_member_by_address("kim2@example.net").display_name == "김민지"


def test_empty_and_missing_files(tmp_path, database, clock):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ImportRowsError, match="the file is empty"):
        import_roster(empty, clock)
    with pytest.raises(MailworkerError, match="roster file not found"):
        import_roster(tmp_path / "missing.csv", clock)
    workbook = tmp_path / "roster.xlsx"
    workbook.write_bytes(b"PK\x03\x04\x14\x00\x80\xff\xfe\x81\xff")
    with pytest.raises(ImportRowsError, match=r"Excel workbook .*CSV UTF-8"):
        import_roster(workbook, clock)
    whole = tmp_path / "roster2.xlsx"
    whole.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 40)    # a real workbook's size
    with pytest.raises(ImportRowsError) as err:
        import_roster(whole, clock)
    assert "bad row" not in str(err.value) and "line 1" not in str(err.value)
    assert str(err.value).endswith("nothing imported")
    garbage = tmp_path / "roster.bin"
    garbage.write_bytes(b"name,email,category\n\xff\xff\xff,x@example.org,student\n")
    with pytest.raises(ImportRowsError, match="neither UTF-8 nor cp949"):
        import_roster(garbage, clock)


def test_reimport_is_idempotent_and_updates(tmp_path, database, clock):
    path = write_roster(tmp_path / "roster.csv", ROSTER)
    import_roster(path, clock)
    before = {m.uuid for m in Member.select()}

    again = import_roster(path, clock)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7)
    assert counts() == (7, 11)

    changed = list(ROSTER)
    changed[2] = "이서연,seoyeon.lee@example.org,대학생,sy@example.org,en"   # category, alias
    changed[4] = "최준호 대표,junho.choi@example.co.kr,기업인,,"               # name
    clock.advance(days=3)
    report = import_roster(write_roster(path, changed), clock)
    assert (report.created, report.updated, report.unchanged) == (0, 2, 5)
    assert report.addresses_added == 1
    seoyeon = find_member_by_address("sy@example.org")
    assert (seoyeon.category, seoyeon.language) == ("student", "en")
    assert find_member_by_address("junho.choi@example.co.kr").display_name == "최준호 대표"
    assert {m.uuid for m in Member.select()} == before       # same people, same uuids


def test_new_main_address_with_old_one_as_alias(tmp_path, database, clock):
    member = add_member("김민지", "old@example.net", "student", clock)
    path = write_roster(tmp_path / "roster.csv",
                        [HEADER, "김민지,new@example.net,대학생,old@example.net,"])
    report = import_roster(path, clock)
    assert (report.created, report.updated) == (0, 1)
    member = Member.get_by_id(member.id)
    assert member.primary_address == "new@example.net"
    assert find_member_by_address("old@example.net") == member


def test_old_address_under_another_name_is_not_taken_over(tmp_path, database, clock):
    add_member("김민지", "old@example.net", "student", clock)
    path = write_roster(tmp_path / "roster.csv",
                        [HEADER, "Somebody Else,new@example.net,대학생,old@example.net,"])
    with pytest.raises(ImportRowsError, match="old@example.net belongs to 김민지"):
        import_roster(path, clock)
    assert find_member_by_address("old@example.net").display_name == "김민지"


def test_resigned_member_is_found_and_not_reactivated(tmp_path, database, clock):
    member = add_member("김민지", "kim@example.net", "student", clock)
    member.status = "resigned"
    member.save()
    assert find_member_by_address("KIM@example.net").status == "resigned"
    report = import_roster(write_roster(tmp_path / "roster.csv",
                                        [HEADER, "김민지,kim@example.net,student,,"]), clock)
    assert report.unchanged == 1
    assert report.warnings == ["line 2: 김민지 <kim@example.net> is resigned; the status was "
                               "left as it is"]
    assert Member.get_by_id(member.id).status == "resigned"


def test_set_member_status_stamps_and_clears_resigned_at(database, clock):
    member = add_member("김민지", "kim@example.net", "student", clock,
                        aliases=["minji@univ.example.ac.kr"])
    change = set_member_status("Minji@Univ.example.ac.kr", "resigned", clock,
                               reason=" 본인 요청 ")
    assert change.changed and change.old_status == "active"
    m = Member.get_by_id(member.id)
    assert (m.status, m.status_reason) == ("resigned", "본인 요청")
    assert m.resigned_at == clock.now().replace(tzinfo=None)

    clock.advance(days=1)
    again = set_member_status("kim@example.net", "resigned", clock)
    assert not again.changed and not again.reason_changed
    m = Member.get_by_id(member.id)
    assert m.resigned_at == (clock.now() - dt.timedelta(days=1)).replace(tzinfo=None)
    assert m.status_reason == "본인 요청"            # no reason given: the old one stays

    set_member_status("kim@example.net", "suspended", clock)
    m = Member.get_by_id(member.id)
    assert (m.status, m.resigned_at, m.status_reason) == ("suspended", None, None)
    set_member_status("kim@example.net", "active", clock, reason="복귀")
    m = Member.get_by_id(member.id)
    assert (m.status, m.resigned_at, m.status_reason) == ("active", None, "복귀")

    with pytest.raises(RosterError, match="no member has the address 'nobody@example.org'"):
        set_member_status("Nobody@example.org", "resigned", clock)
    with pytest.raises(RosterError, match=r"unknown status 'retired' \(one of: active, "
                                          r"resigned, suspended, term_ended\)"):
        set_member_status("kim@example.net", "retired", clock)
    assert Member.get_by_id(member.id).status == "active"


def test_quota_overflow_is_a_warning_not_an_error(tmp_path, database, clock):
    lines = [HEADER] + [f"학생{i},student{i}@example.ac.kr,대학생,," for i in range(41)]
    report = import_roster(write_roster(tmp_path / "roster.csv", lines), clock)
    assert report.created == 41
    assert report.warnings == [f"category 대학생 (student) has 41 active members, more than "
                               f"the plan's {QUOTAS['student']} seats"]


def test_add_member_checks_everything(database, clock):
    m = add_member("  김민지 ", "Kim@Example.net", "대학생", clock,
                   aliases=["kim2@example.net", "KIM@example.net"], language="en")
    assert (m.display_name, m.category, m.language) == ("김민지", "student", "en")
    assert [a.email for a in m.addresses.order_by(MemberAddress.id)] == \
        ["kim@example.net", "kim2@example.net"]
    with pytest.raises(RosterError, match="kim2@example.net already belongs to 김민지"):
        add_member("Other", "other@example.org", "citizen", clock, aliases=["kim2@example.net"])
    with pytest.raises(RosterError, match="unknown category 'mayor'"):
        add_member("X", "x@example.org", "mayor", clock)
    with pytest.raises(RosterError, match="not an e-mail address"):
        add_member("X", "x.example.org", "citizen", clock)
    with pytest.raises(RosterError, match="the name is empty"):
        add_member(" ", "x@example.org", "citizen", clock)
    with pytest.raises(RosterError, match="unknown language"):
        add_member("X", "x@example.org", "citizen", clock, language="jp")
    assert counts() == (1, 2)


def test_read_roster_needs_no_database(tmp_path):
    roster = read_roster(write_roster(tmp_path / "roster.csv", ROSTER))
    assert [r.line for r in roster.rows] == [2, 3, 4, 5, 6, 7, 8]
    assert roster.rows[0].aliases == ["minji.kim@univ.example.ac.kr", "mj@example.org"]
    assert roster.rows[2].aliases == ["jh@example.com", "jh2@example.com"]


def test_list_members_orders_by_plan_category(tmp_path, database, clock):
    import_roster(write_roster(tmp_path / "roster.csv", ROSTER), clock)
    views = list_members()
    assert [v.member.category for v in views] == \
        ["student", "citizen", "citizen", "citizen", "developer", "developer", "business"]
    assert views[0].primary == "kim.minji@example.net"
    assert views[0].aliases == ["minji.kim@univ.example.ac.kr", "mj@example.org"]


# --- the CLI ------------------------------------------------------------------------------

@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "mailworker.toml"
    path.write_text('[database]\nurl = "sqlite:///state/mailworker.db"\n', encoding="utf-8")
    return path


def run(argv, capsys, clock):
    code = cli.main(argv, clock=clock)
    out = capsys.readouterr()
    return code, out.out, out.err


def reopen(config_path, clock):
    return db_mod.open_database("sqlite:///state/mailworker.db", config_path.parent, clock)


def test_cli_import_list_add(tmp_path, config_path, capsys, clock):
    roster = write_roster(tmp_path / "roster.csv", ROSTER)
    code, out, err = run(["--config", str(config_path), "members", "import", str(roster)],
                         capsys, clock)
    assert code == 0, err
    assert "7 row(s): 7 created, 0 updated, 0 unchanged" in out

    code, out, err = run(["--config", str(config_path), "members", "import", str(roster)],
                         capsys, clock)
    assert "0 created, 0 updated, 7 unchanged" in out

    code, out, err = run(["--config", str(config_path), "members", "add", "--name", "한소희",
                          "--email", "sohee@example.org", "--category", "블록체인 개발자",
                          "--alias", "sohee@work.example.com"], capsys, clock)
    assert code == 0, err
    assert "added 한소희 <sohee@example.org> as 블록체인 개발자 (developer)" in out

    code, out, err = run(["--config", str(config_path), "members", "list"], capsys, clock)
    assert code == 0
    assert "김민지" in out and "대학생 (student)" in out and "sohee@work.example.com" in out
    assert out.rstrip().endswith("8 member(s)")

    code, out, err = run(["--config", str(config_path), "members", "list", "--csv"],
                         capsys, clock)
    assert out.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(out.lstrip("\ufeff"))))
    assert len(rows) == 8
    minji = next(r for r in rows if r["email"] == "kim.minji@example.net")
    assert minji["category_ko"] == "대학생"
    assert minji["aliases"] == "minji.kim@univ.example.ac.kr;mj@example.org"
    assert minji["created"] == "2026-11-25"

    database = reopen(config_path, clock)
    try:
        assert find_member_by_address("SOHEE@work.example.com").display_name == "한소희"
    finally:
        database.close()


def test_cli_bad_roster_exits_2_with_line_numbers(tmp_path, config_path, capsys, clock):
    roster = write_roster(tmp_path / "roster.csv",
                          [HEADER, "김민지,kim@example.net,대학생,,", "X,bad-address,student,,"])
    code, out, err = run(["--config", str(config_path), "members", "import", str(roster)],
                         capsys, clock)
    assert code == 2
    assert "1 bad row(s), nothing imported" in err and "line 3: 'bad-address'" in err
    assert "Traceback" not in err
    database = reopen(config_path, clock)
    try:
        assert Member.select().count() == 0
    finally:
        database.close()


def test_cli_add_duplicate_exits_2(config_path, capsys, clock):
    argv = ["--config", str(config_path), "members", "add", "--name", "A",
            "--email", "a@example.org", "--category", "citizen"]
    assert run(argv, capsys, clock)[0] == 0
    code, out, err = run(argv, capsys, clock)
    assert code == 2 and "a@example.org already belongs to A" in err


def test_cli_set_status(config_path, capsys, clock):
    base = ["--config", str(config_path)]
    assert run(base + ["members", "add", "--name", "김민지", "--email", "kim@example.net",
                       "--category", "student", "--alias", "mj@example.org"],
               capsys, clock)[0] == 0
    code, out, err = run(base + ["members", "set-status", "MJ@example.org", "resigned",
                                 "--reason", "본인 요청 (11/24 메일)"], capsys, clock)
    assert code == 0, err
    # The clock is 2026-11-25 01:00 UTC: shown in Seoul time.
    assert ("김민지 <kim@example.net>: active → resigned on 2026-11-25 10:00 "
            "(reason: 본인 요청 (11/24 메일))") in out
    assert "earn no hours" in out and "hours so far are kept" in out

    code, out, err = run(base + ["members", "set-status", "kim@example.net", "resigned"],
                         capsys, clock)
    assert code == 0
    assert "김민지 <kim@example.net> is already resigned (reason: 본인 요청 (11/24 메일)); " \
           "nothing changed" in out

    code, out, err = run(base + ["members", "list", "--status", "resigned", "--csv"],
                         capsys, clock)
    rows = list(csv.DictReader(io.StringIO(out.lstrip("\ufeff"))))
    assert [(r["email"], r["status"], r["status_reason"]) for r in rows] == \
        [("kim@example.net", "resigned", "본인 요청 (11/24 메일)")]

    code, out, err = run(base + ["members", "set-status", "kim@example.net", "active"],
                         capsys, clock)
    assert code == 0 and "resigned → active" in out and "earn volunteer hours again" in out

    code, out, err = run(base + ["members", "set-status", "other@example.org", "suspended"],
                         capsys, clock)
    assert code == 2
    assert "no member has the address 'other@example.org'" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        run(base + ["members", "set-status", "kim@example.net", "gone"], capsys, clock)
    assert exit_info.value.code == 2
    assert "invalid choice: 'gone'" in capsys.readouterr().err

    database = reopen(config_path, clock)
    try:
        m = find_member_by_address("kim@example.net")
        assert (m.status, m.resigned_at, m.status_reason) == ("active", None, None)
    finally:
        database.close()


def test_import_on_postgresql_is_all_or_nothing(pg, tmp_path, clock):
    database = db_mod.open_database(pg.new_database("members"), clock=clock)
    try:
        import_roster(write_roster(tmp_path / "roster.csv", ROSTER), clock)
        assert counts() == (7, 11)
        bad = [HEADER, "New Person,new@example.org,citizen,,",
               "Other Person,other@example.org,citizen,MJ@example.org,"]
        with pytest.raises(ImportRowsError, match="mj@example.org belongs to 김민지"):
            import_roster(write_roster(tmp_path / "bad.csv", bad), clock)
        assert counts() == (7, 11)
        assert find_member_by_address("Minji.Kim@univ.example.ac.kr").display_name == "김민지"
    finally:
        database.close()


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_separated_rosters_are_read(tmp_path, database, clock, sep):
    path = tmp_path / "roster.csv"
    path.write_text(sep.join(["이름", "이메일", "분야"]) + "\n"
                    + sep.join(["김민지", "minji.kim@example.com", "대학생"]) + "\n"
                    + sep.join(["Daniel Kang", "daniel.kang@example.net", "developer"]) + "\n",
                    encoding="utf-8")
    result = import_roster(path, clock)
    assert result.created == 2
    assert find_member_by_address("daniel.kang@example.net").category == "developer"


def test_control_characters_are_refused_where_staff_type_them(tmp_path, config_path, capsys,
                                                                 clock):
    # A line break inside a quoted cell is valid CSV; in a name it would reach mail headers.
    roster = tmp_path / "roster.csv"
    roster.write_bytes(("\ufeff" + HEADER + "\r\n"
                        '"Eve\r\nBcc: spy@evil.example",eve@example.org,citizen,,\r\n'
                        "Tab\tName,tab@example.org,citizen,,\r\n"
                        "김민지,kim@example.net,대학생,,\r\n").encode("utf-8"))
    code, out, err = run(["--config", str(config_path), "members", "import", str(roster)],
                         capsys, clock)
    assert code == 2 and "Traceback" not in err
    assert "2 bad row(s), nothing imported" in err
    assert "line 3: name contains control character(s) \\r, \\n" in err
    assert "line 4: name contains control character(s) \\t" in err
    code, out, err = run(["--config", str(config_path), "members", "add", "--name",
                          "Mallory\x1cX", "--email", "m@example.org", "--category", "citizen"],
                         capsys, clock)
    assert code == 2 and "name contains control character(s) \\x1c" in err
    database = reopen(config_path, clock)
    try:
        assert Member.select().count() == 0
        with pytest.raises(RosterError, match="extra address contains control"):
            add_member("X", "x@example.org", "citizen", clock, aliases=["y@example.org\x00"])
        with pytest.raises(RosterError, match="name contains control character.*\\\\u2028"):
            add_member("X\u2028Y", "x@example.org", "citizen", clock)
    finally:
        database.close()
