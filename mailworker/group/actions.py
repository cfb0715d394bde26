"""The group's decisions staff can take from the digest by mail (see
``mailworker.staff_registry``): accepting a closed recruitment round's selected applicants
(지원 승인) and recording who came to a meeting (참석 기록: the addresses in the mail's
body). Registered when the group package is loaded; the executor runs them inside its
transaction and writes the audit entry."""
from __future__ import annotations

import re

from ..errors import MailworkerError
from ..models import Meeting, RecruitmentRound
from ..staff_registry import (ActionContext, ActionRefused, ActionResult, StaffAction,
                              register_action)
from .meetings import record_attendance
from .recruitment import accept_round

_ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _accept_applications(ctx: ActionContext) -> ActionResult:
    r = RecruitmentRound.get_or_none(RecruitmentRound.id == ctx.item)
    if r is None:
        raise ActionRefused(f"there is no recruitment round #{ctx.item}")
    if r.status != "closed":
        raise ActionRefused(f"recruitment round #{r.id} is {r.status}, not closed and "
                            "waiting for acceptance")
    latest = (RecruitmentRound.select().where(RecruitmentRound.status == "closed")
              .order_by(RecruitmentRound.id.desc()).first())
    if latest is None or latest.id != r.id:
        raise ActionRefused(f"round #{r.id} is not the round waiting for acceptance")
    try:
        result = accept_round(ctx.cfg, ctx.clock)
    except MailworkerError as exc:
        raise ActionRefused(str(exc)) from None
    detail = f"{len(result.appointed)} applicant(s) appointed"
    if result.problems:
        detail += "; not appointed: " + "; ".join(result.problems)
    return ActionResult(f"recruitment round #{r.id}", detail)


def _record_attendance(ctx: ActionContext) -> ActionResult:
    meeting = Meeting.get_or_none(Meeting.id == ctx.item)
    if meeting is None:
        raise ActionRefused(f"there is no meeting #{ctx.item}")
    own = {a.lower() for a in ctx.cfg.staff.addresses} | {
        ctx.cfg.outgoing.from_address.lower(), ctx.actor.lower()}
    # The staff member's own signature or the group's address are no attendees.
    emails = sorted({a.lower() for a in _ADDRESS.findall(ctx.reason)} - own)
    if not emails:
        raise ActionRefused("write the addresses of the members who came in the mail's "
                            "body, one per line")
    try:
        report = record_attendance(ctx.cfg, ctx.clock, meeting, emails, source="mail")
    except MailworkerError as exc:
        raise ActionRefused(str(exc)) from None
    return ActionResult(f"meeting #{meeting.id} {meeting.title}",
                        f"{len(report.added)} present recorded"
                        + (f", {len(report.already)} already recorded" if report.already
                           else ""))


GROUP_ACTIONS = (
    StaffAction("AP", "application.accept", "application", "지원 승인",
                "Accept applications", _accept_applications),
    StaffAction("AT", "meeting.attendance", "attendance", "참석 기록", "Record attendance",
                _record_attendance, needs_reason=True),
)
for _action in GROUP_ACTIONS:
    register_action(_action)
