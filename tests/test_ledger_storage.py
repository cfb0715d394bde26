"""How a replica stores its tree: packed (compressed) full bundles next to plain ones,
stores of the first format (plain bundles, WAL) read and upgraded, tampering with a
packed bundle found at the right leaf, the rollback journal with full sync, and the
bounded tile cache that proofs read through."""
from __future__ import annotations

import random
import sqlite3
import zlib

import pytest

from mailworker.ledger import merkle, tree
from mailworker.ledger.appender import append_pending
from mailworker.ledger.audit import verify_ledger
from mailworker.ledger.store import FORMAT, FORMAT_V1, SqliteReplicaStore

from tests.test_ledger_merkle import MemoryTiles
from tests.test_ledger_replicas import (add_events, assert_consistent, make_ledger, run_cli,
                                        store_path)


def _leaves(n: int, seed: int = 1) -> list[bytes]:
    rnd = random.Random(seed)
    return [b'{"i":%d,"x":"%s"}' % (i, rnd.randbytes(rnd.randint(0, 30)).hex().encode())
            for i in range(n)]


def _bundles(cfg, name: str) -> dict[int, bytes]:
    con = sqlite3.connect(store_path(cfg, name))
    try:
        return dict(con.execute("SELECT id, data FROM ledger_bundle"))
    finally:
        con.close()


def _write_bundle(cfg, name: str, bid: int, blob: bytes) -> None:
    con = sqlite3.connect(store_path(cfg, name))
    try:
        with con:
            con.execute("UPDATE ledger_bundle SET data = ? WHERE id = ?", (blob, bid))
    finally:
        con.close()


# --- bundle encodings --------------------------------------------------------------------

def test_full_bundles_are_packed_once_and_the_last_stays_plain():
    leaves = _leaves(700)
    store = MemoryTiles()
    for start, end in ((0, 100), (100, 300), (300, 700)):      # fills 0 and 1 across appends
        plan = store.append(leaves[start:end])
    assert plan.full_bundles == {1}                     # bundle 0 was filled by the 2nd plan
    assert store.bundles[0].startswith(tree.PACKED_MARK)
    assert store.bundles[1].startswith(tree.PACKED_MARK)
    assert not store.bundles[2].startswith(tree.PACKED_MARK)       # 188 of 256: plain
    assert plan.bundles is plan.bundles                 # packed once, shared by every store
    assert len(store.bundles[0]) < len(tree.encode_leaves(leaves[:256]))
    assert tree.stored_leaves(store, 0, 700) == leaves
    assert tree.stored_leaves(store, 250, 520) == leaves[250:520]
    assert store.append([]).new_size == 700


def test_plain_and_packed_bundles_read_alike():
    leaves = _leaves(256, seed=2) + [b""]       # an empty leaf too
    plain = tree.encode_leaves(leaves)
    packed = tree.pack_bundle(plain)
    assert packed.startswith(tree.PACKED_MARK) and not plain.startswith(tree.PACKED_MARK)
    assert tree.decode_bundle(plain) == tree.decode_bundle(packed) == leaves
    assert tree.plain_bundle(packed) == plain and tree.plain_bundle(plain) == plain
    assert tree.salvage_bundle(packed) == (leaves, None)


def test_a_damaged_packed_bundle_keeps_the_leaves_before_the_damage():
    leaves = _leaves(256, seed=3)
    packed = bytearray(tree.pack_bundle(tree.encode_leaves(leaves)))
    with pytest.raises(ValueError, match="cut short"):
        tree.decode_bundle(bytes(packed[:-20]))
    with pytest.raises(ValueError, match="after its end"):
        tree.decode_bundle(bytes(packed) + b"x")
    packed[len(packed) // 2] ^= 0xFF
    got, problem = tree.salvage_bundle(bytes(packed))
    good = 0
    while good < len(got) and got[good] == leaves[good]:
        good += 1
    assert 0 < good < 256
    # Whatever came out after the damage is either reported or differs from the original
    # (and then its leaf hash will not match): nothing bad passes as good.
    assert problem is not None or got != leaves


def test_a_plan_refuses_a_partial_bundle_it_cannot_read():
    store = MemoryTiles()
    store.append(_leaves(10))
    edge, _ = tree.read_edge(store, 10)
    with pytest.raises(tree.MissingNode, match="unreadable"):
        tree.plan_append(10, edge, tree.PACKED_MARK + b"\x00garbage", [b"x"])


# --- replicas: tampering with packed bundles ---------------------------------------------

def test_a_leaf_changed_inside_a_packed_bundle_is_found_and_repaired(make_config, clock):
    cfg = make_ledger(make_config, clock, batch_size=200)
    payloads = add_events(600, clock)
    append_pending(cfg, clock)
    blob = _bundles(cfg, "replica-2")[1]                # leaves 256..511
    assert blob.startswith(tree.PACKED_MARK)
    leaves = tree.decode_bundle(blob)
    leaves[301 - 256] = leaves[301 - 256].replace(b'"hours":1', b'"hours":8')
    _write_bundle(cfg, "replica-2", 1, tree.pack_bundle(tree.encode_leaves(leaves)))
    report = verify_ledger(cfg)
    damaged = {n: r for n, r in report.replicas.items() if r["state"] == "damaged"}
    assert list(damaged) == ["replica-2"], report.text()
    assert damaged["replica-2"]["first_bad"] == 301
    code, out, _ = run_cli(cfg, clock, "repair", "replica-2")
    assert code == 0 and "copied leaves 301..599" in out, out
    assert _bundles(cfg, "replica-2")[1].startswith(tree.PACKED_MARK)    # packed again
    assert_consistent(cfg, payloads)


@pytest.mark.parametrize("damage", ["flipped byte", "bytes after the end", "cut short"])
def test_a_damaged_packed_bundle_is_found_and_repaired(make_config, clock, damage):
    cfg = make_ledger(make_config, clock, batch_size=300)
    payloads = add_events(600, clock)
    append_pending(cfg, clock)
    blob = bytearray(_bundles(cfg, "replica-3")[0])
    assert blob.startswith(tree.PACKED_MARK)
    if damage == "flipped byte":
        blob[len(blob) // 2] ^= 0x55
    elif damage == "bytes after the end":
        blob += b"\x00extra"
    else:
        del blob[-30:]
    _write_bundle(cfg, "replica-3", 0, bytes(blob))
    report = verify_ledger(cfg)
    r3 = report.replicas["replica-3"]
    assert r3["state"] == "damaged", report.text()
    assert 0 < r3["first_bad"] < 256             # in bundle 0, after the intact leaves
    assert [n for n, r in report.replicas.items() if r["state"] == "damaged"] == ["replica-3"]
    assert any("unreadable from leaf" in p or "does not match its stored hash" in p
               for p in r3["problems"]), r3["problems"]
    code, out, _ = run_cli(cfg, clock, "repair", "replica-3")
    assert code == 0, out
    assert_consistent(cfg, payloads)


# --- the first format: plain bundles, WAL, 64 KB pages ------------------------------------

def _make_v1(path) -> None:
    """Turn a store into what the first version wrote: plain bundles, format /1, WAL."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        rows = con.execute("SELECT id, data FROM ledger_bundle").fetchall()
        con.execute("BEGIN")
        for bid, blob in rows:
            con.execute("UPDATE ledger_bundle SET data = ? WHERE id = ?",
                        (tree.plain_bundle(blob), bid))
        con.execute("UPDATE ledger_meta SET value = ? WHERE key = 'format'", (FORMAT_V1,))
        con.execute("COMMIT")
        con.execute("PRAGMA page_size = 65536")
        con.execute("VACUUM")
        assert con.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    finally:
        con.close()


def _header(path) -> tuple[int, int]:
    """(page size, 1 for a rollback journal or 2 for WAL) from the file header."""
    head = path.read_bytes()[:20]
    page = int.from_bytes(head[16:18], "big")
    return (65536 if page == 1 else page), head[18]


def test_a_store_of_the_first_format_reads_and_is_upgraded_by_its_next_append(
        make_config, clock):
    cfg = make_ledger(make_config, clock, batch_size=250)
    payloads = add_events(520, clock)
    append_pending(cfg, clock)
    path = store_path(cfg, "replica-1")
    _make_v1(path)
    assert _header(path) == (65536, 2)
    assert not any(b.startswith(tree.PACKED_MARK) for b in _bundles(cfg, "replica-1").values())
    report = verify_ledger(cfg)                  # reads plain bundles and format /1
    assert report.ok, report.text()
    assert _header(path)[1] == 1                 # opened alone: now a rollback journal
    payloads += add_events(300, clock, start=520)
    assert append_pending(cfg, clock).appended == 300
    bundles = _bundles(cfg, "replica-1")
    assert not bundles[1].startswith(tree.PACKED_MARK)        # old full bundles stay plain
    assert bundles[2].startswith(tree.PACKED_MARK)            # 512..767, filled just now
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM ledger_meta WHERE key = 'format'").fetchone()[0] \
        == FORMAT
    con.close()
    assert_consistent(cfg, payloads)


def test_a_wal_store_open_elsewhere_stays_in_wal_and_appends(make_config, clock):
    cfg = make_ledger(make_config, clock, batch_size=50)
    payloads = add_events(60, clock)
    append_pending(cfg, clock)
    path = store_path(cfg, "replica-4")
    _make_v1(path)
    other = sqlite3.connect(path)                # e.g. `ledger status` in another process
    try:
        other.execute("SELECT count(*) FROM ledger_tile").fetchone()
        store = SqliteReplicaStore("replica-4", path)
        assert store.journal_mode == "wal"
        store.close()
        payloads += add_events(40, clock, start=60)
        res = append_pending(cfg, clock)
        assert res.appended == 40 and res.replicas_ok == 4, res.message
    finally:
        other.close()
    assert _header(path)[1] == 2
    assert_consistent(cfg, payloads)


def test_a_new_store_uses_a_rollback_journal_with_full_sync(tmp_path):
    store = SqliteReplicaStore("replica-1", tmp_path / "r.db", create=True)
    try:
        store.create_schema("example.org/ledger", "replica-1")
        assert store.journal_mode == "truncate"
        conn = store.conn
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2        # FULL
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 16384
        assert conn.execute("PRAGMA mmap_size").fetchone()[0] == store.MMAP_BYTES
        assert store.meta()["format"] == FORMAT
    finally:
        store.close()
    assert _header(tmp_path / "r.db") == (16384, 1)


# --- the tile cache proofs read through ---------------------------------------------------

def test_the_tile_cache_stays_bounded_and_right_while_the_tree_grows():
    leaves = _leaves(70_000, seed=4)
    store = MemoryTiles()
    cache = tree.TileCache(store, capacity=2, tails=3)
    rnd = random.Random(5)
    n = 0
    for step in (1, 6, 250, 7, 300, 1000, 1, 1435, 65_536, 1464):
        store.append(leaves[n:n + step])
        n += step
        root = merkle.root(leaves[:n])
        for _ in range(25):
            i, m = rnd.randrange(n), rnd.randrange(n + 1)
            proof = tree.stored_inclusion_proof(cache, i, n)
            assert proof == tree.stored_inclusion_proof(store, i, n)       # uncached
            merkle.verify_inclusion(merkle.leaf_hash(leaves[i]), i, n, proof, root)
            proof = tree.stored_consistency_proof(cache, m, n)
            assert proof == tree.stored_consistency_proof(store, m, n)
            merkle.verify_consistency(m, n, merkle.root(leaves[:m]), root, proof)
        assert len(cache._tiles) <= 2 and len(cache.tails) <= 3
        assert all(tid >= tree.tile_id(1, 0) for tid in cache._tiles)   # no bottom tiles
    assert n == 70_000


def test_deflate_is_raw_and_level_one():
    """The packed form is plain raw DEFLATE, readable by any zlib (wbits -15)."""
    plain = tree.encode_leaves(_leaves(256, seed=6))
    packed = tree.pack_bundle(plain)
    assert zlib.decompress(packed[len(tree.PACKED_MARK):], -15) == plain
