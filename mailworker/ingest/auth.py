"""Did our own mail server vouch for the sender? (Authentication-Results, RFC 8601)

Anyone can write an Authentication-Results header into a mail before sending it, so only
the header whose authserv-id is our receiving server's (``ingest.trusted_authserv_id``)
counts, and of those only the topmost: our server prepends its own header, so a deeper
one carrying the same id was already in the mail when it arrived (RFC 8601 section 5 asks
servers to remove such forgeries; we do not rely on it).

The rule, applied to that one header:
  * ``dmarc=fail``                         -> not ok ("dmarc=fail")
  * ``dmarc=pass``                         -> ok
  * otherwise ``dkim=pass`` or ``spf=pass`` -> ok
  * otherwise (neither passes, or "none")  -> not ok
"""
from __future__ import annotations

import re

from .parse import ParsedMail

_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"^\s*([a-z0-9_-]+)(?:/\d+)?\s*=\s*([a-z0-9_-]+)", re.I)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def _strip_comments(value: str) -> str:
    value = _QUOTED.sub('""', value)       # a quoted ";" or "(" is not structure
    previous = None
    while previous != value:              # nested comments, innermost first
        previous, value = value, _COMMENT.sub(" ", value)
    return value


def parse_authentication_results(value: str) -> tuple[str, dict[str, list[str]]]:
    """'mx.example.org; dkim=pass header.d=x; spf=fail' -> ('mx.example.org', {'dkim': ['pass'],
    'spf': ['fail']}). Method names and results are lower-case."""
    parts = _strip_comments(value).split(";")
    head = parts[0].split()
    authserv_id = head[0].lower() if head else ""
    results: dict[str, list[str]] = {}
    for part in parts[1:]:
        m = _RESULT.match(part)
        if m:
            results.setdefault(m.group(1).lower(), []).append(m.group(2).lower())
    return authserv_id, results


def authentication_verdict(mail: ParsedMail, trusted_authserv_id: str) -> tuple[bool, str]:
    """(ok, reason) from our own server's Authentication-Results; see the module docstring."""
    trusted = trusted_authserv_id.strip().lower()
    if not trusted:
        return True, "authentication not checked"
    for value in mail.headers.get("authentication-results", []):
        authserv_id, results = parse_authentication_results(value)
        if authserv_id != trusted:
            continue
        summary = " ".join(f"{method}={'/'.join(res)}" for method, res in results.items()
                           if method in ("dmarc", "dkim", "spf")) or "no dkim/spf/dmarc results"
        dmarc, dkim, spf = (results.get(k, []) for k in ("dmarc", "dkim", "spf"))
        if "fail" in dmarc:
            return False, f"{trusted}: dmarc=fail ({summary})"
        if "pass" in dmarc:
            return True, f"{trusted}: {summary}"
        if "pass" in dkim or "pass" in spf:
            return True, f"{trusted}: {summary}"
        return False, f"{trusted}: neither dkim nor spf passes ({summary})"
    return False, f"no Authentication-Results from {trusted}"
