"""Acknowledgements carry the ledger receipt once the leaf is committed at quorum."""
from __future__ import annotations

import json

import pytest

from mailworker.events import canonical_json, contribution_leaf
from mailworker.ledger.appender import append_pending
from mailworker.ledger.keys import pseudonym_key
from mailworker.ledger.layout import ensure_embedded_keys
from mailworker.models import LedgerEvent, Outbox
from mailworker.outbound.sender import drain_outbox
from mailworker.outbox import domain_of, enqueue
from mailworker.pseudonym import pseudonym
from tests.outbound_support import ACK_CONTEXT, add_members, bodies, open_db, outbound_config, parse

SHA = "5e" * 32


@pytest.fixture
def setup(make_config, tmp_path, clock):
    cfg = outbound_config(make_config, tmp_path, {"receipt_wait_seconds": 600})
    db = open_db(cfg, clock)
    ensure_embedded_keys(cfg)
    members = add_members(clock)
    minji = members["kim.minji@example.net"]
    # What ingest writes in one transaction: the ledger event and the acknowledgement.
    leaf = contribution_leaf(SHA, "review", 1, clock.now(), pseudonym(pseudonym_key(cfg),
                                                                      minji.uuid))
    LedgerEvent.create(event_type="contribution", payload=canonical_json(leaf).decode(),
                       dedup_key=f"contribution:{SHA}", created_at=clock.now())
    row = enqueue(f"ack:{SHA}", "ack", minji.primary_address, {**ACK_CONTEXT, "msg_sha256": SHA},
                  clock, member=minji, domain=domain_of(cfg),
                  attachments=[{"kind": "ledger_receipt", "msg_sha256": SHA}])
    yield cfg, row
    db.close()


def sent_files(cfg):
    return sorted(cfg.resolve(cfg.outgoing.directory).glob("*.eml"))


def test_ack_waits_for_quorum_then_attaches_the_receipt(setup, clock):
    cfg, row = setup
    first = drain_outbox(cfg, clock)
    assert first.sent == 0 and first.waiting == 1
    row = Outbox.get_by_id(row.id)
    assert row.attempts == 0 and "waiting for the ledger receipt" in row.last_error
    assert sent_files(cfg) == []
    result = append_pending(cfg, clock)
    assert result.appended == 1
    clock.advance(seconds=cfg.schedule.ledger_seconds)
    assert drain_outbox(cfg, clock).sent == 1
    msg = parse(sent_files(cfg)[0].read_bytes())
    assert msg.get_content_type() == "multipart/mixed"
    attachment = next(msg.iter_attachments())
    assert attachment.get_filename() == f"receipt-{SHA[:12]}.json"
    receipt = json.loads(attachment.get_content())
    assert receipt["msg_sha256"] == SHA
    assert json.loads(receipt["leaf"])["msg_sha256"] == SHA
    assert receipt["inclusion_proof"] is not None and receipt["checkpoint"]
    text, _ = bodies(msg)
    assert "장부 영수증(receipt-5e5e5e5e5e5e.json)을 첨부했으니" in text


def test_ack_goes_without_receipt_after_the_wait(setup, clock):
    cfg, row = setup
    assert drain_outbox(cfg, clock).sent == 0
    clock.advance(seconds=601)                 # ledger still not appended
    assert drain_outbox(cfg, clock).sent == 1
    row = Outbox.get_by_id(row.id)
    assert row.status == "sent" and "without the ledger receipt" in row.last_error
    msg = parse(sent_files(cfg)[0].read_bytes())
    assert msg.get_content_type() == "multipart/alternative"
    text, _ = bodies(msg)
    assert "장부 영수증이 필요하시면 이 메일에 회신해 주세요" in text
    assert f"mailworker ledger receipt {SHA}" in text


def test_one_drain_pass_opens_the_ledger_once_for_all_receipts(setup, clock, monkeypatch):
    from mailworker.ledger import receipt as receipt_mod
    cfg, _ = setup
    minji = Outbox.get(Outbox.key == f"ack:{SHA}").member
    shas = [f"{i:02x}" * 32 for i in range(1, 5)]
    for sha in shas:
        leaf = contribution_leaf(sha, "review", 1, clock.now(),
                                 pseudonym(pseudonym_key(cfg), minji.uuid))
        LedgerEvent.create(event_type="contribution", payload=canonical_json(leaf).decode(),
                           dedup_key=f"contribution:{sha}", created_at=clock.now())
        enqueue(f"ack:{sha}", "ack", minji.primary_address,
                {**ACK_CONTEXT, "msg_sha256": sha, "subject": "[품평] 지갑 오류"}, clock,
                member=minji, domain=domain_of(cfg),
                attachments=[{"kind": "ledger_receipt", "msg_sha256": sha}])
    append_pending(cfg, clock)
    opened = []
    real_open = receipt_mod.open_ledger
    monkeypatch.setattr(receipt_mod, "open_ledger",
                        lambda *a, **k: opened.append(1) or real_open(*a, **k))
    assert drain_outbox(cfg, clock).sent == 5
    assert len(opened) == 1
    names = set()
    for path in sent_files(cfg):
        msg = parse(path.read_bytes())
        attachment = next(msg.iter_attachments())
        receipt = json.loads(attachment.get_content())
        assert attachment.get_filename() == f"receipt-{receipt['msg_sha256'][:12]}.json"
        names.add(receipt["msg_sha256"])
    assert names == {SHA, *shas}
    # A pass with nothing needing a receipt does not open the ledger at all.
    assert drain_outbox(cfg, clock).sent == 0 and len(opened) == 1
