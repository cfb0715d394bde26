"""Rows built from hostile stored values (an old database, a bypass): each costs at most
itself, the drain goes on, and no stored text starts a header of its own."""
from __future__ import annotations

import mailbox

from mailworker.cli import main
from mailworker.config import load as load_config
from mailworker.models import Member, Outbox
from mailworker.outbound.sender import drain_outbox
from mailworker.outbox import domain_of, enqueue
from tests.mailfactory import make_mail
from tests.outbound_support import ACK_CONTEXT, open_db, parse
from tests.test_outbound_smtp import queue_ack, world  # noqa: F401 (fixture)
from tests.test_service import _write_config

POISON_ID = "poison\x1cid@evil.example"
CRLF_NAME = "Eve\r\nBcc: spy@evil.example"


def _hostile_rows(cfg, clock, members) -> dict[str, Outbox]:
    """Rows as an old database could hold them, queued before one ordinary row."""
    minji = members["kim.minji@example.net"]
    daniel = members["daniel.park@example.com"]
    rows = {}
    # A stranger's Message-ID with a file separator (str.splitlines breaks on it).
    rows["poison_ref"] = enqueue(
        "nm:1", "non_member_reply", "stranger@evil.example",
        {"subject": "hello", "received_local": "2026-11-25 10:03",
         "in_reply_to": POISON_ID, "language": "ko"}, clock, domain=domain_of(cfg))
    # A member name with CR/LF written straight into the database.
    Member.update(display_name=CRLF_NAME).where(Member.id == daniel.id).execute()
    rows["crlf_name"] = queue_ack(cfg, clock, Member.get_by_id(daniel.id), 1)
    rows["subject"] = queue_ack(cfg, clock, minji, 2,
                                subject="품평\u2028Bcc: spy@evil.example\x1c")
    # Rows that cannot become a mail at all: a broken own Message-ID; a file attachment
    # whose path is not a path (an error no compose check names).
    rows["own_id"] = queue_ack(cfg, clock, minji, 3)
    Outbox.update(message_id="<a\nb@seoul.example>").where(
        Outbox.id == rows["own_id"].id).execute()
    rows["odd_file"] = enqueue("odd:1", "ack", minji.primary_address,
                               {**ACK_CONTEXT, "msg_sha256": "cd" * 32}, clock, member=minji,
                               attachments=[{"kind": "file", "path": ["x", None]}],
                               domain=domain_of(cfg))
    rows["plain"] = queue_ack(cfg, clock, minji, 4)
    return rows


def _assert_headers_clean(data: bytes) -> None:
    msg = parse(data)
    assert msg["Bcc"] is None
    names = [k.lower() for k in msg.keys()]
    assert len(names) == len(set(names))            # nothing injected, nothing doubled
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        assert all(32 <= b < 127 or b == 9 for b in line), line


def test_hostile_rows_fail_alone_over_smtp(smtp_factory, world, clock):  # noqa: F811
    server = smtp_factory("plain")
    cfg, members = world(server)
    rows = _hostile_rows(cfg, clock, members)
    result = drain_outbox(cfg, clock)
    assert (result.sent, result.failed, result.waiting) == (4, 2, 0)
    status = {k: Outbox.get_by_id(r.id) for k, r in rows.items()}
    assert {k: r.status for k, r in status.items()} == {
        "poison_ref": "sent", "crlf_name": "sent", "subject": "sent", "own_id": "failed",
        "odd_file": "failed", "plain": "sent"}
    assert "Message-ID" in status["own_id"].last_error
    assert "could not be built" in status["odd_file"].last_error
    assert "the other mails went on" in status["odd_file"].last_error
    got = {m.message_id: m for m in server.messages}
    poison = got[status["poison_ref"].message_id]
    assert poison.rcpt_tos == ["stranger@evil.example"]
    assert poison.message["In-Reply-To"] is None and poison.message["References"] is None
    named = got[status["crlf_name"].message_id]
    assert named.rcpt_tos == ["daniel.park@example.com"]
    assert str(named.message["To"]) == '"Eve Bcc: spy@evil.example" <daniel.park@example.com>'
    assert "Bcc: spy" in str(got[status["subject"].message_id].message["Subject"])
    for m in server.messages:
        _assert_headers_clean(m.data)
        assert m.rcpt_tos != ["spy@evil.example"]


def test_run_once_goes_on_past_a_poisoned_row_with_the_file_transport(tmp_path, capsys,
                                                                        clock):
    cfg_path = _write_config(tmp_path)
    cfg = load_config(cfg_path)
    db = open_db(cfg, clock)
    try:
        members = {m.primary_address: m for m in Member.select()}
        first = enqueue("nm:old", "non_member_reply", "stranger@evil.example",
                        {"subject": "hello", "received_local": "2026-11-25 10:03",
                         "in_reply_to": POISON_ID, "language": "ko"}, clock,
                        domain=domain_of(cfg))
        broken = enqueue("nm:broken", "non_member_reply", "other@evil.example",
                         {"subject": "hi", "received_local": "2026-11-25 10:03",
                          "in_reply_to": None, "language": "ko"}, clock,
                         domain=domain_of(cfg))
        Outbox.update(message_id="<x\x1cy@evil.example>").where(Outbox.id == broken.id).execute()
        member = next(iter(members.values()))
        Member.update(display_name=CRLF_NAME).where(Member.id == member.id).execute()
        sender = member.primary_address
    finally:
        db.close()
    box = mailbox.Maildir(str(tmp_path / "Maildir"), factory=None, create=True)
    box.add(make_mail(sender=sender))
    capsys.readouterr()
    assert main(["--config", str(cfg_path), "run", "--once"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "credited 1" in out
    db = open_db(cfg, clock)
    try:
        by_id = {r.id: r for r in Outbox.select()}
        assert by_id[first.id].status == "sent" and by_id[broken.id].status == "failed"
        ack = Outbox.get(Outbox.template == "ack")
        assert ack.status == "sent"
    finally:
        db.close()
    sent = sorted((tmp_path / "var" / "sent-mail").glob("*.eml"))
    assert len(sent) == 2
    for path in sent:
        _assert_headers_clean(path.read_bytes())
