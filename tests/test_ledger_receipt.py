"""Receipts: built from the replicas, checked offline; bad receipts are refused with a
plain reason (wrong key, too few signatures, altered leaf, altered proof or checkpoint)."""
from __future__ import annotations

import copy
import json

import pytest

from mailworker.ledger import checkpoint as cp_mod
from mailworker.ledger import merkle
from mailworker.ledger.appender import append_pending
from mailworker.ledger.errors import ReceiptError
from mailworker.ledger.keys import generate_signer
from mailworker.ledger.layout import verifiers
from mailworker.ledger.receipt import build_receipt, verify_receipt

from tests.test_ledger_replicas import add_events, make_ledger, run_cli, take_down

SHA = f"{5:064x}"


@pytest.fixture
def ledger(make_config, clock):
    cfg = make_ledger(make_config, clock)
    payloads = add_events(20, clock)
    assert build_receipt(cfg, SHA) is None          # queued, not yet under a checkpoint
    append_pending(cfg, clock)
    return cfg, payloads


def test_receipt_proves_the_message_offline(ledger):
    cfg, payloads = ledger
    receipt = build_receipt(cfg, SHA)
    assert receipt["leaf_index"] == 5 and receipt["tree_size"] == 20
    assert receipt["leaf"].encode() == payloads[5]
    assert json.loads(receipt["leaf"])["msg_sha256"] == SHA
    info = verify_receipt(receipt, verifiers(cfg), 3, cfg.ledger.origin)
    assert info["leaf_index"] == 5 and len(info["signers"]) == 4
    # The proof part needs nothing but merkle.py (standard library).
    body = cp_mod.split_note(receipt["checkpoint"])[0].split("\n")
    import base64
    merkle.verify_inclusion(merkle.leaf_hash(receipt["leaf"].encode()), 5, int(body[1]),
                            [base64.b64decode(h) for h in receipt["inclusion_proof"]],
                            base64.b64decode(body[2]))
    # Upper case and surrounding spaces are accepted; unknown messages have no receipt.
    assert build_receipt(cfg, f"  {SHA.upper()} ")["leaf_index"] == 5
    assert build_receipt(cfg, "f" * 64) is None
    with pytest.raises(ReceiptError, match="not a SHA-256"):
        build_receipt(cfg, "xyz")


def test_receipt_with_a_replica_down(ledger, clock):
    cfg, _ = ledger
    take_down(cfg, "replica-1")
    add_events(2, clock, start=20)
    append_pending(cfg, clock)
    receipt = build_receipt(cfg, f"{21:064x}")
    info = verify_receipt(receipt, verifiers(cfg), 3)
    assert sorted(info["signers"]) == ["replica-2", "replica-3", "replica-4"]


def test_cli_receipt_and_verify_receipt(ledger, clock, tmp_path):
    cfg, _ = ledger
    out_file = tmp_path / "receipt.json"
    code, out, _ = run_cli(cfg, clock, "receipt", SHA, "-o", str(out_file))
    assert code == 0 and out_file.exists()
    code, out, _ = run_cli(cfg, clock, "verify-receipt", str(out_file))
    assert code == 0 and "receipt OK: leaf 5 of 20" in out
    keys = tmp_path / "var" / "ledger" / "public-keys.txt"
    from mailworker.ledger.bootstrap import init_ledger
    init_ledger(cfg)
    code, out, _ = run_cli(cfg, clock, "verify-receipt", str(out_file), "--keys", str(keys))
    assert code == 0, out
    code, out, err = run_cli(cfg, clock, "receipt", "a" * 64)
    assert code == 1 and "no receipt yet" in err


def _bad(cfg, receipt, keys=None, quorum=3):
    with pytest.raises(ReceiptError) as e:
        verify_receipt(receipt, keys if keys is not None else verifiers(cfg), quorum,
                       cfg.ledger.origin)
    return str(e.value)


def test_receipt_checked_with_the_wrong_keys_is_refused(ledger):
    cfg, _ = ledger
    receipt = build_receipt(cfg, SHA)
    strangers = [generate_signer(f"replica-{i}").verifier for i in range(1, 5)]
    msg = _bad(cfg, receipt, strangers)
    assert "0 good signature(s), it needs 3" in msg and "not among the trusted ones" in msg


def test_receipt_with_too_few_signatures_is_refused(ledger):
    cfg, _ = ledger
    receipt = build_receipt(cfg, SHA)
    body, sigs = cp_mod.split_note(receipt["checkpoint"])
    receipt["checkpoint"] = body + "\n" + "".join(s.text() + "\n" for s in sigs[:2])
    assert "has 2 good signature(s), it needs 3" in _bad(cfg, receipt)
    # Two copies of the same signature still count once.
    receipt["checkpoint"] = body + "\n" + "".join(s.text() + "\n" for s in sigs[:2] + sigs[:1])
    assert "has 2 good signature(s)" in _bad(cfg, receipt)


@pytest.mark.parametrize("change, reason", [
    (lambda r: r.__setitem__("leaf", r["leaf"].replace('"hours":1', '"hours":2')),
     "not proven to be in the signed tree"),
    (lambda r: r.__setitem__("leaf_index", 6), "not proven"),
    (lambda r: r.__setitem__("leaf_index", 25), "not inside a tree of size 20"),
    (lambda r: r["inclusion_proof"].pop(), "must have 5 hash"),
    (lambda r: r["inclusion_proof"].append(r["inclusion_proof"][0]), "extended"),
    (lambda r: r["inclusion_proof"].__setitem__(0, "A" * 44), "not proven"),
    (lambda r: r.__setitem__("tree_size", 21), "says tree size 21"),
    (lambda r: r.__setitem__("checkpoint", r["checkpoint"].replace("\n20\n", "\n21\n", 1)),
     "does not verify"),
    (lambda r: r.__setitem__("msg_sha256", "b" * 64), "not about message"),
    (lambda r: r.__setitem__("format", "something-else"), "not a mailworker ledger receipt"),
    (lambda r: r.pop("checkpoint"), "'checkpoint' is missing"),
    (lambda r: r.__setitem__("inclusion_proof", ["%%%"]), "not base64"),
    (lambda r: r.__setitem__("checkpoint", r["checkpoint"].replace("\n\n", "\n")),
     "no signatures"),
])
def test_altered_receipts_are_refused(ledger, change, reason):
    cfg, _ = ledger
    receipt = copy.deepcopy(build_receipt(cfg, SHA))
    change(receipt)
    assert reason in _bad(cfg, receipt)


def test_receipt_for_another_ledger_is_refused(ledger):
    cfg, _ = ledger
    receipt = build_receipt(cfg, SHA)
    with pytest.raises(ReceiptError, match="not for this ledger"):
        verify_receipt(receipt, verifiers(cfg), 3, "example.org/other-ledger")


def test_cli_says_plainly_why_a_receipt_is_bad(ledger, clock, tmp_path):
    cfg, _ = ledger
    receipt = build_receipt(cfg, SHA)
    receipt["leaf"] = receipt["leaf"].replace('"hours":1', '"hours":3')
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(receipt))
    code, out, err = run_cli(cfg, clock, "verify-receipt", str(bad))
    assert code == 2 and err.count("\n") == 1
    assert "not proven to be in the signed tree" in err and "Traceback" not in err
    bad.write_text("{not json")
    code, out, err = run_cli(cfg, clock, "verify-receipt", str(bad))
    assert code == 2 and "not a JSON receipt" in err
    code, out, err = run_cli(cfg, clock, "verify-receipt", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read the receipt" in err


def test_receipt_source_opens_the_ledger_once_and_follows_new_checkpoints(ledger, clock,
                                                                          monkeypatch):
    from mailworker.ledger import receipt as receipt_mod
    cfg, _ = ledger
    opened = []
    real_open = receipt_mod.open_ledger
    monkeypatch.setattr(receipt_mod, "open_ledger",
                        lambda *a, **k: opened.append(1) or real_open(*a, **k))
    with receipt_mod.ReceiptSource(cfg) as source:
        assert opened == []                       # opened at the first receipt, not before
        receipts = [source.build(f"{i:064x}") for i in range(20)]
        # Same receipts as one-off build_receipt calls, each checked offline.
        assert receipts[5] == build_receipt(cfg, SHA)
        for i, r in enumerate(receipts):
            assert verify_receipt(r, verifiers(cfg), 3, cfg.ledger.origin)["leaf_index"] == i
        # A message appended after the source read its checkpoint: queued first (None),
        # then proven against the newer checkpoint, the older receipts still valid.
        add_events(3, clock, start=20)
        assert source.build(f"{21:064x}") is None
        append_pending(cfg, clock)
        newer = source.build(f"{21:064x}")
        assert newer["tree_size"] == 23 and newer["leaf_index"] == 21
        verify_receipt(newer, verifiers(cfg), 3, cfg.ledger.origin)
        assert source.build("f" * 64) is None
    assert len(opened) == 2          # the source once, the comparison build_receipt once
