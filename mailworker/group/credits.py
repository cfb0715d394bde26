"""Taking back a credited hour (staff found the review was not one, or a duplicate).

Hours are a public record, so a withdrawal is recorded, never silent: the credit row goes,
the message keeps its history in its reason (``no_credit``), the ledger gets a
``withdrawal`` leaf next to the contribution leaf, and an activity already exported to
the volunteer centre is listed for correction in the next export batch.
"""
from __future__ import annotations

from ..clock import Clock, naive_utc
from ..errors import MailworkerError, NotFound
from ..events import canonical_json, withdrawal_leaf
from ..models import HourCredit, HourExportRow, LedgerEvent, Message, db_proxy
from ..pseudonym import pseudonym


def withdraw_credit(message_id: int, reason: str, staff: str, clock: Clock,
                    pseudonym_key: bytes) -> tuple[Message, bool]:
    """Remove the credit of message ``message_id``; True if it had been exported."""
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
        member = credit.member
        leaf = withdrawal_leaf(message.sha256, credit.kind, credit.hours, now,
                               pseudonym(pseudonym_key, member.uuid))
        LedgerEvent.create(event_type="withdrawal",
                           payload=canonical_json(leaf).decode("utf-8"),
                           dedup_key=f"withdrawal:{message.sha256}", created_at=naive_utc(now))
        credit.delete_instance()
        message.disposition = "no_credit"
        message.reason = (f"credit withdrawn by staff ({staff}): {reason.strip()}; "
                          f"was: {message.reason}")[:1000]
        message.decided_by, message.decided_at = staff, naive_utc(now)
        message.save()
        exported = HourExportRow.get_or_none(HourExportRow.message == message) is not None
    return message, exported
