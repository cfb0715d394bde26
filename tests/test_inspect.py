"""`mailworker inspect [--json] FILE...`: classify .eml files without a database."""
from __future__ import annotations

import io
import json
import shutil
import unicodedata
from pathlib import Path

import pytest

from mailworker import cli
from mailworker.demo_data import DEMO_EXPECTED, demo_messages
from mailworker.ingest.inspect import run_inspect

MAIL = Path(__file__).parent / "data" / "mail"
REQUIRED = {"file", "kind", "reason", "subject", "from", "message_id", "sha256"}


@pytest.fixture
def demo_dir(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    for label, raw in demo_messages():
        (folder / f"{label}.eml").write_bytes(raw)
    return folder


def test_json_through_the_cli(demo_dir, tmp_path, monkeypatch, capsys):
    # A config whose database would be created on first use: inspect must not create it.
    db_file = tmp_path / "never.db"
    config = tmp_path / "mailworker.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db_file}"\n', encoding="utf-8")
    monkeypatch.setenv("MAILWORKER_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    files = sorted(str(p) for p in demo_dir.glob("*.eml"))
    status = cli.main(["inspect", "--json", *files])
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert len(out) == len(files)
    for line in out:
        record = json.loads(line)
        assert REQUIRED <= record.keys()
        label = Path(record["file"]).stem
        assert record["kind"] == DEMO_EXPECTED[label], record["reason"]
        assert len(record["sha256"]) == 64
    assert not db_file.exists()
    assert not (tmp_path / "var").exists()


def test_json_fields():
    out = io.StringIO()
    assert run_inspect([str(MAIL / "attachments.eml"), str(MAIL / "outlook-reply-ko.eml")],
                       True, out) == 0
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["kind"] == "review"
    assert first["from"] == "haeun.yoon@example.com"
    assert first["subject"] == "지갑 앱 오류 첨부"
    assert first["message_id"] == "attach-1@mail.example.com"
    assert [a["name"] for a in first["attachments"]] == ["화면.png", "증명서_오류_보고서.pdf",
                                                         "로그.txt"]
    assert first["defects"] == []
    assert (second["kind"], second["rsvp"]) == ("rsvp", "decline")
    assert "불참" in second["reason"]
    assert second["date"] == "2026-11-17T01:00:00+00:00"


def test_malformed_file_gets_a_kind_and_reason():
    out = io.StringIO()
    assert run_inspect([str(MAIL / "garbage.eml")], True, out) == 0
    record = json.loads(out.getvalue())
    assert record["kind"] == "triage"
    assert record["reason"].startswith("malformed message:")
    assert record["defects"]


def test_unreadable_path_reports_error_and_exit_status(tmp_path, capsys):
    missing = tmp_path / "missing.eml"
    status = cli.main(["inspect", "--json", str(MAIL / "utf8-base64.eml"), str(missing),
                       str(MAIL / "qmail-bounce.eml")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1
    assert [r.get("kind") for r in lines] == ["review", None, "bounce"]   # the others still done
    assert lines[1]["file"] == str(missing)
    assert "cannot read" in lines[1]["error"] and "missing.eml" in lines[1]["error"]


def test_plain_table_is_aligned_for_korean(tmp_path):
    folder = tmp_path / "mail"
    shutil.copytree(MAIL, folder)
    (folder / "README.txt").write_text("not mail")        # a directory means its *.eml files
    out = io.StringIO()
    status = run_inspect([str(folder), str(tmp_path / "nope.eml")], False, out)
    text = out.getvalue()
    assert status == 1
    lines = text.splitlines()
    assert lines[0].split() == ["FILE", "KIND", "FROM", "SUBJECT", "REASON"]
    rows = lines[1:len(list(MAIL.glob("*.eml"))) + 2]

    def display_col(line: str, token: str) -> int:
        before = line[:line.index(token)]
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in before)

    reason_col = display_col(lines[0], "REASON")
    for row, eml in zip(rows, sorted(MAIL.glob("*.eml"))):
        assert row.startswith(eml.name)
    ks = next(r for r in rows if r.startswith("ks_c_5601-1987.eml"))
    assert "똠양꿍 식당 에스코인 결제 오류" in ks
    assert display_col(ks, "feedback on the service") == reason_col
    assert "README" not in text
    err = next(r for r in rows if "nope.eml" in r)
    assert " error " in err and "cannot read" in err
    assert lines[-1].startswith(f"{len(rows)} file(s): ")
    assert "1 error" in lines[-1] and "1 bounce" in lines[-1]


def test_empty_directory_is_an_error(tmp_path):
    out = io.StringIO()
    assert run_inspect([str(tmp_path)], True, out) == 1
    assert json.loads(out.getvalue()) == {"file": str(tmp_path),
                                          "error": f"no .eml files in {tmp_path}"}


def test_plain_output_does_not_pass_terminal_escapes(tmp_path):
    path = tmp_path / "escape.eml"
    path.write_bytes(b"From: a@example.com\r\nSubject: \x1b[2J\x1b[31mred\r\n\r\nbody\r\n")
    out = io.StringIO()
    run_inspect([str(path)], False, out)
    assert "\x1b" not in out.getvalue()
    assert "[2J [31mred" in out.getvalue()     # controls are cleaned out of headers


def test_a_spoofed_sender_is_shown(tmp_path):
    path = tmp_path / "spoof.eml"
    path.write_bytes(b"From: kim.minji@example.net <attacker@evil.example>\r\n"
                     b"Subject: [review] app\r\n\r\nThe wallet app crashes on login.\r\n")
    out = io.StringIO()
    assert run_inspect([str(path)], True, out) == 0
    record = json.loads(out.getvalue())
    assert record["from"] == ""
    assert "display name holds an address" in record["sender_problem"]
    path.write_bytes(b"From: kim.minji@example.net\r\n\r\nhello\r\n")
    out = io.StringIO()
    run_inspect([str(path)], True, out)
    assert json.loads(out.getvalue())["sender_problem"] is None


def test_a_maildir_folder_and_its_message_files(tmp_path):
    """What the demo leaves behind is a Maildir: its folders and files can be inspected."""
    import mailbox
    box = mailbox.Maildir(tmp_path / "Maildir", factory=None, create=True)
    labels = {}
    for label, raw in demo_messages():
        labels[box.add(raw)] = label
    out = io.StringIO()
    assert run_inspect([str(tmp_path / "Maildir")], True, out) == 0
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == len(labels)
    for record in records:
        key = Path(record["file"]).name.split(":")[0]
        assert record["kind"] == DEMO_EXPECTED[labels[key]], record

    one = next((tmp_path / "Maildir" / "new").iterdir())      # no .eml ending
    out = io.StringIO()
    assert run_inspect([str(one)], False, out) == 0
    assert "1 file(s)" in out.getvalue()


def test_an_empty_maildir_is_named(tmp_path):
    import mailbox
    mailbox.Maildir(tmp_path / "box", create=True)
    out = io.StringIO()
    assert run_inspect([str(tmp_path / "box")], True, out) == 1
    assert "no messages in the Maildir" in json.loads(out.getvalue())["error"]
