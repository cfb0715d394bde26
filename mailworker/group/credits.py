"""Taking back a credited hour (staff found the review was not one, or a duplicate).

Hours are a public record, so a withdrawal is recorded, never silent: the credit row goes,
the message keeps its history in its reason (``no_credit``), the audit trail gets the
entry and the ledger its ``staff_action`` leaf (hours -1, next to the contribution leaf),
and an activity already exported to the volunteer centre is listed for correction in the
next export batch.
"""
from __future__ import annotations

from .. import audit
from ..clock import Clock, naive_utc
from ..errors import MailworkerError, NotFound
from ..models import HourCredit, HourExportRow, Message, db_proxy


def withdraw_credit(message_id: int, reason: str, staff: str, clock: Clock,
                    pseudonym_key: bytes, how: str = "cli") -> tuple[Message, bool]:
    """Remove the credit of message ``message_id``; True if it had been exported.
    ``staff`` is the actor the audit trail names (``audit.cli_actor`` on the command line)."""
    if not reason.strip():
        raise MailworkerError("--reason is required: it is kept with the message")
    now = clock.now()
    with db_proxy.atomic():
        message = Message.get_or_none(Message.id == message_id)
        if message is None:
            raise NotFound(f"no message #{message_id}")
        credit = HourCredit.get_or_none(HourCredit.message == message)
        if credit is None:
            raise MailworkerError(f"message #{message_id} has no credited hour "
                                  f"({message.disposition}: {message.reason})")
        member, hours = credit.member, credit.hours
        credit.delete_instance()
        message.disposition = "no_credit"
        message.reason = (f"credit withdrawn by staff ({staff}): {reason.strip()}; "
                          f"was: {message.reason}")[:1000]
        message.decided_by, message.decided_at = staff, naive_utc(now)
        message.save()
        audit.record(clock, actor=staff, how=how, action="hours.withdraw",
                     item=f"message #{message.id}", reason=reason.strip(),
                     detail=message.reason, hours=-hours, message=message,
                     member_uuid=member.uuid, msg_sha256=message.sha256,
                     pseudonym_key=pseudonym_key)
        exported = HourExportRow.get_or_none(HourExportRow.message == message) is not None
    return message, exported
