"""Staff action mail: recognised before member classification, recorded, never credited.

A mail is a staff action mail when it carries a token-shaped word (a digest link's
subject or body) or comes from a ``[staff] addresses`` sender. Ingest only records it:
the message row (kind ``staff_action``, disposition ``staff_pending``, no member, so
nothing can count it as a member's mail) and a ``StaffRequest`` with what the executor
needs (the tokens, the crediting rule's authentication verdict, the reason written in
the body). The executor (mailworker.staff_actions) checks and performs it after the
pass, and answers. Auto-replies and bounces from staff addresses without a token take
the ordinary way (ignored; never an answer, so no mail loop).
"""
from __future__ import annotations

from ..action_tokens import find_tokens, reason_from_body
from ..clock import naive_utc
from .parse import ParsedMail

NOT_ACTIONS = ("auto_reply", "bounce")
# models.STAFF_KIND, spelt out: the analysis process reads mail without the database
# modules (a test checks the two agree).
STAFF_KIND = "staff_action"


def read_action(mail: ParsedMail, kind: str) -> tuple[list[str], str]:
    """(tokens, reason) of a mail: tokens of the subject, else of the new text (a quoted
    digest below is not new text, so its tokens do not count)."""
    if kind in NOT_ACTIONS:
        return [], ""
    tokens = find_tokens(mail.subject) or find_tokens(mail.new_text)
    return tokens, (reason_from_body(mail.new_text)[:2000] if tokens else "")


def is_staff_mail(kind: str, tokens: list[str], sender: str, staff: frozenset[str]) -> bool:
    return bool(tokens) or (sender in staff and kind not in NOT_ACTIONS)


def record(ingestor, f, a, sink, duplicate_of) -> object:
    """Record a staff action mail (inside the caller's transaction); see the module."""
    base = ingestor.rows.base_row(f, f.sha256, a)
    if duplicate_of is not None:
        return ingestor.rows.insert(sink, {
            **base, "kind": STAFF_KIND, "disposition": "duplicate", "member": None,
            "body_sha256": None,
            "reason": f"same Message-ID as message #{duplicate_of.id} "
                      f"({duplicate_of.disposition}); staff action recorded once"})
    message = ingestor.rows.insert(sink, {
        **base, "kind": STAFF_KIND, "disposition": "staff_pending", "member": None,
        "body_sha256": None, "excerpt": a.staff_reason[:300],
        "reason": "staff action mail, waiting to be checked and performed"})
    sink.staff_request({"message_sha256": f.sha256, "tokens": list(a.action_tokens),
                        "auth_ok": a.auth_ok, "auth_reason": a.auth_reason[:500],
                        "reason": a.staff_reason,
                        "created_at": naive_utc(ingestor.clock.now())})
    return message
