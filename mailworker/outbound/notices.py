"""Notices from the secretariat to members (trial operation, regular meeting, and free-form
announcements written by staff in a text file).

``queue_notice`` renders the notice once for the first recipient before queueing anything
(a missing value stops it with the value's name), then queues one outbox row per member.
The key ``notice:<template>:<hash of the values>:<member uuid>`` makes a repeated command
queue nothing new, while the same template with other values is a new notice.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..clock import Clock
from ..events import canonical_json
from ..models import CATEGORIES, CATEGORY_KO, Member, MemberAddress, Outbox, db_proxy
from ..outbox import domain_of, enqueue
from .templates import NOTICE_TEMPLATES, Rendered, Renderer, TemplateError

_CATEGORY_NAMES = {**{c: c for c in CATEGORIES}, **{v: k for k, v in CATEGORY_KO.items()}}


class NoticeError(TemplateError):
    """The notice cannot be sent as asked (template, recipients or values)."""


@dataclass
class NoticePlan:
    template: str
    members: list[Member]
    values: dict
    preview: Rendered
    preview_member: Member
    queued: int = 0
    already: int = 0
    skipped: list[str] = field(default_factory=list)


def select_recipients(targets: list[str] | None) -> list[Member]:
    """``all`` (default), category names (English or Korean) and member addresses."""
    targets = targets or ["all"]
    chosen: dict[int, Member] = {}
    unknown = []
    for target in targets:
        t = target.strip()
        if t.lower() == "all":
            for m in Member.select().where(Member.status == "active"):
                chosen[m.id] = m
        elif t in _CATEGORY_NAMES or t.lower() in _CATEGORY_NAMES:
            cat = _CATEGORY_NAMES.get(t) or _CATEGORY_NAMES[t.lower()]
            for m in Member.select().where((Member.status == "active")
                                           & (Member.category == cat)):
                chosen[m.id] = m
        elif "@" in t:
            row = MemberAddress.get_or_none(MemberAddress.email == t.lower())
            if row is None:
                unknown.append(t)
            else:
                chosen[row.member.id] = row.member
        else:
            unknown.append(t)
    if unknown:
        raise NoticeError("--to: not 'all', a category (" + ", ".join(CATEGORIES)
                          + " or 대학생/일반시민/…) or a member address: " + ", ".join(unknown))
    return [chosen[k] for k in sorted(chosen)]


def plan_notice(cfg, template: str, targets: list[str] | None, values: dict) -> NoticePlan:
    if template not in NOTICE_TEMPLATES:
        raise NoticeError(f"--template {template}: notices are " + ", ".join(NOTICE_TEMPLATES))
    return _plan(cfg, template, targets, values)


ANNOUNCEMENT_MAX_CHARS = 20000


def plan_announcement(cfg, subject: str, body_file, targets: list[str] | None) -> NoticePlan:
    """A free-form announcement: the subject as given, the body from a UTF-8 text file
    (paragraphs split by blank lines; links become links in the HTML part)."""
    subject = " ".join(subject.split())
    if not subject:
        raise NoticeError("--subject must not be empty")
    try:
        raw = Path(body_file).read_bytes()
    except OSError as exc:
        raise NoticeError(f"--body-file {body_file}: cannot read it: {exc.strerror}") from None
    try:
        body = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NoticeError(f"--body-file {body_file}: not UTF-8 text; save it as UTF-8") from None
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise NoticeError(f"--body-file {body_file}: the file is empty")
    if len(body) > ANNOUNCEMENT_MAX_CHARS:
        raise NoticeError(f"--body-file {body_file}: {len(body):,} characters is more than "
                          f"{ANNOUNCEMENT_MAX_CHARS:,}; send a link to a longer text instead")
    return _plan(cfg, "announcement", targets, {"title": subject, "body": body})


def _plan(cfg, template: str, targets: list[str] | None, values: dict) -> NoticePlan:
    members = select_recipients(targets)
    if not members:
        raise NoticeError("no active member matches --to " + " ".join(targets or ["all"]))
    renderer = Renderer(cfg)
    first = members[0]
    try:
        preview = renderer.render(template, _context(first, values))
    except TemplateError as exc:
        raise NoticeError(f"{exc}; give it with --var NAME=VALUE") from None
    return NoticePlan(template, members, values, preview, first)


def queue_notice(cfg, clock: Clock, plan: NoticePlan) -> NoticePlan:
    digest = hashlib.sha256(canonical_json({"t": plan.template, "v": plan.values})
                            ).hexdigest()[:12]
    domain = domain_of(cfg)
    with db_proxy.atomic():
        for member in plan.members:
            address = member.primary_address
            if not address:
                plan.skipped.append(f"{member.display_name}: no e-mail address")
                continue
            key = f"notice:{plan.template}:{digest}:{member.uuid}"
            if Outbox.get_or_none(Outbox.key == key) is not None:
                plan.already += 1
                continue
            enqueue(key, plan.template, address, _context(member, plan.values), clock,
                    member=member, domain=domain)
            plan.queued += 1
    return plan


def _context(member: Member, values: dict) -> dict:
    return {**values, "display_name": member.display_name, "language": member.language}
