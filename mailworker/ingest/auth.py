"""Did our own mail server vouch for the sender of the From address? (RFC 8601, RFC 7489)

Anyone can write an Authentication-Results header into a mail before sending it, so only
the topmost header counts, and only when its authserv-id is our receiving server's
(``ingest.trusted_authserv_id``): our server prepends its verdict, so anything above it was
added after it (only our own relays, ``ingest.internal_authserv_ids``, may do that) and a
header with our id further down was already in the mail when it arrived, a forgery (RFC
8601 section 5 asks servers to remove those; we do not rely on it).

A pass counts only when it vouches for the domain of the From address (DMARC alignment,
RFC 7489 section 3.1, relaxed mode: the same organisational domain, found with the Public
Suffix List). The rule, applied to that one header, for the From domain D:
  * ``dmarc=fail``                                   -> not ok
  * ``dmarc=pass`` (``header.from`` = D when given)   -> ok
  * ``dkim=pass`` with ``header.d`` aligned with D    -> ok
  * ``spf=pass`` with ``smtp.mailfrom`` aligned with D -> ok
  * anything else (unaligned passes, none, fail)     -> not ok
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .parse import ParsedMail

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s;=()"]+|[;=]')
_VERSION = re.compile(r"/\d+$")


def _strip_comments(value: str) -> str:
    """The value with (nested) comments turned to blanks; quoted strings kept whole."""
    out = []
    depth = 0
    quoted = escaped = False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
        elif ch == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                out.append(ch)
        elif quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == "(":
            depth += 1
            out.append(" ")
        elif ch == ")" and depth:
            depth -= 1
        elif depth:
            continue
        else:
            quoted = ch == '"'
            out.append(ch)
    return "".join(out)


@dataclass
class Result:
    method: str                       # dkim, spf, dmarc ...
    result: str                       # pass, fail, none ...
    properties: dict[str, str] = field(default_factory=dict)   # "header.d" -> "example.com"


def parse_results(value: str) -> tuple[str, list[Result]]:
    """'mx.example.org; dkim=pass header.d=x' -> ('mx.example.org', [Result('dkim', 'pass',
    {'header.d': 'x'})]). Method names, results and property names are lower-case."""
    parts = _split(value)
    head = parts[0].split()
    authserv_id = head[0].lower() if head else ""
    results = []
    for part in parts[1:]:
        tokens = _TOKEN.findall(part)
        # method[/version] = result, then ptype.property = value pairs
        if len(tokens) < 3 or tokens[1] != "=":
            continue
        current = Result(_VERSION.sub("", tokens[0].lower()), tokens[2].lower().strip('"'))
        i = 3
        while i + 2 < len(tokens) and tokens[i + 1] == "=":
            current.properties.setdefault(tokens[i].lower(), tokens[i + 2].strip('"'))
            i += 3
        results.append(current)
    return authserv_id, results


def _split(value: str) -> list[str]:
    """Split at ";" outside quoted strings (a quoted ";" is not structure)."""
    text = _strip_comments(value)
    parts, current, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def parse_authentication_results(value: str) -> tuple[str, dict[str, list[str]]]:
    """'mx.example.org; dkim=pass header.d=x; spf=fail' -> ('mx.example.org', {'dkim': ['pass'],
    'spf': ['fail']}). Method names and results are lower-case."""
    authserv_id, results = parse_results(value)
    summary: dict[str, list[str]] = {}
    for r in results:
        summary.setdefault(r.method, []).append(r.result)
    return authserv_id, summary


@lru_cache(maxsize=1)
def _public_suffixes():
    from publicsuffixlist import PublicSuffixList   # the list ships with the package
    return PublicSuffixList()


@lru_cache(maxsize=4096)
def organisational_domain(domain: str) -> str:
    """example.co.kr for mail.example.co.kr (RFC 7489 section 3.2, Public Suffix List)."""
    domain = domain.strip().strip(".").lower()
    return _public_suffixes().privatesuffix(domain) or domain


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment: the same organisational domain."""
    domain = domain.strip().strip(".").lower()
    if not domain or not from_domain:
        return False
    return domain == from_domain or organisational_domain(domain) == organisational_domain(
        from_domain)


def _domain_of(value: str) -> str:
    return value.rsplit("@", 1)[-1].strip().strip(".").lower()


def _summary(results: list[Result]) -> str:
    shown = []
    for r in results:
        if r.method not in ("dmarc", "dkim", "spf"):
            continue
        domain = (r.properties.get("header.from") if r.method == "dmarc" else
                  r.properties.get("header.d") or _domain_of(r.properties.get("header.i", ""))
                  if r.method == "dkim" else _domain_of(r.properties.get("smtp.mailfrom", "")))
        shown.append(f"{r.method}={r.result}" + (f" for {domain}" if domain else ""))
    return ", ".join(shown) or "no dkim/spf/dmarc results"


def _verdict(results: list[Result], from_domain: str) -> tuple[bool, str]:
    summary = _summary(results)
    for r in results:
        if r.method == "dmarc" and r.result == "fail":
            return False, f"DMARC check failed ({summary})"
    for r in results:
        if r.method == "dmarc" and r.result == "pass":
            claimed = _domain_of(r.properties.get("header.from", from_domain))
            if claimed == from_domain:
                return True, f"dmarc=pass for {from_domain}"
    for r in results:
        if r.method == "dkim" and r.result == "pass":
            d = r.properties.get("header.d") or _domain_of(r.properties.get("header.i", ""))
            if aligned(d, from_domain):
                return True, f"dkim=pass for {d}, aligned with {from_domain}"
        if r.method == "spf" and r.result == "pass":
            d = _domain_of(r.properties.get("smtp.mailfrom", ""))
            if aligned(d, from_domain):
                return True, f"spf=pass for {d}, aligned with {from_domain}"
    return False, f"no check passed for the From domain {from_domain} ({summary})"


def authentication_verdict(mail: ParsedMail, trusted_authserv_id: str,
                           internal_authserv_ids: tuple[str, ...] | list[str] = ()
                           ) -> tuple[bool, str]:
    """(ok, reason) from our own server's Authentication-Results; see the module docstring.
    The reason is shown to staff: it says plainly what failed."""
    trusted = trusted_authserv_id.strip().lower()
    if not trusted:
        return True, "authentication not checked"
    internal = {i.strip().lower() for i in internal_authserv_ids}
    headers = mail.headers.get("authentication-results", [])
    ids = [parse_results(value)[0] for value in headers]
    for position, (authserv_id, value) in enumerate(zip(ids, headers)):
        if authserv_id in internal and authserv_id != trusted:
            continue              # our own relay's verdict, above our server's
        if authserv_id != trusted:
            if trusted in ids[position + 1:]:
                return False, (f"sender authentication forged: an Authentication-Results "
                               f"header with our id {trusted} sits below one from "
                               f"{authserv_id or 'an unnamed server'}, so it was in the mail "
                               "before our server received it")
            return False, (f"no sender authentication from {trusted}: the topmost "
                           f"Authentication-Results header is from "
                           f"{authserv_id or 'an unnamed server'}")
        from_domain = _domain_of(mail.from_addr) if "@" in mail.from_addr else ""
        if not from_domain:
            return False, "no From address to check sender authentication against"
        ok, why = _verdict(parse_results(value)[1], from_domain)
        return ok, f"{trusted}: {why}"
    return False, f"no Authentication-Results from {trusted}"
