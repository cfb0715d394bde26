"""The ledger benchmark: our stored tree against pymerkle on the same machine, same run.

Measured (each system in its own child process, so peak RSS is its own):

- append: N leaves durably into the four replicas, in small batches (500) and at the
  configured ``[ledger] batch_size`` (10,000): each batch is one fsync'd transaction per
  replica holding the leaves and the replica's signature, the quorum note assembled and
  checked ("four replicas"), and the whole ``append_pending`` from queued events to
  marked events (main database included), against pymerkle ``SqliteTree.append_entries``
  (one transaction into one file). A full run measures each three times, taking turns,
  and reports the median run;
- inclusion and consistency proofs per second at each tree size, random indices, on a
  freshly opened tree (pymerkle's subroot cache starts cold, as after a restart): the
  median of five windows;
- peak RSS of each child.

Both trees are RFC 9162 trees, so the benchmark also checks that their roots agree.
pymerkle is a benchmark-only dependency (``pip install -e '.[bench]'``).

    python benchmarks/ledger_bench.py            # full: 100k appends; proofs at 1k, 100k, 1M
    python benchmarks/ledger_bench.py --quick    # CI size
    python benchmarks/ledger_bench.py --json     # one JSON object
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FULL_SIZES = (1_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000)
FULL_APPEND = 100_000
QUICK_APPEND = 5_000
FULL_SECONDS = 3.0
FULL_REPEAT = 3         # append measurements per system in a full run (the median counts)
SMALL_BATCH = 500


def configured_batch() -> int:
    """The default ``[ledger] batch_size``: what the service appends with."""
    from mailworker.config import SCHEMA
    return SCHEMA["ledger"]["batch_size"].default


QUICK_SECONDS = 0.5


def synthetic_leaves(start: int, count: int) -> list[bytes]:
    """Leaves like real contribution leaves: canonical JSON (~240 bytes), a random-looking
    message hash each, one of 100 member pseudonyms, times a second apart."""
    members = [hmac.new(b"bench", b"member:%d" % m, hashlib.sha256).hexdigest().encode()
               for m in range(100)]
    out = []
    for i in range(start, start + count):
        out.append(b'{"hours":1,"kind":"%s","member":"%s","msg_sha256":"%s",'
                   b'"time":"2026-11-25T%02d:%02d:%02dZ","type":"contribution","v":1}'
                   % (b"review" if i % 3 else b"proposal", members[i % 100],
                      hashlib.sha256(b"message %d" % i).hexdigest().encode(),
                      (i // 3600) % 24, (i // 60) % 60, i % 60))
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _pymerkle():
    try:
        import pymerkle
    except ImportError:
        from mailworker.ledger.errors import LedgerProblem
        raise LedgerProblem("the benchmark needs pymerkle: pip install -e '.[bench]'") from None
    return pymerkle


# --- workers (run in child processes) ----------------------------------------------------

def work_append_pymerkle(d: Path, n: int, **_) -> dict:
    pm = _pymerkle()
    leaves = synthetic_leaves(0, n)
    t = time.perf_counter()
    tree = pm.SqliteTree(str(d / "pymerkle.db"))
    tree.append_entries(leaves)
    tree.close()                # timed on both sides: closing may write (checkpoints)
    seconds = time.perf_counter() - t
    tree = pm.SqliteTree(str(d / "pymerkle.db"))
    root = tree.get_root()
    tree.close()
    return {"seconds": seconds, "root": root.hex(), "rss_mb": _peak_rss_mb()}


def _bench_config(d: Path, batch: int) -> Path:
    path = d / "mailworker.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{d}/main.db"\n'
                    f'[ledger]\ndirectory = "{d}/ledger"\nbatch_size = {batch}\n',
                    encoding="utf-8")
    return path


def work_append_replicas(d: Path, n: int, batch: int, **_) -> dict:
    """Replicas only: plan once, write to four stores, four signatures, checkpoint stored."""
    from mailworker.config import load
    from mailworker.ledger import checkpoint as cp_mod
    from mailworker.ledger import tree
    from mailworker.ledger.bootstrap import init_ledger
    from mailworker.ledger.handle import open_ledger
    cfg = load(_bench_config(d, batch))
    init_ledger(cfg)
    handle = open_ledger(cfg)
    reps = handle.reachable
    leaves = synthetic_leaves(0, n)
    stamp = "2026-11-25T01:00:00Z"
    pool = ThreadPoolExecutor(max_workers=len(reps))
    packer = ThreadPoolExecutor(max_workers=1)
    previous = None
    t = time.perf_counter()
    # What the appender does per batch, minus the main database: plan once (full bundles
    # packed on the side), then every replica writes, checks and signs in one commit (in
    # parallel, while the next batch is planned), the quorum note is assembled and
    # verified, and handed to the replicas with the next batch.
    plan = reps[0].plan(leaves[:batch])
    plan.start_packing(packer)
    for i in range(0, n, batch):
        cp = cp_mod.Checkpoint(handle.origin, plan.new_size, plan.root)
        futures = [pool.submit(rep.apply_and_sign, plan, cp, stamp, previous) for rep in reps]
        following = None
        if i + batch < n:
            following = tree.plan_append(plan.new_size, plan.edge_after, plan.bundle_after,
                                         leaves[i + batch:i + 2 * batch])
            following.start_packing(packer)
        note = cp_mod.assemble(cp, [f.result() for f in futures])
        handle.open_note(note)
        previous = (cp.size, note)
        plan = following
    list(pool.map(lambda rep: rep.store_checkpoint(*previous), reps))
    root = reps[0].root()
    pool.shutdown()
    packer.shutdown()
    handle.close()
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "root": root.hex(), "rss_mb": _peak_rss_mb()}


def work_append_pending(d: Path, n: int, batch: int, **_) -> dict:
    """The whole appender: queued ledger_event rows -> four replicas -> marked events."""
    from mailworker import models
    from mailworker.clock import FixedClock
    from mailworker.config import load
    from mailworker.db import open_from_config
    from mailworker.ledger.appender import append_pending
    from mailworker.ledger.bootstrap import init_ledger
    cfg = load(_bench_config(d, batch))
    clock = FixedClock(dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.timezone.utc))
    db = open_from_config(cfg, clock)
    init_ledger(cfg)
    leaves = synthetic_leaves(0, n)
    now = clock.now().replace(tzinfo=None)
    with db.atomic():
        for i in range(0, n, 2000):
            models.LedgerEvent.insert_many(
                [{"event_type": "contribution", "payload": leaf.decode(),
                  "dedup_key": f"bench:{i + j}", "created_at": now}
                 for j, leaf in enumerate(leaves[i:i + 2000])]).execute()
    t = time.perf_counter()
    result = append_pending(cfg, clock)
    seconds = time.perf_counter() - t
    if result.appended != n:
        raise RuntimeError(f"append_pending appended {result.appended} of {n}: {result.message}")
    db.close()
    return {"seconds": seconds, "rss_mb": _peak_rss_mb()}


def _build_ours(path: Path, size: int):
    from mailworker.ledger.store import SqliteReplicaStore
    from mailworker.ledger import tree
    store = SqliteReplicaStore("bench", path, create=True)
    store.create_schema("bench", "bench")
    pos, step = 0, 1 << 16
    while pos < size:
        leaves = synthetic_leaves(pos, min(step, size - pos))
        edge, bundle = tree.read_edge(store, pos)
        store.apply(tree.plan_append(pos, edge, bundle, leaves))
        pos += len(leaves)
    return store


def work_proofs_ours(d: Path, size: int, seconds: float, **_) -> dict:
    from mailworker.ledger import merkle, tree
    from mailworker.ledger.store import SqliteReplicaStore
    path = d / f"ours-{size}.db"
    t = time.perf_counter()
    if not path.exists():
        _build_ours(path, size).close()
    build = time.perf_counter() - t
    store = SqliteReplicaStore("bench", path)        # freshly opened, as after a restart
    reader = tree.TileCache(store)                   # as a replica reads for proofs
    root = tree.stored_root(reader, size)
    rnd = random.Random(size)
    # Correctness first: a few proofs must verify.
    for _ in range(5):
        i = rnd.randrange(size)
        merkle.verify_inclusion(merkle.leaf_hash(synthetic_leaves(i, 1)[0]), i, size,
                                tree.stored_inclusion_proof(reader, i, size), root)
        m = rnd.randrange(1, size + 1)
        merkle.verify_consistency(m, size, tree.stored_root(reader, m), root,
                                  tree.stored_consistency_proof(reader, m, size))
    inc = _rate(lambda: tree.stored_inclusion_proof(reader, rnd.randrange(size), size), seconds)
    inc_spread = list(LAST_SPREAD)
    con = _rate(lambda: tree.stored_consistency_proof(reader, rnd.randrange(1, size + 1), size),
                seconds)
    store.close()
    return {"build_s": build, "inclusion_per_s": inc, "consistency_per_s": con,
            "inclusion_spread": inc_spread, "consistency_spread": list(LAST_SPREAD),
            "root": root.hex(), "rss_mb": _peak_rss_mb()}


def work_proofs_pymerkle(d: Path, size: int, seconds: float, **_) -> dict:
    pm = _pymerkle()
    path = d / f"pymerkle-{size}.db"
    t = time.perf_counter()
    if not path.exists():
        tree = pm.SqliteTree(str(path))
        for i in range(0, size, 1 << 16):
            tree.append_entries(synthetic_leaves(i, min(1 << 16, size - i)))
        tree.close()
    build = time.perf_counter() - t
    tree = pm.SqliteTree(str(path))                  # fresh object: cold subroot cache
    rnd = random.Random(size)
    t0 = time.perf_counter()
    root = tree.get_root()
    first_root_s = time.perf_counter() - t0
    i = rnd.randrange(size)
    pm.verify_inclusion(tree.get_leaf(i + 1), root, tree.prove_inclusion(i + 1))
    inc = _rate(lambda: tree.prove_inclusion(rnd.randrange(size) + 1), seconds)
    inc_spread = list(LAST_SPREAD)
    con = _rate(lambda: tree.prove_consistency(rnd.randrange(1, size + 1)), seconds)
    tree.close()
    return {"build_s": build, "first_root_s": first_root_s, "inclusion_per_s": inc,
            "consistency_per_s": con, "inclusion_spread": inc_spread,
            "consistency_spread": list(LAST_SPREAD), "root": root.hex(),
            "rss_mb": _peak_rss_mb()}


def _rate(fn, seconds: float, windows: int = 5) -> float:
    """Calls per second of ``fn`` over about ``seconds``: the median of ``windows`` equal
    windows (each at least 3 calls), so a burst of other work on a shared machine does not
    decide the figure. The slowest and fastest windows are kept in ``LAST_SPREAD``."""
    rates = []
    for _ in range(windows):
        calls = 0
        t = time.perf_counter()
        deadline = t + seconds / windows
        while True:
            fn()
            calls += 1
            if calls >= 3 and time.perf_counter() >= deadline:
                break
        rates.append(calls / (time.perf_counter() - t))
    LAST_SPREAD[:] = [min(rates), max(rates)]
    return statistics.median(rates)


LAST_SPREAD: list[float] = []


WORKERS = {
    "append_pymerkle": work_append_pymerkle,
    "append_replicas": work_append_replicas,
    "append_pending": work_append_pending,
    "proofs_ours": work_proofs_ours,
    "proofs_pymerkle": work_proofs_pymerkle,
}


def _child(worker: str, d: Path, **kw) -> dict:
    args = [sys.executable, str(Path(__file__).resolve()), "--worker", worker, "--dir", str(d)]
    for k, v in kw.items():
        args += [f"--{k}", str(v)]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        from mailworker.ledger.errors import LedgerProblem
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise LedgerProblem(f"benchmark step {worker} failed: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the whole benchmark -----------------------------------------------------------------

def run(quick: bool = False, sizes: tuple[int, ...] | None = None, workdir: Path | None = None,
        append_n: int | None = None, batches: tuple[int, ...] | None = None,
        progress=None, repeat: int | None = None) -> dict:
    pm = _pymerkle()
    sizes = sizes or (QUICK_SIZES if quick else FULL_SIZES)
    n = append_n or (QUICK_APPEND if quick else FULL_APPEND)
    batches = batches or ((SMALL_BATCH, min(n, configured_batch())) if quick
                          else (SMALL_BATCH, configured_batch()))
    seconds = QUICK_SECONDS if quick else FULL_SECONDS
    repeat = max(1, repeat or (1 if quick else FULL_REPEAT))
    say = progress or (lambda text: None)
    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="mw-ledger-bench-")) if own_dir else workdir
    base.mkdir(parents=True, exist_ok=True)
    try:
        def fresh(name: str) -> Path:
            p = base / name
            shutil.rmtree(p, ignore_errors=True)
            p.mkdir(parents=True)
            return p

        # Each append is measured ``repeat`` times, the systems taking turns; the median
        # run counts (the machine is shared).
        runs: dict = {"pymerkle": []}
        for turn in range(repeat):
            of = f" (run {turn + 1} of {repeat})" if repeat > 1 else ""
            say(f"append {n} leaves: pymerkle SqliteTree bulk{of}")
            runs["pymerkle"].append(_child("append_pymerkle", fresh("append-pymerkle"), n=n))
            for batch in batches:
                say(f"append {n} leaves: four replicas, batches of {batch}{of}")
                reps = _child("append_replicas", fresh("append-replicas"), n=n, batch=batch)
                if runs["pymerkle"][-1]["root"] != reps["root"]:
                    from mailworker.ledger.errors import LedgerProblem
                    raise LedgerProblem("pymerkle and the stored tree disagree on the root")
                runs.setdefault((batch, "four_replicas"), []).append(reps)
                say(f"append {n} leaves: append_pending end to end, batches of {batch}{of}")
                runs.setdefault((batch, "append_pending_end_to_end"), []).append(
                    _child("append_pending", fresh("append-pending"), n=n, batch=batch))
        append = {"leaves": n, "runs": repeat,
                  "pymerkle_sqlite_bulk": _rate_row(n, _median_run(runs["pymerkle"])),
                  "ours": []}
        for batch in batches:
            row = {"batch": batch, "configured_default": batch == configured_batch()}
            for key in ("four_replicas", "append_pending_end_to_end"):
                row[key] = _rate_row(n, _median_run(runs[(batch, key)]))
                row[f"ratio_{key}_vs_pymerkle"] = round(
                    row[key]["leaves_per_s"] / append["pymerkle_sqlite_bulk"]["leaves_per_s"], 2)
                # The spread: each run against the pymerkle run it took turns with.
                each = [p["seconds"] / o["seconds"]
                        for o, p in zip(runs[(batch, key)], runs["pymerkle"])]
                row[f"ratio_{key}_runs"] = [round(x, 2) for x in each]
            append["ours"].append(row)
        proofs = []
        trees = fresh("trees")
        for size in sizes:
            say(f"proofs at {size} leaves: stored tree")
            ours = _child("proofs_ours", trees, size=size, seconds=seconds)
            say(f"proofs at {size} leaves: pymerkle")
            theirs = _child("proofs_pymerkle", trees, size=size, seconds=seconds)
            if ours["root"] != theirs["root"]:
                from mailworker.ledger.errors import LedgerProblem
                raise LedgerProblem(f"pymerkle and the stored tree disagree on the root at "
                                    f"size {size}")
            proofs.append({
                "size": size,
                "inclusion_per_s": {"ours": round(ours["inclusion_per_s"]),
                                    "pymerkle": round(theirs["inclusion_per_s"], 1),
                                    "windows": {"ours": [round(x) for x in
                                                         ours["inclusion_spread"]],
                                                "pymerkle": [round(x, 1) for x in
                                                             theirs["inclusion_spread"]]},
                                    "ratio": round(ours["inclusion_per_s"]
                                                   / theirs["inclusion_per_s"], 1)},
                "consistency_per_s": {"ours": round(ours["consistency_per_s"]),
                                      "pymerkle": round(theirs["consistency_per_s"], 1),
                                      "windows": {"ours": [round(x) for x in
                                                           ours["consistency_spread"]],
                                                  "pymerkle": [round(x, 1) for x in
                                                               theirs["consistency_spread"]]},
                                      "ratio": round(ours["consistency_per_s"]
                                                     / theirs["consistency_per_s"], 1)},
                "build_s": {"ours": round(ours["build_s"], 2),
                            "pymerkle": round(theirs["build_s"], 2)},
                "pymerkle_first_root_s": round(theirs["first_root_s"], 3),
                "peak_rss_mb": {"ours": round(ours["rss_mb"], 1),
                                "pymerkle": round(theirs["rss_mb"], 1)},
            })
        return {
            "benchmark": "mailworker ledger",
            "quick": quick,
            "pymerkle_version": pm.__version__,
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s)",
            "proof_seconds_per_measurement": seconds,
            "append": append,
            "proofs": proofs,
        }
    finally:
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)


def _median_run(runs: list[dict]) -> dict:
    """The run with the median time (the slower middle one of an even count), with the
    highest peak RSS of all."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return dict(ordered[len(ordered) // 2], rss_mb=max(r["rss_mb"] for r in runs))


def _rate_row(n: int, r: dict) -> dict:
    return {"seconds": round(r["seconds"], 3), "leaves_per_s": round(n / r["seconds"]),
            "peak_rss_mb": round(r["rss_mb"], 1)}


def _append_title(a: dict) -> str:
    runs = a.get("runs", 1)
    return f"append {a['leaves']} leaves (durable{f', median of {runs} runs' if runs > 1 else ''})"


def format_table(res: dict) -> str:
    a = res["append"]
    lines = [f"mailworker ledger benchmark (pymerkle {res['pymerkle_version']}, Python "
             f"{res['python']}, {res['machine']})", "",
             f"{_append_title(a):<55}leaves/s   seconds"
             "  peak RSS MB  vs pymerkle"]
    rows = [("pymerkle SqliteTree bulk, 1 file, 1 commit", a["pymerkle_sqlite_bulk"], None)]
    for r in a["ours"]:
        batch = f"{r['batch']}{' (default)' if r.get('configured_default') else ''}"
        rows.append((f"ours, 4 replicas, batches of {batch}", r["four_replicas"],
                     r["ratio_four_replicas_vs_pymerkle"]))
        rows.append((f"ours, append_pending, batches of {batch}",
                     r["append_pending_end_to_end"],
                     r["ratio_append_pending_end_to_end_vs_pymerkle"]))
    spreads = {}
    for r in a["ours"]:
        for key in ("four_replicas", "append_pending_end_to_end"):
            runs = r.get(f"ratio_{key}_runs", [])
            if len(runs) > 1:
                spreads[id(r[key])] = f" (runs x{min(runs)}-x{max(runs)})"
    for label, row, ratio in rows:
        lines.append(f"  {label:<52} {row['leaves_per_s']:>8} {row['seconds']:>9} "
                     f"{row['peak_rss_mb']:>12}  {'' if ratio is None else 'x' + str(ratio)}"
                     f"{spreads.get(id(row), '')}")
    lines += ["", "proofs per second (random leaves, freshly opened tree)",
              "  leaves     inclusion ours / pymerkle (x)      consistency ours / pymerkle (x)"
              "     peak RSS MB ours / pymerkle"]
    for p in res["proofs"]:
        i, c, m = p["inclusion_per_s"], p["consistency_per_s"], p["peak_rss_mb"]
        lines.append(f"  {p['size']:>9}  {i['ours']:>8} / {i['pymerkle']:>9} (x{i['ratio']:<8})"
                     f"  {c['ours']:>8} / {c['pymerkle']:>9} (x{c['ratio']:<8})"
                     f"  {m['ours']:>6} / {m['pymerkle']}")
    lines += ["", "slowest-fastest window (median of five shown above):"]
    for p in res["proofs"]:
        i, c = p["inclusion_per_s"].get("windows"), p["consistency_per_s"].get("windows")
        if i and c:
            lines.append(f"  {p['size']:>9}  inclusion ours {i['ours'][0]}-{i['ours'][1]}, "
                         f"pymerkle {i['pymerkle'][0]}-{i['pymerkle'][1]}; consistency ours "
                         f"{c['ours'][0]}-{c['ours'][1]}, pymerkle "
                         f"{c['pymerkle'][0]}-{c['pymerkle'][1]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ledger_bench", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quick", action="store_true", help="small sizes (CI)")
    p.add_argument("--sizes", help="tree sizes for the proof rates, e.g. 1000,100000")
    p.add_argument("--append", type=int, help="leaves for the append measurement")
    p.add_argument("--batches", help="append batch sizes, e.g. 500,10000 (default)")
    p.add_argument("--repeat", type=int, help=f"append runs per system, median reported "
                                              f"(default {FULL_REPEAT}; 1 with --quick)")
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--dir", help="scratch folder (default: a temp folder, removed after)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        kw = {k: v for k, v in (("n", args.n), ("size", args.size), ("seconds", args.seconds),
                                ("batch", args.batch)) if v is not None}
        print(json.dumps(WORKERS[args.worker](Path(args.dir), **kw)))
        return 0
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else None
    batches = tuple(int(b) for b in args.batches.split(",")) if args.batches else None
    res = run(quick=args.quick, sizes=sizes, workdir=Path(args.dir) if args.dir else None,
              append_n=args.append, batches=batches, repeat=args.repeat,
              progress=None if args.json else (lambda t: print(f"... {t}", file=sys.stderr)))
    print(json.dumps(res) if args.json else format_table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
