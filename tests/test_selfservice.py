"""Members answered by mail (issue 11), end to end on a real Maildir, a real SQLite file,
the real ledger replicas and the file transport: questions, thanks, the self-service
answers (hours statement, receipts, password re-send, help), and staff decisions that
reach the member."""
from __future__ import annotations

import json
import mailbox

import pytest

from mailworker.db import open_from_config
from mailworker.ingest import triage
from mailworker.ingest.maildir_source import MaildirSource
from mailworker.ingest.pipeline import Ingestor
from mailworker.ingest.sources import folder_names
from mailworker.ledger.appender import append_pending
from mailworker.ledger.keys import pseudonym_key
from mailworker.ledger.layout import ensure_embedded_keys
from mailworker.models import HourCredit, Message, Outbox
from mailworker.outbound.packages import password_from_key
from mailworker.outbound.sender import drain_outbox
from mailworker.outbox import domain_of, enqueue
from tests.mailfactory import REVIEW_KO, make_mail
from tests.outbound_support import bodies, outbound_config, parse
from tests.roster import load_roster

def auth_pass(sender: str) -> dict:
    """What our receiving server writes for mail that passes, aligned with the From domain."""
    domain = sender.rsplit("@", 1)[1]
    return {"Authentication-Results": f"mx.seoul.example; spf=pass smtp.mailfrom={domain}; "
                                      f"dkim=pass header.d={domain}"}


AUTH_FAIL = {"Authentication-Results": "mx.seoul.example; spf=fail smtp.mailfrom=example.net; "
                                       "dkim=none"}
MINJI = "kim.minji@example.net"
MINJI_ALIAS = "minji.kim@univ.example.ac.kr"


class Desk:
    """The group inbox (Maildir), the database and the outgoing-mail directory."""

    def __init__(self, cfg, clock, members):
        self.cfg, self.clock, self.members = cfg, clock, members
        self.box = mailbox.Maildir(cfg.inbox.path, factory=None, create=True)
        self.source = MaildirSource(cfg.inbox.path, folder_names(cfg))
        self.source.open()

    def mail(self, subject, body, sender=MINJI, headers=None, **kw):
        self.box.add(make_mail(sender=sender, subject=subject, body=body,
                               headers={**auth_pass(sender), **(headers or {})}, **kw))
        Ingestor(self.cfg, self.clock, self.source, pseudonym_key(self.cfg)).run_pass()
        return Message.select().order_by(Message.id.desc()).first()

    def send(self):
        before = set(self.sent_paths())
        result = drain_outbox(self.cfg, self.clock)
        new = [p for p in self.sent_paths() if p not in before]
        return result, [parse(p.read_bytes()) for p in new]

    def sent_paths(self):
        return sorted(self.cfg.resolve(self.cfg.outgoing.directory).glob("*.eml"))


@pytest.fixture
def desk(make_config, tmp_path, clock):
    cfg = outbound_config(make_config, tmp_path, {"receipt_wait_seconds": 600},
                          inbox={"type": "maildir", "path": str(tmp_path / "Maildir")},
                          ingest={"trusted_authserv_id": "mx.seoul.example"})
    db = open_from_config(cfg, clock)
    ensure_embedded_keys(cfg)
    yield Desk(cfg, clock, load_roster(clock))
    db.close()


REVIEWS = [REVIEW_KO,
           "지갑 앱에서 송금 버튼을 누르면 화면이 하얗게 변하고 앱이 꺼집니다. 아이폰 13에서 세 번 "
           "해 봤는데 매번 같아요. 송금 내역에도 남지 않아서 보내졌는지 알 수가 없습니다."]


def _credited_review(desk, subject="전자증명서 앱 오류", text=0):
    msg = desk.mail(subject, REVIEWS[text])
    assert msg.disposition == "credited", msg.reason
    return msg


def test_hours_question_is_answered_with_the_members_statement(desk):
    review = _credited_review(desk)
    desk.send()
    question = desk.mail("봉사시간 확인 부탁드립니다", "지금까지 제 봉사시간이 몇 시간인지 확인 부탁드립니다.")
    assert (question.kind, question.disposition) == ("question", "answered")
    assert "hours statement" in question.reason
    assert HourCredit.select().count() == 1                  # a question earns nothing
    assert Message.select().where(Message.disposition == "triage").count() == 0
    _, mails = desk.send()
    (answer,) = mails
    assert answer["To"].addresses[0].addr_spec == MINJI and answer["Subject"] == "[봉사시간 내역] 김민지 님"
    assert answer["Auto-Submitted"] == "auto-replied"
    text, html = bodies(answer)
    assert "전자증명서 앱 오류" in text and f"영수증 {review.sha256[:12]}" in text
    assert "이번 반기 봉사시간: 1시간" in text and "전체 봉사시간: 1시간 (1건)" in text
    assert review.sha256[:12] in html


def test_subject_commands_and_the_help_answer(desk):
    msg = desk.mail("도움말", "\n")
    assert (msg.kind, msg.disposition) == ("question", "answered")
    _, (help_mail,) = desk.send()
    text, _ = bodies(help_mail)
    for command in ("내 봉사시간", "영수증", "비밀번호", "도움말"):
        assert command in text
    msg = desk.mail("help", "\n", sender="daniel.park@example.com", sender_name="Daniel Park")
    assert msg.disposition == "answered"
    _, (english,) = desk.send()
    assert english["Subject"] == "[Help] Commands you can send by mail"
    msg = desk.mail("내 봉사시간", "\n")
    assert msg.disposition == "answered" and "subject command" in msg.reason


def test_receipt_question_gets_the_ledger_receipts_as_attachments(desk):
    first = _credited_review(desk, "증명서 앱 오류", text=0)
    second = _credited_review(desk, "지갑 앱 오류", text=1)
    append_pending(desk.cfg, desk.clock)
    desk.send()
    msg = desk.mail("영수증 다시 보내주세요", "지난번 받은 영수증 파일을 지웠어요. 다시 받을 수 있을까요?")
    assert (msg.kind, msg.disposition) == ("question", "answered")
    _, (mail,) = desk.send()
    names = sorted(a.get_filename() for a in mail.iter_attachments())
    assert names == sorted(f"receipt-{m.sha256[:12]}.json" for m in (first, second))
    for attachment in mail.iter_attachments():
        receipt = json.loads(attachment.get_content())
        assert receipt["inclusion_proof"] is not None
        assert attachment.get_filename() == f"receipt-{receipt['msg_sha256'][:12]}.json"
    text, _ = bodies(mail)
    assert "영수증 2건" in text


def _package_mailed(desk, version="1.2.0"):
    """The package row a release queues (mailworker outbound release): only what the
    password re-send reads from it."""
    minji = desk.members[MINJI]
    return enqueue(f"package:{version}:{minji.uuid}", "package", MINJI,
                   {"display_name": minji.display_name, "version": version,
                    "package_name": f"app-{version}.zip", "installer_name": "app.exe",
                    "installer_sha256": "cd" * 32, "package_sha256": "ef" * 32,
                    "size_text": "1 MB", "password_delivery": "mail",
                    "member_fingerprint": "12" * 32},
                   desk.clock, member=minji, domain=domain_of(desk.cfg))


def test_password_is_resent_to_the_registered_address_once_a_day(desk):
    _package_mailed(desk, "1.1.0")
    _package_mailed(desk, "1.2.0")
    Outbox.update(status="sent").execute()
    # Asked from her other registered address: the password goes to the primary one.
    msg = desk.mail("비밀번호", "설치 파일 압축 비밀번호 메일을 못 받았어요. 다시 보내주세요.",
                    sender=MINJI_ALIAS)
    assert (msg.kind, msg.disposition) == ("question", "answered"), msg.reason
    assert "package 1.2.0 re-sent" in msg.reason
    _, (mail,) = desk.send()
    assert mail["To"].addresses[0].addr_spec == MINJI
    text, _ = bodies(mail)
    release_key = desk.cfg.secret("ledger", "release_key")
    assert password_from_key(release_key, "1.2.0", desk.members[MINJI].uuid) in text
    assert "다시 보내 드립니다" in text
    assert "password" not in json.dumps(Outbox.select().order_by(Outbox.id.desc()).first().context)
    again = desk.mail("비밀번호 다시", "압축 비밀번호 메일 한 번 더 보내주세요.")
    assert again.disposition == "answered" and "already re-sent today" in again.reason
    assert desk.send()[1] == []
    desk.clock.advance(days=1)
    next_day = desk.mail("비밀번호", "\n")
    assert "re-sent" in next_day.reason and "already" not in next_day.reason
    assert len(desk.send()[1]) == 1


def test_password_is_not_resent_without_sender_authentication(desk):
    _package_mailed(desk)
    Outbox.update(status="sent").execute()
    msg = desk.mail("비밀번호", "압축 비밀번호 메일이 안 왔어요. 다시 보내주세요.", headers=AUTH_FAIL)
    assert (msg.kind, msg.disposition) == ("question", "triage")
    assert "sender authentication did not pass" in msg.reason
    _, (mail,) = desk.send()
    assert mail["Subject"].startswith("[문의 접수]")
    text, _ = bodies(mail)
    assert "비밀번호:" not in text


def test_other_questions_go_to_staff_and_the_answer_reaches_the_member(desk):
    msg = desk.mail("정례회의 장소", "11월 정례회의 장소가 어디인가요? 시청 본관인지 헷갈려서요.")
    assert (msg.kind, msg.disposition) == ("question", "triage")
    _, (received,) = desk.send()
    assert received["Subject"] == "[문의 접수] 정례회의 장소"
    triage.reject(desk.cfg, desk.clock, msg.id, "서울시청 본관 8층 다목적홀입니다.", "staff-kim")
    _, (answer,) = desk.send()
    assert answer["To"].addresses[0].addr_spec == MINJI and answer["Subject"] == "[문의 답변] 정례회의 장소"
    text, _ = bodies(answer)
    assert "서울시청 본관 8층 다목적홀입니다." in text


def test_thanks_is_noted_without_reply_or_triage(desk):
    msg = desk.mail("Re: [안내] 11월 정례회의 개최 안내", "잘 받았습니다. 감사합니다!\n\n"
                    "2026년 11월 16일 (월) 오전 10:00, 사무국 <g@seoul.example>님이 작성:\n"
                    "> 새로운 서비스 제안과 앱 오류 품평을 보내 주세요.\n")
    assert (msg.kind, msg.disposition) == ("other", "noted")
    assert Outbox.select().count() == 0 and HourCredit.select().count() == 0
    assert len(list((desk.cfg.resolve(desk.cfg.inbox.path) / ".Processed" / "cur").iterdir())) == 1


def test_triage_reject_mails_the_staff_reason(desk):
    body = "지갑 앱 송금 화면이 자꾸 멈춥니다. 그리고 기부금 관리에 블록체인을 도입하는 새로운 서비스를 제안합니다."
    msg = desk.mail("[품평][제안] 의견", body)       # both tags: a person decides
    assert msg.disposition == "triage"
    desk.send()
    triage.reject(desk.cfg, desk.clock, msg.id, "두 가지를 나눠서 다시 보내 주세요", "staff-lee")
    _, (mail,) = desk.send()
    assert mail["Subject"] == "[검토 결과] 의견"
    text, _ = bodies(mail)
    assert "봉사시간으로 인정되지 않았습니다" in text and "사유: 두 가지를 나눠서 다시 보내 주세요" in text


def test_triage_accept_ack_goes_at_the_next_drain_once_the_receipt_exists(desk):
    msg = desk.mail("[품평][제안] 의견", "지갑 앱 송금 화면이 자꾸 멈춥니다. 그리고 기부금 관리에 "
                                     "블록체인을 도입하는 새로운 서비스를 제안합니다.")
    desk.send()
    triage.accept(desk.cfg, desk.clock, msg.id, "review", "staff-kim", pseudonym_key(desk.cfg))
    first, mails = desk.send()
    assert mails == [] and first.waiting == 1          # no receipt yet: the ack waits
    ack = Outbox.get(Outbox.template == "ack")
    assert "waiting for the ledger receipt" in ack.last_error
    append_pending(desk.cfg, desk.clock)
    # No clock advance: the receipt exists, so the ack goes now, not at its retry time.
    second, (mail,) = desk.send()
    assert second.sent == 1 and second.waiting == 0
    assert any(a.get_filename() == f"receipt-{msg.sha256[:12]}.json"
               for a in mail.iter_attachments())
