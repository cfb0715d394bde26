"""Parsing real mail bytes: Korean charsets, HTML, quotes and signatures, attachments, junk."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import quopri
import random
from pathlib import Path

import pytest

from mailworker.demo_data import SCREENSHOT_PNG, demo_messages
from mailworker.ingest.parse import (Attachment, parse_headers_only,
                                     parse_message)

MAIL = Path(__file__).parent / "data" / "mail"


def load(name: str):
    raw = (MAIL / name).read_bytes()
    return raw, parse_message(raw)


# --- Korean charsets --------------------------------------------------------------------

@pytest.mark.parametrize("name, subject, from_name, body_part", [
    # ks_c_5601-1987 is cp949 in practice: 똠 and 햏 do not exist in strict EUC-KR.
    ("ks_c_5601-1987.eml", "똠양꿍 식당 에스코인 결제 오류", "최영희", "햏복한 하루 되세요."),
    # Labelled euc-kr, really cp949, quoted-printable; Q-encoded subject and name.
    ("euc-kr-qp.eml", "지갑 앱 닉네임 깨짐", "박지훈", "똠방각하 닉네임이 깨져 보입니다."),
    # Raw 8-bit cp949 subject (no encoded words) and an 8bit body.
    ("cp949-8bit.eml", "증명서 발급 버튼 오류", "", "버튼이 눌리지 않습니다."),
    # A label Python has no codec for.
    ("x-windows-949.eml", "에스코인 적립 오류", "", "오류가 있습니다."),
    # 7-bit ISO-2022-KR body: escape sequences must not survive.
    ("iso-2022-kr.eml", "증명서 앱 품평", "", "발급 번호가 화면에서 잘려 보입니다."),
    # UTF-8 base64 body; subject in two encoded words across a folded line.
    ("utf8-base64.eml", "서울시 블록체인 지갑 로그인 오류", "김민준", "에러 코드 E-503."),
])
def test_korean_charsets_decode(name, subject, from_name, body_part):
    raw, mail = load(name)
    assert mail.subject == subject
    assert mail.from_name == from_name
    assert body_part in mail.text
    assert "\ufffd" not in mail.text and "\x1b" not in mail.text and "\x0e" not in mail.text
    assert mail.defects == []
    assert mail.sha256 == hashlib.sha256(raw).hexdigest()
    assert mail.size == len(raw)


def test_header_fields():
    _, mail = load("outlook-reply-ko.eml")
    assert mail.from_addr == "sujin.han@example.org"
    assert mail.from_name == "한수진"
    assert mail.to_addrs == ["governance@example.org"]
    assert mail.message_id == "outlook-1@mail.example.org"
    assert mail.in_reply_to == "notice-meeting-2026-11@example.org"
    assert mail.references == ["older@example.org", "notice-meeting-2026-11@example.org"]
    assert mail.date == dt.datetime(2026, 11, 17, 1, 0, tzinfo=dt.timezone.utc)
    assert mail.date.utcoffset() == dt.timedelta(0)
    assert mail.content_type == "text/plain"
    assert mail.report_type is None
    assert mail.headers["subject"] == ["회신: [안내] 11월 정례회의 개최 안내"]


def test_from_address_is_lower_cased_and_display_name_unquoted():
    raw = (b'From: "Kim, Minjun" <MinJun.Kim@Example.COM>\r\nTo: a@example.org, "B" <b@example.org>'
           b"\r\nSubject: hi\r\n\r\nbody\r\n")
    mail = parse_message(raw)
    assert mail.from_addr == "minjun.kim@example.com"
    assert mail.from_name == "Kim, Minjun"
    assert mail.to_addrs == ["a@example.org", "b@example.org"]


def test_lf_only_and_mbox_from_line():
    raw = (b"From minjun.kim@example.com Tue Nov  3 09:12:00 2026\n"
           b"From: minjun.kim@example.com\nSubject: LF only\n\nline one\nline two\n")
    mail = parse_message(raw)
    assert mail.from_addr == "minjun.kim@example.com"
    assert mail.subject == "LF only"
    assert mail.text == "line one\nline two"
    assert mail.defects == []


# --- HTML -------------------------------------------------------------------------------

def test_html_only_becomes_readable_text():
    _, mail = load("html-only.eml")
    assert mail.content_type == "text/html"
    assert "전자문서 앱 설치가 안 됩니다." in mail.text
    assert "설치 버튼을 누르면 멈춥니다." in mail.text          # &nbsp; became a space
    assert "- 앱 스토어 접속\n- 설치 누름" in mail.text          # list items on their own lines
    for junk in ("alert", "color:#333", "<div", "메일\n"):        # script, style, tags, <title>
        assert junk not in mail.text
    # The blockquote is a quote: it is not new text.
    assert "새로운 서비스 제안" not in mail.new_text
    assert "> 시험운영 안내 메일입니다." in mail.quoted_text


def test_multipart_alternative_prefers_plain_text_and_falls_back_to_html():
    def alternative(plain: str) -> bytes:
        return ("From: a@example.com\r\nSubject: alt\r\nMIME-Version: 1.0\r\n"
                'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
                "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain + "\r\n"
                "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                "<p>HTML 본문</p>\r\n--b--\r\n").encode("utf-8")
    assert parse_message(alternative("평문 본문")).text == "평문 본문"
    assert parse_message(alternative("  ")).text == "HTML 본문"


# --- quotes and signatures --------------------------------------------------------------

def test_gmail_reply_with_wrapped_attribution_and_signature():
    _, mail = load("gmail-reply-en.eml")
    assert mail.new_text == ("The wallet app freezes on the transfer screen after the 1.3 update. "
                             "It is a bug:\nthe confirm button does nothing and the app has to be "
                             "killed.")
    assert mail.quoted_text.startswith("On Wed, Nov 11, 2026 at 9:00 AM")
    assert "> Dear members, please send us your ideas" in mail.quoted_text
    assert mail.signature == "--\nDaniel Kang\nBlockchain developer member"


def test_outlook_korean_reply_header_block_and_phone_footer():
    _, mail = load("outlook-reply-ko.eml")
    assert mail.new_text == "11월 정례회의에는 불참합니다. 회사 일정이 겹쳤습니다."
    assert mail.signature == "iPhone에서 보냄"
    assert mail.quoted_text.startswith("________________________________\n보낸 사람:")
    assert "새로운 서비스 아이디어 제안도 환영합니다." in mail.quoted_text


@pytest.mark.parametrize("marker", ["-----Original Message-----", "----- 원본 메일 -----",
                                    "---------- Forwarded message ---------"])
def test_separator_lines_start_the_quote(marker):
    body = f"새 본문입니다.\r\n\r\n{marker}\r\nFrom: x\r\n예전 본문\r\n"
    mail = parse_message(("From: a@example.com\r\nSubject: s\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode())
    assert mail.new_text == "새 본문입니다."
    assert mail.quoted_text.startswith(marker)
    assert "예전 본문" in mail.quoted_text


def test_bottom_posted_reply_keeps_the_answer_below_the_quote():
    body = ("On Tue, Nov 10, 2026 at 9:00 AM Staff <gov@example.org> wrote:\n"
            "> question line\n\nMy answer below the quote.\n\nThanks,\nMin\n")
    mail = parse_message(b"From: a@example.com\nSubject: s\n\n" + body.encode())
    assert mail.new_text == "My answer below the quote."
    assert mail.signature == "Thanks,\nMin"
    assert "> question line" in mail.quoted_text


def test_korean_closer_is_signature_but_closer_mid_text_is_not():
    body = "지갑 앱이 느립니다.\n감사합니다.\n그리고 추가로 한 가지 더 말씀드리면 알림도 늦게 옵니다. 확인 부탁드립니다.\n"
    mail = parse_message(b"From: a@example.com\nSubject: s\n\n" + body.encode())
    assert mail.signature == ""
    assert "알림도 늦게 옵니다" in mail.new_text
    mail = parse_message(b"From: a@example.com\nSubject: s\n\n"
                         + "지갑 앱이 느립니다.\n\n감사합니다.\n홍길동 드림\n".encode())
    assert mail.new_text == "지갑 앱이 느립니다."
    assert mail.signature == "감사합니다.\n홍길동 드림"


# --- attachments ------------------------------------------------------------------------

def test_attachments_names_sizes_and_hashes():
    _, mail = load("attachments.eml")
    png = bytes(range(256)) * 4
    pdf = b"%PDF-1.4\n% test document\n" + bytes(range(200))
    log = "로그 파일\r\n오류 E-503\r\n".encode("utf-8")    # text travels with CRLF line ends
    assert mail.attachments == [
        # RFC 2231 in ks_c_5601-1987 (cp949)
        Attachment("화면.png", len(png), hashlib.sha256(png).hexdigest(), "image/png"),
        # RFC 2231 continuation (filename*0*, filename*1*) in utf-8
        Attachment("증명서_오류_보고서.pdf", len(pdf), hashlib.sha256(pdf).hexdigest(),
                   "application/pdf"),
        # RFC 2047 encoded word inside the quoted filename, quoted-printable content
        Attachment("로그.txt", len(log), hashlib.sha256(log).hexdigest(), "text/plain"),
    ]
    assert mail.content_type == "multipart/mixed"
    assert mail.text == "송금 화면 오류 캡처와 보고서를 첨부합니다."      # the plain alternative


def test_demo_screenshot_attachment_hash():
    raw = dict(demo_messages())["review-screenshot"]
    mail = parse_message(raw)
    assert mail.attachments == [Attachment("송금오류_캡처.png", len(SCREENSHOT_PNG),
                                           hashlib.sha256(SCREENSHOT_PNG).hexdigest(), "image/png")]
    assert SCREENSHOT_PNG.startswith(b"\x89PNG\r\n\x1a\n")


def test_unnamed_inline_image_is_listed():
    img = b"\x89PNG fake image bytes"
    raw = ("From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/related; boundary="r"\r\n\r\n'
           "--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>본문 <img src=cid:x1></p>\r\n"
           "--r\r\nContent-Type: image/png\r\nContent-ID: <x1>\r\nContent-Transfer-Encoding: base64"
           "\r\n\r\n" + base64.b64encode(img).decode() + "\r\n--r--\r\n").encode()
    mail = parse_message(raw)
    assert mail.text == "본문"
    assert mail.attachments == [Attachment("unnamed-1.png", len(img),
                                           hashlib.sha256(img).hexdigest(), "image/png")]


def test_delivery_report_parts_are_not_attachments():
    raw = dict(demo_messages())["bounce"]
    mail = parse_message(raw)
    assert mail.content_type == "multipart/report"
    assert mail.report_type == "delivery-status"
    assert mail.attachments == []
    assert "could not" in mail.text


# --- bad input: never raises, always explains ---------------------------------------------

def test_garbage_bytes_give_defects_not_exceptions():
    raw, mail = load("garbage.eml")
    assert mail.sha256 == hashlib.sha256(raw).hexdigest()
    assert mail.from_addr == ""
    assert any("does not start with a header block" in d for d in mail.defects)
    assert any("From header is missing" in d for d in mail.defects)


@pytest.mark.parametrize("raw", [
    b"", b"\r\n\r\n", b"\x00" * 64, b"From:\r\n\r\n", b"Subject: only a header",
    b"From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nno boundary parameter",
    b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
    b"Content-Type: text/plain\r\n\r\ncut off here",
    b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64 at all=",
    b"From: a@example.com\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-weird\r\n"
    b"\r\nbody",
    b"From: =?unknown-charset?B?AAAA?= <a@example.com>\r\nSubject: =?utf-8?B?broken\r\n\r\nb",
])
def test_malformed_messages_parse_with_defects(raw):
    mail = parse_message(raw)
    assert isinstance(mail.defects, list)
    assert mail.sha256 == hashlib.sha256(raw).hexdigest()
    assert mail.defects, "every one of these has something wrong that must be said"


def test_specific_defect_messages():
    mail = parse_message(b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
                         b"--x\r\nContent-Type: text/plain\r\n\r\ncut off here")
    assert mail.text == "cut off here"
    assert mail.defects == ["message body: multipart/mixed has no closing boundary "
                            "(message cut off?)"]
    mail = parse_message(b"From: a@example.com\r\nSubject: x\r\nnot a header line\r\n\r\nbody")
    assert mail.defects == ["message: header block ends at a line that is not a header "
                            "(blank line after the headers missing?)"]
    assert mail.subject == "x"
    mail = parse_message(b"From: someone\r\n\r\nbody")
    assert mail.from_addr == ""
    assert mail.defects == ["From header has no usable address: 'someone'"]
    mail = parse_message(b"From: a@example.com\r\nDate: yesterday-ish\r\n\r\nbody")
    assert mail.date is None
    assert mail.defects[0].startswith("Date header could not be read")


def test_deep_nesting_is_cut_with_a_defect():
    depth = 200
    head = b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    body = b""
    for i in range(1, depth):
        body += b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i)
    body += b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n" % (depth - 1)
    mail = parse_message(head + body)
    assert any("nested deeper than" in d for d in mail.defects)


def test_mutated_demo_messages_never_raise():
    rng = random.Random(7)
    for _, raw in demo_messages():
        for cut in range(0, len(raw), max(1, len(raw) // 25)):
            parse_message(raw[:cut])
        for _ in range(20):
            data = bytearray(raw)
            for _ in range(8):
                data[rng.randrange(len(data))] = rng.randrange(256)
            mail = parse_message(bytes(data))
            assert mail.sha256 == hashlib.sha256(bytes(data)).hexdigest()


# --- oversize: headers only ---------------------------------------------------------------

def test_parse_headers_only():
    raw, _ = load("ks_c_5601-1987.eml")
    headers = raw[:raw.index(b"\r\n\r\n") + 4]
    mail = parse_headers_only(headers, 31_000_000)
    assert mail.sha256 == hashlib.sha256(headers).hexdigest()
    assert mail.size == 31_000_000
    assert mail.subject == "똠양꿍 식당 에스코인 결제 오류"
    assert mail.from_addr == "younghee.choi@example.com"
    assert mail.message_id == "ksc-1@mail.example.com"
    assert mail.text == mail.new_text == ""
    assert mail.attachments == []
    assert mail.defects == ["only the headers were read: the message is 31,000,000 bytes"]


# --- the same body sent twice -------------------------------------------------------------

def test_body_fingerprint_ignores_case_whitespace_punctuation_and_invisible_characters():
    from mailworker.ingest.fingerprint import text_print
    a = text_print("지갑 앱  로그인이\n안 됩니다. App Crash").sha
    assert a == text_print("  지갑 앱 로그인이 안\t됩니다  app crash!\n").sha
    assert a == text_print("지갑\u200b 앱 로그인이 안 됩니다\u00ad, ＡＰＰ crash").sha
    assert a != text_print("지갑 앱 로그인이 잘 됩니다. App Crash").sha
    assert len(a) == 64


def test_quoted_printable_soft_breaks_and_crlf():
    text = "긴 줄 " * 30 + "\n둘째 줄\n"
    qp = quopri.encodestring(text.encode("utf-8")).replace(b"\n", b"\r\n")
    raw = (b"From: a@example.com\r\nSubject: qp\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp)
    mail = parse_message(raw)
    assert mail.text == text.strip()
    assert "\r" not in mail.text


def test_limits_on_parts_header_fields_and_html_size():
    many_parts = (b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                  + b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 600 + b"--b--\r\n")
    mail = parse_message(many_parts)
    assert mail.defects == ["message body: more than 500 parts; the rest were skipped"]
    many_fields = (b"From: a@example.com\r\n" + b"".join(b"X-N%d: v\r\n" % i for i in range(1200))
                   + b"\r\nbody")
    mail = parse_message(many_fields)
    assert mail.defects == ["message: 1,201 header fields; only the first 1,000 were read"]
    assert mail.from_addr == "a@example.com" and mail.text == "body"
    big_html = (b"From: a@example.com\r\nContent-Type: text/html\r\n\r\n<p>start</p>"
                + b"<div>filler text</div>" * 20000)
    mail = parse_message(big_html)
    assert mail.text.startswith("start\n\nfiller text")
    assert mail.defects == ["HTML body over 300,000 characters: text taken from its beginning "
                            "only"]


def test_nul_characters_never_reach_text_fields():
    # PostgreSQL refuses NUL in text columns: every text field must be free of it.
    raw = (b"From: =?utf-8?B?AAAA?= <a\x00b@example.com>\r\nTo: c@example.org\r\n"
           b"Subject: =?utf-8?B?7Jik66WYAA==?=\r\nMessage-ID: <x\x00y@example.com>\r\n"
           b"Content-Type: text/plain; charset=utf-16-le\r\n\r\n" + "오류 보고".encode("utf-16-le")
           + b"\x00\x00")
    mail = parse_message(raw)
    for value in (mail.from_addr, mail.from_name, mail.subject, mail.text, mail.new_text,
                  mail.message_id or "", *mail.to_addrs):
        assert "\x00" not in value
    assert mail.from_addr == ""
    assert "오류 보고" in mail.text
    assert any("NUL" in d for d in mail.defects)
