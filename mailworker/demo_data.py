"""Demo roster and demo mail for `mailworker demo` (and the tests).

Eight members of the four categories and a set of realistic mails members send to the group
inbox during the trial operation (시험운영) of the city's beta blockchain services: reviews
and proposals in Korean and English, a meeting RSVP, a resignation, an out-of-office reply,
a bounce, a non-member, and the awkward ones real inboxes get (ks_c_5601-1987 from old
Outlook, ISO-2022-KR from an old mailer, HTML-only, a garbled message).

Everything is deterministic: fixed dates (November 2026, Seoul time), Message-IDs and MIME
boundaries, so the same bytes (and hashes) come out on every run.
"""
from __future__ import annotations

import base64
import struct
import zlib
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

GROUP_ADDRESS = "governance@seoul-demo.example"   # the demo workspace's from_address
KST = timezone(timedelta(hours=9), "KST")

DEMO_MEMBERS: list[dict] = [
    {"name": "김민준", "email": "minjun.kim@example.com", "category": "student",
     "aliases": ["minjun.kim@univ.example.net"], "language": "ko"},
    {"name": "이서연", "email": "seoyeon.lee@example.net", "category": "student",
     "aliases": [], "language": "ko"},
    {"name": "박지훈", "email": "jihoon.park@example.org", "category": "citizen",
     "aliases": [], "language": "ko"},
    {"name": "최영희", "email": "younghee.choi@example.com", "category": "citizen",
     "aliases": ["choi.younghee@example.net"], "language": "ko"},
    {"name": "정도윤", "email": "doyoon.jung@example.com", "category": "developer",
     "aliases": [], "language": "ko"},
    {"name": "Daniel Kang", "email": "daniel.kang@example.net", "category": "developer",
     "aliases": [], "language": "en"},
    {"name": "한수진", "email": "sujin.han@example.org", "category": "business",
     "aliases": [], "language": "ko"},
    {"name": "윤하은", "email": "haeun.yoon@example.com", "category": "business",
     "aliases": [], "language": "ko"},
]

# What each demo mail is meant to be classified as (the tests hold the classifier to it).
DEMO_EXPECTED: dict[str, str] = {
    "review-wallet-login": "review",
    "review-certificate-en": "review",
    "review-scoin-tagged": "review",
    "review-scoin-ks_c_5601": "review",
    "review-certificate-iso2022kr": "review",
    "review-document-html": "review",
    "review-screenshot": "review",
    "review-reply-quoted": "review",
    "proposal-donation": "proposal",
    "proposal-usedcar-en": "proposal",
    "proposal-non-member": "proposal",
    "rsvp-attend": "rsvp",
    "rsvp-decline-en": "rsvp",
    "resignation": "resignation",
    "out-of-office": "auto_reply",
    "bounce": "bounce",
    "question-hours": "question",
    "thanks-reply": "other",
    "garbled": "triage",
}


def _member(email: str) -> dict:
    return next(m for m in DEMO_MEMBERS if m["email"] == email)


def _date(day: int, hour: int, minute: int) -> str:
    return format_datetime(datetime(2026, 11, day, hour, minute, tzinfo=KST))


def _mail(label: str, sender: str, name: str, subject: str, day: int, hour: int, minute: int,
          body: str, extra_headers: dict | None = None) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = GROUP_ADDRESS
    msg["Subject"] = subject
    msg["Date"] = _date(day, hour, minute)
    msg["Message-ID"] = f"<demo-{label}@mail.example.com>"
    for key, value in (extra_headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg


def _png(width: int, height: int) -> bytes:
    """A small, valid PNG: a grey 'screenshot' with a red error bar."""
    rows = []
    for y in range(height):
        color = b"\xd0\x30\x30" if height // 3 <= y < height // 3 + 4 else b"\xee\xee\xee"
        rows.append(b"\x00" + color * width)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))


SCREENSHOT_PNG = _png(120, 80)


def _encoded_word(text: str, charset: str, codec: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(codec)).decode('ascii')}?="


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("ascii")


# --- the mails --------------------------------------------------------------------------

def _review_wallet_login() -> bytes:
    m = _member("minjun.kim@example.com")
    return _mail("review-wallet-login", m["email"], m["name"],
                 "서울시 블록체인 지갑 앱 로그인이 안 됩니다", 3, 9, 12,
                 "안녕하세요, 대학생 단원 김민준입니다.\n\n"
                 "어제 배포된 서울시 블록체인 지갑 앱(베타 1.2)을 설치했는데 로그인이 안 됩니다.\n"
                 "휴대폰 본인인증까지는 되는데, 그 다음 화면에서 '네트워크 오류(E-503)' 에러가 뜨고\n"
                 "앱이 처음 화면으로 돌아갑니다. 갤럭시 S23, 안드로이드 14에서 세 번 재현했습니다.\n\n"
                 "와이파이와 LTE 둘 다 같은 증상입니다. 확인 부탁드립니다.\n\n"
                 "감사합니다.\n김민준 드림\n").as_bytes()


def _review_certificate_en() -> bytes:
    m = _member("daniel.kang@example.net")
    return _mail("review-certificate-en", m["email"], m["name"],
                 "Certificate app crashes when I share a document", 4, 22, 40,
                 "Hello,\n\n"
                 "I tested the blockchain certificate app (전자증명서, beta 0.9) on an iPhone 13.\n"
                 "Issuing a resident registration certificate works, but when I tap 'Share' to\n"
                 "send it to a bank, the app crashes every time. The verification QR code also\n"
                 "takes almost 20 seconds to load, which is too slow for use at a counter.\n\n"
                 "Steps: open app > My documents > select certificate > Share > KakaoTalk.\n"
                 "Expected: share sheet. Actual: the app closes with no error message.\n\n"
                 "Best regards,\nDaniel Kang\n").as_bytes()


def _review_scoin_tagged() -> bytes:
    m = _member("seoyeon.lee@example.net")
    return _mail("review-scoin-tagged", m["email"], m["name"],
                 "[품평] 에스코인(S-coin) 포인트 적립 내역", 5, 13, 5,
                 "에스코인 적립 내역 화면에 대한 의견입니다.\n\n"
                 "1. 지난주 서울시 설문에 참여했는데 적립 내역에 날짜만 있고 어떤 활동으로\n"
                 "   받은 포인트인지 표시되지 않습니다.\n"
                 "2. 내역이 50건을 넘으면 스크롤이 끊깁니다.\n\n"
                 "활동 이름이 함께 보이면 훨씬 편할 것 같습니다.\n\n"
                 "이서연\n").as_bytes()


def _review_scoin_ks_c_5601() -> bytes:
    """Old Outlook: everything in ks_c_5601-1987, which is really cp949 (똠 is cp949-only)."""
    m = _member("younghee.choi@example.com")
    body = ("안녕하세요. 일반시민 단원 최영희입니다.\r\n\r\n"
            "동네 똠양꿍 식당에서 에스코인으로 결제하려고 했는데 결제가 안 됩니다.\r\n"
            "QR을 찍으면 '가맹점 정보 오류'라고 나오고, 포인트는 그대로입니다.\r\n"
            "가게 사장님 말씀으로는 지난주부터 계속 이런 오류가 난다고 합니다.\r\n\r\n"
            "확인 부탁드립니다.\r\n")
    encoded = base64.encodebytes(body.encode("cp949")).decode("ascii").replace("\n", "\r\n")
    subject = _encoded_word("에스코인 결제 오류 (똠양꿍 식당)", "ks_c_5601-1987", "cp949")
    name = _encoded_word(m["name"], "ks_c_5601-1987", "cp949")
    head = (f"From: {name} <{m['aliases'][0]}>\n"
            f"To: {GROUP_ADDRESS}\n"
            f"Subject: {subject}\n"
            f"Date: {_date(6, 10, 31)}\n"
            "Message-ID: <demo-review-scoin-ks_c_5601@mail.example.net>\n"
            "MIME-Version: 1.0\n"
            "X-Mailer: Microsoft Outlook Express 6.00.2900.5512\n"
            'Content-Type: text/plain; charset="ks_c_5601-1987"\n'
            "Content-Transfer-Encoding: base64\n\n")
    return _crlf(head) + encoded.encode("ascii")


def _review_certificate_iso2022kr() -> bytes:
    """An old mailer that still sends 7-bit ISO-2022-KR bodies."""
    m = _member("jihoon.park@example.org")
    body = ("증명서 발급 앱 품평입니다.\n"
            "주민등록등본을 발급하면 발급 번호가 화면에 잘려서 보이지 않습니다.\n"
            "글자 크기를 크게 해 둔 휴대폰에서만 그런 것 같습니다. 수정 부탁드립니다.\n"
            "박지훈\n")
    encoded = body.encode("iso2022_kr").replace(b"\n", b"\r\n")
    subject = _encoded_word("증명서 발급 번호가 잘립니다", "EUC-KR", "euc_kr")
    head = (f"From: {_encoded_word(m['name'], 'EUC-KR', 'euc_kr')} <{m['email']}>\n"
            f"To: {GROUP_ADDRESS}\n"
            f"Subject: {subject}\n"
            f"Date: {_date(9, 8, 2)}\n"
            "Message-ID: <demo-review-certificate-iso2022kr@mail.example.org>\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=ISO-2022-KR\n"
            "Content-Transfer-Encoding: 7bit\n\n")
    return _crlf(head) + encoded


def _review_document_html() -> bytes:
    m = _member("doyoon.jung@example.com")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"{m['name']} <{m['email']}>"
    msg["To"] = GROUP_ADDRESS
    msg["Subject"] = "블록체인 전자문서 앱 설치 후 문서함이 비어 있어요"
    msg["Date"] = _date(10, 19, 47)
    msg["Message-ID"] = "<demo-review-document-html@mail.example.com>"
    html = (
        "<html><head><style>p {font-family: 'Malgun Gothic';}</style></head><body>"
        "<div>안녕하세요, 개발자 단원 정도윤입니다.</div><br>"
        "<p>블록체인 전자문서 앱을 설치하고 로그인했는데 <b>문서함이 비어 있습니다</b>."
        " 웹에서 받은 문서 3건이 앱에는 보이지 않습니다.</p>"
        "<ul><li>앱 버전: 0.9.4 (베타)</li><li>기기: iPad 10세대</li>"
        "<li>증상: 동기화 버튼을 눌러도 '동기화 실패' 오류</li></ul>"
        "<p>노드 응답을 확인해 보니 블록 높이가 한참 뒤처져 있었습니다. 확인 부탁드립니다.</p>"
        "<script>trackOpen()</script></body></html>")
    msg.set_content(html, subtype="html", cte="quoted-printable")
    return msg.as_bytes()


def _review_screenshot() -> bytes:
    m = _member("haeun.yoon@example.com")
    msg = _mail("review-screenshot", m["email"], m["name"], "지갑 앱 송금 화면 오류 캡처 보내드립니다",
                11, 15, 20,
                "지갑 앱에서 에스코인을 다른 단원에게 보내려고 하면 '서명 검증 실패' 오류가 납니다.\n"
                "오류 화면을 캡처해서 첨부합니다. 송금 버튼을 두 번 누르면 재현됩니다.\n\n"
                "윤하은 드림\n")
    msg.add_attachment(SCREENSHOT_PNG, maintype="image", subtype="png",
                       filename=("utf-8", "", "송금오류_캡처.png"))
    msg.set_boundary("==demo-screenshot-boundary==")
    return msg.as_bytes()


def _review_reply_quoted() -> bytes:
    m = _member("sujin.han@example.org")
    body = ("업데이트 후 지갑 앱 잔액 화면이 느려졌습니다. 예전에는 바로 보였는데 지금은 5초 정도\n"
            "로딩이 걸리고, 가끔 잔액이 0으로 보였다가 바뀝니다. 기업 단원 몇 분도 같은 증상이라고 합니다.\n\n"
            f"2026년 11월 11일 (수) 오전 9:00, 서울 블록체인 거버넌스 사무국 <{GROUP_ADDRESS}>님이 작성:\n"
            "> [공지] 서울시 블록체인 지갑 앱 베타 1.3 업데이트 안내\n"
            ">\n"
            "> 단원 여러분, 지갑 앱 베타 1.3이 배포되었습니다.\n"
            "> 새로운 서비스 아이디어나 정책 제안도 언제든 보내주세요.\n\n"
            "-- \n"
            "한수진 | 블록체인 기업인 단원\n"
            "010-0000-0000\n")
    return _mail("review-reply-quoted", m["email"], m["name"],
                 "Re: [공지] 서울시 블록체인 지갑 앱 베타 1.3 업데이트 안내", 12, 11, 3, body,
                 {"In-Reply-To": "<notice-wallet-1.3@example.org>",
                  "References": "<notice-wallet-1.3@example.org>"}).as_bytes()


def _proposal_donation() -> bytes:
    m = _member("jihoon.park@example.org")
    return _mail("proposal-donation", m["email"], m["name"],
                 "기부금 사용 내역을 시민이 직접 확인하는 서비스", 13, 21, 15,
                 "안녕하세요, 박지훈입니다.\n\n"
                 "연말이면 구청과 복지관에 기부를 하는데, 기부금이 어디에 쓰였는지 알기 어렵습니다.\n"
                 "기부금 관리에 블록체인을 도입해서, 기부자가 자기 기부금의 사용 내역을 앱에서 직접\n"
                 "확인할 수 있게 하면 좋겠습니다. 사용처가 기록되면 투명성도 높아지고 기부도 늘 것 같습니다.\n\n"
                 "우선 한 개 구에서 시범 사업으로 해 보는 것을 제안합니다.\n").as_bytes()


def _proposal_usedcar_en() -> bytes:
    m = _member("daniel.kang@example.net")
    return _mail("proposal-usedcar-en", m["email"], m["name"],
                 "Idea: used-car history on the city blockchain", 16, 7, 55,
                 "Hi team,\n\n"
                 "I would like to propose a used-car history service (중고차 이력관리) on the city's\n"
                 "blockchain. Inspection centres, insurers and repair shops could record each\n"
                 "inspection, accident repair and mileage reading, and a buyer could check the\n"
                 "record by scanning a QR code before paying. Mileage fraud would become much\n"
                 "harder. Seoul could start with the Janganpyeong market as a pilot.\n\n"
                 "Happy to help with the data model.\n\nDaniel\n").as_bytes()


def _proposal_non_member() -> bytes:
    return _mail("proposal-non-member", "citizen.visitor@example.net", "홍길동",
                 "블록체인 투표 제안드립니다", 17, 14, 0,
                 "거버넌스 단원은 아니지만 아이디어가 있어 보냅니다.\n"
                 "주민참여예산 투표에 블록체인 투표를 도입하면 결과를 누구나 검증할 수 있을 것 같습니다.\n"
                 ).as_bytes()


def _rsvp_attend() -> bytes:
    m = _member("minjun.kim@example.com")
    body = ("정례회의 참석합니다. 발표 자료가 있으면 미리 받아볼 수 있을까요?\n\n"
            f"2026년 11월 16일 (월) 오후 2:00, 서울 블록체인 거버넌스 사무국 <{GROUP_ADDRESS}>님이 작성:\n"
            "> 11월 정례회의를 아래와 같이 개최합니다.\n"
            "> 일시: 2026년 11월 26일(목) 19:00, 장소: 서울시청 본관 8층\n"
            "> 참석 여부를 회신해 주세요. 참석하신 분께는 참석수당 20,000원을 드립니다.\n\n"
            "-- \n김민준 (대학생 단원)\n")
    return _mail("rsvp-attend", m["email"], m["name"], "Re: [안내] 11월 정례회의 개최 안내",
                 18, 8, 30, body,
                 {"In-Reply-To": "<notice-meeting-2026-11@example.org>"}).as_bytes()


def _rsvp_decline_en() -> bytes:
    m = _member("daniel.kang@example.net")
    body = ("Sorry, I can't attend this time: I will be on a business trip to Busan that week.\n"
            "Please share the minutes afterwards.\n\n"
            f"On Mon, Nov 16, 2026 at 2:00 PM 서울 블록체인 거버넌스 사무국 <{GROUP_ADDRESS}> wrote:\n"
            "> The November regular meeting will be held on Thursday, 26 November, 19:00,\n"
            "> Seoul City Hall, 8th floor. Please reply whether you will attend.\n")
    return _mail("rsvp-decline-en", m["email"], m["name"],
                 "RE: [Notice] November regular meeting", 18, 23, 10, body,
                 {"In-Reply-To": "<notice-meeting-2026-11@example.org>"}).as_bytes()


def _resignation() -> bytes:
    m = _member("seoyeon.lee@example.net")
    return _mail("resignation", m["email"], m["name"], "단원 해촉 요청드립니다", 19, 17, 45,
                 "안녕하세요, 이서연입니다.\n\n"
                 "내년 1월부터 해외 교환학생으로 출국하게 되어 거버넌스 단원 활동을 계속하기 어렵습니다.\n"
                 "12월 말을 기준으로 해촉해 주시면 감사하겠습니다.\n"
                 "그동안 함께해서 즐거웠습니다.\n\n이서연 드림\n").as_bytes()


def _out_of_office() -> bytes:
    m = _member("haeun.yoon@example.com")
    return _mail("out-of-office", m["email"], m["name"], "부재중: [안내] 11월 정례회의 개최 안내",
                 16, 14, 1,
                 "11월 16일부터 20일까지 출장으로 부재중입니다. 급한 용무는 회사 대표번호로 연락 주세요.\n",
                 {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All",
                  "In-Reply-To": "<notice-meeting-2026-11@example.org>"}).as_bytes()


def _bounce() -> bytes:
    text = ("This is the mail system at host mail.example.org.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            "<old.member@example.com>: host mx.example.com[192.0.2.25] said: 550 5.1.1\n"
            "    <old.member@example.com>: Recipient address rejected: User unknown\n")
    status = ("Reporting-MTA: dns; mail.example.org\n"
              "Arrival-Date: Mon, 16 Nov 2026 14:00:02 +0900 (KST)\n\n"
              "Final-Recipient: rfc822; old.member@example.com\n"
              "Action: failed\n"
              "Status: 5.1.1\n"
              "Diagnostic-Code: smtp; 550 5.1.1 <old.member@example.com>: Recipient address\n"
              "    rejected: User unknown\n")
    original = (f"From: 서울 블록체인 거버넌스 사무국 <{GROUP_ADDRESS}>\n"
                "To: old.member@example.com\n"
                "Subject: [안내] 11월 정례회의 개최 안내\n"
                "Message-ID: <notice-meeting-2026-11@example.org>\n")
    boundary = "demo-bounce-boundary/mail.example.org"
    raw = (f"From: MAILER-DAEMON@mail.example.org (Mail Delivery System)\n"
           f"To: {GROUP_ADDRESS}\n"
           "Subject: Undelivered Mail Returned to Sender\n"
           f"Date: {_date(16, 14, 0)}\n"
           "Message-ID: <demo-bounce@mail.example.org>\n"
           "Auto-Submitted: auto-replied\n"
           "MIME-Version: 1.0\n"
           f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\n\n'
           "This is a MIME-encapsulated message.\n\n"
           f"--{boundary}\n"
           "Content-Description: Notification\n"
           "Content-Type: text/plain; charset=us-ascii\n\n"
           f"{text}\n"
           f"--{boundary}\n"
           "Content-Description: Delivery report\n"
           "Content-Type: message/delivery-status\n\n"
           f"{status}\n"
           f"--{boundary}\n"
           "Content-Description: Undelivered Message Headers\n"
           "Content-Type: text/rfc822-headers\n"
           "Content-Transfer-Encoding: 8bit\n\n"
           f"{original}\n"
           f"--{boundary}--\n")
    return raw.replace("\n", "\r\n").encode("utf-8")


def _question_hours() -> bytes:
    """A member asks for her own hours: answered automatically with her statement."""
    m = _member("younghee.choi@example.com")
    return _mail("question-hours", m["email"], m["name"], "봉사시간 확인 문의", 20, 9, 5,
                 "안녕하세요. 지난달에 보낸 메일들이 봉사시간으로 인정되었는지 궁금합니다.\n"
                 "어디서 확인할 수 있을까요?\n\n최영희\n").as_bytes()


def _thanks_reply() -> bytes:
    """A bare "got it" on top of a quoted notice full of review and proposal words."""
    m = _member("jihoon.park@example.org")
    body = ("잘 받았습니다. 감사합니다!\n\niPhone에서 보냄\n\n"
            f"2026년 11월 16일 (월) 오후 2:00, 서울 블록체인 거버넌스 사무국 <{GROUP_ADDRESS}>님이 작성:\n"
            "> 11월 정례회의를 아래와 같이 개최합니다. 하반기 품평과 제안을 정리하고\n"
            "> 새로운 서비스 아이디어 제안도 받습니다.\n")
    return _mail("thanks-reply", m["email"], m["name"], "Re: [안내] 11월 정례회의 개최 안내",
                 20, 10, 30, body,
                 {"In-Reply-To": "<notice-meeting-2026-11@example.org>"}).as_bytes()


def _garbled() -> bytes:
    """A mail that went through a broken gateway: raw 8-bit subject in an unknown charset, a
    multipart whose boundary never appears, and a damaged base64 body."""
    m = _member("doyoon.jung@example.com")
    return (f"From: {m['email']}\r\n"
            f"To: {GROUP_ADDRESS}\r\n"
            "Subject: \xc0\xfc\xc0\xda\xb9\xae\xbc\xad \x9f\x9f\xff\xfe\r\n".encode("latin-1")
            + f"Date: {_date(21, 3, 14)}\r\n".encode("ascii")
            + b"Message-ID: <demo-garbled@mail.example.com>\r\n"
              b"MIME-Version: 1.0\r\n"
              b'Content-Type: multipart/mixed; boundary="=_lost_boundary"\r\n'
              b"\r\n"
              b"Content-Type: text/plain; charset=x-unknown-legacy\r\n"
              b"Content-Transfer-Encoding: base64\r\n"
              b"\r\n"
              b"7JWI64WV7ZWY7IS47JqU!!!\x00\x01\x02 7KeA6rCRIOyVsQ=\r\n"
              b"\xff\xfe\xfd garbage \x80\x81\r\n")


_BUILDERS = [
    ("review-wallet-login", _review_wallet_login),
    ("review-certificate-en", _review_certificate_en),
    ("review-scoin-tagged", _review_scoin_tagged),
    ("review-scoin-ks_c_5601", _review_scoin_ks_c_5601),
    ("review-certificate-iso2022kr", _review_certificate_iso2022kr),
    ("review-document-html", _review_document_html),
    ("review-screenshot", _review_screenshot),
    ("review-reply-quoted", _review_reply_quoted),
    ("proposal-donation", _proposal_donation),
    ("proposal-usedcar-en", _proposal_usedcar_en),
    ("proposal-non-member", _proposal_non_member),
    ("rsvp-attend", _rsvp_attend),
    ("rsvp-decline-en", _rsvp_decline_en),
    ("resignation", _resignation),
    ("out-of-office", _out_of_office),
    ("bounce", _bounce),
    ("question-hours", _question_hours),
    ("thanks-reply", _thanks_reply),
    ("garbled", _garbled),
]


def demo_messages() -> list[tuple[str, bytes]]:
    """(short label, raw RFC 5322 bytes) for every demo mail, in a fixed order."""
    return [(label, build()) for label, build in _BUILDERS]


# --- the group's life cycle: applications from non-members during a recruitment round ---

def _application(label: str, sender: str, name: str, subject: str, day: int, hour: int,
                 minute: int, body: str) -> tuple[str, bytes]:
    return label, _mail(label, sender, name, subject, day, hour, minute, body).as_bytes()


def demo_applications() -> list[tuple[str, bytes]]:
    """Applications to the demo's recruitment round, in the order the inbox receives them
    (one without a category, which gets the "please tell us" reply)."""
    return [
        _application("apply-oh", "jiwon.oh@example.net", "오지원", "[지원] 거버넌스 단원 지원합니다",
                     20, 9, 5, "안녕하세요. 단원 모집 공고를 보고 지원합니다.\n\n이름: 오지원\n"
                     "분야: 대학생\n소속: 서울시립대학교 3학년\n"),
        _application("apply-kang", "haneul.kang@example.com", "강하늘", "[신청] 단원 신청",
                     20, 9, 40, "이름: 강하늘\n분야: 대학생\n블록체인 수업을 들으며 관심이 생겼습니다.\n"),
        _application("apply-emma", "emma.lee@example.org", "Emma Lee",
                     "[apply] Governance group membership", 20, 11, 2,
                     "Hello, I would like to join the group.\n\nName: Emma Lee\n"
                     "Category: student\n"),
        _application("apply-bae", "yuna.bae@example.com", "배유나", "[지원] 단원 활동 희망",
                     20, 13, 30, "안녕하세요. 단원으로 활동하고 싶어 메일 드립니다.\n"),
    ]
