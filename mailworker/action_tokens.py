"""Signed action tokens: what a digest button puts in the subject of a staff action mail.

A token names one action on one item until an expiry, signed with HMAC-SHA256 under the
staff action key (``[staff] action_key_file``/``_env``; without one, an embedded key in
the state directory is created on first use). It is short, upper-case ASCII with ``-``
only, so it survives what mail clients do to a subject: a "RE:"/"회신:" prefix, folding
(never inside a word), RFC 2047 encoding of a Korean subject (split across encoded
words and joined again when decoded), and mail clients that lower-case nothing:

    MW1-RA-C-K3X9AB-7QK3M2ZP4XJ5W6RT
    |   |  | |      signature: 80 bits of HMAC, base32
    |   |  | expiry: minutes since 1970 (UTC), base 36
    |   |  item: the item's id, base 36
    |   action code (see mailworker.staff_registry)
    version

One use is not the token's business: the audit trail keeps the tokens used
(``AuditEntry.token`` is unique), see ``mailworker.audit``.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from .clock import to_utc
from .config import read_secret_file
from .private import private_dir

VERSION = "MW1"
SIG_CHARS = 16
EMBEDDED_KEY_FILE = "staff-action.key"
# What a token looks like in a subject or a body: checked for shape here, for the
# signature by ``verify``. Case-insensitive; word-bounded so a longer word is no token.
TOKEN_RE = re.compile(r"(?<![A-Za-z0-9])MW1-([A-Za-z]{2})-([0-9A-Za-z]{1,12})-"
                      r"([0-9A-Za-z]{1,10})-([A-Za-z2-7]{16})(?![A-Za-z0-9])", re.IGNORECASE)
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class TokenError(ValueError):
    """A token that is not one we signed, or no longer valid. ``code`` says which."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code       # bad_token | expired


@dataclass(frozen=True)
class ActionToken:
    action: str              # action code, e.g. "RA"
    item: int
    expires: dt.datetime     # aware UTC
    text: str                # the token as written, upper-case


def _b36(n: int) -> str:
    if n < 0:
        raise ValueError("negative")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            return out


def _signature(key: bytes, body: str) -> str:
    mac = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:10]
    return base64.b32encode(mac).decode("ascii")      # 10 bytes -> 16 chars, no padding


def sign(key: bytes, action: str, item: int, expires: dt.datetime) -> str:
    if not key:
        raise ValueError("action key is empty")
    if not re.fullmatch(r"[A-Z]{2}", action):
        raise ValueError(f"action code must be two letters A-Z, got {action!r}")
    minutes = int((to_utc(expires) - _EPOCH).total_seconds() // 60)
    body = f"{VERSION}-{action}-{_b36(item)}-{_b36(minutes)}"
    return f"{body}-{_signature(key, body)}"


def find_tokens(text: str) -> list[str]:
    """The distinct token-shaped words in ``text`` (upper-case, in order of appearance)."""
    seen: list[str] = []
    for m in TOKEN_RE.finditer(text or ""):
        token = m.group(0).upper()
        if token not in seen:
            seen.append(token)
    return seen


def verify(key: bytes, text: str, now: dt.datetime) -> ActionToken:
    """The token's content if we signed it and it has not expired; else ``TokenError``."""
    m = TOKEN_RE.fullmatch((text or "").strip())
    if m is None:
        raise TokenError("bad_token", "not an action token")
    token = m.group(0).upper()
    body, _, sig = token.rpartition("-")
    if not hmac.compare_digest(_signature(key, body), sig):
        raise TokenError("bad_token", "the token's signature does not match (edited, or made "
                         "with another key)")
    action, item, minutes = m.group(1).upper(), int(m.group(2), 36), int(m.group(3), 36)
    expires = _EPOCH + dt.timedelta(minutes=minutes)
    if to_utc(now) >= expires:
        raise TokenError("expired", f"the link expired at {expires:%Y-%m-%d %H:%M} UTC")
    return ActionToken(action, item, expires, token)


# --- the key ----------------------------------------------------------------------------

def embedded_key_path(cfg) -> Path:
    return Path(cfg.general.state_dir) / EMBEDDED_KEY_FILE


def action_key(cfg) -> bytes:
    """The HMAC key of action tokens. Never log the result.

    From ``[staff] action_key_file``/``_env`` when set; otherwise the embedded key file
    in the state directory, created (0600, random) the first time it is needed."""
    if cfg.has_secret("staff", "action_key"):
        return cfg.secret("staff", "action_key")
    path = embedded_key_path(cfg)
    if not path.exists():
        _create_key_file(path, secrets.token_hex(32).encode("ascii"))
    return read_secret_file(path, f"the embedded staff action key of {cfg.where}")


def _create_key_file(path: Path, data: bytes) -> None:
    """Create a 0600 file only if it does not exist. The worker and a staff command may
    race here: the key is written whole to a private file first and then linked into
    place, so the loser never reads a half-written key, only the winner's."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


# --- the mail a link prepares, and reading it back ----------------------------------------

# The body a link prepares: a line to write the reason on, and the token on a line of its
# own (also in the subject; the body's copy is for a client that loses the subject).
MAILTO_BODY = {
    "ko": ("사유(선택): ", "아래 처리 코드는 지우지 마세요."),
    "en": ("Reason (optional): ", "Please keep the code below."),
}
_LABEL = re.compile(r"^\s*(?:사유\s*(?:\(선택\))?|reason\s*(?:\(optional\))?)\s*[:：]\s*", re.I)
_KEEP = re.compile(r"지우지\s*마세요|keep\s+the\s+code", re.I)


def mailto_body(token: str, language: str) -> str:
    label, keep = MAILTO_BODY.get(language, MAILTO_BODY["ko"])
    return f"{label}\n\n\n{keep}\n{token}\n"


def reason_from_body(new_text: str) -> str:
    """What the staff member wrote in a prepared body: without the token, the reminder
    line and the reason label (the text after the label is kept)."""
    lines = []
    for line in (new_text or "").splitlines():
        if TOKEN_RE.search(line) or _KEEP.search(line):
            line = TOKEN_RE.sub("", line)
            if _KEEP.search(line) or not line.strip():
                continue
        line = _LABEL.sub("", line, count=1)
        lines.append(line.rstrip())
    return "\n".join(lines).strip()
