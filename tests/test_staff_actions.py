"""Staff act from the digest by mail, and every staff action is audited.

The digest is really rendered and written (file transport); its links are turned into
mail the way Outlook, Gmail and Naver write it, delivered to a real Maildir (and in one
test a real Dovecot), read by the ingest pass, and performed by the executor.
"""
from __future__ import annotations

import datetime as dt
import json
import mailbox
import os
import re
import stat
from pathlib import Path

import pytest

from mailworker import action_tokens, audit
from mailworker.action_tokens import TokenError, find_tokens, reason_from_body, sign, verify
from mailworker.cli import main
from mailworker.config import write_secret_file
from mailworker.db import open_from_config
from mailworker.ingest.maildir_source import MaildirSource
from mailworker.ingest.pipeline import Ingestor
from mailworker.ingest.sources import folder_names
from mailworker.models import (AuditEntry, HourCredit, LedgerEvent, Member, Message, Outbox,
                               StaffRequest)
from mailworker.outbound.digest import gather, queue_digest
from mailworker.outbound.sender import drain_outbox
from mailworker.outbound.templates import Renderer
from mailworker.staff_actions import perform_pending
from mailworker.staff_registry import ACTIONS
from tests import mailclients
from tests.mailfactory import make_mail
from tests.outbound_support import bodies, parse
from tests.roster import load_roster

INBOX = "governance@seoul.example"
STAFF1, STAFF2 = "staff1@seoul.example", "staff2@seoul.example"
AUTH_PASS = ("mx.seoul.example; dkim=pass header.d=seoul.example; "
             "spf=pass smtp.mailfrom=seoul.example; dmarc=pass header.from=seoul.example")
AUTH_FAIL = ("mx.seoul.example; dkim=fail header.d=seoul.example; "
             "spf=fail smtp.mailfrom=seoul.example; dmarc=fail header.from=seoul.example")
KEY = b"k" * 32
# Two mails that wait for staff. (Issue 11: a thanks note is `other` now and waits for no
# one; an unclear mail is one tagged both [품평] and [제안], and a member's question waits
# in triage for the staff's answer.)
UNCLEAR = [("[품평][제안] 의견", "지갑 앱 송금 화면이 자꾸 멈춥니다. 그리고 기부금 관리에 블록체인을 도입하는 "
                  "새로운 서비스를 제안합니다."),
           ("문의", "다음 모임 장소가 어디인지 알려주실 수 있나요? 감사합니다.")]


def staff_raw(tmp_path, inbox: dict) -> dict:
    write_secret_file(tmp_path / "pseudonym.key", b"pseudonym-key-for-tests-abcdef")
    write_secret_file(tmp_path / "action.key", b"staff-action-key-for-tests-0123456789")
    return {"general": {"state_dir": str(tmp_path / "var")}, "inbox": inbox,
            "outgoing": {"directory": str(tmp_path / "sent"), "from_address": INBOX},
            "ledger": {"directory": str(tmp_path / "ledger"),
                       "pseudonym_key_file": str(tmp_path / "pseudonym.key")},
            "staff": {"addresses": [STAFF1, STAFF2.upper()],
                      "action_key_file": str(tmp_path / "action.key")},
            "ingest": {"trusted_authserv_id": "mx.seoul.example"}}


class Desk:
    """The group inbox (a real Maildir), the database and the staff's digest."""

    def __init__(self, cfg, clock):
        self.cfg, self.clock = cfg, clock
        self.source = MaildirSource(cfg.inbox.path, folder_names(cfg))
        self.source.open()
        self.box = mailbox.Maildir(cfg.inbox.path, factory=None, create=True)

    def deliver(self, *raws: bytes) -> None:
        for raw in raws:
            self.box.add(raw)

    def run(self) -> str:
        Ingestor(self.cfg, self.clock, self.source, KEY).run_pass()
        return perform_pending(self.cfg, self.clock)

    def digest(self, day: dt.date):
        row = queue_digest(self.cfg, self.clock, day)
        drain_outbox(self.cfg, self.clock)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", row.message_id.strip("<>")) + ".eml"
        return parse((Path(self.cfg.outgoing.directory) / name).read_bytes())

    def triage_unclear(self) -> list[Message]:
        for subject, body in UNCLEAR:
            self.deliver(make_mail(subject=subject, body=body))
        self.run()
        return list(Message.select().where(Message.disposition == "triage")
                    .order_by(Message.id))


@pytest.fixture
def desk(make_config, tmp_path, clock):
    cfg = make_config(staff_raw(tmp_path, {"type": "maildir", "path": str(tmp_path / "Maildir")}))
    db = open_from_config(cfg, clock)
    load_roster(clock)
    yield Desk(cfg, clock)
    db.close()


def html_links(html: str) -> dict[str, list[str]]:
    """label -> hrefs of the digest's buttons."""
    out: dict[str, list[str]] = {}
    for href, label in re.findall(r'<a href="(mailto:[^"?]+\?subject=[^"]+)"[^>]*>([^<]+)</a>', html):
        out.setdefault(label, []).append(href.replace("&amp;", "&"))
    return out


def text_links(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for label, href in re.findall(r"^ +(\S.*?)(?: \(사유 필요\))?: (mailto:\S+)$", text, re.M):
        out.setdefault(label, []).append(href)
    return out


def staff_reply(cfg, message_sha: str):
    row = Outbox.get(Outbox.key == f"staff:{message_sha}")
    return row, Renderer(cfg).render(row.template, row.context)


def by_subject_token(token: str) -> Message:
    return Message.get(Message.subject.contains(token))


# --- tokens --------------------------------------------------------------------------------

def test_token_signs_verifies_and_refuses_edits_and_expiry(clock):
    now = clock.now()
    token = sign(KEY, "RA", 1234, now + dt.timedelta(days=7))
    assert re.fullmatch(r"MW1-RA-YA-[0-9A-Z]+-[A-Z2-7]{16}", token) and len(token) < 40
    got = verify(KEY, token.lower(), now)        # a client that lower-cases still works
    assert (got.action, got.item, got.text) == ("RA", 1234, token)
    assert find_tokens(f"RE: 회신: 인정(품평) #1234 [{token}]") == [token]
    assert find_tokens(f"X{token}") == [] and find_tokens("MW1-RA-1-2-SHORT") == []
    forged = token.replace("-YA-", "-YB-")
    with pytest.raises(TokenError) as bad:
        verify(KEY, forged, now)
    assert bad.value.code == "bad_token"
    with pytest.raises(TokenError) as other_key:
        verify(b"another key", token, now)
    assert other_key.value.code == "bad_token"
    with pytest.raises(TokenError) as late:
        verify(KEY, token, now + dt.timedelta(days=7, minutes=1))
    assert late.value.code == "expired" and "expired" in str(late.value)


def test_embedded_action_key_is_made_once_private(make_config, tmp_path):
    cfg = make_config({"general": {"state_dir": str(tmp_path / "state")}})
    key = action_tokens.action_key(cfg)
    path = tmp_path / "state" / "staff-action.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(key) == 64
    assert action_tokens.action_key(cfg) == key            # read again, never replaced
    assert [p.name for p in path.parent.iterdir()] == ["staff-action.key"]


def test_reason_is_what_the_staff_member_typed():
    body = mailclients.typed(action_tokens.mailto_body("MW1-RJ-1-2-ABCDEFGHIJKLMNOP", "ko"),
                             "질문 메일이라 반려합니다")
    assert reason_from_body(body) == "질문 메일이라 반려합니다"
    assert reason_from_body(action_tokens.mailto_body("MW1-RJ-1-2-ABCDEFGHIJKLMNOP", "en")) == ""


# --- the digest's links ---------------------------------------------------------------------

def test_digest_has_buttons_and_links_for_each_waiting_item(desk):
    waiting = desk.triage_unclear()
    desk.deliver(make_mail(subject="[해촉] 해촉 요청드립니다",
                           body="개인 사정으로 거버넌스 단원 활동을 그만두고자 해촉을 요청드립니다."))
    desk.run()
    msg = desk.digest(dt.date(2026, 11, 25))
    text, html = bodies(msg)
    buttons, links = html_links(html), text_links(text)
    assert set(buttons) == {"인정(품평)", "인정(제안)", "반려", "해촉 확인"}
    assert len(buttons["인정(품평)"]) == len(waiting) == 2 and len(buttons["해촉 확인"]) == 1
    assert links == buttons                      # the text part carries the same links
    for href in sum(buttons.values(), []):
        assert re.fullmatch(r"mailto:governance@seoul\.example\?subject=[A-Za-z0-9%._~-]+"
                            r"&body=[A-Za-z0-9%._~-]+", href), href   # RFC 6068, no spaces
        to, subject, body = mailclients.mailto_fields(href)
        assert to == INBOX and find_tokens(subject) == find_tokens(body)
        assert "\r\n" in body                    # line breaks as %0D%0A
    to, subject, body = mailclients.mailto_fields(buttons["반려"][1])
    assert subject.startswith(f"반려 #{waiting[1].id} [MW1-RJ-")
    assert "<script" not in html and "<svg" not in html and "javascript:" not in html
    assert "해촉 요청" in text and "유효" in text


# --- acting by mail ---------------------------------------------------------------------------

def test_staff_act_from_the_digest_in_outlook_gmail_and_naver(desk):
    cfg, clock = desk.cfg, desk.clock
    first, second = desk.triage_unclear()
    desk.deliver(make_mail(sender="seoyeon.lee@example.org", sender_name="이서연",
                           subject="[해촉] 해촉 요청드립니다",
                           body="개인 사정으로 거버넌스 단원 활동을 그만두고자 해촉을 요청드립니다."))
    desk.run()
    digest = desk.digest(dt.date(2026, 11, 25))
    text, html = bodies(digest)
    buttons, links = html_links(html), text_links(text)

    # Outlook: the HTML button "인정(품평)" on the first item, a reason typed.
    to, subject, body = mailclients.mailto_fields(buttons["인정(품평)"][0])
    outlook = mailclients.outlook(STAFF1, to, subject,
                                  mailclients.typed(body, "앱 사용 후기로 볼 수 있음"), AUTH_PASS)
    assert b"MW1-RA" not in outlook.split(b"\r\n\r\n")[0]   # the token is split and encoded
    # Gmail: the text link "반려" on the second item, the digest quoted below.
    to, subject, body = mailclients.mailto_fields(links["반려"][1])
    gmail = mailclients.gmail(STAFF2, to, subject,
                              mailclients.typed(body, "단순 문의입니다"), AUTH_PASS, quoted=text)
    # Naver: HTML-only mail, "해촉 확인".
    to, subject, body = mailclients.mailto_fields(buttons["해촉 확인"][0])
    naver = mailclients.naver(STAFF1, to, subject, body, AUTH_PASS)
    desk.deliver(outlook, gmail, naver)
    assert desk.run() == "3 staff action(s) done, 0 refused"

    accepted, rejected = Message.get_by_id(first.id), Message.get_by_id(second.id)
    assert (accepted.disposition, accepted.kind) == ("credited", "review")
    assert HourCredit.get(HourCredit.message == accepted).by == f"staff:{STAFF1}"
    assert rejected.disposition == "rejected" and "단순 문의입니다" in rejected.reason
    assert Member.get(Member.display_name == "이서연").status == "resigned"
    staff_mails = list(Message.select().where(Message.kind == "staff_action"))
    assert [m.disposition for m in staff_mails] == ["staff_done"] * 3
    assert all(m.member is None for m in staff_mails)        # never anyone's contribution
    assert HourCredit.select().count() == 1

    entries = audit.entries()
    assert [(e.actor, e.how, e.action) for e in entries] == [
        (STAFF1, "mail", "triage.accept_review"), (STAFF2, "mail", "triage.reject"),
        (STAFF1, "mail", "member.resign_confirm")]
    assert entries[0].reason == "앱 사용 후기로 볼 수 있음" and entries[0].hours == 1
    assert entries[1].reason == "단순 문의입니다" and entries[2].reason == ""
    assert f"#{first.id} 김민지" in entries[0].item

    # The accept went to the ledger twice: the contribution and the staff decision,
    # both pseudonymised.
    leaf = json.loads(LedgerEvent.get(LedgerEvent.event_type == "staff_action").payload)
    assert (leaf["action"], leaf["how"], leaf["hours"]) == ("triage.accept_review", "mail", 1)
    assert leaf["msg_sha256"] == accepted.sha256 and len(leaf["staff"]) == 64
    payloads = " ".join(e.payload for e in LedgerEvent.select())
    assert "seoul.example" not in payloads and "staff1" not in payloads and "김민지" not in payloads

    row, mail = staff_reply(cfg, staff_mails[0].sha256)
    assert row.to_addr == STAFF1 and row.template == "staff_action_done"
    assert mail.subject.startswith("[처리 완료] 인정(품평) #")
    assert "앱 사용 후기로 볼 수 있음" in mail.text and "MW1-" not in mail.subject

    # The same Outlook link sent again (a new mail): done once, answered "already done".
    to, subject, body = mailclients.mailto_fields(buttons["인정(품평)"][0])
    desk.deliver(mailclients.outlook(STAFF2, to, subject, body, AUTH_PASS))
    assert desk.run() == "0 staff action(s) done, 1 refused"
    again = Message.select().where(Message.kind == "staff_action").order_by(Message.id.desc()).get()
    assert again.disposition == "staff_refused"
    assert f"already done by {STAFF1} at 2026-11-25 10:00" in again.reason
    row, mail = staff_reply(cfg, again.sha256)
    assert row.context["refusal"] == "used"
    assert f"{STAFF1} 님이 2026-11-25 10:00에 이미 처리했습니다" in mail.text
    assert HourCredit.select().count() == 1 and AuditEntry.select().count() == 3


def refused(desk, raw: bytes) -> tuple[Message, dict]:
    before = Message.select().count()
    desk.deliver(raw)
    desk.run()
    assert Message.select().count() == before + 1
    msg = Message.select().order_by(Message.id.desc()).get()
    assert msg.disposition == "staff_refused", msg.reason
    row = Outbox.get(Outbox.key == f"staff:{msg.sha256}")
    assert row.template == "staff_action_refused" and row.to_addr == msg.sender
    Renderer(desk.cfg).render(row.template, row.context)       # renders in full
    return msg, row.context


def test_forged_edited_expired_and_ordinary_mail_are_refused(desk):
    cfg, clock = desk.cfg, desk.clock
    first, second = desk.triage_unclear()
    text, html = bodies(desk.digest(dt.date(2026, 11, 25)))
    accept = mailclients.mailto_fields(html_links(html)["인정(품평)"][0])
    reject = mailclients.mailto_fields(html_links(html)["반려"][1])

    # A member (not staff) who got hold of a link: refused, and no hours for her either.
    msg, ctx = refused(desk, mailclients.gmail("kim.minji@example.net", *accept, AUTH_PASS))
    assert ctx["refusal"] == "not_staff" and msg.member is None
    # A forged staff sender: our server's authentication fails.
    msg, ctx = refused(desk, mailclients.outlook(STAFF1, *accept, AUTH_FAIL))
    assert ctx["refusal"] == "auth_failed" and "dmarc=fail" in msg.reason
    msg, ctx = refused(desk, mailclients.outlook(STAFF1, *accept, None))
    assert ctx["refusal"] == "auth_failed"
    # The token edited by hand to point at another item.
    to, subject, body = accept
    msg, ctx = refused(desk, mailclients.naver(STAFF1, to,
                                               *mailclients.edit_token(subject, body), AUTH_PASS))
    assert ctx["refusal"] == "bad_token"
    # A rejection without a reason is refused and leaves the link usable.
    msg, ctx = refused(desk, mailclients.gmail(STAFF2, *reject, AUTH_PASS))
    assert ctx["refusal"] == "reason_required" and ctx["action_label"] == "반려"
    # A staff member's ordinary mail earns nothing, even from an address that is also a
    # member's, and is never taken for a review.
    Member.update(status="active").execute()
    from mailworker.members import add_member
    add_member("사무국 박", STAFF2, "citizen", clock)
    msg, ctx = refused(desk, make_mail(sender=STAFF2, subject="[품평] 지갑 앱 오류",
                                       headers={"Authentication-Results": AUTH_PASS}))
    assert ctx["refusal"] == "no_token" and msg.kind == "staff_action"
    assert HourCredit.select().count() == 0 and AuditEntry.select().count() == 0
    assert Message.get_by_id(first.id).disposition == "triage"
    assert StaffRequest.select().count() == Message.select().where(
        Message.kind == "staff_action").count()

    # Links expire ([staff] action_valid_days = 7).
    clock.advance(days=7, minutes=1)
    msg, ctx = refused(desk, mailclients.outlook(STAFF1, *accept, AUTH_PASS))
    assert ctx["refusal"] == "expired"
    assert Message.get_by_id(first.id).disposition == "triage"

    # A fresh digest's links work; the reason-less rejection's link was not used up.
    clock.advance(days=-7, minutes=-1)
    to, subject, body = reject
    desk.deliver(mailclients.gmail(STAFF2, to, subject, mailclients.typed(body, "문의"),
                                   AUTH_PASS))
    assert desk.run() == "1 staff action(s) done, 0 refused"
    assert Message.get_by_id(second.id).disposition == "rejected"


def test_a_decided_item_refuses_the_other_buttons(desk):
    first, _ = desk.triage_unclear()
    text, html = bodies(desk.digest(dt.date(2026, 11, 25)))
    links = html_links(html)
    desk.deliver(mailclients.gmail(STAFF1, *mailclients.mailto_fields(links["인정(제안)"][0]),
                                   AUTH_PASS))
    desk.run()
    assert Message.get_by_id(first.id).kind == "proposal"
    to, subject, body = mailclients.mailto_fields(links["반려"][0])
    msg, ctx = refused(desk, mailclients.outlook(STAFF2, to, subject,
                                                 mailclients.typed(body, "중복"), AUTH_PASS))
    assert ctx["refusal"] == "not_possible"
    assert f"already decided by {STAFF1} at 2026-11-25 10:00" in ctx["detail"]
    assert HourCredit.select().count() == 1


def test_analysis_reads_staff_mail_without_the_database_modules():
    import subprocess
    import sys
    from mailworker.ingest import staff_mail
    from mailworker.models import STAFF_KIND
    assert staff_mail.STAFF_KIND == STAFF_KIND
    code = ("import sys, mailworker.ingest.analysis; "
            "sys.exit('peewee' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_every_action_is_registered_once_with_a_label_in_both_languages():
    names = {a.name for a in ACTIONS.values()}
    assert {"triage.accept_review", "triage.accept_proposal", "triage.reject",
            "member.resign_confirm"} <= names
    for action in ACTIONS.values():
        assert action.label("ko") and action.label("en") and action.label("ko") != action.label("en")


# --- the audit trail from the command line ------------------------------------------------------

def test_cli_actions_are_audited_with_the_sudo_user(desk, monkeypatch, capsys):
    cfg, clock = desk.cfg, desk.clock
    first, second = desk.triage_unclear()
    monkeypatch.setenv("SUDO_USER", "parkclerk")
    config = ["--config", str(cfg.path)]
    assert main([*config, "triage", "accept", str(first.id), "--as", "review"], clock) == 0
    assert main([*config, "triage", "reject", str(second.id), "--reason", "문의 메일",
                 "--by", "박주무관"], clock) == 0
    assert main([*config, "members", "set-status", "daniel.park@example.com", "suspended",
                 "--reason", "연락 두절"], clock) == 0
    assert main([*config, "members", "add", "--name", "정하늘", "--email", "sky@example.kr",
                 "--category", "citizen"], clock) == 0
    entries = audit.entries()
    assert [(e.actor, e.how, e.action) for e in entries] == [
        ("parkclerk", "cli", "triage.accept_review"),
        ("parkclerk (as 박주무관)", "cli", "triage.reject"),
        ("parkclerk", "cli", "member.set_status"),
        ("parkclerk", "cli", "member.add")]
    assert entries[1].reason == "문의 메일" and entries[2].reason == "연락 두절"
    assert entries[2].detail == "active → suspended"
    leaf = json.loads(LedgerEvent.get(LedgerEvent.event_type == "staff_action").payload)
    assert leaf["how"] == "cli" and "parkclerk" not in json.dumps(leaf)
    capsys.readouterr()
    assert main([*config, "audit", "--since", "2026-11-25"], clock) == 0
    out = capsys.readouterr().out
    assert "parkclerk (as 박주무관)" in out and "triage.reject" in out and "4 action(s)" in out
    assert main([*config, "audit", "--since", "2026-11-26"], clock) == 0
    assert "no staff actions recorded since 2026-11-26" in capsys.readouterr().out
    assert main([*config, "audit", "--csv"], clock) == 0
    csv_out = capsys.readouterr().out
    assert csv_out.startswith("\ufeffwhen,who,how,what,item,reason,result")
    assert csv_out.count("\n") == 5


def test_resigned_by_command_closes_the_request_and_the_digest_shows_yesterday(desk,
                                                                                 monkeypatch):
    cfg, clock = desk.cfg, desk.clock
    monkeypatch.setenv("SUDO_USER", "leeclerk")
    desk.deliver(make_mail(subject="[해촉] 해촉 요청드립니다",
                           body="개인 사정으로 거버넌스 단원 활동을 그만두고자 해촉을 요청드립니다."))
    desk.run()
    context = gather(cfg, clock, dt.date(2026, 11, 25))
    assert context["resignations_total"] == 1
    assert main(["--config", str(cfg.path), "members", "set-status", "kim.minji@example.net",
                 "resigned", "--reason", "본인 요청"], clock) == 0
    context = gather(cfg, clock, dt.date(2026, 11, 25))
    assert context["resignations_total"] == 0           # confirmed: no button any more
    clock.advance(days=1)
    context = gather(cfg, clock, dt.date(2026, 11, 26))
    assert [(e["actor"], e["how"], e["action"], e["reason"]) for e in context["audit"]] == [
        ("leeclerk", "cli", "member.set_status", "본인 요청")]
    mail = Renderer(cfg).render("digest", context)
    assert "■ 어제 사무국 처리 기록: 1건" in mail.text and "leeclerk (명령)" in mail.text
    assert "leeclerk" in mail.html


def test_schema_7_database_gains_the_audit_tables(make_config, tmp_path, clock):
    cfg = make_config({"general": {"state_dir": str(tmp_path / "var")}})
    database = open_from_config(cfg, clock)
    database.execute_sql('DROP TABLE "audit_entry"')
    database.execute_sql('DROP TABLE "staff_request"')
    database.execute_sql("DELETE FROM schema_version WHERE version >= 8")
    database.close()
    database = open_from_config(cfg, clock)
    try:
        assert database.table_exists("audit_entry") and database.table_exists("staff_request")
        entry = audit.record(clock, actor="me", how="cli", action="member.add", item="x")
        assert AuditEntry.get_by_id(entry.id).actor == "me"
    finally:
        database.close()


# --- a real IMAP server and the service loop ------------------------------------------------

def test_service_round_over_dovecot_performs_a_staff_action(dovecot, make_config, tmp_path,
                                                            clock):
    from mailworker.service import Service
    cfg = make_config(staff_raw(tmp_path, dovecot.inbox_config()))
    db = open_from_config(cfg, clock)
    try:
        load_roster(clock)
        dovecot.append([make_mail(subject=s, body=b) for s, b in UNCLEAR[:1]])
        Service(cfg, clock).run_once()
        item = Message.get(Message.disposition == "triage")
        context = gather(cfg, clock, dt.date(2026, 11, 25))
        href = context["triage"][0]["actions"][0]["href"]
        to, subject, body = mailclients.mailto_fields(href)
        dovecot.append([mailclients.outlook(STAFF1, to, f"RE: {subject}", body, AUTH_PASS)])
        report = Service(cfg, clock).run_once()
        assert report.errors == []
        assert Message.get_by_id(item.id).disposition == "credited"
        assert AuditEntry.get().actor == STAFF1
        reply = Outbox.get(Outbox.template == "staff_action_done")
        assert reply.status == "sent"                       # answered in the same round
        assert dovecot.count("INBOX") == 0
    finally:
        db.close()


def test_notice_and_roster_import_are_audited_but_a_dry_run_is_not(desk, monkeypatch,
                                                                   tmp_path, capsys):
    cfg, clock = desk.cfg, desk.clock
    monkeypatch.setenv("SUDO_USER", "choiclerk")
    config = ["--config", str(cfg.path)]
    notice = ["notice", "send", "--template", "trial_notice", "--to", "student",
              "--var", "service_name=S-지갑", "--var", "period=12월 1일~14일"]
    assert main([*config, *notice, "--dry-run"], clock) == 0
    assert AuditEntry.select().count() == 0
    assert main([*config, *notice], clock) == 0
    roster = tmp_path / "명단.csv"
    roster.write_text("name,email,category\n정하늘,sky@example.kr,citizen\n", encoding="utf-8")
    assert main([*config, "members", "import", str(roster)], clock) == 0
    assert main([*config, "members", "import", str(tmp_path / "missing.csv")], clock) == 2
    got = [(e.actor, e.action, e.item) for e in audit.entries()]
    assert got == [("choiclerk", "notice.send", "trial_notice to student"),
                   ("choiclerk", "member.import", str(roster))]
    assert "queued 1" in AuditEntry.get(AuditEntry.action == "notice.send").detail


def test_replying_to_the_digest_itself_acts_on_nothing(desk):
    """Reply (not a button) in Gmail: the quoted digest's links are not new text, so the
    mail holds no token; it is refused, and no quoted link is performed."""
    first, _ = desk.triage_unclear()
    digest = desk.digest(dt.date(2026, 11, 25))
    text, _ = bodies(digest)
    msg, ctx = refused(desk, mailclients.gmail(
        STAFF1, INBOX, f"Re: {digest['Subject']}", "확인했습니다. 오후에 처리하겠습니다.",
        AUTH_PASS, quoted=text))
    assert ctx["refusal"] == "no_token"
    assert Message.get_by_id(first.id).disposition == "triage"
    # Links pasted into the body, two at once: which one is meant is unclear.
    links = html_links(bodies(digest)[1])
    pasted = "\n".join(mailclients.mailto_fields(h)[2] for h in links["인정(품평)"])
    msg, ctx = refused(desk, mailclients.gmail(STAFF1, INBOX, "처리 부탁", pasted, AUTH_PASS))
    assert ctx["refusal"] == "several_tokens"


def test_config_check_names_the_action_key(make_config, tmp_path):
    from mailworker.config_check import PROBLEM, check_secrets
    cfg = make_config({"general": {"state_dir": str(tmp_path / "state")}})
    [finding] = [f for f in check_secrets(cfg) if "[staff] action_key" in f.text]
    assert "creates the embedded key" in finding.text
    action_tokens.action_key(cfg)
    os.chmod(tmp_path / "state" / "staff-action.key", 0o644)
    [finding] = [f for f in check_secrets(cfg) if "[staff] action_key" in f.text]
    assert finding.level == PROBLEM and "chmod 600" in finding.text


def test_a_failing_action_is_refused_and_the_round_goes_on(desk):
    from mailworker.staff_registry import StaffAction, register_action

    def broken(ctx):
        Member.update(status="suspended").execute()       # undone with the refusal
        raise RuntimeError("bug in an action")

    register_action(StaffAction("ZZ", "test.broken", "test", "고장", "Broken", broken))
    try:
        token = sign(b"staff-action-key-for-tests-0123456789", "ZZ", 1,
                     desk.clock.now() + dt.timedelta(days=1))
        msg, ctx = refused(desk, mailclients.gmail(STAFF1, INBOX, f"고장 #1 [{token}]", "",
                                                   AUTH_PASS))
    finally:
        ACTIONS.pop("ZZ")
    assert ctx["refusal"] == "not_possible" and "RuntimeError" in ctx["detail"]
    assert Member.select().where(Member.status == "suspended").count() == 0
    assert AuditEntry.select().count() == 0


# --- the group's actions: 지원 승인 and 참석 기록 ---------------------------------------------

def test_group_decisions_from_the_digest_accept_a_round_and_record_attendance(desk):
    """A closed round's selected applicants are appointed, and a meeting's attendees
    recorded, from the digest's buttons (Outlook and Gmail shapes, a real Maildir pass)."""
    from mailworker.group import recruitment
    from mailworker.group.meetings import create_meeting
    from mailworker.models import Application, Attendance, RecruitmentRound
    cfg, clock = desk.cfg, desk.clock
    r = recruitment.start_round(cfg, clock, dt.date(2026, 12, 1), seats={"student": 1})
    for i, email in enumerate(("new.one@example.com", "new.two@example.com")):
        Application.create(round=r, email=email, name=f"지원자{i}", category="student",
                           received_at=clock.now().replace(tzinfo=None))
    recruitment.close_round(clock)
    meeting = create_meeting(clock.now() - dt.timedelta(days=2), "서울시청", clock, cfg.tz)
    html = bodies(desk.digest(dt.date(2026, 11, 25)))[1]
    buttons = html_links(html)
    assert len(buttons["지원 승인"]) == 1 and len(buttons["참석 기록"]) == 1

    _, subject, body = mailclients.mailto_fields(buttons["지원 승인"][0])
    desk.deliver(mailclients.outlook(STAFF1, INBOX, subject, body, AUTH_PASS))
    _, subject, body = mailclients.mailto_fields(buttons["참석 기록"][0])
    typed = mailclients.typed(body, "kim.minji@example.net\ndaniel.park@example.com")
    desk.deliver(mailclients.gmail(STAFF2, INBOX, subject, typed, AUTH_PASS))
    desk.run()
    assert AuditEntry.select().count() == 2

    assert RecruitmentRound.get_by_id(r.id).status == "accepted"
    appointed = Application.get(Application.email == "new.one@example.com")
    assert appointed.status == "appointed" and appointed.member is not None
    assert Application.get(Application.email == "new.two@example.com").status == "waitlisted"
    present = {a.member.primary_address for a in Attendance.select()
               .where(Attendance.meeting == meeting)}
    assert present == {"kim.minji@example.net", "daniel.park@example.com"}
    actions = {e.action: e for e in AuditEntry.select()}
    assert set(actions) == {"application.accept", "meeting.attendance"}
    assert actions["meeting.attendance"].how == "mail"
    assert actions["meeting.attendance"].actor == STAFF2.lower()
    # Decided: the digest no longer offers them.
    html = bodies(desk.digest(dt.date(2026, 11, 26)))[1]
    assert "지원 승인" not in html_links(html) and "참석 기록" not in html_links(html)


def test_attendance_by_mail_without_addresses_is_refused(desk):
    from mailworker.group.meetings import create_meeting
    from mailworker.models import Attendance
    cfg, clock = desk.cfg, desk.clock
    create_meeting(clock.now() - dt.timedelta(days=1), "서울시청", clock, cfg.tz)
    html = bodies(desk.digest(dt.date(2026, 11, 25)))[1]
    _, subject, body = mailclients.mailto_fields(html_links(html)["참석 기록"][0])
    desk.deliver(mailclients.gmail(STAFF1, INBOX, subject, body, AUTH_PASS))
    desk.run()
    assert Attendance.select().count() == 0
    assert Outbox.select().where(Outbox.template == "staff_action_refused").count() == 1
    assert AuditEntry.select().count() == 0
