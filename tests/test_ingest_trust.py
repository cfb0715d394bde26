"""Issue 10, ingest half: hours only for the member who wrote, once per contribution, and
no message stops the service. Every case goes through a real Maildir, the real pipeline
and a real SQLite file (the Dovecot path is the same code, see test_ingest_imap.py)."""
from __future__ import annotations

import logging
import time

import pytest

from mailworker.models import CreditedText, HourCredit, Message, Outbox, RecentBand, TextBand
from tests.mailfactory import PROPOSAL_KO, REVIEW_EN, REVIEW_KO, make_mail
from tests.test_ingest_imap import imap_world  # noqa: F401 - the fixture
from tests.test_ingest_pipeline import only, world  # noqa: F401 - the fixture

OURS = "mx.seoul.example.org"
MINJI = "kim.minji@example.net"          # members of tests/roster.py
DANIEL = "daniel.park@example.com"


def vouched(raw: bytes, results: str) -> bytes:
    """The mail as our receiving server hands it over: its verdict on top."""
    return f"Authentication-Results: {OURS}; {results}\r\n".encode() + raw


def aligned_for(sender: str) -> str:
    domain = sender.rsplit("@", 1)[1]
    return f"dkim=pass header.d={domain}; spf=pass smtp.mailfrom={sender}; dmarc=pass"


def review(sender: str = MINJI, body: str = REVIEW_KO, **kw) -> bytes:
    return make_mail(sender=sender, subject="[품평] 지갑 앱 오류", body=body, **kw)


def replace_from(raw: bytes, value: bytes) -> bytes:
    head, rest = raw.split(b"\n\n", 1)
    lines = [value if line.startswith(b"From:") else line for line in head.split(b"\n")]
    return b"\n".join(lines) + b"\n\n" + rest


# -- sender identity ---------------------------------------------------------------------
def test_member_address_as_display_name_earns_nothing(world):
    w = world(ingest={"trusted_authserv_id": OURS})
    raw = replace_from(review(), f"From: {MINJI} <attacker@evil.example>".encode())
    w.deliver(vouched(raw, "dkim=pass header.d=evil.example; spf=pass "
                           "smtp.mailfrom=attacker@evil.example; dmarc=pass"))
    w.run()
    msg = only(Message.select())
    assert msg.disposition == "triage" and msg.member is None
    assert "display name holds an address" in msg.reason and MINJI in msg.reason
    assert HourCredit.select().count() == 0 and Outbox.select().count() == 0


def test_quoted_member_address_as_display_name_is_the_attackers_mail(world):
    w = world()
    w.deliver(replace_from(review(), f'From: "{MINJI}" <attacker@evil.example>'.encode()))
    w.run()
    msg = only(Message.select())
    assert msg.disposition == "non_member" and msg.sender == "attacker@evil.example"
    assert HourCredit.select().count() == 0


def test_two_from_headers_earn_nothing(world):
    w = world(ingest={"trusted_authserv_id": OURS})
    raw = replace_from(review(), f"From: {MINJI}\nFrom: attacker@evil.example".encode())
    w.deliver(vouched(raw, aligned_for(MINJI)))
    w.run()
    msg = only(Message.select())
    assert msg.disposition == "triage"
    assert msg.reason == ("sender unclear, not credited: the message has 2 From headers "
                          "(only one is allowed)")
    assert HourCredit.select().count() == 0 and Outbox.select().count() == 0
    assert w.folder_count("Triage") == 1


def test_one_from_with_two_mailboxes_earns_nothing(world):
    w = world()
    w.deliver(replace_from(review(), f"From: {MINJI}, attacker@evil.example".encode()))
    w.deliver(replace_from(review(body=PROPOSAL_KO),
                           f"From: Team: {MINJI}, attacker@evil.example;".encode()))
    w.run()
    reasons = sorted(m.reason for m in Message.select())
    assert [m.disposition for m in Message.select()] == ["triage", "triage"]
    assert "holds 2 mailboxes" in reasons[0] and "address group" in reasons[1]
    assert HourCredit.select().count() == 0


def test_comment_never_names_the_sender(world):
    w = world()
    w.deliver(replace_from(review(), f"From: attacker@evil.example ({MINJI})".encode()))
    w.run()
    assert only(Message.select()).disposition == "non_member"


# -- alignment --------------------------------------------------------------------------
@pytest.mark.parametrize("results, shown", [
    ("spf=pass smtp.mailfrom=attacker@evil.example; dmarc=none", "spf=pass for evil.example"),
    ("dkim=pass header.d=evil.example; dmarc=none", "dkim=pass for evil.example"),
    (f"dkim=pass header.d=example.net; dmarc=fail header.from=example.net",
     "DMARC check failed"),
])
def test_unaligned_authentication_earns_nothing(world, results, shown):
    w = world(ingest={"trusted_authserv_id": OURS})
    w.deliver(vouched(review(), results))
    w.run()
    msg = only(Message.select())
    assert msg.disposition == "no_credit" and shown in msg.reason
    assert HourCredit.select().count() == 0 and Outbox.select().count() == 0


def test_aligned_authentication_is_credited_also_by_organisational_domain(world):
    w = world(ingest={"trusted_authserv_id": OURS})
    w.deliver(vouched(review(), "dkim=pass header.d=mail.example.net; dmarc=none"))
    w.deliver(vouched(review(sender="junho.choi@example.co.kr", body=PROPOSAL_KO),
                      "spf=pass smtp.mailfrom=bounce@lists.example.co.kr"))
    w.run()
    assert [m.disposition for m in Message.select()] == ["credited", "credited"]


def test_only_the_topmost_header_counts_and_ours_below_a_foreign_one_is_forged(world):
    w = world(ingest={"trusted_authserv_id": OURS,
                      "internal_authserv_ids": ["relay.seoul.example.org"]})
    genuine = vouched(review(), aligned_for(MINJI))
    w.deliver(b"Authentication-Results: relay.seoul.example.org; none\r\n" + genuine)
    w.deliver(b"Authentication-Results: mx.evil.example; dkim=pass\r\n"
              + vouched(review(body=PROPOSAL_KO), aligned_for(MINJI)))
    w.run()
    by_subject = {m.excerpt[:10]: m for m in Message.select()}
    relayed, forged = by_subject[REVIEW_KO[:10]], by_subject[PROPOSAL_KO[:10]]
    assert relayed.disposition == "credited"
    assert forged.disposition == "no_credit" and "forged" in forged.reason


# -- farming ----------------------------------------------------------------------------
def test_the_same_text_again_is_not_credited_whatever_is_invisible_or_punctuation(world):
    w = world(ingest={"daily_credit_cap": 10})
    w.deliver(review())
    w.run()
    variants = [REVIEW_KO + ".", REVIEW_KO.replace(" ", " \u200b"),
                "\u2060" + REVIEW_KO.replace(".", "!!") + "\u00ad"]
    for body in variants:
        w.deliver(review(body=body))
    w.run()
    dispositions = [m.disposition for m in Message.select().order_by(Message.id)]
    assert dispositions == ["credited", "no_credit", "no_credit", "no_credit"]
    for m in Message.select().where(Message.disposition == "no_credit"):
        assert "already credited to you" in m.reason
    assert HourCredit.select().count() == 1


@pytest.mark.parametrize("body, why", [
    ("\u200b" * 25 + "hello", "only 5 letters or digits"),
    ("a" * 20, "no real words"),
    ("\U0001F600" * 25, "only 0 letters or digits"),
    ("ㅋ" * 30, "no real words"),
    ("좋아요 " * 10, "no real words"),
])
def test_bodies_without_real_words_earn_nothing(world, body, why):
    w = world()
    w.deliver(review(body=body))
    w.run()
    msg = only(Message.select())
    assert msg.disposition == "no_credit" and why in msg.reason
    # the member is told why (no names of others involved)
    assert only(Outbox.select()).template == "no_credit"


def test_another_members_credited_text_goes_to_triage_naming_both(world):
    w = world()
    w.deliver(review())
    w.run()
    first = only(Message.select())
    w.deliver(review(sender=DANIEL, body=REVIEW_KO + " "))
    w.run()
    copy = Message.select().where(Message.sender == DANIEL).get()
    assert copy.disposition == "triage"
    assert f"message #{first.id}" in copy.reason
    assert "김민지" in copy.reason and "Daniel Park" in copy.reason
    assert HourCredit.select().count() == 1
    # Daniel is not told whose text it was (he gets no mail at all about it)
    assert not [o for o in Outbox.select() if o.to_addr == DANIEL]


def test_a_near_copy_of_any_members_credited_text_earns_nothing(world):
    long_text = " ".join([REVIEW_KO, REVIEW_EN, PROPOSAL_KO] * 2)
    w = world(ingest={"daily_credit_cap": 10})
    w.deliver(review(body=long_text))
    w.run()
    # sixteen band keys: one band number's already moved into the large table
    assert CreditedText.select().count() == 1
    assert (TextBand.select().count(), RecentBand.select().count()) == (1, 15)
    w.deliver(review(body=long_text.replace("세 번", "네 번", 1)))  # a word changed
    w.deliver(review(sender=DANIEL, body=long_text + " 감사합니다"))   # a word added
    w.deliver(review(sender=DANIEL, body=REVIEW_EN + " And the chart is empty too."))
    w.run()
    rows = {(m.sender, m.disposition) for m in Message.select()}
    assert (MINJI, "no_credit") in rows and (DANIEL, "triage") in rows
    assert (DANIEL, "credited") in rows                  # his own, different text
    near = Message.select().where((Message.sender == MINJI)
                                  & (Message.disposition == "no_credit")).get()
    assert "nearly the same text" in near.reason
    assert HourCredit.select().count() == 2


def test_two_members_sending_one_text_in_one_pass_credit_only_the_first(world):
    w = world()
    w.deliver(review(), review(sender=DANIEL))
    w.run()
    dispositions = sorted(m.disposition for m in Message.select())
    assert dispositions == ["credited", "triage"]
    copy = Message.select().where(Message.disposition == "triage").get()
    assert "a message recorded in the same pass" in copy.reason


# -- one message never stops the service ------------------------------------------------
def test_control_characters_never_reach_stored_header_values(world):
    w = world(ingest={"reply_to_non_members": True})
    raw = make_mail(sender="stranger@evil.example", body=REVIEW_EN,
                    message_id="<poison-id@evil.example>").replace(b"poison-id", b"poison\x1cid")
    raw = raw.replace(b"Subject:", b"References: <a\x01b@x> <c@d>\r\nIn-Reply-To: <r\x0bq@x>"
                      b"\r\nSubject:", 1)
    member = replace_from(
        make_mail(subject="S").replace(
            b"Subject: S", b"Subject: =?utf-8?q?=ED=92=88=ED=8F=89_a=0D=0ABcc:_x@evil.example?="),
        f"From: =?utf-8?q?Kim=0D=0AX-Evil=3A_1?= <{MINJI}>".encode())
    w.deliver(raw, member)
    w.run()
    stranger = Message.select().where(Message.sender == "stranger@evil.example").get()
    assert stranger.message_id == "poisonid@evil.example"
    assert stranger.in_reply_to == "rq@x"
    minji = Message.select().where(Message.sender == MINJI).get()
    assert "\r" not in minji.subject and "\n" not in minji.subject
    assert minji.subject.endswith("a Bcc: x@evil.example")
    assert minji.sender_name == "Kim X-Evil: 1"
    for row in Outbox.select():
        assert not any(c in str(row.context) for c in "\r\n\x1c\x01")


def test_a_subject_of_eighty_thousand_encoded_words_is_cut_and_read_quickly(world):
    w = world()
    # q-encoded words go the general way (b-encoded utf-8 ones have a linear shortcut)
    words = " ".join(["=?utf-8?q?=ED=95=9C?= =?utf-8?b?6rWt?="] * 40_000)
    w.deliver(make_mail(subject="x", body=REVIEW_EN).replace(b"Subject: x",
                                                             b"Subject: " + words.encode()))
    started = time.perf_counter()
    w.run()
    assert time.perf_counter() - started < 3      # 7 s in mail-parser alone before
    msg = only(Message.select())
    assert msg.subject.startswith("한국한국") and len(msg.subject) < 40_000
    assert msg.disposition != "quarantined"


@pytest.mark.parametrize("codec", ["base64", "zlib", "hex", "rot13", "uu", "bz2", "punycode",
                                   "idna", "quopri", "unicode_escape"])
def test_non_text_codec_names_are_unknown_charsets(world, codec, caplog):
    w = world()
    raw = make_mail(body=REVIEW_EN).replace(b"charset=\"utf-8\"", f"charset={codec}".encode())
    raw = raw.replace(b"charset=utf-8", f"charset={codec}".encode())
    raw = raw.replace(b"Subject: ", f"Subject: =?{codec}?q?S-coin_crash?= ".encode(), 1)
    w.deliver(raw)
    caplog.set_level(logging.WARNING)
    w.run()
    msg = only(Message.select())
    assert msg.disposition != "quarantined", msg.reason
    assert "S-coin wallet app crashes" in msg.excerpt
    assert "S-coin crash" in msg.subject
    assert "Traceback" not in caplog.text


def test_utf7_with_lone_surrogates_is_read_and_recorded(world, caplog):
    w = world()
    raw = (f"From: {MINJI}\r\nTo: group@example.org\r\n"
           "Subject: =?utf-7?q?+2ADYAA-?= review\r\nContent-Type: text/plain; charset=utf-7\r\n"
           "\r\n").encode() + b"+2ADYAA- " + REVIEW_EN.encode() + b" +3AA-\r\n"
    w.deliver(raw)
    caplog.set_level(logging.WARNING)
    w.run()
    msg = only(Message.select())
    assert msg.disposition != "quarantined", msg.reason
    assert "S-coin wallet" in msg.excerpt and "\ufffd" in msg.excerpt
    assert "Traceback" not in caplog.text


def test_a_message_whose_reading_takes_too_long_is_quarantined_once(world):
    w = world(ingest={"analysis_seconds": 0.05})
    slow_html = ("<p>" + "<b>느린</b> 메일 " * 60_000 + "</p>").encode()
    raw = make_mail(body="x").replace(b"Content-Type: text/plain", b"Content-Type: text/html")
    raw = raw.split(b"\n\n", 1)[0].replace(b"Content-Transfer-Encoding: base64",
                                           b"Content-Transfer-Encoding: 8bit")
    raw = raw.replace(b"Content-Transfer-Encoding: 7bit", b"Content-Transfer-Encoding: 8bit")
    w.deliver(raw + b"\n\n" + slow_html, review(sender=DANIEL))
    first = w.run()
    assert first.recorded == 2 and w.inbox_count() == 0
    slow = Message.select().where(Message.disposition == "quarantined").get()
    assert "took more than 0.05 seconds" in slow.reason
    assert Message.select().where(Message.sender == DANIEL).get().disposition == "credited"
    assert w.run().seen == 0                          # filed: never read again


# -- the same through Dovecot ------------------------------------------------------------
def test_spoofs_copies_and_poison_through_imap(imap_world, dovecot, clock):
    from tests.test_ingest_imap import run_pass
    cfg = imap_world(ingest={"trusted_authserv_id": OURS})
    genuine = vouched(review(), aligned_for(MINJI))
    dovecot.append([
        genuine,
        vouched(replace_from(review(body=PROPOSAL_KO),
                             f"From: {MINJI} <attacker@evil.example>".encode()),
                "dkim=pass header.d=evil.example; dmarc=pass"),
        vouched(replace_from(review(body=REVIEW_EN),
                             f"From: {MINJI}\nFrom: attacker@evil.example".encode()),
                aligned_for(MINJI)),
        vouched(review(sender=DANIEL, body=REVIEW_KO + "."), aligned_for(DANIEL)),
        vouched(review(sender=DANIEL, body="\u200b" * 25 + "hello"), aligned_for(DANIEL)),
        b"Authentication-Results: mx.evil.example; none\r\n"
        + vouched(review(sender=DANIEL, body=PROPOSAL_KO), aligned_for(DANIEL)),
    ])
    result = run_pass(cfg, clock)
    assert result.recorded == 6 and dovecot.count("INBOX") == 0
    assert sorted(result.dispositions.items()) == [("credited", 1), ("no_credit", 2),
                                                   ("triage", 3)]
    assert only(HourCredit.select()).member.primary_address == MINJI
    assert dovecot.count("Triage") == 3


def test_a_text_credited_before_the_upgrade_is_still_found_when_resent(world):
    """Schema 2 stored the fingerprint of NFKC, case-folded, blank-squashed text; a text
    credited then and sent again verbatim must still be found."""
    import hashlib
    import unicodedata
    w = world()
    w.deliver(review())
    w.run()
    old_form = " ".join(unicodedata.normalize("NFKC", REVIEW_KO).casefold().split())
    (Message.update(body_sha256=hashlib.sha256(old_form.encode()).hexdigest()).execute())
    CreditedText.delete().execute()
    TextBand.delete().execute()
    RecentBand.delete().execute()
    w.deliver(review(message_id="<again@x>"))
    w.run()
    again = Message.select().order_by(Message.id.desc()).get()
    assert again.disposition == "no_credit" and "already credited to you" in again.reason


def test_an_undecodable_encoded_word_never_puts_the_header_in_the_log(world, caplog):
    w = world()
    name = "=?utf-8?b?6rmA66+87KeA#x?="          # a damaged encoded word: someone's name
    w.deliver(replace_from(review(), f"From: {name} <{MINJI}>".encode()))
    caplog.set_level(logging.DEBUG)
    w.run()
    assert only(Message.select()).disposition == "credited"
    assert "6rmA66" not in caplog.text


def test_a_long_run_of_combining_marks_is_read_in_bounded_time(world):
    """Unicode normalisation of one long run of combining marks takes time growing with
    its square (80,000 marks: about 5 s in one call no time limit can interrupt)."""
    w = world()
    w.deliver(review(body=REVIEW_KO + " a" + "\u0316\u0301" * 40_000))
    started = time.perf_counter()
    w.run()
    assert time.perf_counter() - started < 3
    assert only(Message.select()).disposition == "credited"


def test_long_runs_of_blanks_in_address_headers_are_read_in_bounded_time(world):
    w = world()
    blanks = b" " * 32_000
    raw = replace_from(review(), b"From: x" + blanks + b"y")
    w.deliver(raw.replace(b"To: group@example.org", b"To: a" + blanks + b"b"))
    started = time.perf_counter()
    w.run()
    assert time.perf_counter() - started < 1.5       # 2.5 s in two regular expressions before
    msg = only(Message.select())
    assert msg.disposition == "triage" and "no usable address" in msg.reason


def test_no_reply_is_queued_to_a_stranger_address_no_mail_could_carry(world):
    w = world(ingest={"reply_to_non_members": True})
    w.deliver(replace_from(make_mail(body=REVIEW_EN), b"From: =?utf-8?b?6rma66+87kea?=p@ex.org"),
              make_mail(sender="stranger@example.com", body=REVIEW_EN))
    w.run()
    assert [m.disposition for m in Message.select()] == ["non_member", "non_member"]
    assert [o.to_addr for o in Outbox.select()] == ["stranger@example.com"]
