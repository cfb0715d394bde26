"""Keyed pseudonyms: the only way a member appears outside the database.

HMAC-SHA256 over the member's random UUID with a secret key. Without the key nobody can
link a pseudonym to a member; with it, staff can recompute it to answer a member.
"""
from __future__ import annotations

import functools
import hashlib
import hmac


@functools.lru_cache(maxsize=4096)   # a member's pseudonym never changes for one key
def pseudonym(key: bytes, member_uuid: str) -> str:
    if not key:
        raise ValueError("pseudonym key is empty")
    return hmac.new(key, f"member:{member_uuid}".encode("ascii"), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=256)
def staff_pseudonym(key: bytes, actor: str) -> str:
    """A staff member (address or login name) on the ledger: keyed, like a member's."""
    if not key:
        raise ValueError("pseudonym key is empty")
    return hmac.new(key, f"staff:{actor.lower()}".encode("utf-8"), hashlib.sha256).hexdigest()
