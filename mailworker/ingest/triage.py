"""Staff decisions on messages the classifier was unsure of."""
from __future__ import annotations

from ..clock import Clock, naive_utc
from ..errors import MailworkerError, NotFound
from ..models import CREDITABLE_KINDS, HourCredit, Message, db_proxy
from . import record
from .credit import may_reply_to
from .sink import DirectSink


def pending() -> list[Message]:
    return list(Message.select().where(Message.disposition == "triage").order_by(Message.id))


def _get_triage(message_id: int) -> Message:
    msg = Message.get_or_none(Message.id == message_id)
    if msg is None:
        raise NotFound(f"no message #{message_id}; see `mailworker triage list`")
    if msg.disposition != "triage":
        raise MailworkerError(f"message #{message_id} is not waiting in triage "
                              f"(it is {msg.disposition}: {msg.reason})")
    return msg


def accept(cfg, clock: Clock, message_id: int, as_kind: str, staff: str,
           pseudonym_key: bytes) -> Message:
    if as_kind not in CREDITABLE_KINDS:
        raise MailworkerError(f"--as must be one of {', '.join(CREDITABLE_KINDS)}")
    now = clock.now()
    with db_proxy.atomic():
        msg = _get_triage(message_id)
        if msg.member is None:
            raise MailworkerError(f"message #{message_id} has no member sender; add the "
                                  f"address to the roster first (mailworker members add)")
        if HourCredit.get_or_none(HourCredit.message == msg) is not None:
            raise MailworkerError(f"message #{message_id} was already credited")
        msg.kind = as_kind
        msg.disposition = "credited"
        msg.reason = f"accepted by staff ({staff}) as {as_kind}; 1 hour credited"
        msg.decided_by, msg.decided_at = staff, naive_utc(now)
        msg.save()
        record.credit(cfg, DirectSink(), msg, msg.member, as_kind, now, clock, pseudonym_key,
                      by=f"staff:{staff}")
    return msg


def reject(cfg, clock: Clock, message_id: int, reason: str, staff: str) -> Message:
    """Close a triage item; the member gets the staff's reason by mail (for a question,
    the reason is the answer), as the triage notice promised."""
    if not reason.strip():
        raise MailworkerError("--reason is required: it is kept with the message and "
                              "mailed to the member")
    now = clock.now()
    with db_proxy.atomic():
        msg = _get_triage(message_id)
        msg.disposition = "rejected"
        msg.reason = f"rejected by staff ({staff}): {reason.strip()}"
        msg.decided_by, msg.decided_at = staff, naive_utc(now)
        msg.save()
        if msg.member is not None and may_reply_to(msg.sender):
            record.queue_reply(cfg, DirectSink(), "triage_reply", msg, msg.member, now, clock,
                               {"kind": msg.kind, "staff_reason": reason.strip()})
    return msg
