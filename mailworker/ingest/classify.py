"""What kind of mail is this: review, proposal, resignation, rsvp, auto_reply, bounce, triage.

Order of the checks (the first that decides wins):
  1. bounce        delivery status notifications (multipart/report; report-type=delivery-status,
                   or MAILER-DAEMON/postmaster senders with delivery-failure wording)
  2. auto_reply    RFC 3834 Auto-Submitted, X-Autoreply/X-Autorespond, Precedence, read
                   receipts, out-of-office subjects (부재중, 자동 회신, Out of Office, ...)
  3. triage        the message is malformed (a defect other than the harmless ones below)
  4. resignation   a [해촉] tag, or resignation wording with no competing review/proposal wording
  5. rsvp          attendance wording (참석/불참/attend) about a meeting (정례회의, meeting)
  6. triage        the new text is essentially empty
  7. tag           [품평] [review] [제안] [proposal] ... in the subject
  8. wording       review and proposal words in the subject and the new text (not the quote)

A wrong credit is worse than a triage: when review and proposal wording are both strong and
close, or there is too little of either, the answer is triage. Every answer names its signal.

The word lists are plain data: staff-facing maintainers extend them here. Korean words
match anywhere (they take endings: 오류가, 오류를); English words match whole words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .parse import ParsedMail

# --- data ----------------------------------------------------------------------------

# Subject tags, written [tag] 【tag】 or (tag); matched case-insensitively.
SUBJECT_TAGS = {
    "품평": "review", "기능개선": "review", "개선요청": "review", "버그": "review",
    "review": "review", "bug": "review",
    "제안": "proposal", "정책제안": "proposal", "proposal": "proposal", "idea": "proposal",
    "해촉": "resignation", "해촉요청": "resignation", "resign": "resignation",
    "resignation": "resignation",
}

# Review words (bug reports, usability, improvement requests about a beta service).
# Weight 2: says "review" on its own. Weight 1: supports it.
REVIEW_WORDS = {
    2: ["오류", "버그", "에러", "안 됩니다", "안됩니다", "안 돼요", "안돼요", "안 되네요", "안되네요",
        "안 되요", "안되요", "작동하지 않", "작동이 안", "실행이 안", "먹통", "튕겨", "튕김", "멈춰",
        "멈춤", "멈춥니다", "불편", "느립니다", "느려요", "느려서", "느림", "깨져", "깨짐", "수정 부탁",
        "고쳐 주", "고쳐주", "문제가 있", "문제가 발생", "증상", "재현", "품평", "기능개선", "기능 개선",
        "개선 요청", "개선해 주", "개선해주", "사용해 보니", "사용해보니", "써 보니", "써보니",
        "테스트해 보니", "테스트해보니", "설치가 안", "로그인이 안", "접속이 안", "인증이 안",
        "crash", "crashes", "crashed", "bug", "bugs", "error", "errors", "doesn't work",
        "does not work", "not working", "broken", "freezes", "glitch", "too slow",
        "cannot log in", "can't log in", "fails to", "failed to"],
    1: ["개선", "앱", "어플", "설치", "로그인", "업데이트", "화면", "버튼", "인증", "지갑", "베타",
        "시험운영", "속도", "로딩", "알림", "느려", "사용성", "접속", "증명서 발급", "발급",
        "app", "install", "login", "log in", "screen", "button", "update", "improve",
        "improvement", "beta", "slow", "loading", "usability", "fix", "issue"],
}

# Proposal words (an idea for a new city service or policy).
PROPOSAL_WORDS = {
    2: ["제안", "아이디어", "도입", "새로운 서비스", "신규 서비스", "건의", "하면 어떨까",
        "면 어떨까", "하는 것은 어떨", "것은 어떨까", "추가하면 좋", "만들면 좋", "확대하면",
        "propose", "proposal", "proposals", "suggest", "suggestion", "suggestions", "idea",
        "ideas", "how about", "new service",
        "should introduce", "could introduce"],
    1: ["하면 좋겠", "면 좋겠", "했으면", "정책", "활용", "확대", "추진", "검토", "구축", "시범",
        "시민들이", "행정", "투명", "would be great", "would be nice", "policy", "introduce",
        "adopt", "citizens", "transparency"],
}

# Resignation wording (해촉: a member asks to leave the group).
RESIGNATION_WORDS = ["해촉", "사퇴", "단원 활동을 그만", "활동을 그만두", "그만두고 싶", "그만두겠",
                     "단원 탈퇴", "단원에서 탈퇴", "거버넌스 탈퇴", "거버넌스에서 탈퇴", "위촉 해제",
                     "활동 종료를 요청", "resign", "resignation", "step down", "leave the group",
                     "leave the governance group", "withdraw from the group", "quit the group",
                     "end my membership"]

# Meetings, and how members say they will or will not come.
MEETING_WORDS = ["정례회의", "정기회의", "회의", "간담회", "총회", "워크숍", "모임", "meeting",
                 "workshop", "assembly"]
DECLINE_WORDS = ["불참", "참석 못", "참석을 못", "참석하지 못", "참석이 어렵", "참석 어렵",
                 "참석하기 어렵", "참석이 힘들", "참석 힘들", "참석이 불가", "참석 불가",
                 "참석할 수 없", "참석 못합", "못 갈 것", "못 가요", "못 갑니다", "못 갈", "못갈",
                 "can't attend", "cannot attend", "can not attend", "won't attend",
                 "will not attend", "unable to attend", "not able to attend", "can't make it",
                 "cannot make it", "won't make it", "won't be able to attend", "not attend"]
ATTEND_WORDS = ["참석합니다", "참석하겠습니다", "참석 하겠습니다", "참석할게요", "참석할께요",
                "참석하겠어요", "참석 예정", "참석할 예정", "참석 가능", "참석 가능합니다", "참석하겠",
                "참가합니다", "참가하겠습니다", "참석으로", "참석 의사",
                "will attend", "i'll attend", "i will be there", "i'll be there", "attending",
                "count me in", "can attend", "plan to attend", "happy to attend", "will join"]

# Auto replies (RFC 3834 and what mail programs really send).
AUTO_REPLY_SUBJECTS = ["부재중", "자동 회신", "자동회신", "자동응답", "자동 응답", "자동 답장",
                       "out of office", "out-of-office", "automatic reply", "auto reply",
                       "auto-reply", "autoreply", "auto response", "vacation reply",
                       "away from the office"]
AUTO_REPLY_HEADERS = ["x-autoreply", "x-autorespond", "x-autogenerated"]
AUTO_PRECEDENCE = ["auto_reply", "bulk", "junk"]

# Bounces.
BOUNCE_SENDERS = ["mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"]
BOUNCE_WORDS = ["undeliverable", "undelivered", "delivery status notification", "delivery failure",
                "delivery has failed", "failure notice", "returned mail", "mail delivery failed",
                "could not be delivered", "delivery failed", "배달 실패", "전송 실패", "발송 실패",
                "반송", "전달되지 않았", "전달 실패", "수신 실패"]

# Defects that do not make a message unreadable (everything else sends it to triage).
HARMLESS_DEFECTS = ["Date header could not be read", "guessed charset"]

REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|sv|회신|답장|전달|답변)\s*(\[\d+\])?\s*:\s*)+",
                          re.I)
TAG = re.compile(r"[\[【(（]\s*([^\]】)）]{1,20}?)\s*[\]】)）]")

MIN_NEW_TEXT_CHARS = 5     # fewer non-space characters than this: "essentially empty"
STRONG = 2                 # a score at least this is a strong signal
CLEAR_MARGIN = 2.0         # the winner needs this many times the loser's score when both are strong
SCAN_CHARS = 8000          # wording is looked for in the first this many characters


@dataclass(frozen=True)
class Classification:
    kind: str          # review|proposal|resignation|rsvp|auto_reply|bounce|triage
    reason: str        # short, human-readable
    rsvp: str | None = None   # 'attend' | 'decline' for kind rsvp


# --- matching ---------------------------------------------------------------------------

class WordList:
    """Find which of a list of words occur. ASCII words match whole words only."""

    def __init__(self, words):
        self.words = sorted({w.casefold() for w in words}, key=len, reverse=True)
        self.regex = re.compile("|".join(re.escape(w) for w in self.words))

    def found(self, text: str) -> list[str]:
        hits: list[str] = []
        for m in self.regex.finditer(text):
            word = m.group(0)
            if word.isascii() and word[0].isalnum():
                before = text[m.start() - 1] if m.start() else " "
                after = text[m.end()] if m.end() < len(text) else " "
                if before.isalnum() or after.isalnum():
                    continue
            if word not in hits:
                hits.append(word)
        return hits


class WeightedWords:
    def __init__(self, weighted: dict[int, list[str]]):
        self.weight = {w.casefold(): weight for weight, words in weighted.items() for w in words}
        self.list = WordList(self.weight)

    def score(self, text: str) -> tuple[int, list[str]]:
        hits = self.list.found(text)
        return sum(self.weight[w] for w in hits), hits


_review = WeightedWords(REVIEW_WORDS)
_proposal = WeightedWords(PROPOSAL_WORDS)
_resignation = WordList(RESIGNATION_WORDS)
_meeting = WordList(MEETING_WORDS)
_decline = WordList(DECLINE_WORDS)
_attend = WordList(ATTEND_WORDS)
_auto_subject = WordList(AUTO_REPLY_SUBJECTS)
_bounce_words = WordList(BOUNCE_WORDS)
_tags = {k.casefold(): v for k, v in SUBJECT_TAGS.items()}


def _list(words: list[str], limit: int = 4) -> str:
    shown = ", ".join(words[:limit])
    return shown + (", ..." if len(words) > limit else "")


# --- the checks -------------------------------------------------------------------------

def _bounce(mail: ParsedMail, subject: str) -> Classification | None:
    if mail.content_type == "multipart/report" and mail.report_type == "delivery-status":
        return Classification("bounce", "multipart/report; report-type=delivery-status (DSN)")
    local = mail.from_addr.split("@", 1)[0]
    sender = local in BOUNCE_SENDERS or "mail delivery" in mail.from_name.casefold()
    if sender:
        words = _bounce_words.found(subject) or _bounce_words.found(
            mail.text[:SCAN_CHARS].casefold())
        if words:
            return Classification("bounce", f"sender {mail.from_addr or mail.from_name} "
                                            f"with delivery-failure wording ({_list(words, 2)})")
    return None


def _auto_reply(mail: ParsedMail, subject: str) -> Classification | None:
    auto = mail.header("auto-submitted").strip().casefold()
    if auto and not auto.startswith("no"):
        return Classification("auto_reply", f"Auto-Submitted: {auto.split(';')[0]}")
    for name in AUTO_REPLY_HEADERS:
        if name in mail.headers:
            return Classification("auto_reply", f"{name} header")
    precedence = mail.header("precedence").strip().casefold()
    if precedence in AUTO_PRECEDENCE:
        return Classification("auto_reply", f"Precedence: {precedence}")
    if mail.content_type == "multipart/report" and mail.report_type == "disposition-notification":
        return Classification("auto_reply", "read receipt (disposition-notification)")
    words = _auto_subject.found(subject)
    if words:
        return Classification("auto_reply", f"subject says {words[0]}")
    return None


def _serious_defects(mail: ParsedMail) -> list[str]:
    return [d for d in mail.defects if not any(d.startswith(h) for h in HARMLESS_DEFECTS)]


def _subject_tags(subject: str) -> list[tuple[str, str]]:
    found = []
    for m in TAG.finditer(subject):
        tag = " ".join(m.group(1).split()).casefold()
        kind = _tags.get(tag) or _tags.get(tag.replace(" ", ""))
        if kind and (m.group(1), kind) not in found:
            found.append((m.group(1).strip(), kind))
    return found


def _rsvp(subject: str, text: str, quoted: str, is_reply: bool) -> Classification | None:
    # A reply's subject is the notice's own ("참석 가능 여부"), so only the new text answers.
    said = text if is_reply else subject + "\n" + text
    declines = _decline.found(said)
    attends = [] if declines else _attend.found(said)
    if not declines and not attends:
        return None
    meeting = _meeting.found(subject + "\n" + text) or (is_reply and _meeting.found(quoted))
    if not meeting:
        return None
    answer = "decline" if declines else "attend"
    word = (declines or attends)[0]
    where = "reply about" if is_reply else "mail about"
    return Classification("rsvp", f"{where} a meeting ({meeting[0]}): {word} ({answer})",
                          rsvp=answer)


def _wording(subject: str, text: str) -> Classification:
    r_subj, r_subj_hits = _review.score(subject)
    r_body, r_body_hits = _review.score(text)
    p_subj, p_subj_hits = _proposal.score(subject)
    p_body, p_body_hits = _proposal.score(text)
    review, proposal = r_subj + r_body, p_subj + p_body
    r_hits = r_subj_hits + [w for w in r_body_hits if w not in r_subj_hits]
    p_hits = p_subj_hits + [w for w in p_body_hits if w not in p_subj_hits]
    if review == 0 and proposal == 0:
        return Classification("triage", "no review or proposal wording found")
    top, other = max(review, proposal), min(review, proposal)
    if top < STRONG:
        return Classification("triage", "too little to go on: only "
                              f"{_list(r_hits or p_hits)} ({'review' if review else 'proposal'} word)")
    if other >= STRONG and top < CLEAR_MARGIN * other:
        return Classification("triage", "both review and proposal wording: "
                              f"{_list(r_hits, 3)} (review) vs {_list(p_hits, 3)} (proposal)")
    kind, hits, in_subject, in_body = (
        ("review", r_hits, r_subj_hits, r_body_hits) if review > proposal
        else ("proposal", p_hits, p_subj_hits, p_body_hits))
    where = ("subject and body mention" if in_subject and in_body
             else "subject mentions" if in_subject else "body mentions")
    return Classification(kind, f"{where} {_list(hits)} ({kind} words)")


def classify(mail: ParsedMail) -> Classification:
    """Decide the kind of one parsed mail, with a short reason naming the signal."""
    subject = mail.subject.casefold()
    decided = _bounce(mail, subject) or _auto_reply(mail, subject)
    if decided:
        return decided

    serious = _serious_defects(mail)
    if serious:
        more = f" (+{len(serious) - 1} more)" if len(serious) > 1 else ""
        return Classification("triage", f"malformed message: {serious[0]}{more}")

    prefix = REPLY_PREFIX.match(subject)
    is_reply = bool(prefix) or bool(mail.in_reply_to)
    topic = subject[prefix.end():] if prefix else subject
    text = mail.new_text[:SCAN_CHARS].casefold()

    tags = _subject_tags(topic)
    tag_kinds = {kind for _, kind in tags}
    if "resignation" in tag_kinds:
        return Classification("resignation", f"subject tag [{tags[0][0]}]" if len(tags) == 1
                              else f"subject tags {', '.join(f'[{t}]' for t, _ in tags)}")
    resign_words = _resignation.found(topic + "\n" + text)
    if resign_words and not tag_kinds:
        competing = _wording(topic, text)
        if competing.kind in ("review", "proposal"):
            return Classification("triage", f"resignation wording ({_list(resign_words, 2)}) "
                                            f"mixed with {competing.kind} wording")
        return Classification("resignation", f"asks to leave: {_list(resign_words, 2)}")

    if not tag_kinds:
        rsvp = _rsvp(topic, text, mail.quoted_text[:SCAN_CHARS].casefold(), is_reply)
        if rsvp:
            competing = _wording(topic, text)
            if competing.kind in ("review", "proposal") and len(text) > 200:
                return Classification("triage", f"meeting answer mixed with {competing.kind}: "
                                                f"{rsvp.reason}; {competing.reason}")
            return rsvp

    if sum(1 for ch in text if not ch.isspace()) < MIN_NEW_TEXT_CHARS:
        return Classification("triage", "body is empty" + (" (only quoted text)"
                                                          if mail.quoted_text else ""))

    if tag_kinds:
        if len(tag_kinds) > 1:
            return Classification("triage", "subject has conflicting tags "
                                            + ", ".join(f"[{t}]" for t, _ in tags))
        return Classification(tags[0][1], f"subject tag [{tags[0][0]}]")

    return _wording(topic, text)
