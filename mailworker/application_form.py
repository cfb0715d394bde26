"""Reading an application (지원서) from a mail: does it apply, and with what name and category.

Pure text rules over the subject and the text (no database), shared by ingest (which
decides that a stranger's mail is an application) and the group (which reads the name
and category from the recorded subject and excerpt). A mail applies when its subject
carries a tag such as ``[지원]``/``[신청]``/``[apply]``, or its text holds a form: a name
line and a category line (``이름: 홍길동`` / ``분야: 대학생``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(r"[\[【(（]\s*(지원|신청|단원\s*지원|단원\s*신청|지원서|apply|application)"
                  r"\s*[\]】)）]"
                  # without brackets only unambiguous words: a bare 지원 is also "support"
                  r"|단원\s*(?:지원|신청)|지원서|\b(?:apply|application)\b", re.IGNORECASE)
_LABELS = r"이름|성명|name|분야|구분|지원\s*분야|category|연락처|전화|phone|소속|이메일|e-?mail"
# A value runs to the next label (after a space: "오지원 분야:" is the name 오지원) or the
# line's end; the excerpt joins the lines with spaces.
_VALUE_END = rf"(?=\s+(?:{_LABELS})\s*[:：]|\s*$)"
_NAME = re.compile(rf"(?:^|\s)(?:이름|성명|name)\s*[:：][ \t]*(\S.*?){_VALUE_END}",
                   re.IGNORECASE | re.MULTILINE)
_CATEGORY = re.compile(rf"(?:^|\s)(?:지원\s*분야|분야|구분|category)\s*[:：][ \t]*(\S.*?)"
                       rf"{_VALUE_END}", re.IGNORECASE | re.MULTILINE)

# Words naming a category (longest first where one contains another).
CATEGORY_WORDS = (
    ("블록체인 개발자", "developer"), ("블록체인 기업인", "business"), ("일반시민", "citizen"),
    ("일반 시민", "citizen"), ("대학생", "student"), ("학생", "student"), ("개발자", "developer"),
    ("기업인", "business"), ("기업", "business"), ("시민", "citizen"),
    ("student", "student"), ("citizen", "citizen"), ("developer", "developer"),
    ("business", "business"),
)


@dataclass(frozen=True)
class ApplicationForm:
    signal: str                 # why this reads as an application ('' when it does not)
    # name and category are read even without a signal: an applicant's later mail may
    # bring only the missing line
    name: str = ""
    category: str | None = None

    @property
    def applies(self) -> bool:
        return bool(self.signal)


def category_of(text: str) -> str | None:
    folded = text.casefold()
    for word, category in CATEGORY_WORDS:
        if word in folded:
            return category
    return None


def read_application(subject: str, text: str) -> ApplicationForm:
    tag = _TAG.search(subject or "")
    text = text or ""
    has_lines = ":" in text or "：" in text     # cheap: most mail has no form at all
    name_m = _NAME.search(text) if has_lines else None
    cat_m = _CATEGORY.search(text) if has_lines else None
    if tag:
        signal = f"subject tag {tag.group(0)}"
    elif name_m and cat_m:
        signal = "application form in the text"
    else:
        signal = ""     # not an application by itself; its lines may still complete one
    name = name_m.group(1).strip()[:100] if name_m else ""
    category = category_of(cat_m.group(1)) if cat_m else None
    if category is None and tag:
        # "[지원] 대학생 홍길동": the category may stand in the subject itself
        category = category_of(subject[tag.end():])
    return ApplicationForm(signal, name, category)
