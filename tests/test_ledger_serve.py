"""Four replicas as four `mailworker ledger serve` processes on loopback, each holding its
own store and signing key; the appender on the "main" host reaches them over HTTP."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mailworker import config as config_mod
from mailworker import db as db_mod
from mailworker.config import write_secret_file
from mailworker.ledger import merkle, tree
from mailworker.ledger.appender import append_pending
from mailworker.ledger.audit import verify_ledger
from mailworker.ledger.keys import create_secret_file, generate_signer, skey_text
from mailworker.ledger.receipt import build_receipt, verify_receipt
from mailworker.ledger.layout import verifiers
from mailworker.ledger.status import ledger_status

from tests.conftest import _to_toml
from tests.servers.ports import free_port, wait_port
from tests.test_ledger_replicas import add_events, run_cli

ROOT = Path(__file__).resolve().parent.parent
NAMES = [f"replica-{i}" for i in range(1, 5)]


class Cluster:
    def __init__(self, base: Path):
        self.base = base
        self.ports = {n: free_port() for n in NAMES}
        self.procs: dict[str, subprocess.Popen] = {}
        self.token = base / "token"
        write_secret_file(self.token, b"test-replica-token-1234")
        self.public = {}
        for n in NAMES:
            host = base / n
            host.mkdir()
            signer = generate_signer(n)
            create_secret_file(host / f"{n}.key", (skey_text(signer) + "\n").encode())
            self.public[n] = signer.verifier.vkey()
        for n in NAMES:
            entries = []
            for m in NAMES:
                if m == n:
                    entries.append({"name": m, "url": f"sqlite:///{m}.db", "key_file": f"{m}.key"})
                else:
                    entries.append({"name": m, "url": self.url(m), "public_key": self.public[m]})
            self.write_config(self.config(n), entries)
            code, out, err = _cli(self.config(n), "ledger", "init")
            assert code == 0, err
        main = base / "main"
        main.mkdir()
        self.write_config(main / "mailworker.toml",
                          [{"name": m, "url": self.url(m), "public_key": self.public[m]}
                           for m in NAMES])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def config(self, name: str) -> Path:
        return self.base / name / "mailworker.toml"

    def write_config(self, path: Path, entries: list[dict]) -> None:
        path.write_text(_to_toml({"ledger": {"replicas": entries, "batch_size": 5,
                                             "timeout_seconds": 5,
                                             "replica_token_file": str(self.token)}}),
                        encoding="utf-8")

    def start(self, name: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailworker", "-c", str(self.config(name)), "ledger", "serve",
             "--replica", name, "--listen", f"127.0.0.1:{self.ports[name]}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.procs[name] = proc
        wait_port(self.ports[name], timeout=20)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def store(self, name: str) -> Path:
        return self.base / name / f"{name}.db"


def _cli(config: Path, *argv):
    import contextlib
    import io
    from mailworker import cli
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["--config", str(config), *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        for n in NAMES:
            c.start(n)
        yield c
    finally:
        c.stop_all()


def test_four_replicas_on_four_processes(cluster, clock):
    cfg = config_mod.load(cluster.base / "main" / "mailworker.toml")
    db_mod.open_from_config(cfg, clock)
    payloads = add_events(12, clock)
    res = append_pending(cfg, clock)
    assert res.appended == 12 and res.replicas_ok == 4, res.message
    # Each process holds the tree in its own store and signed with its own key.
    for n in NAMES:
        con = sqlite3.connect(cluster.store(n))
        blobs = [b for (b,) in con.execute("SELECT data FROM ledger_bundle ORDER BY id")]
        signed = con.execute("SELECT MAX(size) FROM ledger_signed").fetchone()[0]
        con.close()
        assert [leaf for b in blobs for leaf in tree.decode_bundle(b)] == payloads
        assert signed == 12
    status = ledger_status(cfg)
    assert [r["health"] for r in status["replicas"]] == ["ok"] * 4
    receipt = build_receipt(cfg, f"{3:064x}")
    assert verify_receipt(receipt, verifiers(cfg), 3)["leaf_index"] == 3
    report = verify_ledger(cfg)
    assert report.ok, report.text()
    assert report.tip.root == merkle.root(payloads)

    # One process stops: three carry on; it catches up over HTTP when it is back.
    cluster.stop("replica-2")
    payloads += add_events(6, clock, start=12)
    res = append_pending(cfg, clock)
    assert res.appended == 6 and res.replicas_ok == 3
    assert "cannot reach" in ledger_status(cfg)["replicas"][1]["health"]
    cluster.start("replica-2")
    res = append_pending(cfg, clock)
    assert res.replicas_ok == 4
    assert verify_ledger(cfg).ok

    # Damage on one host is seen from the main host; repair runs on that host.
    con = sqlite3.connect(cluster.store("replica-3"))
    blob = con.execute("SELECT data FROM ledger_bundle WHERE id = 0").fetchone()[0]
    with con:
        con.execute("UPDATE ledger_bundle SET data = ? WHERE id = 0",
                    (blob.replace(b'"hours":1', b'"hours":4', 1),))
    con.close()
    report = verify_ledger(cfg)
    assert report.replicas["replica-3"]["state"] == "damaged"
    code, out, err = run_cli(cfg, clock, "repair", "replica-3")
    assert code == 2 and "run `mailworker ledger repair replica-3` on that host" in err
    done = subprocess.run(                      # on "its host": a separate process
        [sys.executable, "-m", "mailworker", "-c", str(cluster.config("replica-3")), "ledger",
         "repair", "replica-3"], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "copied leaves 0..17" in done.stdout
    assert verify_ledger(cfg).ok


def test_writes_need_the_token(cluster, clock, tmp_path):
    cfg_path = cluster.base / "main" / "mailworker.toml"
    wrong = tmp_path / "wrong-token"
    write_secret_file(wrong, b"not-the-token")
    cfg_path.write_text(cfg_path.read_text().replace(str(cluster.token), str(wrong)))
    cfg = config_mod.load(cfg_path)
    db_mod.open_from_config(cfg, clock)
    add_events(3, clock)
    res = append_pending(cfg, clock)           # reads work, every write is refused
    assert res.appended == 0 and res.waiting
    assert "refused our token" in res.message


def test_serve_refuses_an_open_network_address_without_a_token(make_config, clock):
    cfg = make_config({})
    from mailworker.ledger.bootstrap import init_ledger
    init_ledger(cfg)
    code, out, err = run_cli(cfg, clock, "serve", "--replica", "1", "--listen", "0.0.0.0:0")
    assert code == 2 and "needs a token" in err
    code, out, err = run_cli(cfg, clock, "serve", "--replica", "2", "--listen", "nowhere")
    assert code == 2 and "must be HOST:PORT" in err
    code, out, err = run_cli(cfg, clock, "serve", "--replica", "replica-9")
    assert code == 2 and "no replica named 'replica-9'" in err
