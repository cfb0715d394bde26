"""Build raw test messages the way ordinary mail clients write them."""
from __future__ import annotations

import itertools
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
import datetime as dt

_counter = itertools.count(1)

REVIEW_KO = ("블록체인 전자증명서 앱에서 로그인 후 증명서 발급 버튼을 누르면 오류가 납니다. "
             "안드로이드 14, 갤럭시 S23에서 세 번 시도했는데 매번 같은 에러 화면이 나옵니다. "
             "개선 부탁드립니다.")
PROPOSAL_KO = ("제안드립니다. 서울시 자원봉사 시간을 블록체인으로 기록하고 다른 구청에서도 "
               "조회할 수 있는 새로운 서비스를 도입하면 좋겠습니다. 시민들이 증명서를 따로 "
               "떼지 않아도 됩니다.")
REVIEW_EN = ("The S-coin wallet app crashes when I open the transaction history. It is a bug "
             "that appears every time on iOS 18; please fix the error and improve the loading.")


def make_mail(sender: str = "kim.minji@example.net", subject: str = "전자증명서 앱 오류",
              body: str = REVIEW_KO, *, charset: str = "utf-8", message_id: str | None = None,
              headers: dict | None = None, sender_name: str = "김민지",
              date: dt.datetime | None = None, to: str = "group@example.org",
              attachment: tuple[str, bytes] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{sender_name} <{sender}>" if sender_name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.timezone.utc))
    msg["Message-ID"] = message_id or make_msgid(f"t{next(_counter)}", "example.net")
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body, charset=charset)
    if attachment:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


_DETAILS = ("지갑", "증명서", "로그인", "화면", "버튼", "알림", "결제", "설정", "업데이트",
            "목록", "검색", "사진", "지도", "예약", "메뉴", "글씨", "속도", "배터리", "번역",
            "주소", "인증", "저장", "공유", "카메라", "음성", "달력", "포인트", "쿠폰")


def unique_review(i: int, sender: str = "kim.minji@example.net", size: int = 0) -> bytes:
    """A distinct review body (a different text each time, not a near-copy of another:
    its own sentences name other parts of the app); padded to about ``size`` bytes."""
    import random
    pick = random.Random(i).sample(_DETAILS, 12)
    details = " ".join(f"{a}에서 {b} 문제가 {n}번 생깁니다."
                       for n, (a, b) in enumerate(zip(pick[::2], pick[1::2]), start=i % 5 + 1))
    body = f"{REVIEW_KO}\n\n테스트 번호 {i}: {details}\n"
    if size:
        filler = "버그 재현 로그 " * 8 + "\n"
        while len(body.encode()) < size - 600:
            body += filler
    return make_mail(sender=sender, subject=f"앱 오류 신고 {i}", body=body)


_SERVICES = ("S-지갑 앱", "전자증명서 앱", "에스코인 앱", "모바일 시민카드", "블록체인 투표 앱",
             "기부 포인트 앱", "공공자전거 결제", "민원 조회 화면")
_DEVICES = ("갤럭시 S23", "아이폰 15", "갤럭시 탭", "LG 윙", "아이패드 미니", "노트북 크롬")
_WHEN = ("아침에", "점심시간에", "퇴근길에", "어제 밤에", "주말에", "방금", "출근하면서")
_SYMPTOMS = ("앱이 멈춥니다", "화면이 하얗게 변합니다", "로딩이 끝나지 않습니다",
             "오류 코드가 뜹니다", "버튼이 눌리지 않습니다", "글씨가 깨져 보입니다",
             "알림이 두 번 옵니다", "결제가 취소됩니다", "로그인이 풀립니다", "사진이 안 올라갑니다")
_WISHES = ("글씨를 조금 키워 주시면 좋겠습니다", "오류 안내 문구를 쉽게 바꿔 주세요",
           "재시도 버튼이 있으면 좋겠습니다", "다크 모드도 지원해 주세요",
           "처리 상태를 알려 주는 화면이 필요합니다", "영문 안내도 넣어 주세요")


def member_review(i: int, sender: str = "kim.minji@example.net", size: int = 0) -> bytes:
    """A review as one member writes it, different in every sentence from another
    member's (no shared paragraph: members do not copy each other), padded to about
    ``size`` bytes with the member's own pasted log lines."""
    import random
    r = random.Random(i)
    lines = [f"안녕하세요, {r.choice(_DEVICES)}에서 {r.choice(_SERVICES)} 써 보고 있습니다."]
    for _ in range(r.randint(3, 6)):
        lines.append(f"{r.choice(_WHEN)} {r.choice(_DETAILS)} 메뉴를 누르면 "
                     f"{r.choice(_SYMPTOMS)}. {r.randint(2, 9)}번 중 {r.randint(1, 2)}번은 "
                     f"{r.choice(_DETAILS)} 화면까지 가지 못했습니다.")
    lines.append(f"{r.choice(_WISHES)}. (접수 번호 {i}, 버전 1.{i % 9}.{r.randint(0, 40)})")
    body = "\n".join(lines) + "\n"
    k = 0
    while len(body.encode()) < size - 600:
        body += (f"2026-11-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}"
                 f" E/{r.choice(_DETAILS)}Activity pid={r.randint(1000, 99999)} "
                 f"code={r.getrandbits(32):08x} seq={i}-{k}\n")
        k += 1
    return make_mail(sender=sender, subject=f"{r.choice(_SERVICES)} 사용 후기 {i}", body=body)


def review_with_screenshot(i: int, sender: str = "kim.minji@example.net",
                           size: int = 1_000_000) -> bytes:
    """A distinct short review carrying a screenshot-sized attachment (about ``size`` bytes
    on the wire, base64 included), the usual shape of a large member mail."""
    import random
    blob = random.Random(i).randbytes(int(size * 0.74))
    return make_mail(sender=sender, subject=f"앱 오류 화면 {i}",
                     body=f"{REVIEW_KO}\n\n스크린샷 첨부합니다 ({i}).",
                     attachment=(f"screenshot-{i}.png", blob))
