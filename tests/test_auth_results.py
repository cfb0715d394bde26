"""Authentication-Results: only our own server's topmost header counts (RFC 8601), and a
pass must vouch for the From domain (DMARC alignment, RFC 7489)."""
from __future__ import annotations

import pytest

from mailworker.ingest.auth import authentication_verdict, parse_authentication_results
from mailworker.ingest.parse import parse_message

OURS = "mx.seoul.example.org"


def mail_with(*auth_results: str, sender: str = "minjun.kim@example.com"):
    head = "".join(f"Authentication-Results: {v}\r\n" for v in auth_results)
    raw = (head + f"From: {sender}\r\nTo: governance@example.org\r\n"
           "Subject: 지갑 앱 오류\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "로그인이 안 됩니다.\r\n").encode("utf-8")
    return parse_message(raw)


def test_trusted_pass():
    ok, reason = authentication_verdict(mail_with(
        f"{OURS}; dkim=pass header.d=example.com header.s=s1; spf=pass "
        "smtp.mailfrom=example.com; dmarc=pass (p=reject dis=none) header.from=example.com"), OURS)
    assert ok
    assert reason == f"{OURS}: dmarc=pass for example.com"


def test_trusted_dmarc_fail():
    ok, reason = authentication_verdict(mail_with(
        f"{OURS}; dkim=pass header.d=attacker.example; spf=pass smtp.mailfrom=attacker.example;"
        " dmarc=fail (p=none) header.from=example.com"), OURS)
    assert not ok
    assert reason.startswith(f"{OURS}: DMARC check failed")


def test_trusted_neither_dkim_nor_spf_passes():
    ok, reason = authentication_verdict(mail_with(
        f"{OURS}; dkim=fail (bad signature) header.d=example.com; spf=softfail "
        "smtp.mailfrom=example.com"), OURS)
    assert not ok
    assert reason == (f"{OURS}: no check passed for the From domain example.com "
                      "(dkim=fail for example.com, spf=softfail for example.com)")


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
    assert authentication_verdict(mail, OURS) == (
        False, f"no sender authentication from {OURS}: the topmost Authentication-Results "
        "header is from evil.example")


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


@pytest.mark.parametrize("results", [
    "spf=pass smtp.mailfrom=attacker@evil.example; dmarc=none",
    "dkim=pass header.d=evil.example header.s=s1; dmarc=none",
    "dkim=pass header.i=@evil.example; spf=pass smtp.mailfrom=evil.example",
    "dkim=pass header.d=com; spf=pass smtp.mailfrom=x@co.kr",
    "dmarc=pass header.from=evil.example",
    "dkim=pass header.d=example.com; dmarc=fail header.from=example.com",
    "spf=pass",           # no smtp.mailfrom: nothing to align
])
def test_unaligned_or_failed_passes_earn_nothing(results):
    ok, reason = authentication_verdict(mail_with(f"{OURS}; {results}"), OURS)
    assert not ok, reason
    assert "example.com" in reason


@pytest.mark.parametrize("sender, results", [
    ("minjun.kim@example.com", "dkim=pass header.d=mail.example.com"),         # relaxed
    ("minjun.kim@mail.example.com", "dkim=pass header.d=example.com"),
    ("minjun.kim@example.com", "spf=pass smtp.mailfrom=bounce@lists.example.com"),
    ("junho@example.co.kr", "dkim=pass header.d=mx.example.co.kr"),
    ("minji@univ.ac.kr", "spf=pass smtp.mailfrom=bounces@mail.univ.ac.kr"),
    ("staff@seoul.go.kr", "dkim=pass header.d=news.seoul.go.kr; dmarc=none"),
    ("minjun.kim@example.com", "dmarc=pass"),
    ("minjun.kim@example.com", 'dkim=pass header.d="example.com"'),
])
def test_aligned_passes_are_accepted(sender, results):
    ok, reason = authentication_verdict(mail_with(f"{OURS}; {results}", sender=sender), OURS)
    assert ok, reason


@pytest.mark.parametrize("sender, results", [
    ("kim@other.co.kr", "dkim=pass header.d=example.co.kr"),      # co.kr is a public suffix
    ("kim@other.ac.kr", "spf=pass smtp.mailfrom=x@univ.ac.kr"),
    ("kim@jongno.seoul.kr", "dkim=pass header.d=evil.seoul.kr"),
])
def test_sharing_only_a_public_suffix_is_not_aligned(sender, results):
    ok, _ = authentication_verdict(mail_with(f"{OURS}; {results}", sender=sender), OURS)
    assert not ok


def test_internal_relays_above_ours_are_skipped():
    mail = mail_with("relay.seoul.example.org; dkim=none",
                     f"{OURS}; dkim=pass header.d=example.com")
    assert authentication_verdict(mail, OURS, ["relay.seoul.example.org"])[0]
    ok, reason = authentication_verdict(mail, OURS)
    assert not ok and "relay.seoul.example.org" in reason and "forged" in reason


def test_our_id_below_a_foreign_header_is_forged():
    mail = mail_with("mx.evil.example; dkim=pass header.d=example.com",
                     f"{OURS}; dkim=pass header.d=example.com; dmarc=pass")
    ok, reason = authentication_verdict(mail, OURS, ["relay.seoul.example.org"])
    assert not ok
    assert reason.startswith("sender authentication forged")


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


def test_parse_results_reads_properties():
    from mailworker.ingest.auth import parse_results
    authserv, results = parse_results(
        'mx.example.org; dkim=pass (good) header.d=Example.COM header.s="s;1"; '
        "spf=pass smtp.mailfrom=a@b.example; dmarc=pass header.from=example.com")
    assert authserv == "mx.example.org"
    assert [(r.method, r.result) for r in results] == [("dkim", "pass"), ("spf", "pass"),
                                                       ("dmarc", "pass")]
    assert results[0].properties == {"header.d": "Example.COM", "header.s": "s;1"}
    assert results[1].properties == {"smtp.mailfrom": "a@b.example"}
