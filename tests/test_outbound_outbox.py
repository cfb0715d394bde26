"""`mailworker.outbox.enqueue`: idempotent, inside the caller's transaction, fixed IDs."""
from __future__ import annotations

import re

import pytest

from mailworker.models import Outbox, db_proxy
from mailworker.outbox import domain_of, enqueue
from tests.outbound_support import add_members, open_db, outbound_config



CONTEXT = {"display_name": "김민지", "subject": "문의", "received_local": "2026-11-25 10:03",
           "in_reply_to": None}


def test_enqueue_is_idempotent_on_key(env, clock):
    cfg, members = env
    minji = members["kim.minji@example.net"]
    first = enqueue("triage:abc", "triage_notice", "kim.minji@example.net", CONTEXT, clock,
                    member=minji, domain=domain_of(cfg))
    assert re.fullmatch(r"<[0-9a-f]{24}\.[0-9]{10}@seoul\.example>", first.message_id)
    assert first.status == "pending" and first.attempts == 0
    assert first.not_before == first.created_at == clock.now().replace(tzinfo=None)
    assert first.context["language"] == "ko"                  # taken from the member
    clock.advance(hours=1)
    again = enqueue("triage:abc", "triage_notice", "other@example.com", {"x": 1}, clock,
                    domain=domain_of(cfg))
    assert again.id == first.id and again.message_id == first.message_id
    assert again.to_addr == "kim.minji@example.net"
    assert Outbox.select().count() == 1
    daniel = members["daniel.park@example.com"]
    en = enqueue("triage:def", "triage_notice", daniel.primary_address, CONTEXT, clock,
                 member=daniel, domain=domain_of(cfg))
    assert en.context["language"] == "en" and en.message_id != first.message_id


def test_enqueue_rolls_back_with_the_callers_transaction(env, clock):
    cfg, _ = env

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with db_proxy.atomic():
            enqueue("ack:1", "triage_notice", "a@example.com", CONTEXT, clock,
                    domain=domain_of(cfg))
            raise Boom()
    assert Outbox.select().count() == 0
    with db_proxy.atomic():
        row = enqueue("ack:1", "triage_notice", "a@example.com", CONTEXT, clock,
                      domain=domain_of(cfg))
        assert enqueue("ack:1", "triage_notice", "a@example.com", CONTEXT, clock,
                       domain=domain_of(cfg)).id == row.id
    assert Outbox.select().count() == 1


def test_enqueue_checks_its_input(env, clock):
    cfg, _ = env
    with pytest.raises(ValueError, match="not an e-mail address"):
        enqueue("k1", "ack", "nobody", CONTEXT, clock, domain=domain_of(cfg))
    with pytest.raises(ValueError, match="template name"):
        enqueue("k2", "../etc", "a@example.com", CONTEXT, clock, domain=domain_of(cfg))
    with pytest.raises(ValueError, match="language"):
        enqueue("k3", "ack", "a@example.com", {**CONTEXT, "language": "fr"}, clock,
                domain=domain_of(cfg))
    with pytest.raises(ValueError, match="plain JSON"):
        enqueue("k4", "ack", "a@example.com", {**CONTEXT, "when": object()}, clock,
                domain=domain_of(cfg))
    with pytest.raises(ValueError, match="Message-ID domain"):
        enqueue("k5", "ack", "a@example.com", CONTEXT, clock, domain="bad domain")
    assert Outbox.select().count() == 0
    # Staff mail may go to several addresses; without a domain the host name is used.
    row = enqueue("k6", "digest", "a@example.com,  b@example.com", {}, clock)
    assert row.to_addr == "a@example.com, b@example.com"
    assert re.fullmatch(r"<[0-9a-f]{24}\.[0-9]{10}@[A-Za-z0-9.-]+>", row.message_id)


def test_outbox_on_postgresql(pg, make_config, tmp_path, clock, smtp_factory):
    """The same queue, claim and send path on PostgreSQL (ON CONFLICT, LIKE, updates)."""
    from mailworker.outbound.sender import drain_outbox
    server = smtp_factory("plain", script=["451 4.3.0 later"])
    url = pg.new_database("outbound_outbox")
    cfg = outbound_config(make_config, tmp_path, server.outgoing_config(),
                          database={"url": url})
    db = open_db(cfg, clock)
    try:
        members = add_members(clock)
        minji = members["kim.minji@example.net"]
        first = enqueue("triage:pg", "triage_notice", minji.primary_address, CONTEXT, clock,
                        member=minji, domain=domain_of(cfg))
        with db_proxy.atomic():
            assert enqueue("triage:pg", "triage_notice", minji.primary_address, CONTEXT,
                           clock, domain=domain_of(cfg)).id == first.id
        assert drain_outbox(cfg, clock).retried == 1
        clock.advance(hours=1)
        assert drain_outbox(cfg, clock).sent == 1
        row = Outbox.get_by_id(first.id)
        assert row.status == "sent" and row.attempts == 2
        assert [m.message_id for m in server.messages] == [first.message_id]
    finally:
        db.close()


def test_message_ids_are_unique_and_sort_in_the_order_they_were_made():
    from mailworker.outbox import new_message_id
    ids = [new_message_id("seoul.example") for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)     # the index on them grows at its end
    with pytest.raises(ValueError, match="Message-ID domain"):
        new_message_id("bad domain")


def test_sent_mail_keeps_its_hash_and_loses_its_values_after_keep_sent_days(env, clock):
    """[outgoing] keep_sent_days (90): the row stays (key, recipient, Message-ID, status,
    the SHA-256 of the bytes sent), the member's excerpt and names go; pending mail and
    package rows keep theirs."""
    import datetime as dt
    import hashlib
    from mailworker.outbound.sender import drain_outbox, prune_sent
    cfg, members = env
    minji = members["kim.minji@example.net"]
    sent = enqueue("triage:old", "triage_notice", minji.primary_address, CONTEXT, clock,
                   member=minji, domain=domain_of(cfg))
    assert drain_outbox(cfg, clock).sent == 1
    sent = Outbox.get_by_id(sent.id)
    eml, = cfg.resolve(cfg.outgoing.directory).glob("*.eml")
    assert sent.sent_sha256 == hashlib.sha256(eml.read_bytes()).hexdigest()
    clock.advance(days=89)
    waiting = enqueue("triage:new", "triage_notice", minji.primary_address, CONTEXT, clock,
                      member=minji, domain=domain_of(cfg))
    Outbox.update(not_before=dt.datetime(2030, 1, 1)).where(Outbox.id == waiting.id).execute()
    assert prune_sent(cfg, clock) == 0                      # 89 days: not yet
    clock.advance(days=2)
    assert prune_sent(cfg, clock) == 1
    old = Outbox.get_by_id(sent.id)
    assert old.context == {} and old.attachments == [] and old.pruned_at is not None
    assert (old.status, old.to_addr, old.key, old.message_id, old.sent_sha256) == \
        ("sent", minji.primary_address, "triage:old", sent.message_id, sent.sent_sha256)
    assert Outbox.get_by_id(waiting.id).context["display_name"] == "김민지"   # not sent
    assert prune_sent(cfg, clock) == 0                      # once
