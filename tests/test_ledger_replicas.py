"""Four real SQLite replicas: quorum appends, replicas down and back, tampering detected
by `verify` and repaired by `repair`, keys and configuration, no personal data."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import stat
from pathlib import Path

import pytest

from mailworker import cli, models
from mailworker import db as db_mod
from mailworker.errors import ConfigError, SecretError
from mailworker.events import canonical_json, contribution_leaf
from mailworker.ledger import merkle, tree
from mailworker.ledger.appender import append_pending
from mailworker.ledger.audit import repair_replica, verify_ledger
from mailworker.ledger.bootstrap import init_ledger
from mailworker.ledger.checkpoint import open_note
from mailworker.ledger.errors import ReplicaRefused
from mailworker.ledger.handle import ledger_lock, open_ledger
from mailworker.ledger.keys import pseudonym_key
from mailworker.ledger.layout import ensure_embedded_keys
from mailworker.ledger.layout import replica_specs, verifiers
from mailworker.ledger.status import ledger_status
from mailworker.pseudonym import pseudonym

NAMES = ("replica-1", "replica-2", "replica-3", "replica-4")


# --- helpers shared by the ledger test files --------------------------------------------

def make_ledger(make_config, clock, batch_size: int = 7, **ledger):
    """A configuration with embedded replicas and the main database open."""
    cfg = make_config({"ledger": {"batch_size": batch_size, **ledger}})
    db_mod.open_from_config(cfg, clock)
    ensure_embedded_keys(cfg)
    return cfg


def add_events(n: int, clock, start: int = 0, key: bytes = b"k" * 32) -> list[bytes]:
    """Queue n contribution events the way ingest does; returns their leaf bytes."""
    out = []
    for i in range(start, start + n):
        sha = f"{i:064x}"
        leaf = contribution_leaf(sha, "review" if i % 3 else "proposal", 1, clock.now(),
                                 pseudonym(key, f"uuid-{i}"))
        payload = canonical_json(leaf)
        models.LedgerEvent.create(event_type="contribution", payload=payload.decode("utf-8"),
                                  dedup_key=f"contribution:{sha}", created_at=clock.now())
        out.append(payload)
    return out


def store_path(cfg, name: str) -> Path:
    return Path(cfg.ledger.directory) / f"{name}.db"


def take_down(cfg, name: str) -> None:
    """The replica's disk disappears (its SQLite files move away)."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        p = Path(str(store_path(cfg, name)) + suffix)
        if p.exists():
            p.rename(str(p) + ".away")


def bring_back(cfg, name: str) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        p = Path(str(store_path(cfg, name)) + suffix + ".away")
        if p.exists():
            p.rename(str(p)[:-len(".away")])


def replica_leaves(cfg, name: str) -> list[bytes]:
    con = sqlite3.connect(store_path(cfg, name))
    try:
        rows = con.execute("SELECT data FROM ledger_bundle ORDER BY id").fetchall()
    finally:
        con.close()
    return [leaf for (blob,) in rows for leaf in tree.decode_bundle(blob)]


def replica_size(cfg, name: str) -> int:
    con = sqlite3.connect(store_path(cfg, name))
    try:
        return int(con.execute("SELECT value FROM ledger_meta WHERE key='size'").fetchone()[0])
    finally:
        con.close()


def event_rows():
    LE = models.LedgerEvent
    return list(LE.select().order_by(LE.id))


def assert_consistent(cfg, payloads: list[bytes]) -> None:
    """Every event appended once, in id order; every replica holds exactly those leaves."""
    rows = event_rows()
    assert [r.leaf_index for r in rows] == list(range(len(rows)))
    assert all(r.appended_at is not None for r in rows)
    by_index = [r.payload.encode() for r in sorted(rows, key=lambda r: r.leaf_index)]
    assert by_index == payloads
    for name in NAMES:
        assert replica_leaves(cfg, name) == payloads, name
    report = verify_ledger(cfg)
    assert report.ok, report.text()
    assert report.tip.root == merkle.root(payloads)


def run_cli(cfg, clock, *argv) -> tuple[int, str, str]:
    import contextlib
    import io
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["--config", str(cfg.path), "ledger", *argv], clock=clock)
    return code, out.getvalue(), err.getvalue()


# --- appending with the quorum -----------------------------------------------------------

def test_append_commits_in_order_with_four_signatures(make_config, clock):
    cfg = make_ledger(make_config, clock)
    payloads = add_events(30, clock)
    res = append_pending(cfg, clock)
    assert (res.appended, res.pending, res.size, res.replicas_ok) == (30, 0, 30, 4)
    assert not res.waiting and "appended 30" in res.message
    opened = open_note(res.checkpoint, verifiers(cfg), 3, cfg.ledger.origin)
    assert opened.checkpoint.size == 30 and sorted(opened.signers) == list(NAMES)
    assert_consistent(cfg, payloads)
    # Idempotent: a second run has nothing to do and changes nothing.
    again = append_pending(cfg, clock)
    assert again.appended == 0 and again.size == 30
    payloads += add_events(5, clock, start=30)
    assert append_pending(cfg, clock, max_events=3).appended == 3
    assert append_pending(cfg, clock).appended == 2
    assert_consistent(cfg, payloads)


def test_one_replica_down_commits_with_three_and_it_catches_up(make_config, clock):
    cfg = make_ledger(make_config, clock)
    payloads = add_events(10, clock)
    append_pending(cfg, clock)
    take_down(cfg, "replica-3")
    payloads += add_events(20, clock, start=10)
    res = append_pending(cfg, clock)
    assert res.appended == 20 and res.size == 30 and res.replicas_ok == 3
    status = ledger_status(cfg)
    r3 = next(r for r in status["replicas"] if r["name"] == "replica-3")
    assert not r3["reachable"] and "unavailable" in r3["health"]
    assert "replica-3" not in status["signers"] and not status["appends_wait"]
    bring_back(cfg, "replica-3")
    status = ledger_status(cfg)
    r3 = next(r for r in status["replicas"] if r["name"] == "replica-3")
    assert r3["size"] == 10 and r3["lag"] == 20 and "behind by 20" in r3["health"]
    res = append_pending(cfg, clock)           # catches up, checks, cosigns
    assert res.appended == 0 and res.replicas_ok == 4
    assert "replica-3" in ledger_status(cfg)["signers"]
    assert_consistent(cfg, payloads)


def test_two_replicas_down_appends_wait_and_nothing_is_lost(make_config, clock):
    cfg = make_ledger(make_config, clock)
    payloads = add_events(8, clock)
    append_pending(cfg, clock)
    take_down(cfg, "replica-2")
    take_down(cfg, "replica-4")
    payloads += add_events(12, clock, start=8)
    res = append_pending(cfg, clock)           # must not raise
    assert res.waiting and res.appended == 0 and res.pending == 12 and res.size == 8
    assert "appends wait" in res.message and "replica-2" in res.message
    status = ledger_status(cfg)
    assert status["appends_wait"] and status["pending"] == 12
    assert "12 event(s) queued" in status["message"]
    code, out, _ = run_cli(cfg, clock, "append")
    assert code == 1 and "appends wait" in out
    bring_back(cfg, "replica-4")
    res = append_pending(cfg, clock)
    assert res.appended == 12 and res.pending == 0
    bring_back(cfg, "replica-2")
    append_pending(cfg, clock)
    assert_consistent(cfg, payloads)


def test_a_vanished_store_that_had_signed_is_reported_then_rebuilt(make_config, clock):
    cfg = make_ledger(make_config, clock)
    payloads = add_events(9, clock)
    append_pending(cfg, clock)
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(str(store_path(cfg, "replica-2")) + suffix).unlink(missing_ok=True)
    payloads += add_events(3, clock, start=9)
    res = append_pending(cfg, clock)
    assert res.appended == 3 and res.replicas_ok == 3
    assert not store_path(cfg, "replica-2").exists()       # not silently recreated
    status = ledger_status(cfg)
    r2 = next(r for r in status["replicas"] if r["name"] == "replica-2")
    assert "is gone" in r2["health"] and "ledger repair replica-2" in r2["health"]
    report = repair_replica(cfg, "replica-2", clock)
    assert report.repaired and any("created an empty one" in a for a in report.actions)
    assert_consistent(cfg, payloads)


# --- tampering: detected by verify, repaired from the quorum ------------------------------

def _sql(cfg, name, statement, args=()):
    con = sqlite3.connect(store_path(cfg, name))
    try:
        with con:
            con.execute(statement, args)
    finally:
        con.close()


def _tile_blob(cfg, name, tid):
    con = sqlite3.connect(store_path(cfg, name))
    try:
        return con.execute("SELECT data FROM ledger_tile WHERE id = ?", (tid,)).fetchone()[0]
    finally:
        con.close()


def change_leaf(cfg, name, index):
    con = sqlite3.connect(store_path(cfg, name))
    try:
        blob = con.execute("SELECT data FROM ledger_bundle WHERE id = ?",
                           (index // 256,)).fetchone()[0]
        leaves = tree.decode_bundle(blob)
        leaves[index % 256] = leaves[index % 256].replace(b'"hours":1', b'"hours":9')
        with con:
            con.execute("UPDATE ledger_bundle SET data = ? WHERE id = ?",
                        (tree.encode_leaves(leaves), index // 256))
    finally:
        con.close()


def replace_node(cfg, name, level, pos):
    tid, off = tree.node_address(level, pos)
    blob = bytearray(_tile_blob(cfg, name, tid))
    blob[off:off + 32] = bytes(32)
    _sql(cfg, name, "UPDATE ledger_tile SET data = ? WHERE id = ?", (bytes(blob), tid))


@pytest.mark.parametrize("damage, where, first_bad", [
    ("changed leaf", "replica-3", 300),
    ("dropped row", "replica-2", 256),
    ("replaced node hash", "replica-4", 64),
])
def test_tampering_is_detected_and_repaired(make_config, clock, damage, where, first_bad):
    cfg = make_ledger(make_config, clock, batch_size=200)
    payloads = add_events(600, clock)
    append_pending(cfg, clock)
    if damage == "changed leaf":
        change_leaf(cfg, where, 300)
    elif damage == "dropped row":
        _sql(cfg, where, "DELETE FROM ledger_bundle WHERE id = 1")      # leaves 256..511
    else:
        replace_node(cfg, where, 3, 8)                                 # leaves 64..71
    report = verify_ledger(cfg)
    assert not report.ok
    damaged = {n: r for n, r in report.replicas.items() if r["state"] == "damaged"}
    assert list(damaged) == [where], report.text()
    assert damaged[where]["first_bad"] == first_bad
    text = report.text()
    assert f"{where}: DAMAGED: first disagreement at leaf {first_bad}" in text
    code, out, _ = run_cli(cfg, clock, "verify")
    assert code == 1 and where in out and "PROBLEMS FOUND" in out
    # The other three keep the ledger going meanwhile.
    payloads += add_events(5, clock, start=600)
    assert append_pending(cfg, clock).appended == 5
    code, out, _ = run_cli(cfg, clock, "repair", where)
    assert code == 0, out
    assert f"repair of {where}" in out and "found:" in out and "copied leaves" in out
    append_pending(cfg, clock)
    assert_consistent(cfg, payloads)
    assert where in ledger_status(cfg)["signers"]


def test_a_self_consistent_rewrite_is_caught_by_the_quorum(make_config, clock):
    """An attacker changes leaf 17 and recomputes every hash of replica-1: its own tree
    checks out, but it no longer matches the quorum checkpoint or what it signed."""
    cfg = make_ledger(make_config, clock, batch_size=10)
    payloads = add_events(40, clock)
    append_pending(cfg, clock)
    forged = list(payloads)
    forged[17] = forged[17].replace(b'"hours":1', b'"hours":5')
    fake = tree.plan_append(0, {}, None, forged)       # every tile of the forged tree
    con = sqlite3.connect(store_path(cfg, "replica-1"))
    with con:
        con.execute("DELETE FROM ledger_tile")
        con.execute("DELETE FROM ledger_bundle")
        con.executemany("INSERT INTO ledger_tile VALUES (?, ?)", fake.tiles.items())
        con.executemany("INSERT INTO ledger_bundle VALUES (?, ?)", fake.bundles.items())
    con.close()
    report = verify_ledger(cfg)
    r1 = report.replicas["replica-1"]
    assert r1["state"] == "damaged" and r1["first_bad"] == 17, report.text()
    assert any("leaf 17 differs from the quorum" in p for p in r1["problems"])
    # It refuses to sign anything on top of its rewritten history...
    handle = open_ledger(cfg)
    try:
        from mailworker.ledger.checkpoint import Checkpoint
        rep = handle.replicas["replica-1"]
        with pytest.raises(ReplicaRefused, match="not consistent with the checkpoint it signed"):
            rep.sign(Checkpoint(cfg.ledger.origin, 40, rep.root(40)), "2026-11-25T01:00:00Z")
    finally:
        handle.close()
    # ...the appender leaves it out, and repair restores it.
    payloads += add_events(3, clock, start=40)
    res = append_pending(cfg, clock)
    assert res.appended == 3 and res.replicas_ok == 3
    assert any("replica-1" in p for p in [res.message] + res.problems) or \
        "replica-1" not in ledger_status(cfg)["signers"]
    report = repair_replica(cfg, "replica-1", clock)
    assert report.repaired
    assert any("withdrew its signatures" in a or "cut its tree back" in a
               for a in report.actions)
    append_pending(cfg, clock)
    assert_consistent(cfg, payloads)


def test_repair_of_a_healthy_replica_changes_nothing(make_config, clock):
    cfg = make_ledger(make_config, clock)
    payloads = add_events(12, clock)
    append_pending(cfg, clock)
    before = store_path(cfg, "replica-4").read_bytes()
    report = repair_replica(cfg, "replica-4", clock)
    assert not report.repaired and "nothing to repair" in report.text()
    assert_consistent(cfg, payloads)
    assert replica_leaves(cfg, "replica-4") == payloads and before


# --- keys, init, configuration ----------------------------------------------------------

def test_init_creates_keys_once_and_prints_public_keys(make_config, clock):
    cfg = make_config({})
    code, out, _ = run_cli(cfg, clock, "init")
    assert code == 0
    directory = Path(cfg.ledger.directory)
    files = [directory / "pseudonym.key"] + [directory / f"{n}.key" for n in NAMES]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    for n in NAMES:
        assert store_path(cfg, n).exists()
        assert f'{n}: public_key = "' in out
    contents = [f.read_bytes() for f in files]
    code, out2, _ = run_cli(cfg, clock, "init")
    assert code == 0 and "created" not in out2
    assert [f.read_bytes() for f in files] == contents
    keys = (directory / "public-keys.txt").read_text()
    assert all(f"{n}+" in keys for n in NAMES) and "PRIVATE" not in keys


def test_pseudonym_key_prefers_the_configured_secret(make_config, tmp_path, monkeypatch):
    cfg = make_config({})
    with pytest.raises(SecretError, match="ledger init"):
        pseudonym_key(cfg)
    ensure_embedded_keys(cfg)
    embedded = pseudonym_key(cfg)
    assert len(embedded) == 64 and embedded == (Path(cfg.ledger.directory) /
                                                 "pseudonym.key").read_bytes().strip()
    monkeypatch.setenv("MW_TEST_PSEUDONYM", "from-the-environment")
    cfg2 = make_config({"ledger": {"pseudonym_key_env": "MW_TEST_PSEUDONYM"}}, name="b.toml")
    assert pseudonym_key(cfg2) == b"from-the-environment"
    created = ensure_embedded_keys(cfg2)
    assert all("pseudonym" not in p.name for p in created)


def test_explicit_replica_tables_with_public_keys(make_config, clock, tmp_path):
    base = make_config({}, name="keys.toml")
    init_ledger(base)
    d = Path(base.ledger.directory)
    pub = {n: line for line in (d / "public-keys.txt").read_text().splitlines()
           if not line.startswith("#") for n in [line.split("+")[0]]}
    entries = [{"name": n, "url": f"sqlite:///stores/{n}.sqlite", "key_file": str(d / f"{n}.key"),
                "public_key": pub[n]} for n in NAMES]
    cfg = make_config({"ledger": {"replicas": entries, "batch_size": 4}}, name="prod.toml")
    db_mod.open_from_config(cfg, clock)
    payloads = add_events(9, clock)
    res = append_pending(cfg, clock)
    assert res.appended == 9 and res.replicas_ok == 4
    assert (tmp_path / "stores" / "replica-2.sqlite").exists()
    # A key file that does not belong to the configured public key is refused plainly.
    entries[1]["public_key"] = pub["replica-3"].replace("replica-3", "replica-2", 1)
    bad = make_config({"ledger": {"replicas": entries}}, name="bad.toml")
    with pytest.raises(ConfigError, match="key id .* does not match"):
        replica_specs(bad)
    assert payloads


@pytest.mark.parametrize("replicas, quorum, message", [
    ([{"name": "a", "url": "sqlite:///a.db", "key_file": "a.key", "colour": "red"}], 1,
     "unknown key 'colour'"),
    ([{"name": "a", "key_file": "a.key"}], 1, "needs url"),
    ([{"url": "sqlite:///a.db", "key_file": "a.key"}], 1, "needs name"),
    ([{"name": "a b", "url": "sqlite:///a.db", "key_file": "a.key"}], 1, "must not contain"),
    ([{"name": "a", "url": "sqlite:///a.db"}], 1, "needs public_key"),
    ([{"name": "a", "url": "mysql://x/y", "key_file": "a.key"}], 1, "is not sqlite"),
    ([{"name": "a", "url": "postgresql://u:secret@h/db", "key_file": "a.key"}], 1,
     "contains a password"),
    ([{"name": "a", "url": "sqlite:///a.db", "key_file": "a.key"},
      {"name": "a", "url": "sqlite:///b.db", "key_file": "b.key"}], 1, "both use the name"),
    ([{"name": "a", "url": "sqlite:///a.db", "key_file": "a.key"},
      {"name": "b", "url": "sqlite:///a.db", "key_file": "b.key"}], 2, "same SQLite file"),
    ([{"name": "a", "url": "sqlite:///a.db", "key_file": "a.key", "public_key": "xyz"}], 1,
     "not base64"),
    ([{"name": "a", "url": "sqlite:///a.db", "key_file": "a.key"}], 2, "only 1 replica(s)"),
    ([], 2, "not a majority"),
])
def test_bad_replica_configuration_is_named(make_config, replicas, quorum, message):
    cfg = make_config({"ledger": {"replicas": replicas, "quorum": quorum}})
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        replica_specs(cfg)
    assert str(cfg.path) in str(e.value)
    if replicas and "replica(s)" not in message:
        assert "[[ledger.replicas]] entr" in str(e.value)


def test_key_files_must_be_private(make_config, clock):
    cfg = make_ledger(make_config, clock)
    add_events(2, clock)
    key = Path(cfg.ledger.directory) / "replica-1.key"
    os.chmod(key, 0o644)
    res = append_pending(cfg, clock)          # replica-1 cannot sign; the others can
    assert res.appended == 2 and res.replicas_ok == 3
    assert "chmod 600" in ledger_status(cfg)["replicas"][0]["health"]


def test_only_one_appender_at_a_time(make_config, clock):
    cfg = make_ledger(make_config, clock)
    add_events(3, clock)
    with ledger_lock(cfg) as got:
        assert got
        res = append_pending(cfg, clock)
        assert res.appended == 0 and "another ledger append" in res.message
    assert append_pending(cfg, clock).appended == 3


def test_status_cli_and_json(make_config, clock):
    cfg = make_ledger(make_config, clock)
    add_events(4, clock)
    append_pending(cfg, clock)
    code, out, _ = run_cli(cfg, clock, "status")
    assert code == 0 and "tree size 4" in out and "replica-4" in out
    code, out, _ = run_cli(cfg, clock, "status", "--json")
    info = json.loads(out)
    assert info["size"] == 4 and [r["health"] for r in info["replicas"]] == ["ok"] * 4
    assert info["last_checkpoint"].count("\u2014 replica-") == 4


# --- no personal data --------------------------------------------------------------------

MEMBERS = [("김민지", "kim.minji@example.net"), ("Daniel Park", "daniel.park@example.com"),
           ("이서연", "seoyeon.lee@example.org"), ("최준호", "junho.choi@example.co.kr")]


def test_no_address_or_name_on_any_leaf(make_config, clock):
    """Populate the ledger from member data the way ingest does and scan every leaf (and
    every byte of every replica store) for the members' addresses and names."""
    cfg = make_ledger(make_config, clock)
    key = pseudonym_key(cfg)
    for i, (name, email) in enumerate(MEMBERS):
        member = models.Member.create(uuid=f"uuid-member-{i}", display_name=name,
                                      category="citizen", created_at=clock.now())
        models.MemberAddress.create(member=member, email=email, is_primary=True)
        for j in range(3):
            msg = models.Message.create(
                sha256=f"{i:032x}{j:032x}", message_id=f"<{i}.{j}@{email.split('@')[1]}>",
                source="maildir:/x", sender=email, sender_name=name,
                subject=f"{name}의 품평 {j}", received_at=clock.now(), kind="review",
                disposition="credited", reason="ok", member=member)
            leaf = contribution_leaf(msg.sha256, "review", 1, clock.now(),
                                     pseudonym(key, member.uuid))
            models.LedgerEvent.create(event_type="contribution",
                                      payload=canonical_json(leaf).decode("utf-8"),
                                      dedup_key=f"contribution:{msg.sha256}",
                                      created_at=clock.now())
    assert append_pending(cfg, clock).appended == 12
    needles = []
    for name, email in MEMBERS:
        local, domain = email.split("@")
        needles += [name, email, local, domain] + name.split()
    for replica in NAMES:
        leaves = replica_leaves(cfg, replica)
        assert len(leaves) == 12
        for leaf in leaves:
            text = leaf.decode("utf-8")
            decoded = json.loads(text)
            assert set(decoded) == {"v", "type", "msg_sha256", "kind", "hours", "time",
                                    "member"}
            for needle in needles:
                assert needle.lower() not in text.lower(), (replica, needle)
        raw = b"".join(p.read_bytes() for p in Path(cfg.ledger.directory).glob(f"{replica}.db*"))
        for needle in needles:
            assert needle.encode("utf-8") not in raw, (replica, needle)
    assert dt.datetime.fromisoformat(json.loads(leaves[0])["time"].replace("Z", "+00:00"))


def test_repair_drops_an_uncommitted_tail_that_matches_no_event(make_config, clock):
    """A replica holds leaves beyond the quorum checkpoint that no pending event explains
    (e.g. written by a foreign appender): the appender leaves it out, repair cuts the tail
    and withdraws its signature on it."""
    cfg = make_ledger(make_config, clock)
    payloads = add_events(6, clock)
    append_pending(cfg, clock)
    handle = open_ledger(cfg)
    try:
        from mailworker.ledger.checkpoint import Checkpoint
        rep = handle.replicas["replica-2"]
        plan = rep.plan([b'{"stray":1}'])
        rep.apply_and_sign(plan, Checkpoint(cfg.ledger.origin, 7, plan.root),
                           "2026-11-25T01:00:00Z")
    finally:
        handle.close()
    payloads += add_events(2, clock, start=6)
    res = append_pending(cfg, clock)
    assert res.appended == 2 and res.replicas_ok == 3
    assert "differ from the pending events" in ledger_status(cfg)["replicas"][1]["health"] or \
        "replica-2" not in ledger_status(cfg)["signers"]
    report = repair_replica(cfg, "replica-2", clock)
    text = report.text()
    assert "withdrew its signatures on tree sizes 7" in text or "cut its tree back" in text
    append_pending(cfg, clock)
    assert_consistent(cfg, payloads)
