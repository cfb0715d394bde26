"""Deleting personal data the group no longer needs (개인정보 보호법).

- Applicants who were not appointed: ``[group] applicant_retention_days`` after their round
  closed, the application row goes, and their mail rows and sent mail keep no name,
  address, subject or text (the content hash stays, so the mail is still never counted
  twice).
- Former members: ``[group] member_retention_days`` after the term ends, their addresses,
  name and volunteer-portal ID go (also from the hour-export rows); the member row stays with its random UUID, under which (as the keyed
  pseudonym) the hour records stay. The ledger holds no personal data and is not touched.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..clock import Clock, naive_utc
from ..models import (Application, HourCredit, HourExportRow, Member, MemberAddress, Message,
                      Outbox, RecruitmentRound, db_proxy)
from . import roster

KEEP_APPLICANTS = ("appointed", "offered")   # a member now, or an offer still open
DELETED_ADDRESS = "deleted@invalid"           # RFC 2606: never delivered


@dataclass
class PurgePlan:
    applicants: list[Application] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.applicants or self.members)


def plan(cfg, clock: Clock) -> PurgePlan:
    now = naive_utc(clock.now())
    apps_before = now - dt.timedelta(days=cfg.group.applicant_retention_days)
    applicants = list(Application.select(Application, RecruitmentRound).join(RecruitmentRound)
                      .where(RecruitmentRound.closed_at.is_null(False)
                             & (RecruitmentRound.closed_at <= apps_before)
                             & Application.status.not_in(KEEP_APPLICANTS))
                      .order_by(Application.id))
    members: list[Member] = []
    t = roster.term(cfg)
    if now >= t.end + dt.timedelta(days=cfg.group.member_retention_days):
        members = list(Member.select().where((Member.status != "active")
                                             & Member.contact_purged_at.is_null())
                       .order_by(Member.id))
    return PurgePlan(applicants, members)


def _scrub_messages(query) -> int:
    return (Message.update(sender="", sender_name="", subject="", excerpt="",
                           attachments=[], in_reply_to=None).where(query).execute())


def _scrub_outbox(query) -> None:
    # mail not yet sent is cancelled: its recipient is going away
    (Outbox.update(status="cancelled", last_error="recipient's data deleted")
     .where(query & (Outbox.status == "pending")).execute())
    Outbox.update(to_addr=DELETED_ADDRESS, context={}).where(query).execute()


def carry_out(cfg, clock: Clock, p: PurgePlan) -> None:
    now = naive_utc(clock.now())
    with db_proxy.atomic():
        for app in p.applicants:
            still_used = MemberAddress.get_or_none(MemberAddress.email == app.email)
            if still_used is None:
                _scrub_messages((Message.sender == app.email) & Message.member.is_null())
                _scrub_outbox(Outbox.to_addr == app.email)
            app.delete_instance()
        for member in p.members:
            addresses = [a.email for a in member.addresses]
            _scrub_messages(Message.member == member)
            _scrub_outbox(Outbox.member == member)
            if addresses:
                _scrub_outbox(Outbox.to_addr.in_(addresses))
            MemberAddress.delete().where(MemberAddress.member == member).execute()
            Application.delete().where(Application.member == member).execute()
            member.display_name = f"(deleted {member.uuid[:8]})"
            # the export batches keep the rows sent to the volunteer centre, not who they were
            (HourExportRow.update(name=member.display_name, volunteer_id="", subject="")
             .where(HourExportRow.member == member).execute())
            member.volunteer_id = None
            member.certificate = None
            member.status_reason = None
            member.contact_purged_at = now
            member.save()


def purge_step(cfg, clock: Clock) -> str:
    p = plan(cfg, clock)
    if not p:
        return ""
    carry_out(cfg, clock, p)
    return (f"personal data deleted: {len(p.applicants)} applicant(s), "
            f"{len(p.members)} former member(s)")


def kept_hours(member: Member) -> int:
    return sum(c.hours for c in HourCredit.select().where(HourCredit.member == member))
