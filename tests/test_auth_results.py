"""Authentication-Results: only our own server's header counts (RFC 8601)."""
from __future__ import annotations

import pytest

from mailworker.ingest.auth import authentication_verdict, parse_authentication_results
from mailworker.ingest.parse import parse_message

OURS = "mx.seoul.example.org"


def mail_with(*auth_results: str):
    head = "".join(f"Authentication-Results: {v}\r\n" for v in auth_results)
    raw = (head + "From: minjun.kim@example.com\r\nTo: governance@example.org\r\n"
           "Subject: 지갑 앱 오류\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "로그인이 안 됩니다.\r\n").encode("utf-8")
    return parse_message(raw)


def test_trusted_pass():
    ok, reason = authentication_verdict(mail_with(
        f"{OURS}; dkim=pass header.d=example.com header.s=s1; spf=pass "
        "smtp.mailfrom=example.com; dmarc=pass (p=reject dis=none) header.from=example.com"), OURS)
    assert ok
    assert reason == f"{OURS}: dkim=pass spf=pass dmarc=pass"


def test_trusted_dmarc_fail():
    ok, reason = authentication_verdict(mail_with(
        f"{OURS}; dkim=pass header.d=attacker.example; spf=pass smtp.mailfrom=attacker.example;"
        " dmarc=fail (p=none) header.from=example.com"), OURS)
    assert not ok
    assert reason.startswith(f"{OURS}: dmarc=fail")


def test_trusted_neither_dkim_nor_spf_passes():
    ok, reason = authentication_verdict(mail_with(
        f"{OURS}; dkim=fail (bad signature) header.d=example.com; spf=softfail "
        "smtp.mailfrom=example.com"), OURS)
    assert not ok
    assert reason == f"{OURS}: neither dkim nor spf passes (dkim=fail spf=softfail)"


def test_trusted_one_of_dkim_or_spf_passes_without_dmarc():
    ok, _ = authentication_verdict(mail_with(f"{OURS}; dkim=pass header.d=example.com; "
                                             "spf=fail smtp.mailfrom=example.com"), OURS)
    assert ok
    ok, _ = authentication_verdict(mail_with(f"{OURS}; spf=pass smtp.mailfrom=example.com"), OURS)
    assert ok


def test_untrusted_fail_is_ignored():
    # A header from another server (or written by the sender) says fail; ours says pass.
    mail = mail_with(f"{OURS}; dkim=pass header.d=example.com; dmarc=pass",
                     "relay.example.net; dkim=fail; spf=fail; dmarc=fail")
    ok, reason = authentication_verdict(mail, OURS)
    assert ok and "dmarc=fail" not in reason


def test_untrusted_pass_does_not_count():
    mail = mail_with("evil.example; dkim=pass; spf=pass; dmarc=pass",
                     f"{OURS}.evil.example; dkim=pass; dmarc=pass")
    assert authentication_verdict(mail, OURS) == (False, f"no Authentication-Results from {OURS}")


def test_missing_header():
    assert authentication_verdict(mail_with(), OURS) == (
        False, f"no Authentication-Results from {OURS}")


def test_not_configured():
    assert authentication_verdict(mail_with(), "") == (True, "authentication not checked")
    assert authentication_verdict(mail_with(), "  ") == (True, "authentication not checked")


def test_forged_deeper_header_with_our_id_is_ignored():
    # Our server prepends its verdict; the sender planted a "pass" with our id further down.
    mail = mail_with(f"{OURS}; dkim=none; spf=fail smtp.mailfrom=example.com; dmarc=fail",
                     f"{OURS}; dkim=pass; spf=pass; dmarc=pass")
    ok, reason = authentication_verdict(mail, OURS)
    assert not ok and "dmarc=fail" in reason


def test_case_version_comments_and_none():
    mail = mail_with("MX.Seoul.Example.ORG 1; (checked by us) DKIM=Pass (good; sig) "
                     "header.d=example.com")
    assert authentication_verdict(mail, OURS)[0]
    ok, reason = authentication_verdict(mail_with(f"{OURS}; none"), OURS)
    assert not ok and "no dkim/spf/dmarc results" in reason


@pytest.mark.parametrize("value, expected", [
    ("mx.example.org; dkim=pass header.i=@example.com; spf=neutral",
     ("mx.example.org", {"dkim": ["pass"], "spf": ["neutral"]})),
    ("mx.example.org 1; dkim/1=pass; dkim=fail (second sig)",
     ("mx.example.org", {"dkim": ["pass", "fail"]})),
    ('mx.example.org; auth=pass smtp.auth="a;b"; dmarc=pass',
     ("mx.example.org", {"auth": ["pass"], "dmarc": ["pass"]})),
    ("(comment (nested)) mx.example.org; none", ("mx.example.org", {})),
    ("", ("", {})),
])
def test_parse_authentication_results(value, expected):
    assert parse_authentication_results(value) == expected
