"""Replicas that lie: a replica checks what it signs against what it stores, the service
audits every replica on a schedule, a damaged replica stays out of the quorum (status and
the staff digest say so first) until `ledger repair`, which also rebuilds a store file
that is no longer a database (kept aside for inspection)."""
from __future__ import annotations

import email
import email.policy

import pytest

from mailworker.cli import main
from mailworker.errors import ConfigError
from mailworker.ledger.appender import append_pending
from mailworker.ledger.audit import audit_due
from mailworker.ledger.damage import damaged_replicas
from mailworker.ledger.errors import ReplicaDamaged
from mailworker.ledger.handle import open_ledger
from mailworker.ledger.checkpoint import Checkpoint
from mailworker.ledger.status import format_status, ledger_status
from mailworker.outbound.digest import queue_digest
from mailworker.outbound.sender import drain_outbox
from tests.test_ledger_replicas import (add_events, assert_consistent, change_leaf, make_ledger,
                                        run_cli, store_path)


def _health(cfg, name: str) -> str:
    return next(r["health"] for r in ledger_status(cfg)["replicas"] if r["name"] == name)


def test_a_flipped_leaf_makes_the_replica_refuse_to_sign(make_config, clock):
    cfg = make_ledger(make_config, clock)
    payloads = add_events(9, clock)
    append_pending(cfg, clock)
    change_leaf(cfg, "replica-2", 4)        # its data changes, its stored hash does not
    handle = open_ledger(cfg)
    try:
        rep = handle.replicas["replica-2"]
        with pytest.raises(ReplicaDamaged, match="leaf 4: its stored data does not match"):
            rep.sign(Checkpoint(cfg.ledger.origin, 9, rep.root(9)), "2026-11-25T01:00:00Z")
    finally:
        handle.close()
    payloads += add_events(3, clock, start=9)
    res = append_pending(cfg, clock)
    assert res.appended == 3 and res.replicas_ok == 3
    assert "replica-2: refuses to sign size 12" in res.message
    assert "replica-2" not in ledger_status(cfg)["signers"]
    # Out of the quorum until repaired, and said so.
    status = ledger_status(cfg)
    assert status["damaged"] == ["replica-2"]
    assert _health(cfg, "replica-2").startswith("DAMAGED since 2026-11-25 01:00 UTC")
    assert "mailworker ledger repair replica-2" in format_status(status)
    assert status["usable"] == 3
    payloads += add_events(2, clock, start=12)
    res = append_pending(cfg, clock)
    assert res.appended == 2 and "left out: replica-2: DAMAGED" in res.message
    code, out, err = run_cli(cfg, clock, "repair", "replica-2")
    assert code == 0, err
    assert "no longer marked damaged" in out
    assert damaged_replicas() == {}
    append_pending(cfg, clock)
    assert_consistent(cfg, payloads)
    assert "replica-2" in ledger_status(cfg)["signers"]


def test_the_scheduled_audit_finds_deep_damage_and_the_digest_leads_with_it(
        make_config, clock, tmp_path):
    make_ledger(make_config, clock)
    cfg = make_config({"ledger": {"batch_size": 200, "audit_every": "6h"},
                       "staff": {"addresses": ["staff1@seoul.example"]},
                       "outgoing": {"from_address": "governance@seoul.example"}})
    payloads = add_events(600, clock)
    append_pending(cfg, clock)
    change_leaf(cfg, "replica-3", 10)       # deep in the tree: signing does not read it
    payloads += add_events(3, clock, start=600)
    assert append_pending(cfg, clock).replicas_ok == 4     # not found by signing alone
    assert audit_due(cfg, clock)
    (tmp_path / "var" / "Maildir").mkdir(parents=True, exist_ok=True)
    assert main(["--config", str(cfg.path), "run", "--once"], clock=clock) == 0
    assert list(damaged_replicas()) == ["replica-3"]
    assert "leaf 10" in damaged_replicas()["replica-3"]["why"]
    assert not audit_due(cfg, clock)
    clock.advance(hours=6)
    assert audit_due(cfg, clock)
    # The damaged replica is left out of the next appends.
    payloads += add_events(2, clock, start=603)
    res = append_pending(cfg, clock)
    assert res.appended == 2 and res.replicas_ok == 3
    # The staff digest names it before anything else.
    row = queue_digest(cfg, clock, clock.now().date())
    drain_outbox(cfg, clock)
    sent = sorted((tmp_path / "var" / "sent-mail").glob("*.eml"))
    mails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in sent]
    digest = next(m for m in mails if m["Message-ID"] == row.message_id)
    assert str(digest["Subject"]).startswith("[원장 복제본 손상 1]")
    text = digest.get_body(("plain",)).get_content()
    urgent = text.index("긴급: 원장 복제본 손상")
    assert urgent < text.index("어제 들어온 품평·제안")
    assert "replica-3: DAMAGED" in text[urgent:] and "mailworker ledger repair replica-3" in text
    assert main(["--config", str(cfg.path), "ledger", "repair", "replica-3"],
                clock=clock) == 0
    assert damaged_replicas() == {}
    append_pending(cfg, clock)
    assert_consistent(cfg, payloads)


def test_repair_sets_an_unreadable_store_aside_and_rebuilds_it(make_config, clock):
    cfg = make_ledger(make_config, clock)
    payloads = add_events(9, clock)
    append_pending(cfg, clock)
    path = store_path(cfg, "replica-2")
    garbage = b"this is not a database " * 2000
    path.write_bytes(garbage)
    health = _health(cfg, "replica-2")
    assert health.startswith("DAMAGED") and "file is not a database" in health
    assert "mailworker ledger repair replica-2" in health
    assert ledger_status(cfg)["damaged"] == ["replica-2"]
    code, out, err = run_cli(cfg, clock, "repair", "replica-2")
    assert code == 0, err
    assert "moved the unreadable store aside, kept for inspection" in out
    kept = sorted(path.parent.glob("replica-2.db.unreadable-*"))
    assert kept[0].name == "replica-2.db.unreadable-20261125T010000Z"
    assert kept[0].read_bytes() == garbage
    assert str(kept[0]) in out and "copied leaves 0..8" in out
    payloads += add_events(2, clock, start=9)
    append_pending(cfg, clock)
    assert_consistent(cfg, payloads)


@pytest.mark.parametrize("value", ["1", "5s", "daily", "-1h", "1.5h"])
def test_audit_every_must_be_a_duration(make_config, value):
    with pytest.raises(ConfigError, match=r"\[ledger\] audit_every must be a duration"):
        make_config({"ledger": {"audit_every": value}})
    assert make_config({"ledger": {"audit_every": "off"}}).ledger.audit_every == "off"
    assert make_config({}).ledger.audit_every == "1d"


def test_a_served_replica_that_finds_itself_damaged_is_named_over_http(tmp_path, clock):
    import sqlite3

    from mailworker import config as config_mod
    from mailworker import db as db_mod
    from mailworker.ledger import tree
    import os
    import subprocess
    import sys

    from tests.test_ledger_serve import NAMES, ROOT, Cluster
    cluster = Cluster(tmp_path)
    try:
        for n in NAMES:
            cluster.start(n)
        cfg = config_mod.load(cluster.base / "main" / "mailworker.toml")
        db_mod.open_from_config(cfg, clock)
        add_events(6, clock)
        assert append_pending(cfg, clock).replicas_ok == 4
        con = sqlite3.connect(cluster.store("replica-3"))     # on "its host"
        leaves = tree.decode_bundle(con.execute(
            "SELECT data FROM ledger_bundle WHERE id = 0").fetchone()[0])
        leaves[2] = leaves[2].replace(b'"hours":1', b'"hours":7')
        with con:
            con.execute("UPDATE ledger_bundle SET data = ? WHERE id = 0",
                        (tree.encode_leaves(leaves),))
        con.close()
        add_events(2, clock, start=6)
        res = append_pending(cfg, clock)
        assert res.appended == 2 and res.replicas_ok == 3
        assert list(damaged_replicas()) == ["replica-3"]
        assert "leaf 2: its stored data does not match" in damaged_replicas()["replica-3"]["why"]
        assert ledger_status(cfg)["damaged"] == ["replica-3"]
        # Repaired on its own host (whose database is another); `ledger verify` here sees
        # it clean and lets it back into the quorum.
        code, out, err = run_cli(cfg, clock, "repair", "replica-3")
        assert code == 2 and "then `mailworker ledger verify` here" in err
        done = subprocess.run(
            [sys.executable, "-m", "mailworker", "-c", str(cluster.config("replica-3")),
             "ledger", "repair", "replica-3"], capture_output=True, text=True, timeout=60,
            env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert done.returncode == 0, done.stderr
        assert list(damaged_replicas()) == ["replica-3"]
        code, out, err = run_cli(cfg, clock, "verify")
        assert code == 0, out + err
        assert damaged_replicas() == {}
        add_events(1, clock, start=8)
        assert append_pending(cfg, clock).replicas_ok == 4
    finally:
        cluster.stop_all()


def test_every_leaf_since_its_last_signature_is_checked_before_signing(make_config, clock):
    import sqlite3

    from mailworker.ledger import tree
    cfg = make_ledger(make_config, clock)
    add_events(9, clock)
    append_pending(cfg, clock)                      # every replica signed size 9
    handle = open_ledger(cfg)
    try:
        rep = handle.replicas["replica-4"]
        rep.append([b'{"n":%d}' % i for i in range(600)])   # caught up, not signed yet
        con = sqlite3.connect(store_path(cfg, "replica-4"))
        leaves = tree.decode_bundle(con.execute(
            "SELECT data FROM ledger_bundle WHERE id = 1").fetchone()[0])
        leaves[44] = b'{"n":999}'                   # leaf 300, not in the last bundle
        with con:
            con.execute("UPDATE ledger_bundle SET data = ? WHERE id = 1",
                        (tree.encode_leaves(leaves),))
        con.close()
        with pytest.raises(ReplicaDamaged, match="leaf 300: its stored data does not match"):
            rep.sign(Checkpoint(cfg.ledger.origin, 609, rep.root(609)), "2026-11-25T01:00:00Z")
    finally:
        handle.close()
