"""Mail templates (jinja2): one file per mail and language, ``templates/<lang>/<name>.j2``.

Each template defines three blocks: ``subject``, ``text`` (the text/plain part) and
``html`` (the body of the HTML part, placed into ``<lang>/_layout.j2``). The same file is
compiled twice: without escaping for the subject and text, with HTML escaping for the
HTML part, so a member's ``<`` never breaks either. ``StrictUndefined`` turns a missing
value into an error (a failed outbox row naming the value), never a blank in a mail.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import jinja2

from ..errors import MailworkerError
from ..models import CATEGORY_KO
from ..vocabulary import TAG, tag_kind, without_reply_prefix

# Every mail mailworker can send. Each must exist in every language (a test checks).
TEMPLATE_NAMES = ("ack", "no_credit", "triage_notice", "non_member_reply", "resignation_ack",
                  "rsvp_ack", "too_large", "trial_notice", "meeting_notice", "package",
                  "package_password", "digest", "staff_action_done", "staff_action_refused",
                  "meeting_reminder", "announcement",
                  # the group's life cycle (mailworker.group)
                  "application_received", "application_incomplete", "recruitment_closed",
                  "appointment", "resignation_confirmed", "vacancy_offer", "term_end_notice",
                  "final_statement", "recruitment_call",
                  # members answered by mail (issue 11)
                  "question_received", "hours_statement", "receipts_again", "help",
                  "triage_reply")
# The ones staff send with `mailworker notice send`; the rest are sent by the stages.
NOTICE_TEMPLATES = ("trial_notice", "meeting_notice", "recruitment_call")
# The --var values each notice uses: (required, optional). A test checks them against the
# templates; `notice send --help` lists them.
NOTICE_VARIABLES = {
    "trial_notice": (("service_name", "period"), ("details",)),
    "meeting_notice": (("meeting_date", "place"), ("agenda", "reply_by")),
    "recruitment_call": (("last_day", "seats"), ("details",)),
}
LANGUAGES = ("ko", "en")

LABELS = {
    "ko": {"kind": {"review": "품평", "proposal": "제안", "resignation": "해촉 요청",
                    "rsvp": "참석 회신", "triage": "분류 대기", "auto_reply": "자동 회신",
                    "bounce": "반송", "application": "단원 지원", "question": "문의",
                    "other": "인사·확인"},
           "category": dict(CATEGORY_KO),
           "answer": {"attend": "참석", "decline": "불참"},
           "weekday": ("월", "화", "수", "목", "금", "토", "일")},
    "en": {"kind": {"review": "review", "proposal": "proposal", "resignation": "resignation",
                    "rsvp": "meeting reply", "triage": "unclassified", "auto_reply": "auto-reply",
                    "bounce": "bounce", "application": "application", "question": "question",
                    "other": "thanks/other"},
           "category": {"student": "university student", "citizen": "citizen",
                        "developer": "blockchain developer", "business": "blockchain business"},
           "answer": {"attend": "attend", "decline": "not attend"},
           "weekday": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")},
}


class TemplateError(MailworkerError):
    """A template is missing, broken, or needs a value the mail's context lacks."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def default_templates_dir() -> Path:
    """The checkout's ``templates/``; an installed copy lives under share/mailworker/."""
    candidates = [Path(__file__).resolve().parents[2] / "templates",
                  Path(sys.prefix) / "share" / "mailworker" / "templates"]
    for candidate in candidates:
        if (candidate / "ko" / "_layout.j2").is_file():
            return candidate
    return candidates[0]


def templates_dir(cfg) -> Path:
    configured = cfg.outgoing.templates_dir
    return Path(configured) if configured else default_templates_dir()


# A reply's subject quotes the member's subject without the member's own tag or "Re:"
# ("[품평 접수 완료] [품평] 지갑 오류" says 품평 twice).
_QUOTED_AWAY = ("review", "proposal")


def untagged(subject: str) -> str:
    """The subject without leading reply prefixes and review/proposal tags; unchanged if
    nothing else would be left."""
    rest = subject
    while True:
        shorter = without_reply_prefix(rest).lstrip()
        tag = TAG.match(shorter)
        if tag and tag_kind(" ".join(tag.group(1).split())) in _QUOTED_AWAY:
            shorter = shorter[tag.end():].lstrip()
        if shorter == rest:
            break
        rest = shorter
    return rest if rest.strip() else subject


def _paragraphs(text: str):
    """Plain text (e.g. a member's excerpt) as escaped HTML with line breaks kept."""
    escaped = jinja2.utils.markupsafe.escape(text)
    return jinja2.utils.markupsafe.Markup("<br>\n".join(escaped.split("\n")))


_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]]")


def _announcement_html(text: str):
    """Staff's plain text as HTML paragraphs (blank lines) with line breaks and live links."""
    escape = jinja2.utils.markupsafe.escape
    paragraphs = [p.strip("\n") for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n"))]
    out = []
    for paragraph in paragraphs:
        if not paragraph.strip():
            continue
        lines = []
        for line in paragraph.split("\n"):
            pieces, last = [], 0
            for m in _URL.finditer(line):
                url = m.group()
                pieces.append(str(escape(line[last:m.start()])))
                pieces.append(f'<a href="{escape(url)}">{escape(url)}</a>')
                last = m.end()
            pieces.append(str(escape(line[last:])))
            lines.append("".join(pieces))
        out.append("<p>" + "<br>\n".join(lines) + "</p>")
    return jinja2.utils.markupsafe.Markup("\n".join(out))


class Renderer:
    def __init__(self, cfg, directory: Path | None = None):
        self.directory = directory or templates_dir(cfg)
        if not (self.directory / "ko" / "_layout.j2").is_file():
            raise TemplateError(f"{self.directory}: no mail templates here (expected "
                                "ko/_layout.j2); set [outgoing] templates_dir to the "
                                "templates/ folder of mailworker")
        self.base = {"group_name": cfg.general.group_name,
                     "from_name": cfg.outgoing.from_name,
                     "from_address": cfg.outgoing.from_address}
        loader = jinja2.FileSystemLoader(str(self.directory))
        common = dict(loader=loader, undefined=jinja2.StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
        self.text_env = jinja2.Environment(autoescape=False, **common)
        self.html_env = jinja2.Environment(autoescape=True, **common)
        self.html_env.filters["paragraphs"] = _paragraphs
        self.text_env.filters["paragraphs"] = lambda text: text
        self.html_env.filters["announcement_html"] = _announcement_html
        self.text_env.filters["announcement_html"] = lambda text: text
        for env in (self.text_env, self.html_env):
            env.filters["untagged"] = untagged

    def render(self, name: str, context: dict) -> Rendered:
        language = context.get("language", "ko")
        if language not in LANGUAGES:
            raise TemplateError(f"template {name}: unknown language {language!r}")
        path = f"{language}/{name}.j2"
        values = {**self.base, "L": LABELS[language], **context}
        try:
            text_tmpl = self.text_env.get_template(path)
            html_tmpl = self.html_env.get_template(path)
            missing = {"subject", "text", "html"} - set(text_tmpl.blocks)
            if missing:
                raise TemplateError(f"{self.directory / path}: needs the block(s) "
                                    + ", ".join(sorted(missing)))
            subject = _render_block(text_tmpl, "subject", values)
            text = _render_block(text_tmpl, "text", values)
            html = html_tmpl.render(values)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"{self.directory}: template {exc.name} not found") from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template {path} needs a value the mail does not have: "
                                f"{exc.message}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.filename or path} line {exc.lineno}: "
                                f"template syntax error: {exc.message}") from None
        subject = re.sub(r"\s+", " ", subject).strip()
        if not subject:
            raise TemplateError(f"template {path} gave an empty subject")
        return Rendered(subject, text.strip() + "\n", html)


def _render_block(template: jinja2.Template, block: str, values: dict) -> str:
    ctx = template.new_context(values)
    return "".join(template.blocks[block](ctx))


_renderers: dict[tuple, Renderer] = {}


def renderer_for(cfg) -> Renderer:
    """A Renderer kept between outbox passes (jinja2 still reloads edited templates)."""
    key = (str(templates_dir(cfg)), cfg.general.group_name, cfg.outgoing.from_name,
           cfg.outgoing.from_address)
    renderer = _renderers.get(key)
    if renderer is None:
        renderer = _renderers[key] = Renderer(cfg)
    return renderer
