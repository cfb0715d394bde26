"""Words of mail that more than one stage reads: the kinds a mail can be, subject tags and
reply prefixes.

Ingest reads a member's tag to classify the mail, outbound strips it when it quotes the
subject in a reply, the group's meeting answers and applications look past "Re:". One
definition here, so the stages cannot drift apart (dispositions and the rest of the
database vocabulary are in ``mailworker.models``, which the analysis process must not load).
"""
from __future__ import annotations

import re

# question: a member asks something (never credited); other: thanks, acknowledgement,
# chatter (never credited, no staff triage; counted in the digest).
KINDS = ("review", "proposal", "question", "other", "resignation", "rsvp", "auto_reply",
         "bounce", "triage")
CREDITABLE_KINDS = ("review", "proposal")

# Subject tags, written [tag] 【tag】 or (tag); matched case-insensitively, blanks inside
# ignored ("[기능 개선]" is "[기능개선]").
SUBJECT_TAGS = {
    "품평": "review", "기능개선": "review", "개선요청": "review", "버그": "review",
    "review": "review", "bug": "review",
    "제안": "proposal", "정책제안": "proposal", "proposal": "proposal", "idea": "proposal",
    "해촉": "resignation", "해촉요청": "resignation", "resign": "resignation",
    "resignation": "resignation",
}
_TAG_KINDS = {k.casefold(): v for k, v in SUBJECT_TAGS.items()}

# One bracketed tag; group 1 is its text.
TAG = re.compile(r"[\[【(（]\s*([^\]】)）]{1,20}?)\s*[\]】)）]")

# What mail programs put before a subject they answer or forward (Outlook in Korean
# writes 회신/전달; some write a count, "Re[2]:"; a full-width colon happens too).
REPLY_WORDS = ("re", "fw", "fwd", "aw", "sv", "회신", "답장", "전달", "답변")
REPLY_PREFIX = re.compile(r"^\s*((?:" + "|".join(REPLY_WORDS) + r")\s*(?:\[\d+\])?\s*[:：]\s*)+",
                          re.IGNORECASE)


def tag_kind(text: str) -> str | None:
    """The kind a tag's text names ('품평' -> 'review'), or None."""
    key = text.casefold()
    return _TAG_KINDS.get(key) or _TAG_KINDS.get("".join(key.split()))


def subject_tags(subject: str) -> list[tuple[str, str]]:
    """(tag as written, kind) of every known tag in the subject, in order, once each."""
    found: list[tuple[str, str]] = []
    for m in TAG.finditer(subject):
        tag = " ".join(m.group(1).split())
        kind = tag_kind(tag)
        if kind and (tag, kind) not in found:
            found.append((tag, kind))
    return found


def without_reply_prefix(subject: str) -> str:
    """The subject without any leading "Re:"/"회신:"/"Fwd:" (however many)."""
    return REPLY_PREFIX.sub("", subject, count=1)
