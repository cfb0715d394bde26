"""The staff actions that can be taken from the digest by mail, by two-letter code.

Each part of mailworker that has a decision for staff registers it here, with one line:

    register_action(StaffAction("AP", "application.accept", "application", "지원 승인",
                                "Accept application", accept_application_by_mail))

The code goes into the signed token of the digest's link (mailworker.action_tokens);
the executor (mailworker.staff_actions) checks the mail and calls ``perform`` with an
``ActionContext``. ``perform`` runs inside the executor's transaction and either returns
an ``ActionResult`` or raises ``ActionRefused`` with a reason for the staff member (its
writes are then rolled back). This module is core, so the group package can register
its actions without importing ingest or the executor.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from .errors import MailworkerError


class ActionRefused(MailworkerError):
    """The action cannot be done on this item (already decided, not found, ...)."""


@dataclass(frozen=True)
class ActionContext:
    cfg: object
    clock: object
    item: int                  # the id the token names (a message, an application, ...)
    actor: str                 # who: the staff address
    reason: str                # what they wrote in the body ('' if nothing)
    how: str                   # "mail" (or "cli")


@dataclass(frozen=True)
class ActionResult:
    item: str                  # the item for people, e.g. "#12 김민지 — 지갑 앱 오류"
    detail: str = ""           # what was done, for the audit trail
    hours: int = 0             # volunteer hours the action changed (+1 for an accept)
    member_uuid: str | None = None    # whose hours (for the pseudonymised ledger event)
    msg_sha256: str | None = None     # the member's message whose hours changed


@dataclass(frozen=True)
class StaffAction:
    code: str                  # two letters A-Z, in the token
    name: str                  # e.g. "triage.accept_review"; the audit trail's "what"
    item_type: str             # what the id names: triage, resignation, application, ...
    label_ko: str              # the button, e.g. "인정(품평)"
    label_en: str
    perform: Callable[[ActionContext], ActionResult]
    needs_reason: bool = False  # refuse a mail with an empty body (e.g. a rejection)

    def label(self, language: str) -> str:
        return self.label_en if language == "en" else self.label_ko


ACTIONS: dict[str, StaffAction] = {}


def register_action(action: StaffAction) -> StaffAction:
    """Make an action available to digest links. Registering the same code again with
    another name is a programming error (two actions would share tokens)."""
    if len(action.code) != 2 or not action.code.isascii() or not action.code.isupper():
        raise ValueError(f"action code must be two letters A-Z, got {action.code!r}")
    known = ACTIONS.get(action.code)
    if known is not None and known.name != action.name:
        raise ValueError(f"action code {action.code} is already {known.name}")
    ACTIONS[action.code] = action
    return action


def actions_for(item_type: str) -> list[StaffAction]:
    """The actions offered on an item of this type, in the order registered (the order
    of the digest's buttons)."""
    return [a for a in ACTIONS.values() if a.item_type == item_type]


def action_named(name: str) -> StaffAction:
    for action in ACTIONS.values():
        if action.name == name:
            return action
    raise KeyError(name)


def link_expiry(cfg, now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(days=cfg.staff.action_valid_days)
