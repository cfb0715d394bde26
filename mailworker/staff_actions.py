"""Staff actions by mail: the built-in actions, and the executor that performs them.

This module sits with the CLI and the service loop on top of the stages: the triage
actions call ``mailworker.ingest.triage``, and later actions (the group package's
application accept, attendance) register themselves in ``mailworker.staff_registry``
with one line each, without importing anything of this module.

``perform_pending`` runs after each ingest pass (before the outbox is drained, so the
answer goes out in the same round). Each staff action mail that ingest recorded
(disposition ``staff_pending``) is taken in its own transaction: checked (staff sender,
the crediting rule's sender authentication, a token we signed, unexpired, unused),
performed once, written to the audit trail (its token is unique there), marked
``staff_done`` or ``staff_refused``, and answered. A crash before the commit leaves it
pending for the next round; after the commit it is done: exactly once.
"""
from __future__ import annotations

import logging

import peewee as pw

from . import audit, outbox
from .action_tokens import TokenError, action_key, verify
from .clock import Clock, naive_utc, to_utc
from .errors import MailworkerError
from .ingest import triage
from .ingest.credit import may_reply_to
from .members import confirm_resignation
from .models import AuditEntry, Message, StaffRequest, db_proxy
from .staff_registry import (ACTIONS, ActionContext, ActionRefused, ActionResult,
                             StaffAction, register_action)

log = logging.getLogger(__name__)

# Why a mail is refused; the reply templates say each in the staff's language.
REFUSALS = ("not_staff", "auth_failed", "no_token", "several_tokens", "bad_token",
            "expired", "unknown_action", "used", "reason_required", "not_possible")


# --- the built-in actions -----------------------------------------------------------------

def pseudonym_key(cfg) -> bytes:
    from .ledger.keys import pseudonym_key as key    # only when an action changes hours
    return key(cfg)


def _local(cfg, when) -> str:
    return to_utc(when).astimezone(cfg.tz).strftime("%Y-%m-%d %H:%M") if when else ""


def _triage_item(msg: Message) -> str:
    who = msg.member.display_name if msg.member_id else (msg.sender or "(no sender)")
    return f"#{msg.id} {who} — {msg.subject}"


def _open_triage(ctx: ActionContext) -> Message:
    """The triage message, or a refusal saying who already decided it and when."""
    msg = Message.get_or_none(Message.id == ctx.item)
    if msg is None:
        raise ActionRefused(f"there is no message #{ctx.item}")
    if msg.disposition != "triage":
        by = (f" by {msg.decided_by} at {_local(ctx.cfg, msg.decided_at)}"
              if msg.decided_by else "")
        raise ActionRefused(f"message #{msg.id} was already decided{by}: {msg.reason}")
    return msg


def _accept_as(kind: str):
    def perform(ctx: ActionContext) -> ActionResult:
        _open_triage(ctx)
        try:
            msg = triage.accept(ctx.cfg, ctx.clock, ctx.item, kind, ctx.actor,
                                pseudonym_key(ctx.cfg))
        except MailworkerError as exc:
            raise ActionRefused(str(exc)) from None
        return ActionResult(_triage_item(msg), msg.reason, hours=1,
                            member_uuid=msg.member.uuid, msg_sha256=msg.sha256)
    return perform


def _reject(ctx: ActionContext) -> ActionResult:
    _open_triage(ctx)
    try:
        msg = triage.reject(ctx.cfg, ctx.clock, ctx.item, ctx.reason, ctx.actor)
    except MailworkerError as exc:
        raise ActionRefused(str(exc)) from None
    return ActionResult(_triage_item(msg), msg.reason)


def _confirm_resignation(ctx: ActionContext) -> ActionResult:
    try:
        msg, change = confirm_resignation(ctx.item, ctx.actor, ctx.clock, ctx.reason)
    except MailworkerError as exc:
        raise ActionRefused(str(exc)) from None
    m = change.member
    return ActionResult(f"#{msg.id} {m.display_name} <{m.primary_address}>",
                        f"{change.old_status} → {m.status}")


BUILT_IN = (
    StaffAction("RA", "triage.accept_review", "triage", "인정(품평)", "Accept as review",
                _accept_as("review")),
    StaffAction("PA", "triage.accept_proposal", "triage", "인정(제안)", "Accept as proposal",
                _accept_as("proposal")),
    StaffAction("RJ", "triage.reject", "triage", "반려", "Reject", _reject, needs_reason=True),
    StaffAction("RS", "member.resign_confirm", "resignation", "해촉 확인",
                "Confirm resignation", _confirm_resignation),
)
for _action in BUILT_IN:
    register_action(_action)


# --- the executor ---------------------------------------------------------------------------

class Refusal(Exception):
    def __init__(self, code: str, detail: str = "", action: StaffAction | None = None,
                 item: str = "", used: AuditEntry | None = None):
        super().__init__(detail or code)
        self.code, self.detail, self.action, self.item = code, detail, action, item
        self.used = used         # the audit entry of the earlier use of the token


def perform_pending(cfg, clock: Clock) -> str:
    """Check, perform and answer every staff action mail ingest recorded; a summary."""
    pending = list(Message.select(Message.id).where(Message.disposition == "staff_pending")
                   .order_by(Message.id).tuples())
    if not pending:
        return ""
    key = action_key(cfg)
    done = refused = 0
    for (message_id,) in pending:
        with db_proxy.atomic():
            message = Message.get_or_none((Message.id == message_id)
                                          & (Message.disposition == "staff_pending"))
            if message is None:          # another process took it meanwhile
                continue
            if _handle(cfg, clock, key, message):
                done += 1
            else:
                refused += 1
    return f"{done} staff action(s) done, {refused} refused"


def _handle(cfg, clock: Clock, key: bytes, message: Message) -> bool:
    request = StaffRequest.get_or_none(StaffRequest.message_sha256 == message.sha256)
    try:
        action, token = _check(cfg, clock, key, message, request)
        ctx = ActionContext(cfg, clock, token.item, message.sender,
                            request.reason.strip(), "mail")
        try:
            with db_proxy.atomic():          # a refusal undoes what the action wrote
                result = action.perform(ctx)
                entry = audit.record(
                    clock, actor=message.sender, how="mail", action=action.name,
                    item=result.item, reason=ctx.reason, detail=result.detail,
                    hours=result.hours, token=token.text, message=message,
                    member_uuid=result.member_uuid, msg_sha256=result.msg_sha256,
                    pseudonym_key=pseudonym_key(cfg) if result.hours else None)
        except ActionRefused as exc:
            raise Refusal("not_possible", str(exc), action, f"#{token.item}") from None
        except pw.IntegrityError:
            # The same token was used by a mail committed meanwhile (unique token).
            raise _used(cfg, AuditEntry.get(AuditEntry.token == token.text), action,
                        token.item) from None
        except Exception as exc:  # a fault in an action must not stop the worker's round
            log.exception("staff action %s on #%s failed", action.name, token.item)
            raise Refusal("not_possible", f"could not be performed ({type(exc).__name__}); "
                          "the worker's log has the details", action,
                          f"#{token.item}") from None
    except Refusal as refusal:
        _refuse(cfg, clock, message, refusal)
        return False
    message.disposition = "staff_done"
    message.reason = f"staff action {action.name} done: {result.item}"[:1000]
    message.decided_by, message.decided_at = message.sender, naive_utc(clock.now())
    message.save()
    _reply(cfg, clock, message, "staff_action_done", {
        "action_label": action.label(cfg.staff.language), "item": result.item,
        "detail": result.detail, "reason_given": ctx.reason, "actor": message.sender,
        "done_local": _local(cfg, entry.at), "audit_id": entry.id})
    log.info("staff action %s on #%s done by mail (audit #%s)", action.name, token.item,
             entry.id)
    return True


def _check(cfg, clock: Clock, key: bytes, message: Message, request: StaffRequest | None):
    """(action, token) of an acceptable mail, else ``Refusal``: the checks in order."""
    staff = {a.strip().lower() for a in cfg.staff.addresses}
    if message.sender not in staff:
        raise Refusal("not_staff", message.sender or "(no sender address)")
    if request is None or not request.auth_ok:
        raise Refusal("auth_failed", request.auth_reason if request else "not recorded")
    if not request.tokens:
        raise Refusal("no_token")
    if len(request.tokens) > 1:
        raise Refusal("several_tokens", ", ".join(request.tokens[:5]))
    try:
        token = verify(key, request.tokens[0], clock.now())
    except TokenError as exc:
        raise Refusal(exc.code, str(exc)) from None
    action = ACTIONS.get(token.action)
    if action is None:
        raise Refusal("unknown_action", token.action)
    earlier = AuditEntry.get_or_none(AuditEntry.token == token.text)
    if earlier is not None:
        raise _used(cfg, earlier, action, token.item)
    if action.needs_reason and not request.reason.strip():
        raise Refusal("reason_required", "", action, f"#{token.item}")
    return action, token


def _used(cfg, entry: AuditEntry, action: StaffAction, item: int) -> Refusal:
    return Refusal("used", entry.item, action, f"#{item}", used=entry)


def _refuse(cfg, clock: Clock, message: Message, refusal: Refusal) -> None:
    message.disposition = "staff_refused"
    detail = refusal.detail
    if refusal.used is not None:
        detail = (f"already done by {refusal.used.actor} at {_local(cfg, refusal.used.at)}: "
                  f"{refusal.used.item}")
    message.reason = (f"staff action refused ({refusal.code})"
                      + (f": {detail}" if detail else ""))[:1000]
    message.save()
    log.info("staff action mail #%s refused: %s", message.id, refusal.code)
    if not may_reply_to(message.sender):     # never answer mailer-daemon, no-reply, ...
        return
    _reply(cfg, clock, message, "staff_action_refused", {
        "refusal": refusal.code, "detail": refusal.detail,
        "action_label": refusal.action.label(cfg.staff.language) if refusal.action else "",
        "item": refusal.item,
        "used_by": refusal.used.actor if refusal.used else "",
        "used_at": _local(cfg, refusal.used.at) if refusal.used else ""})


def _reply(cfg, clock: Clock, message: Message, template: str, extra: dict) -> None:
    context = {"language": cfg.staff.language, "subject": message.subject,
               "received_local": _local(cfg, message.received_at),
               "in_reply_to": message.message_id, **extra}
    outbox.enqueue(f"staff:{message.sha256}", template, message.sender, context, clock,
                   domain=outbox.domain_of(cfg))
