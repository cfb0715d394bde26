"""The labelled member-mail corpus (tests/data/member_mail/*.txt, a file per split) as mail.

Each record is written as a member would type it; this module turns it into the mail a
client would send: a reply on top of a quoted staff notice (Gmail/Outlook style), a
phone or company signature, HTML-only, EUC-KR bytes, an Auto-Submitted header. The
benchmark ``benchmarks/classify_eval.py`` and the tests read the same records.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

CORPUS_DIR = Path(__file__).parent / "data" / "member_mail"
SPLITS = ("dev", "heldout", "fresh", "unseen", "final", "blind", "blind2", "blind3", "blind4", "blind5", "blind6", "blind7", "blind8", "blind9", "blind10", "blind11", "blind12", "blind13", "blind14", "blind15", "blind16", "blind17", "blind18", "blind19", "blind20", "blind21", "blind22", "blind23", "blind24", "blind25", "blind26", "blind27", "blind28", "blind29", "blind30", "blind31", "blind32", "blind33", "blind34", "blind35", "blind36", "blind37", "blind38", "blind39", "blind40", "blind41", "blind42", "blind43", "blind44", "blind45", "blind46", "blind47", "blind48", "blind49", "blind50", "blind51", "blind52", "blind53", "blind54", "blind55", "blind56", "blind57", "blind58", "blind59", "blind60", "blind61", "blind62", "blind63", "blind64", "blind65", "blind66", "blind67", "blind68", "blind69", "blind70", "blind71", "blind72", "blind73", "blind74", "blind75", "blind76", "blind77", "blind78", "blind79", "blind80", "blind81", "blind82", "blind83", "blind84", "blind85", "blind86", "blind87", "blind88", "blind89", "blind90", "blind91", "blind92", "blind93", "blind94", "blind95", "blind96", "blind97", "blind98", "blind99", "blind100", "blind101", "blind102", "blind103", "blind104", "blind105", "blind106", "blind107", "blind108", "blind109", "blind110", "blind111", "blind112", "blind113", "blind114", "blind115", "blind116")

# Staff notices members reply to: full of review and proposal words that are not theirs.
NOTICES = {
    "meeting": ("[안내] 11월 정례회의 개최 안내",
                "단원 여러분께,\n11월 정례회의를 11월 27일(금) 오후 7시 서울시청 본관 8층에서 "
                "개최합니다. 하반기 품평과 제안을 정리하고 우수 제안을 발표합니다.\n참석 여부를 "
                "회신해 주세요. 새로운 서비스 아이디어 제안도 환영합니다.\n운영사무국 드림"),
    "trial": ("[시험운영] 전자증명서 앱 0.9 시험운영 안내",
              "전자증명서 앱 0.9 시험운영을 시작합니다. 설치 후 오류, 불편한 점, 개선 요청을 "
              "[품평] 제목으로 보내 주세요. 새로운 서비스 제안은 [제안]으로 보내 주시면 "
              "봉사시간 1시간이 인정됩니다.\n설치 파일 비밀번호는 별도 메일로 보내 드립니다."),
    "hours": ("[안내] 봉사시간 안내",
              "상반기 봉사시간 인정 현황을 안내드립니다. 품평·제안 1건당 1시간입니다. "
              "궁금한 점은 회신해 주세요."),
    "recruit": ("[모집] 신규 단원 모집",
                "결원이 생겨 신규 단원을 모집합니다. 제안과 품평에 관심 있는 분의 참여를 "
                "바랍니다."),
}
NOTICES_EN = {
    "meeting": ("[Notice] November regular meeting",
                "Dear members,\nThe November regular meeting is on Friday 27 November, 7 pm, "
                "City Hall. We will review this half-year's reviews and proposals; new ideas "
                "are welcome. Please reply whether you will attend."),
    "trial": ("[Trial] certificate app 0.9",
              "Please install the app and send bugs, errors and improvement requests as "
              "[review], and ideas for new services as [proposal]."),
}
SIGNATURES = {
    "iphone": "\n\niPhone에서 보냄",
    "galaxy": "\n\n\nSent from my Galaxy",
    "outlook": "\n\nGet Outlook for Android",
    "company": ("\n\n--\n한수진 | 사업개발팀장\n(주)블록브릿지 — 신뢰를 제안하는 블록체인 파트너\n"
                "Tel. 02-555-0100"),
    "name": "\n\n감사합니다.\n홍길동 드림",
}
SIGNATURES_EN = {"iphone": "\n\nSent from my iPhone", "name": "\n\nBest regards,\nAlex"}


@dataclass(frozen=True)
class Sample:
    split: str
    number: int          # 1-based position in its file
    kind: str            # the hand-given label
    flags: dict
    subject: str
    body: str

    @property
    def label(self) -> str:
        return f"{self.split}#{self.number}"

    def raw(self) -> bytes:
        return build(self)


def load(split: str) -> list[Sample]:
    text = (CORPUS_DIR / f"{split}.txt").read_text(encoding="utf-8")
    samples: list[Sample] = []
    for chunk in text.split("\n### ")[1:]:
        head, _, rest = chunk.partition("\n")
        kind, *flag_words = head.split()
        flags = dict(w.partition("=")[::2] for w in flag_words)
        subject_line, _, body = rest.partition("\n")
        if not subject_line.startswith("Subject:"):
            raise ValueError(f"{split}.txt record {len(samples) + 1}: no Subject line")
        samples.append(Sample(split, len(samples) + 1, kind, flags,
                              subject_line[len("Subject:"):].strip(), body.strip()))
    return samples


def load_all() -> list[Sample]:
    return [s for split in SPLITS for s in load(split)]


_ids = itertools.count(1)


def build(s: Sample) -> bytes:
    english = "en" in s.flags
    body = s.body
    html = "html" in s.flags
    signatures = SIGNATURES_EN if english and s.flags.get("sig") in SIGNATURES_EN else SIGNATURES
    if s.flags.get("sig"):
        sig = signatures[s.flags["sig"]]
        body += ("".join(f"<div>{line}</div>" for line in sig.strip("\n").split("\n"))
                 if html else sig)
    headers = {}
    notice = s.flags.get("notice")
    if notice:
        _, notice_body = (NOTICES_EN if english and notice in NOTICES_EN else NOTICES)[notice]
        headers["In-Reply-To"] = "<notice-%s@seoul-demo.example>" % notice
        if html:
            body += ("<div><br>2026년 11월 16일 (월) 오전 10:00, 운영사무국 &lt;governance@"
                     "seoul-demo.example&gt;님이 작성:<br></div><blockquote>"
                     + "<br>".join(notice_body.split("\n")) + "</blockquote>")
        elif english:
            body += ("\n\nOn Mon, Nov 16, 2026 at 10:00 AM Secretariat "
                     "<governance@seoul-demo.example> wrote:\n"
                     + "\n".join("> " + ln for ln in notice_body.split("\n")))
        else:
            body += ("\n\n2026년 11월 16일 (월) 오전 10:00, 운영사무국 "
                     "<governance@seoul-demo.example>님이 작성:\n"
                     + "\n".join("> " + ln for ln in notice_body.split("\n")))
    if "auto" in s.flags:
        headers["Auto-Submitted"] = "auto-replied"
    msg = EmailMessage(policy=SMTP)
    msg["From"] = ("Alex Member <alex.member@example.net>" if english
                   else "단원 <member@example.com>")
    msg["To"] = "governance@seoul-demo.example"
    msg["Subject"] = s.subject
    msg["Date"] = "Tue, 24 Nov 2026 09:00:00 +0900"
    msg["Message-ID"] = f"<corpus-{s.split}-{s.number}-{next(_ids)}@example.net>"
    for k, v in headers.items():
        msg[k] = v
    charset = "euc-kr" if "euckr" in s.flags else "utf-8"
    if charset == "euc-kr":
        # An EUC-KR mail program writes the signature's dash as a hyphen (KS X 1001 has no
        # em dash).
        body = body.replace("\u2014", "-")
    if html:
        msg.set_content(f"<html><body>{body}</body></html>", subtype="html", charset=charset)
    else:
        msg.set_content(body + "\n", charset=charset)
    return msg.as_bytes()


def examples(samples: list[Sample]) -> list[tuple[str, str, str]]:
    """(kind, own subject, own words) of each sample, as the classifier reads them: what the
    learned intent model is counted from."""
    from mailworker.ingest.classify import own_words
    from mailworker.ingest.parse import parse_message
    return [(s.kind, *own_words(parse_message(s.raw()))) for s in samples]


def corpus_examples() -> list[tuple[str, str, str]]:
    return examples(load_all())
