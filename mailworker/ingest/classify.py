"""What kind of mail is this: review, proposal, question, other, resignation, rsvp,
auto_reply, bounce, triage.

Order of the checks (the first that decides wins):
  1. bounce        delivery status notifications (multipart/report; report-type=delivery-status,
                   or MAILER-DAEMON/postmaster senders with delivery-failure wording)
  2. auto_reply    RFC 3834 Auto-Submitted, X-Autoreply/X-Autorespond, Precedence, read
                   receipts, out-of-office subjects (부재중, 자동 회신, Out of Office, ...)
  3. triage        the message is malformed (a defect other than the harmless ones below)
  4. resignation   a [해촉] tag, or a sentence asking to leave (그만두려고, 탈퇴하고 싶습니다,
                   please remove me) with no report about the app beside it
  5. question      a subject command (내 봉사시간, 영수증, 비밀번호, 도움말 / help)
  6. rsvp          attendance wording (참석/불참/attend) about a meeting (정례회의, meeting)
  7. other/triage  the member's words are (nearly) empty: thanks only, or nothing
  8. tag           [품평] [review] [제안] [proposal] ... in the subject (unless the mail only asks)
  9. intent        the member's sentences weighed by their form (``intent.py``): a question
                   is a question even when it names the app; review and proposal need a
                   described symptom, a wish about the service or an idea; thanks is other.
                   A second, learned reading of the same words (``intent_model.py``) is
                   weighed against it: where the two differ the learned one is followed
                   within limits (``_weigh``): alone it gives an hour only where the forms
                   read nothing at all and it is sure, never to mail that only asks or
                   thanks; what the forms read as asking stays a question.

The member's words are the new text only: not the quoted notice, not the subject of a
notice being replied to (``Re: [안내] ...``), not the signature (phone footers, a company
slogan). A wrong credit is worse than a triage: triage is kept for mail a person could not
tell either. Every answer names its signals. The topic word lists below only name, in the
reason, what a review or proposal talks about; they never decide the kind on their own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..vocabulary import (CREDITABLE_KINDS, REPLY_PREFIX, SUBJECT_TAGS, TAG,  # noqa: F401
                          subject_tags, tag_kind)
from . import intent_model
from .intent import APP, Intents, ends_asking_to_leave, read_intents, statements
from .parse import ParsedMail, casefolded

# --- data ----------------------------------------------------------------------------

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

# Meetings, and how members say they will or will not come.
MEETING_WORDS = ["정례회의", "정기회의", "회의", "간담회", "총회", "워크숍", "모임", "설명회", "세미나",
                 "meeting",
                 "workshop", "assembly"]
DECLINE_WORDS = ["불참", "참석 못", "참석을 못", "참석하지 못", "참석이 어렵", "참석 어렵",
                 "참석하기 어렵", "참석이 힘들", "참석 힘들", "참석이 불가", "참석 불가",
                 "참석할 수 없", "참석 못합", "못 갈 것", "못 가요", "못 갑니다", "못 갈", "못갈",
                 "can't attend", "cannot attend", "can not attend", "won't attend",
                 "will not attend", "unable to attend", "not able to attend", "can't make it",
                 "cannot make it", "won't make it", "won't be able to attend", "not attend",
                 "count me out", "can't make the", "cannot make the", "can't come", "cannot come",
                 "cant make it", "cant come", "cant attend", "won't be coming", "can't join",
                 "못 가겠", "못 갈 것 같", "못 가게", "빠지겠", "빠질게", "빠질께", "못 갈 듯",
                 "못갈듯", "결석", "won't be able to make it", "not be able to make it",
                 "unable to make it", "won't be able to come", "not be able to come",
                 "unable to come", "have to miss", "will miss the", "i'll miss the"]
ATTEND_WORDS = ["참석합니다", "참석하겠습니다", "참석 하겠습니다", "참석할게요", "참석할께요",
                "참석하겠어요", "참석 예정", "참석할 예정", "참석 가능", "참석 가능합니다", "참석하겠",
                "참가합니다", "참가하겠습니다", "참석으로", "참석 의사", "참석이요", "참석요", "참석 합니다",
                "갈게요", "갈께요",
                "will attend", "i'll attend", "i will be there", "i'll be there", "attending",
                "count me in", "can attend", "plan to attend", "happy to attend", "will join"]

# A whole answer in one word ("참석" under a quoted meeting notice).
_BARE_ANSWER = re.compile(r"(참석|불참)[\s.!~^ㅎ]*")
# An answer word that names attending itself, so needs no meeting word beside it when the
# subject says nothing else.
_ATTENDANCE_WORD = re.compile(r"참석|불참|참가|\battend")
_ANSWER_ONLY_SUBJECT = re.compile(r"^[\W\d_]*(?:(?:참석|불참|참가|여부|회신|답변|답장|합니다|해요|"
                                  r"rsvp|attend\w*|yes|no|(?<=\d)(?:st|nd|rd|th|일|월|시))[\W\d_]*)*$")

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

# Defects that do not make a message unreadable (any other defect sends it to triage).
HARMLESS_DEFECTS = ["Date header could not be read", "guessed charset", "invalid Content-Type",
                    "text taken from its beginning only"]


MIN_NEW_TEXT_CHARS = 5     # fewer non-space characters than this: "essentially empty"
_ENOUGH_TEXT = re.compile(r"(?:\s*\S){%d}" % MIN_NEW_TEXT_CHARS)
SCAN_CHARS = 8000          # wording is looked for in the first this many characters
# Intent is read from the member's first lines: what a mail is for is said before any log
# or long detail pasted below it, and reading every line of a long paste costs more than
# the rest of ingest together. Cut at a line's end.
INTENT_CHARS = 600


def _head(text: str) -> str:
    if len(text) <= INTENT_CHARS:
        return text
    cut = text.rfind("\n", 0, INTENT_CHARS)
    return text[:cut if cut > INTENT_CHARS // 2 else INTENT_CHARS]
CHATTER_MAX_CHARS = 40     # a longer mail with no intent found goes to staff, not to "other"
RSVP_MAX_CHARS = 200       # a longer meeting answer with review/proposal wording goes to triage


@dataclass(frozen=True)
class Classification:
    kind: str          # one of models.KINDS
    reason: str        # short, human-readable
    rsvp: str | None = None   # 'attend' | 'decline' for kind rsvp
    request: str | None = None   # for kind question: one of SELF_SERVICE, or None (staff)


# --- matching ---------------------------------------------------------------------------

def _trie_pattern(words: list[str]) -> str:
    """A regular expression matching any of the words, longest first, shaped as a trie:
    one pass over the text instead of one per word (much cheaper than a flat A|B|C)."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [re.escape(ch) + build(node[ch]) for ch in sorted(k for k in node if k)]
        if not branches:
            return ""
        # "(?:longer|)" rather than "(?:longer)?": the same greedy choice, but the regex
        # engine tries it as a plain branch instead of setting up a repeat (cheaper).
        if "" in node:
            branches.append("")
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return build(trie) or "(?!)"


class Lexicon:
    """Finds the words of several named lists in one pass. ASCII words match whole words;
    Korean words match anywhere, since they take endings (오류가, 오류를)."""

    def __init__(self, lists: dict[str, dict[str, int]]):
        self.weights: dict[str, dict[str, int]] = {}      # word -> {list name: weight}
        self.lists: dict[str, dict[str, int]] = {}        # list name -> {word: weight}
        for name, words in lists.items():
            for word, weight in words.items():
                if "\n" in word:      # scan() relies on words staying within one line
                    raise ValueError(f"word list {name!r}: {word!r} spans lines")
                self.weights.setdefault(word.casefold(), {})[name] = weight
                self.lists.setdefault(name, {})[word.casefold()] = weight
        ascii_words = [w for w in self.weights if w[0].isascii() and w[0].isalnum()]
        other_words = [w for w in self.weights if w not in set(ascii_words)]
        self.ascii = re.compile(_trie_pattern(ascii_words))
        self.other = re.compile(_trie_pattern(other_words))

    def scan(self, text: str) -> dict[str, list[str]]:
        """List name -> words found (first occurrence order, each once)."""
        if text.count("\n") > 2:
            # No word spans a line break, so a line seen before adds no new word: each
            # distinct line is read once (quoted logs, pasted tables, repeated lines).
            text = "\n".join(dict.fromkeys(text.split("\n")))
        words = dict.fromkeys(self.other.findall(text))   # findall: no match objects
        size = len(text)
        for m in self.ascii.finditer(text):
            start, end = m.span()
            if (start and text[start - 1].isalnum()) or (end < size and text[end].isalnum()):
                continue
            words[m.group()] = None          # a dict keeps the first-seen order
        found: dict[str, list[str]] = {}
        for word in words:
            for name in self.weights[word]:
                hits = found.get(name)
                if hits is None:
                    found[name] = [word]
                else:
                    hits.append(word)
        return found

    def first(self, text: str) -> str | None:
        """The first word ``scan`` would list, without listing the rest."""
        m = self.other.search(text)
        if m:
            return m.group()
        size = len(text)
        for m in self.ascii.finditer(text):
            start, end = m.span()
            if not ((start and text[start - 1].isalnum())
                    or (end < size and text[end].isalnum())):
                return m.group()
        return None

    def score(self, name: str, hits: dict[str, list[str]]) -> int:
        return sum(map(self.lists[name].__getitem__, hits.get(name, ())))


def _flat(words: list[str]) -> dict[str, int]:
    return {w: 1 for w in words}


def _weighted(weighted: dict[int, list[str]]) -> dict[str, int]:
    return {w: weight for weight, words in weighted.items() for w in words}


_LEXICON = Lexicon({
    "review": _weighted(REVIEW_WORDS), "proposal": _weighted(PROPOSAL_WORDS),
    "meeting": _flat(MEETING_WORDS),
    "decline": _flat(DECLINE_WORDS), "attend": _flat(ATTEND_WORDS),
})
_AUTO_SUBJECT = Lexicon({"auto": _flat(AUTO_REPLY_SUBJECTS)})
_DECLINE_OR_ATTEND = Lexicon({"decline": _flat(DECLINE_WORDS), "attend": _flat(ATTEND_WORDS)})
_BOUNCE_WORDS = Lexicon({"bounce": _flat(BOUNCE_WORDS)})


def _list(words: list[str], limit: int = 4) -> str:
    shown = ", ".join(words[:limit])
    return shown + (", ..." if len(words) > limit else "")


# --- the checks -------------------------------------------------------------------------

def _bounce(mail: ParsedMail, subject: str) -> Classification | None:
    if mail.content_type == "multipart/report" and mail.report_type == "delivery-status":
        return Classification("bounce", "multipart/report; report-type=delivery-status (DSN)")
    local = mail.from_addr.split("@", 1)[0]
    if local in BOUNCE_SENDERS or "mail delivery" in mail.from_name.casefold():
        words = (_BOUNCE_WORDS.scan(subject).get("bounce")
                 or _BOUNCE_WORDS.scan(mail.text[:SCAN_CHARS].casefold()).get("bounce"))
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
    word = _AUTO_SUBJECT.first(subject)
    if word:
        return Classification("auto_reply", f"subject says {word}")
    return None


def _serious_defects(mail: ParsedMail) -> list[str]:
    return [d for d in mail.defects if not any(h in d for h in HARMLESS_DEFECTS)]


class _Signals:
    """Words found in the subject (without Re:) and in the new text, by list."""

    def __init__(self, topic: str, text: str):
        self.subject = _LEXICON.scan(topic)
        self.body = _LEXICON.scan(text)
        self._both: dict[str, list[str]] = {}

    def words(self, name: str, where: str = "both") -> list[str]:
        if where == "subject":
            return self.subject.get(name, [])
        body = self.body.get(name, [])
        if where == "body":
            return body
        subj = self.subject.get(name)
        if not subj:
            return body
        both = self._both.get(name)
        if both is None:
            both = self._both[name] = subj + [w for w in body if w not in subj]
        return both

    def score(self, name: str) -> int:
        return _LEXICON.score(name, self.subject) + _LEXICON.score(name, self.body)


def _rsvp(signals: _Signals, mail: ParsedMail, is_reply: bool) -> Classification | None:
    # A reply's subject is the notice's own ("참석 가능 여부"), so only the new text answers.
    where = "body" if is_reply else "both"
    declines = signals.words("decline", where)
    attends = [] if declines else signals.words("attend", where)
    if not declines and not attends:
        return None
    meeting = signals.words("meeting")
    if not meeting and is_reply:      # "참석합니다" under a quoted meeting notice
        meeting = _LEXICON.scan(mail.quoted_text[:SCAN_CHARS].casefold()).get("meeting", [])
    word = (declines or attends)[0]
    if not meeting and _ATTENDANCE_WORD.search(word) and _answer_only(mail.subject):
        # "참석합니다" under the subject "참석" answers an invitation and names nothing else
        # (under "행사" it answers that event); which meeting, the group step finds (the
        # thread, the subject, or the one open meeting; else a person).
        meeting = [word]
    if not meeting:
        return None
    answer = "decline" if declines else "attend"
    about = "reply about" if is_reply else "mail about"
    return Classification("rsvp", f"{about} a meeting ({meeting[0]}): {word} ({answer})",
                          rsvp=answer)


def _answer_only(subject: str) -> bool:
    subject = subject.casefold()
    prefix = REPLY_PREFIX.match(subject)
    return bool(_ANSWER_ONLY_SUBJECT.match(subject[prefix.end():] if prefix else subject))


# --- self-service: what a question asks for ------------------------------------------------

SELF_SERVICE = ("hours", "receipts", "password", "help")

# Subject commands (Mailman's -request style): the whole subject, any case, no tag needed.
COMMANDS = {
    "내 봉사시간": "hours", "내봉사시간": "hours", "봉사시간": "hours", "봉사 시간": "hours",
    "hours": "hours", "my hours": "hours",
    "영수증": "receipts", "receipt": "receipts", "receipts": "receipts",
    "비밀번호": "password", "password": "password",
    "도움말": "help", "help": "help", "명령어": "help", "commands": "help",
}
_COMMAND_TRIM = re.compile(r"^[\s\[\]【】()（）<>\"'.!?~:-]+|[\s\[\]【】()（）<>\"'.!?~:-]+$")

_HOURS = re.compile(r"봉사\s?시간|volunteer hours|\bmy hours\b|\bhours statement\b|"
                    r"\bhow many (?:volunteer )?hours\b|\bstatement of my\b", re.I)
# Questions about the hours process, not the member's own count: staff answer those.
_HOURS_PROCESS = re.compile(r"언제|등록|입금|반영\s?시기|자원봉사센터|기준|어떤\s?품평|\bwhen\b|"
                            r"\breported\b|\bcentre\b|\bcenter\b", re.I)
_RECEIPTS = re.compile(r"영수증|receipts?\b", re.I)
_RESEND = re.compile(r"다시|재발송|재전송|보내\s?주|받고\s?싶|받을\s?수|받아\s?볼|again|resend|"
                     r"\bsend\b|\bget\b", re.I)
_PASSWORD = re.compile(r"비밀번호|비번|password", re.I)
_PACKAGE = re.compile(r"압축|설치\s?파일|설치파일|\bzip\b|installer|package|패키지|비밀번호\s?메일|"
                      r"비번\s?메일|password mail|the password\b", re.I)
_NOT_PACKAGE = re.compile(r"로그인|재설정|\breset\b|log ?in|지갑\s?비밀번호|앱\s?비밀번호", re.I)


def command_of(subject: str) -> str | None:
    """The self-service command a subject consists of, if any."""
    return COMMANDS.get(" ".join(_COMMAND_TRIM.sub("", subject.casefold()).split()))


def request_of(text: str) -> str | None:
    """Which self-service answer a question asks for (None: a person answers)."""
    if _PASSWORD.search(text) and _PACKAGE.search(text) and (
            not _NOT_PACKAGE.search(text) or re.search(r"압축|\bzip\b|installer", text, re.I)):
        return "password"
    if _RECEIPTS.search(text) and _RESEND.search(text):
        return "receipts"
    if _HOURS.search(text) and not _HOURS_PROCESS.search(text):
        return "hours"
    return command_of(text) if len(text) <= 20 else None


# --- the member's own words --------------------------------------------------------------

# Lines at the very end that are a signature without a "-- " line: company, title, phone.
_SIGNATURE_LINE = re.compile(r"\(주\)|㈜|\btel\b|전화|\b01\d-|\b0\d{1,2}-\d|팀장|대표|이사\b|매니저|"
                             r"\binc\b|\bltd\b|co\.,|www\.|https?://\S+$|\S+@\S+\.\S+|\|", re.I)
# A line that ends as a sentence is the member's, whatever title word it holds ("동대표
# 선거는 아직도 종이로 합니다" names a 대표 and is no signature).
_SENTENCE_LINE = re.compile(r"(?:[요다까죠]|니다|네요)\s*[.!?~^ㅠㅜ…]*\s*$|"
                            r"^(?:\S+\s+){5,}\S+[.!?]\s*$")


_APP_WORDS = re.compile("|".join(f"(?:{p})" for p in APP), re.I)
# "참석을 못 해서 …" gives a cause, "불참하면 …"/"불참 시" a case: neither answers an invitation.
_ATTENDANCE_AS_CAUSE = re.compile(r"참석[^.?!\n]{0,6}?(?:해서|어서|아서|라서|했는데|못해)\s|"
                                  r"(?:참석|불참)\s?(?:시|하면|하지\s?않으면|할\s?경우)(?:\s|$)|"
                                  # a meeting that is over: "지난 회의 불참 죄송합니다"
                                  r"(?:지난|지난번|저번|지난달|지난주|저번\s?달)\s?(?:\d+월\s?)?(?:정례|정기)?\s?(?:회의|모임)[^.?!\n]*|"
                                  r"\blast (?:week'?s |month'?s )?meeting\b[^.?!\n]*|"
                                  # "다음에도 또 갈게요" after a meeting is over promises nothing
                                  r"다음(?:에도|번에도)\s?(?:또\s?)?(?:갈게요|갈께요|올게요|참석할게요|참석할께요)")


def own_words(mail: ParsedMail) -> tuple[str, str]:
    """The subject the member wrote ("" for a reply, tags dropped) and the head of their own
    text: what both readings of intent look at. The training script uses it too."""
    subject = mail.subject.casefold()
    prefix = REPLY_PREFIX.match(subject)
    if prefix or mail.in_reply_to:
        return "", _head(member_words(mail))
    return TAG.sub(" ", subject).strip(), _head(member_words(mail))


def member_words(mail: ParsedMail) -> str:
    """The member's own new text, casefolded, with a trailing signature block dropped."""
    text = casefolded(mail.new_text[:SCAN_CHARS])
    lines = text.rstrip().split("\n")
    while (len(lines) > 1 and len(lines[-1]) <= 80 and _SIGNATURE_LINE.search(lines[-1])
           and not _SENTENCE_LINE.search(lines[-1])):
        lines.pop()
    return "\n".join(lines)


# --- the decision --------------------------------------------------------------------------

def _lexicon_words(kind: str, own_subject: str, text: str) -> str:
    """'body mentions 로그인이 안, 에러 (review words)': the topic words behind a credit kind."""
    signals = _Signals(own_subject, text)
    hits = signals.words(kind)
    if not hits:
        return ""
    in_subject, in_body = signals.words(kind, "subject"), signals.words(kind, "body")
    where = ("subject and body mention" if in_subject and in_body
             else "subject mentions" if in_subject else "body mentions")
    strongest = sorted(hits, key=_LEXICON.lists[kind].__getitem__, reverse=True)
    return f"; {where} {_list(strongest)} ({kind} words)"


def _question(intents: Intents, text: str, why: str) -> Classification:
    request = request_of(text)
    asked = intents.named("question")
    reason = f"{why}" + (f" ({asked})" if asked else "")
    if request:
        reason += f"; self-service: {request}"
    return Classification("question", reason, request=request)


def _credit_kind(intents: Intents, own_subject: str, text: str) -> Classification:
    f, i = intents.feedback_weight, intents.idea
    if f and i and not (f >= 2 * i or i >= 2 * f):
        return Classification("triage", "both review and proposal wording: feedback "
                              f"({intents.named('feedback')}) and an idea "
                              f"({intents.named('idea')}) carry equal weight")
    if (f >= i and intents.feedback and intents.weak_feedback == intents.feedback
            and intents.thanks >= intents.feedback):
        # A thank-you mail whose only report is a weak sign ("…하니 …요", "…없네요"), with
        # no symptom and no wish: too little for an hour; a person decides.
        return Classification("triage", "thanks with only weak signs of a report "
                              f"({intents.named('feedback')}; {intents.named('thanks')})")
    if f >= i:
        kind, why = "review", f"feedback on the service ({intents.named('feedback')})"
    else:
        kind, why = "proposal", f"an idea for the city ({intents.named('idea')})"
    return Classification(kind, why + _lexicon_words(kind, own_subject, text))


def _by_intent(intents: Intents, own_subject: str, text: str,
               subject: Intents | None) -> Classification:
    if intents.retract and not intents.idea:
        # "알고 보니 제 폰 설정 문제였네요. 앞의 메일은 없던 걸로 해주세요": what it tells is
        # the earlier mail's, taken back.
        return Classification("other", f"takes back an earlier mail ({intents.named('thanks')})")
    if intents.content == 0:
        if intents.question:
            return _question(intents, own_subject + "\n" + text, "asks a question")
        if intents.thanks:
            return Classification("other", "thanks or acknowledgement, nothing asked or "
                                           f"reported ({intents.named('thanks')})")
        if subject is not None and subject.question and not subject.content:
            return _question(subject, own_subject + "\n" + text, "subject asks a question")
        if subject is not None and subject.content:
            # "오타" / "앱이 꺼져요" as the subject over a body that only shows it.
            verdict = _credit_kind(subject, own_subject, text)
            return Classification(verdict.kind, "subject: " + verdict.reason)
        if len(text) <= CHATTER_MAX_CHARS and not _APP_WORDS.search(own_subject + "\n" + text):
            # Nothing asked, nothing reported, nothing about the service: chatter.
            return Classification("other", "nothing asked or reported and no word about the "
                                           "service (chatter)")
        return Classification("triage", "no feedback, idea, question or thanks found in the "
                                        "member's words")
    if intents.question and not intents.service_content:
        # "제안을 보냈는데 답장이 없어요. 잘 들어간 건가요?": nothing in it reports on the
        # service or proposes anything, so no credit can rest on it.
        return _question(intents, own_subject + "\n" + text,
                         "asks a question; no report naming the service, no idea")
    if not intents.idea and not intents.names_service and not _APP_WORDS.search(own_subject):
        # "요즘 너무 추워졌네요": a complaint, but about nothing of the service.
        if intents.thanks and not intents.question:
            return Classification("other", "chatter: no part of the service named "
                                           f"({intents.named('thanks')})")
        return Classification("triage", "describes a problem but names no part of the "
                                        f"service ({intents.named('feedback')})")
    if intents.info_question and intents.info_question >= intents.content - intents.not_knowing:
        # "어떻게 여나요? … 없다고 나와요": the member wants to be told; the rest is context
        # (and "찾아도 모르겠어요" beside the question is part of the asking).
        return _question(intents, own_subject + "\n" + text,
                         f"asks to be told ({intents.info_question} question(s) vs "
                         f"{intents.content} report sentence(s))")
    words = own_subject + "\n" + text
    normal = intents.question and _IS_IT_NORMAL.search(words)
    if normal and not _CLEAR_FAULT.search(_FAULT_DENIED.sub(" ", words)):
        # "기록 탭에는 10분 있다가 올라오더라구요. 원래 그런 건가요?": what the member saw,
        # asked about, with no plain fault named (an error, a crash, a negation, twice):
        # they want to be told whether it is right. ("두 번 떠요. 원래 이런 건가요?" reports.)
        return _question(intents, words, f"asks whether what they saw is normal "
                                         f"({normal.group()}) and names no plain fault")
    return _credit_kind(intents, own_subject, text)


_THANKS_WORD = re.compile(r"감사|고맙|고마워|\bthank")
# Praise tells what worked ("QR을 찍으면 포스에 바로 금액이 떠서 … 감사드립니다"); a review
# tells what did not, or what should change. A review credit beside praise needs a word of
# either kind. Faults denied ("헷갈릴 일이 없네요", "no issues") are not faults.
_PRAISED = re.compile(r"감사(?:합니다|드립니다|드려요|드리|해요|하고|했|\s?인사)|고맙|고마워|잘\s?만드|잘\s?쓰고|최고|훌륭|대단|편하|편리|"
                      r"좋네요|좋아요|좋았|좋더라|좋습니다|만족|신기|놀랍|격세지감|\bthanks?\b|"
                      r"\bnice\b|\bgreat\b|\blove\b|\bawesome\b|\bkudos\b|\bwell done\b|"
                      r"\bimpress|\bsmooth|\bamazing\b|\bexcellent\b")
_FAULT_DENIED = re.compile(
    r"(?:문제|오류|에러|불편|걱정|헷갈릴?|막힘|어려움|어려울|기다릴|실수|고장)\s?(?:할\s?|한\s?|하는\s?|될\s?)?"
    r"(?:일|점|것|거|게|데|곳)?(?:이|도|은|는|가)?\s?(?:하나\s?)?(?:없|전혀\s?없)|"
    # ("no error code" in a report says what the error lacked)
    r"\bno (?:issues?|problems?|errors?|bugs?|complaints?|hiccups?)\b(?!\s(?:code|message|text|id))|"
    r"\bwithout (?:any |a )?(?:issues?|problems?|errors?|a hitch|hiccups?)\b|"
    r"\bnever (?:failed|crashed|broke|had (?:an? )?(?:issue|problem))|"
    # "수수료 없이" (without), "버튼이 세 개밖에 없어서" (only), "1분도 안 걸렸어요" (quick),
    # "동사무소 안 가도 되니" (no need)
    r"없이|밖에\s?없|(?:분|초|시간|일)도\s?안\s?(?:걸|돼|되)|안\s?(?:가|해|와|써|기다려)도\s?(?:되|돼)|"
    r"\bzero (?:issues?|problems?|errors?|bugs?|complaints?|hiccups?)\b|"
    r"\b(?:zero|no|not a single|not one) (?:failed|failures?|declined|dropped|crash\w*|errors?)\b(?: \w+)?|"
    # a fault fixed: "1.2.4 fixes it", "no crash", "다시 깔았더니 로그인 잘 됩니다"
    r"\b(?:fixes|fixed) it\b|\bworks now\b")
_IS_IT_NORMAL = re.compile(r"정상인가|정상인지|정상이(?:에요|죠)\s*[?？]|정상이면|원래\s?(?:이렇|그렇|이런|그런)|"
                           r"원래\s[^.?!]{0,24}?(?:건가요|나요|는지|건지|인가요)|"
                           r"\bis (?:this|that|it) (?:normal|expected)\b|\bor is (?:that|this|it) normal\b|"
                           r"\bexpected behaviou?r\b")
# The plainest fault words: a negation, an error, a crash, slowness, twice.
_CLEAR_FAULT = re.compile(
    r"(?<![가-힣])안\s[가-힣]|안(?:돼|되|됨|됩|떠|뜨|열|눌|먹|맞|들어|넘어|읽|켜|바뀌|찍)|(?<!잘)못\s?(?:하|해|했|받|찾|들어|쓰|써|봤|읽|눌)|"
    r"않|오류|에러|버그|느려|느리|꺼져|꺼지|꺼짐|꺼졌|튕|멈춰|멈추|멈춤|멈췄|먹통|실패|깨져|깨지|중복|사라졌|사라져|"
    r"두\s?번\s?(?:떠|뜨|나와|나오|찍|들어|결제|빠져|와|옴)|빠져\s?나(?:감|갔)|"
    r"\b(?:not|never|can'?t|cannot|couldn'?t|won'?t|doesn'?t|didn'?t|isn'?t|wasn'?t|error|errors|bugs?|"
    r"crash\w*|fail\w*|freez\w*|frozen|broken|wrong|stuck|loop\w*|twice|bug)\b")
# Any fault or wish: the plain fault words, and slowness, confusion, repetition, absence,
# a request or a wish.
_FAULT_OR_WISH = re.compile(_CLEAR_FAULT.pattern + "|" + (
    r"안(?:나|보|와|왔|꺼|변)|한참|오래\s?걸|기다려야|기다렸|계속\s?(?:떠|나와|나오|돌|뜨|로딩|같은|처음)|자꾸|"
    r"반복|무한|하얗게|까맣게|빈\s?화면|로딩|버벅|렉|끊겨|끊기|끊김|못\s?가|"
    r"없|느림|늦|지연|불편|이상해|이상하|이상한|이상합|헷갈|어렵|어려워|어려웠|힘들|힘듭|힘드|답답|짜증|"
    r"잘못|틀려|틀리|틀린|깨짐|두\s?번|사라|아쉽|아쉬|근데|그런데|하지만|그러나|다만|그대로|"
    r"개선|바라|바랍|부탁|좋겠|좋을|주세요|주시면|주셨으면|했으면|었으면|면\s?좋|필요|걱정|문제|고장|"
    r"\b(?:no|aren'?t|slow\w*|confus\w*|hard to|difficult|annoying|missing|please|"
    r"wish|should|would be (?:nice|great|better|good)|could you|hope|instead|but|however|though|except|"
    r"issues?|problems?|keeps?|kept|again|endless\w*|hang\w*|blank|glitch\w*|"
    r"weird|strange|odd|lag\w*|tim(?:e|ed) ?out|twice|double\w*|duplicat\w*|garbled|unreadable|empty|"
    r"(?:http |status )[45]\d\d|(?<![\d,.])[45]\d\d(?![\d,.])|"
    r"goes (?:straight )?back|back to the|it'?d be|small thing|"
    r"only (?:offers?|shows?|lets?|has|have|supports?|works?))\b"))
# What an idea looks forward with: a condition, a wish, a proposing word.
_IDEA_AHEAD = re.compile(r"제안|건의|아이디어|어떨|어때|좋겠|좋을|했으면|었으면|바랍|바라|부탁|필요|"
                         r"[가-힣]면\s|[가-힣]면서도|수\s?있도록|수\s?있게|해\s?주|\bpropos|\bsuggest|\bidea|"
                         r"\bwhat if\b|\bhow about\b|\bshould\b|\bcould\b|\bwould\b|\bwish\b|"
                         r"\bplease\b|\bpilot\b|\bmaybe\b|\bif\b")
_ATTEND_SAID = re.compile(r"참석|갑니다|가겠|갈게|갈께|뵙겠|뵐게|뵈어요|\b(?:attend|come|join|be there)\b")
_DECLINE_SAID = re.compile(r"불참|못\s?(?:가|갈|갑|참석)|어렵|힘들|불가|\b(?:can't|cannot|unable|won't|not be able|miss)\b")


# A strong learned reading: log-odds over the runner-up at least this. Only a strong reading
# decides where the forms found nothing of its kind (a credit where no sentence of any kind
# was read, a question where none asks, a goodbye read as thanks). Log-odds add up over the
# words, so a short note stays under it. It is no proof on its own: on the corpus read by
# models counted without each split (benchmarks/classify_eval.py --cross) the short
# questions and notes it held back were under 45, but detailed praise of an app reached
# 90-150 like real reports; what keeps praise from an hour is that the forms read it as
# thanks, and a credit on the reading alone needs no thanks and no question in the mail.
STRONG_READING = 60.0
# A credit beside a sentence that asks or thanks needs the learned reading to lean towards a
# credit kind by at least this much (log-odds of the likelier credit kind over the likeliest
# other kind). On the corpus read by models counted without each split (--cross), no right
# credit leaned less than 10; on the first looks of fresh mail three wrong credits did (4.1,
# 6.4, 6.8: hearsay beside praise, asking leave to use a service, asking whether a screen is
# phishing), each beside thanks or a question.
CREDIT_LEAN = 10.0


def _context(mail: ParsedMail) -> str:
    return f"{mail.subject}\n{mail.quoted_text[:SCAN_CHARS]}"


def _weigh(rule: Classification, intents: Intents, own_subject: str, text: str,
           context: str) -> Classification:
    """The sentence forms' answer (``rule``) weighed against the learned reading of the same
    words. ``context`` is the subject and the quoted mail, where a meeting answer's meeting
    is named ("Re: [안내] 11월 정례회의" over "넵 참석")."""
    reading = intent_model.model().read(own_subject, text)
    learned, strong = reading.kind, reading.margin >= STRONG_READING
    if learned == rule.kind:
        asks = intents.question > intents.wish_question     # not only "could it be raised?"
        if (learned in CREDITABLE_KINDS and reading.lead(CREDITABLE_KINDS) < CREDIT_LEAN
                and (asks or intents.thanks)):
            # Both readings see a credit, but the learned one only just, and a sentence asks
            # or thanks: a person decides.
            return Classification("triage", f"{rule.reason}; {reading.says}, leaning to an "
                                            f"hour by less than {CREDIT_LEAN:.0f} beside a "
                                            f"sentence that {'asks' if asks else 'thanks'}: a "
                                            f"person decides", request=rule.request)
        return Classification(rule.kind, f"{rule.reason}; {reading.says}", rsvp=rule.rsvp,
                              request=rule.request)
    readings = f"{reading.says}; the forms read {rule.kind} ({rule.reason})"

    if learned in CREDITABLE_KINDS and rule.kind not in CREDITABLE_KINDS:
        only_weak_beside_thanks = (intents.thanks and not intents.idea
                                   and intents.feedback == intents.weak_feedback)
        if only_weak_beside_thanks or (
                not intents.content and (intents.question or intents.thanks or not strong)):
            # Learned words alone earn an hour only where the forms read nothing at all
            # (a report in a form they do not know) and the reading is strong; a mail whose
            # sentences ask or thank, and report or propose nothing (or only weak signs
            # beside thanks: "…바로 와서 깜짝 놀랐어요. 감사합니다!"), earns none.
            kind = rule.kind if rule.kind in ("question", "other") else "triage"
            return Classification(kind, f"{rule.reason}; {reading.says}, but no sentence "
                                        f"reports or proposes anything", request=rule.request)
        if rule.kind == "question":
            # Someone asks to be told: they get an answer, and staff see the learned reading.
            return Classification("question", f"{rule.reason}; {reading.says}",
                                  request=rule.request)
        report_and_idea = intents.feedback_weight > 0 and intents.idea > 0
        if rule.kind == "other" or (rule.kind == "triage" and not strong
                                    and not report_and_idea):
            # The forms read thanks or chatter, or could not tell, and the learned reading
            # is not sure: no hour without a person. (A report beside an idea earns its hour
            # either way; the learned reading only picks which kind.)
            return Classification("triage", f"{readings}: a person decides")
        return Classification(learned, readings + _lexicon_words(learned, own_subject, text))

    if (rule.kind in CREDITABLE_KINDS and learned == "other" and not strong
            and intents.app_feedback > intents.weak_app_feedback):
        # An hour needs both readings to see a report or an idea. A report naming the service
        # beside a thank-you ("송금 버튼이 안 눌려요. 그래도 늘 감사합니다!") is not undone by a
        # thank-you unless the learned reading is sure, but it waits for a person: detailed
        # praise reads like a report to the forms ("3초도 안돼서 결제 완료 뜨고"), and on the
        # first looks of fresh mail no right credit came this way, only wrong ones.
        return Classification("triage", f"{readings}: an hour needs both readings; a person "
                                        f"decides")
    if rule.kind == "question":
        if learned == "other" and (rule.request or intents.info_question):
            # It asks to be told something; an unanswered question is worse than a thank-you
            # answered. ("뉴스 봤어요??" asks nothing: the learned reading is followed.)
            return Classification("question", f"{rule.reason}; {reading.says}, but a "
                                              f"sentence asks", request=rule.request)
        if learned == "rsvp" and intents.question:
            # "회의 불참 시 불이익이 있나요?" asks about the meeting; it answers no invitation.
            return _question(intents, own_subject + "\n" + text,
                             f"{rule.reason}; {reading.says}, but a sentence asks")
    if rule.kind == "other" and not strong:
        if learned == "question" and not intents.question:
            # No sentence asks anything ("Thank you, the certificate arrived."): nothing to
            # answer.
            return Classification("other", f"{rule.reason}; {reading.says}, but no sentence "
                                           f"asks")
        if learned == "resignation":
            # The forms read thanks or chatter and found no goodbye, and the learned reading
            # is not sure: a person reads it, so that neither a leaving member nor a
            # friendly note is mistaken.
            return Classification("triage", f"{readings}: a person decides")

    if learned == "question":
        return _question(intents, own_subject + "\n" + text, readings)
    if learned == "rsvp":
        answer_text = _ATTENDANCE_AS_CAUSE.sub(" ", text)    # not a cause, not a past meeting
        said = _DECLINE_SAID.search(answer_text) or _ATTEND_SAID.search(answer_text)
        meeting = _LEXICON.scan(f"{text}\n{context[:SCAN_CHARS].casefold()}")
        if said is None or not meeting.get("meeting"):
            missing = "no meeting is named" if said else "neither attending nor declining is said"
            return Classification("triage", f"{reading.says}, but {missing}; the forms read "
                                            f"{rule.kind} ({rule.reason})")
        answer = "decline" if said.re is _DECLINE_SAID else "attend"
        return Classification("rsvp", f"{reading.says}: {said.group()} ({answer}); the forms "
                                      f"read {rule.kind} ({rule.reason})", rsvp=answer)
    return Classification(learned, readings)


def classify(mail: ParsedMail) -> Classification:
    """Decide the kind of one parsed mail, with a short reason naming the signals."""
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
    tags = subject_tags(topic)
    if is_reply and tags:
        first = TAG.match(topic.lstrip())
        if first is None or tag_kind(first.group(1)) is None:
            # "Re: [안내] … ([품평]/[제안] 말머리 안내)": the tags are in a notice's subject,
            # not the member's; "Re: [제안] 기부금" answers a mail the member tagged.
            tags = []
    tag_kinds = {kind for _, kind in tags}
    tag_names = ", ".join(f"[{t}]" for t, _ in tags)
    # A reply's subject is the earlier mail's (a notice, our own answer): not the member's.
    own_subject, text = own_words(mail)

    if "resignation" in tag_kinds:
        return Classification("resignation", f"subject tag {tag_names}")

    intents = read_intents(text)
    # The subject is read once, and only where it can decide (no tag in it).
    subject_intents = read_intents(own_subject) if own_subject and not tag_kinds else None
    command = None if is_reply or tags else command_of(topic)

    if not tag_kinds:
        leave = intents.leave or (subject_intents is not None and subject_intents.leave)
        if leave:
            said = intents.named("leave") or subject_intents.named("leave")
            if intents.app_feedback or intents.idea:
                # "로그인 오류가 계속되고 불편합니다. 해촉 절차도 알려주세요": the complaints may
                # be why they leave; if the learned reading also sees a goodbye, it is one.
                reading = intent_model.model().read(own_subject, text)
                if reading.kind == "resignation":
                    return Classification("resignation", f"asks to leave: {said}; the "
                                                         f"complaints beside it are the why "
                                                         f"({reading.says})")
                if not intents.idea and ends_asking_to_leave(text):
                    return Classification("resignation", f"asks to leave: {said}, in its last "
                                                         f"words; the complaints before it are "
                                                         f"the why ({reading.says})")
                review = intents.app_feedback >= intents.idea
                cues = intents.named("feedback" if review else "idea")
                return Classification("triage", f"resignation wording ({said}) mixed with "
                                                f"{'review' if review else 'proposal'} "
                                                f"wording ({cues}); {reading.says}")
            return Classification("resignation", f"asks to leave: {said}")
        if command and not intents.content:
            return Classification("question", f"subject command {topic.strip()!r}",
                                  request=command)
        rsvp = None
        if _DECLINE_OR_ATTEND.first(topic) or _DECLINE_OR_ATTEND.first(text):
            # "참석을 못 해서 내용이 궁금합니다" gives a cause, not an answer to the invitation.
            signals = _Signals(_ATTENDANCE_AS_CAUSE.sub(" ", topic),
                               _ATTENDANCE_AS_CAUSE.sub(" ", statements(text)))
            rsvp = _rsvp(signals, mail, is_reply)
        if rsvp:
            if intents.content >= 2 and len(text) > RSVP_MAX_CHARS:
                competing = _credit_kind(intents, own_subject, text)
                return Classification("triage", f"meeting answer mixed with {competing.kind}: "
                                                f"{rsvp.reason}; {competing.reason}")
            return rsvp

    bare = _BARE_ANSWER.fullmatch(text.strip())
    if bare and not tag_kinds:
        # "참석" alone under "Re: [안내] 11월 정기회의": the whole answer in one word.
        meeting = _LEXICON.scan(f"{topic}\n{mail.quoted_text[:SCAN_CHARS].casefold()}").get("meeting")
        if meeting:
            answer = "decline" if bare.group(1) == "불참" else "attend"
            return Classification("rsvp", f"one-word answer ({bare.group(1)}) about a meeting "
                                          f"({meeting[0]})", rsvp=answer)
    if not _ENOUGH_TEXT.match(text):
        body_command = None if tags else command_of(text)
        if body_command:
            return Classification("question", f"command {text.strip()!r} in the body",
                                  request=body_command)
        short = read_intents(text + "\n" + casefolded(mail.signature[:200]))
        if short.thanks and not short.question:
            # "넵 참석" under a meeting notice is an answer, not a nod: the learned reading
            # tells them apart (it gives no hour to so few words).
            return _weigh(Classification("other", f"thanks or acknowledgement only "
                                                  f"({short.named('thanks')})"),
                          short, own_subject, text, _context(mail))
        if short.question and not tag_kinds:
            return _question(short, own_subject + "\n" + text, "asks a question")
        return Classification("triage", "body is empty" + (" (only quoted text)"
                                                          if mail.quoted_text else ""))
    if len(tag_kinds) > 1:
        return Classification("triage", f"subject has conflicting tags {tag_names}")
    if (tags and is_reply and not (intents.idea or intents.feedback > intents.weak_feedback)
            and _THANKS_WORD.search(text)):
        # "RE: [품평] QR체크인 카메라 오류" over "답장 주셔서 감사합니다": the tag was on the
        # earlier mail; this one reports nothing, so the words decide.
        tags = []
    if tags:
        kind = tags[0][1]
        if not intents.content and intents.question:
            return _question(intents, own_subject + "\n" + text,
                             f"subject tag [{tags[0][0]}] but the mail only asks")
        return Classification(kind, f"subject tag [{tags[0][0]}]")
    return _praise_without_fault(
        _weigh(_by_intent(intents, own_subject, text, subject_intents), intents,
               own_subject, text, _context(mail)), intents, own_subject, text)


def _praise_without_fault(result: Classification, intents: Intents, own_subject: str,
                          text: str) -> Classification:
    """A credit for a mail that praises and names no fault and no wish (and, for an idea,
    looks forward with no condition or proposing word) is no credit: it tells what worked.
    The learned reading decides between a thank-you and a person."""
    if result.kind not in CREDITABLE_KINDS:
        return result
    words = own_subject + "\n" + text
    praised = _PRAISED.search(words)
    if not praised or _FAULT_OR_WISH.search(_FAULT_DENIED.sub(" ", words)) or (
            result.kind == "proposal" and _IDEA_AHEAD.search(words)):
        return result
    reading = intent_model.model().read(own_subject, text)
    kind = "other" if reading.kind == "other" else "triage"
    return Classification(kind, f"praise ({praised.group()}) with no fault and no wish named; "
                                f"{reading.says}; read as {result.kind} before "
                                f"({result.reason})")
