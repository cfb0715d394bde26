"""Classification of real mail bytes into the seven kinds, each with a reason naming its signal."""
from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from mailworker.demo_data import DEMO_EXPECTED, DEMO_MEMBERS, demo_messages
from mailworker.ingest.classify import classify
from mailworker.ingest.parse import parse_message
from mailworker.models import KINDS

MAIL = Path(__file__).parent / "data" / "mail"


def make(subject: str, body: str, *, sender: str = "Kim <minjun.kim@example.com>",
         headers: dict | None = None) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = "governance@example.org"
    msg["Subject"] = subject
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0900"
    msg["Message-ID"] = "<t@example.com>"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes()


def kind_of(raw: bytes):
    return classify(parse_message(raw))


# --- the demo mails are classified as intended ----------------------------------------------

@pytest.mark.parametrize("label, raw", demo_messages(), ids=[lbl for lbl, _ in demo_messages()])
def test_demo_messages_classify_as_intended(label, raw):
    verdict = kind_of(raw)
    assert verdict.kind == DEMO_EXPECTED[label], verdict.reason
    assert verdict.reason


def test_demo_data_is_deterministic_and_complete():
    first, second = demo_messages(), demo_messages()
    assert first == second
    assert {label for label, _ in first} == set(DEMO_EXPECTED)
    assert len(first) >= 12
    assert set(DEMO_EXPECTED.values()) == set(KINDS)            # every kind is shown
    categories = {m["category"] for m in DEMO_MEMBERS}
    assert categories == {"student", "citizen", "developer", "business"}
    assert len({m["email"] for m in DEMO_MEMBERS}) == len(DEMO_MEMBERS)
    for _, raw in first:
        mail = parse_message(raw)
        assert mail.date is not None and (mail.date.year, mail.date.month) == (2026, 11)


# --- review and proposal, Korean and English ------------------------------------------------

@pytest.mark.parametrize("subject, body, kind, words", [
    ("지갑 앱 문의", "앱을 설치했는데 로그인이 안 됩니다. 에러 메시지가 나옵니다.", "review",
     ["로그인이 안", "에러"]),
    ("전자증명서", "증명서 발급 화면이 너무 느려서 불편합니다. 개선 요청드립니다.", "review",
     ["불편", "개선 요청"]),
    ("Wallet", "The wallet app crashes when I open the transfer screen. It's a bug.", "review",
     ["crashes", "bug"]),
    ("기부금", "기부금 관리에 블록체인을 도입하면 좋겠습니다. 새로운 서비스 아이디어로 제안합니다.",
     "proposal", ["도입", "아이디어"]),
    ("Used cars", "I would like to propose a used-car history service. It is an idea for "
     "citizens.", "proposal", ["propose", "idea"]),
])
def test_wording_decides_review_or_proposal(subject, body, kind, words):
    verdict = kind_of(make(subject, body))
    assert verdict.kind == kind
    for word in words:
        assert word in verdict.reason
    assert f"({kind} words)" in verdict.reason


@pytest.mark.parametrize("subject, kind", [
    ("[품평] 지갑 앱 사용 후기", "review"), ("[제안] 중고차 이력관리", "proposal"),
    ("[Review] certificate app", "review"), ("[PROPOSAL] donations", "proposal"),
    ("【품평】 에스코인", "review"), ("Re: [제안] 기부금", "proposal"),
])
def test_subject_tags_are_strong(subject, kind):
    # The body alone would say the other kind or nothing: the tag decides.
    verdict = kind_of(make(subject, "지난주에 써 본 내용 정리해서 보내드립니다. 자세한 것은 아래와 같습니다."))
    assert verdict.kind == kind
    assert verdict.reason.startswith("subject tag [")


def test_conflicting_tags_and_tag_with_empty_body_go_to_triage():
    verdict = kind_of(make("[품평][제안] 지갑", "지갑 앱에 대한 의견과 아이디어입니다. 자세히 적었습니다."))
    assert verdict.kind == "triage" and "conflicting tags" in verdict.reason
    verdict = kind_of(make("[품평] 지갑 앱 오류", "\n"))
    assert verdict.kind == "triage" and "empty" in verdict.reason


def test_a_complaint_beside_an_idea_earns_one_hour_and_names_both_readings():
    # The sentence forms weigh the two equally; the learned reading decides which of the two
    # credit kinds it is (one hour either way) and the reason keeps both.
    body = ("지갑 앱에 오류가 있어 불편합니다. 그리고 기부금 관리에 블록체인을 도입하는 새로운 서비스를 "
            "제안합니다.")
    verdict = kind_of(make("의견", body))
    assert verdict.kind in ("review", "proposal"), verdict.reason
    assert "both review and proposal wording" in verdict.reason
    assert "learned reading" in verdict.reason


def test_questions_and_acknowledgements_are_not_reviews():
    # Before issue 11 both went to triage; by the rules they are a question (about
    # the member's own hours: answered automatically) and an acknowledgement.
    verdict = kind_of(make("안녕하세요", "봉사시간은 어디서 확인하나요? 알려주시면 감사하겠습니다."))
    assert (verdict.kind, verdict.request) == ("question", "hours")
    assert "asks a question" in verdict.reason and "self-service: hours" in verdict.reason
    verdict = kind_of(make("안녕하세요", "어제 앱 잘 받았습니다. 내일 다시 연락드리겠습니다."))
    assert verdict.kind == "other" and "잘 받았" in verdict.reason


def test_quoted_notice_wording_is_ignored():
    # The staff notice quoted below is full of proposal words; the member's new text is a review.
    raw = (MAIL / "gmail-reply-en.eml").read_bytes()
    verdict = kind_of(raw)
    assert verdict.kind == "review"
    assert "propos" not in verdict.reason and "idea" not in verdict.reason


def test_only_quoted_text_is_empty():
    body = "\nOn Tue, Nov 10, 2026 at 9:00 AM Staff <g@example.org> wrote:\n> 오류 신고 부탁드립니다\n"
    verdict = kind_of(make("Re: 안내", body))
    assert verdict.kind == "triage"
    assert verdict.reason == "body is empty (only quoted text)"


# --- resignation ------------------------------------------------------------------------

def test_resignation_by_tag_and_by_wording():
    verdict = kind_of(make("[해촉] 요청", "개인 사정으로 활동이 어렵습니다."))
    assert (verdict.kind, verdict.reason) == ("resignation", "subject tag [해촉]")
    verdict = kind_of(make("단원 활동 관련", "이사를 가게 되어 해촉을 요청드립니다. 그동안 감사했습니다."))
    assert verdict.kind == "resignation" and "해촉" in verdict.reason
    verdict = kind_of(make("Leaving", "I am moving abroad and would like to resign from the "
                                      "governance group at the end of December."))
    assert verdict.kind == "resignation" and "resign" in verdict.reason


def test_resignation_mixed_with_a_review_earns_no_hour_and_a_person_confirms():
    """Complaints beside a goodbye: the learned reading decides whether they are the why
    (a resignation, which staff confirm with `members resign --confirm`) or a person must
    read it (triage). Which of the two depends on the counted corpus; never a credit."""
    verdict = kind_of(make("의견", "지갑 앱 로그인 오류가 계속되고 버그가 많아 불편합니다. 해촉 절차도 "
                                  "알려주세요."))
    assert verdict.kind in ("triage", "resignation"), verdict.reason
    assert "해촉" in verdict.reason
    assert ("resignation wording" in verdict.reason if verdict.kind == "triage"
            else "complaints beside it are the why" in verdict.reason)


def test_app_account_withdrawal_is_not_a_resignation():
    verdict = kind_of(make("지갑 앱", "앱에서 회원 탈퇴 버튼을 눌러도 오류가 나고 탈퇴가 안 됩니다."))
    assert verdict.kind == "review"


# --- rsvp -------------------------------------------------------------------------------

@pytest.mark.parametrize("subject, body, answer", [
    ("Re: [안내] 11월 정례회의 개최 안내", "참석하겠습니다.", "attend"),
    ("Re: [안내] 11월 정례회의 참석 가능 여부", "죄송하지만 이번에는 불참합니다.", "decline"),
    ("회신: 정례회의", "일정이 있어 참석이 어렵습니다.", "decline"),
    ("정례회의 참석합니다", "", "attend"),
    ("RE: November regular meeting", "I will attend, thanks.", "attend"),
    ("Re: November regular meeting", "Sorry, I cannot attend this time.", "decline"),
])
def test_rsvp(subject, body, answer):
    verdict = kind_of(make(subject, body or "\n"))
    assert verdict.kind == "rsvp", verdict.reason
    assert verdict.rsvp == answer
    assert f"({answer})" in verdict.reason


def test_rsvp_needs_a_meeting_and_reply_context_can_come_from_the_quote():
    verdict = kind_of(make("Re: 안내", "참석합니다.\n\n2026년 11월 16일 (월) 오후 2:00, 사무국 "
                                     "<g@example.org>님이 작성:\n> 11월 정례회의를 개최합니다.\n",
                           headers={"In-Reply-To": "<n@example.org>"}))
    assert verdict.kind == "rsvp" and verdict.rsvp == "attend" and "정례회의" in verdict.reason
    verdict = kind_of(make("행사", "참석합니다."))             # no meeting anywhere
    assert verdict.kind != "rsvp"


def test_outlook_reply_decline_from_file():
    verdict = kind_of((MAIL / "outlook-reply-ko.eml").read_bytes())
    assert (verdict.kind, verdict.rsvp) == ("rsvp", "decline")


# --- auto replies -----------------------------------------------------------------------

@pytest.mark.parametrize("headers, subject, reason", [
    ({"Auto-Submitted": "auto-replied"}, "Re: 안내", "Auto-Submitted: auto-replied"),
    ({"Auto-Submitted": "auto-generated; owner-email=x@example.com"}, "안내",
     "Auto-Submitted: auto-generated"),
    ({"X-Autoreply": "yes"}, "Re: 안내", "x-autoreply header"),
    ({"X-Autorespond": "1"}, "Re: 안내", "x-autorespond header"),
    ({"Precedence": "bulk"}, "뉴스레터", "Precedence: bulk"),
    ({"Precedence": "auto_reply"}, "Re: 안내", "Precedence: auto_reply"),
    ({}, "부재중: [안내] 정례회의", "subject says 부재중"),
    ({}, "자동 회신: 11월 정례회의", "subject says 자동 회신"),
    ({}, "[자동응답] 메일 잘 받았습니다", "subject says 자동응답"),
    ({}, "Out of Office: meeting", "subject says out of office"),
    ({}, "Automatic reply: November meeting", "subject says automatic reply"),
    ({}, "Autoreply: your message", "subject says autoreply"),
])
def test_auto_replies(headers, subject, reason):
    verdict = kind_of(make(subject, "지갑 앱 오류 관련 문의는 다음 주에 답변드리겠습니다.", headers=headers))
    assert (verdict.kind, verdict.reason) == ("auto_reply", reason)


def test_auto_submitted_no_is_a_person():
    verdict = kind_of(make("지갑", "지갑 앱 로그인 오류가 납니다.", headers={"Auto-Submitted": "no"}))
    assert verdict.kind == "review"


def test_read_receipt_is_an_auto_reply():
    raw = (b"From: minjun.kim@example.com\r\nSubject: Read: notice\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/report; report-type=disposition-notification; boundary="m"'
           b"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n"
           b"--m\r\nContent-Type: message/disposition-notification\r\n\r\n"
           b"Disposition: manual-action/MDN-sent-manually; displayed\r\n--m--\r\n")
    verdict = kind_of(raw)
    assert verdict.kind == "auto_reply" and "disposition-notification" in verdict.reason


# --- bounces ----------------------------------------------------------------------------

def test_dsn_bounce_and_mailer_daemon_bounce():
    verdict = kind_of(dict(demo_messages())["bounce"])
    assert (verdict.kind, verdict.reason) == ("bounce", "multipart/report; report-type="
                                                        "delivery-status (DSN)")
    verdict = kind_of((MAIL / "qmail-bounce.eml").read_bytes())
    assert verdict.kind == "bounce" and "mailer-daemon@mx.example.net" in verdict.reason
    verdict = kind_of(make("배달 실패 알림", "메일을 전달하지 못했습니다. 수신자 주소를 확인하세요.",
                           sender="postmaster@mail.example.com"))
    assert verdict.kind == "bounce" and "배달 실패" in verdict.reason


def test_postmaster_without_failure_wording_is_not_a_bounce():
    verdict = kind_of(make("질문", "봉사시간 확인 방법이 궁금합니다.", sender="postmaster@example.com"))
    assert verdict.kind != "bounce"


# --- malformed --------------------------------------------------------------------------

def test_malformed_message_is_triage_with_the_defect_in_the_reason():
    verdict = kind_of((MAIL / "garbage.eml").read_bytes())
    assert verdict.kind == "triage"
    assert verdict.reason.startswith("malformed message: message: does not start with a header")
    verdict = kind_of(b"From: minjun.kim@example.com\r\nSubject: [review] app\r\n"
                      b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts here: bug error")
    assert verdict.kind == "triage" and "boundary never appears" in verdict.reason


def test_harmless_defects_do_not_block_classification():
    raw = make("지갑 앱", "지갑 앱 로그인 오류가 납니다.").replace(
        b"Date: Wed, 25 Nov 2026 10:00:00 +0900", b"Date: sometime next week")
    mail = parse_message(raw)
    assert mail.defects and mail.defects[0].startswith("Date header could not be read")
    assert classify(mail).kind == "review"


def test_every_file_gets_a_known_kind():
    for path in sorted(MAIL.glob("*.eml")):
        verdict = kind_of(path.read_bytes())
        assert verdict.kind in KINDS and verdict.reason, path.name
