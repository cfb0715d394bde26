"""One of the four replicas in a real PostgreSQL database (private server on loopback)."""
from __future__ import annotations

import pytest

from mailworker import db as db_mod
from mailworker.ledger.appender import append_pending
from mailworker.ledger.audit import verify_ledger
from mailworker.ledger.bootstrap import init_ledger
from mailworker.ledger.handle import open_ledger
from mailworker.ledger.status import ledger_status

from tests.test_ledger_replicas import add_events, replica_leaves, run_cli


@pytest.fixture
def pg_ledger(pg, make_config, clock):
    url = pg.new_database("ledger_replica_4")
    replicas = [{"name": f"replica-{i}", "url": f"sqlite:///var/ledger/replica-{i}.db",
                 "key_file": f"var/ledger/replica-{i}.key"} for i in (1, 2, 3)]
    replicas.append({"name": "replica-4", "url": url, "key_file": "var/ledger/replica-4.key"})
    cfg = make_config({"ledger": {"replicas": replicas, "batch_size": 6}})
    init_ledger(cfg)
    db_mod.open_from_config(cfg, clock)
    return cfg, url


def _pg_rows(pg, url, sql, args=()):
    dbname = url.rsplit("/", 1)[1]
    conn = pg.connect(dbname)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def test_a_replica_on_postgresql(pg, pg_ledger, clock):
    cfg, url = pg_ledger
    payloads = add_events(20, clock)
    res = append_pending(cfg, clock)
    assert res.appended == 20 and res.replicas_ok == 4
    assert _pg_rows(pg, url, "SELECT value FROM ledger_meta WHERE key = 'size'") == [("20",)]
    handle = open_ledger(cfg)
    try:
        pg_rep = handle.replicas["replica-4"]
        assert pg_rep.leaves(0, 20) == payloads == replica_leaves(cfg, "replica-1")
        assert pg_rep.root(20) == handle.replicas["replica-1"].root(20)
    finally:
        handle.close()
    report = verify_ledger(cfg)
    assert report.ok, report.text()
    status = ledger_status(cfg)
    assert status["replicas"][3]["url"].startswith("postgresql://")
    assert status["replicas"][3]["health"] == "ok"

    # The database server goes away: three SQLite replicas carry on; it catches up later.
    pg.stop()
    try:
        payloads += add_events(7, clock, start=20)
        res = append_pending(cfg, clock)
        assert res.appended == 7 and res.replicas_ok == 3
        r4 = ledger_status(cfg)["replicas"][3]
        assert not r4["reachable"] and "cannot connect" in r4["health"]
    finally:
        pg.start()
    res = append_pending(cfg, clock)
    assert res.replicas_ok == 4
    assert _pg_rows(pg, url, "SELECT value FROM ledger_meta WHERE key = 'size'") == [("27",)]

    # Tampering in PostgreSQL is found and repaired like anywhere else.
    blob = bytes(_pg_rows(pg, url, "SELECT data FROM ledger_bundle WHERE id = 0")[0][0])
    _pg_rows(pg, url, "UPDATE ledger_bundle SET data = %s WHERE id = 0",
             (blob.replace(b'"hours":1', b'"hours":7', 1),))
    report = verify_ledger(cfg)
    assert report.replicas["replica-4"]["state"] == "damaged"
    assert report.replicas["replica-4"]["first_bad"] == 0
    code, out, _ = run_cli(cfg, clock, "repair", "replica-4")
    assert code == 0 and "copied leaves 0..26" in out
    assert verify_ledger(cfg).ok


def test_packed_bundles_on_postgresql(pg, pg_ledger, clock):
    """Full bundles are stored packed in PostgreSQL too, read back, and a leaf changed
    inside one is found at its index."""
    from mailworker.ledger import tree
    cfg, url = pg_ledger
    payloads = add_events(300, clock)
    assert append_pending(cfg, clock).appended == 300
    blob = bytes(_pg_rows(pg, url, "SELECT data FROM ledger_bundle WHERE id = 0")[0][0])
    assert blob.startswith(tree.PACKED_MARK)
    handle = open_ledger(cfg)
    try:
        assert handle.replicas["replica-4"].leaves(0, 300) == payloads
    finally:
        handle.close()
    leaves = tree.decode_bundle(blob)
    leaves[77] = leaves[77].replace(b'"hours":1', b'"hours":3')
    _pg_rows(pg, url, "UPDATE ledger_bundle SET data = %s WHERE id = 0",
             (tree.pack_bundle(tree.encode_leaves(leaves)),))
    report = verify_ledger(cfg)
    assert report.replicas["replica-4"]["state"] == "damaged"
    assert report.replicas["replica-4"]["first_bad"] == 77
    code, out, _ = run_cli(cfg, clock, "repair", "replica-4")
    assert code == 0 and "copied leaves 77..299" in out, out
    assert verify_ledger(cfg).ok
