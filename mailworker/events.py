"""Ledger leaf data: what ingest (and later outbound) queues for the ledger.

A leaf is canonical JSON: UTF-8, keys sorted, no spaces. It holds hashes, kinds, counts,
times and keyed pseudonyms only: never an address, a name, a subject or any text.
"""
from __future__ import annotations

import datetime as dt
import functools
import json

from .clock import to_utc

LEAF_VERSION = 1


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(obj) -> bytes:
    return _CANONICAL.encode(obj).encode("utf-8")


@functools.lru_cache(maxsize=256)
def utc_stamp(when: dt.datetime) -> str:
    """2026-11-25T01:00:00Z (whole seconds)."""
    return to_utc(when).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def contribution_leaf(msg_sha256: str, kind: str, hours: int, when: dt.datetime,
                      member_pseudonym: str) -> dict:
    return {"v": LEAF_VERSION, "type": "contribution", "msg_sha256": msg_sha256,
            "kind": kind, "hours": hours, "time": utc_stamp(when), "member": member_pseudonym}


def package_leaf(package_sha256: str, installer_sha256: str, version: str, when: dt.datetime,
                 member_pseudonym: str) -> dict:
    return {"v": LEAF_VERSION, "type": "package", "package_sha256": package_sha256,
            "installer_sha256": installer_sha256, "version": version,
            "time": utc_stamp(when), "member": member_pseudonym}


def staff_action_leaf(action: str, how: str, msg_sha256: str, hours: int, when: dt.datetime,
                      member_pseudonym: str, staff_pseudonym: str) -> dict:
    """A staff decision that changed a member's hours (e.g. a triage accept): which
    message, how many hours, by which (pseudonymised) staff member, from cli or mail."""
    return {"v": LEAF_VERSION, "type": "staff_action", "action": action, "how": how,
            "msg_sha256": msg_sha256, "hours": hours, "time": utc_stamp(when),
            "member": member_pseudonym, "staff": staff_pseudonym}
