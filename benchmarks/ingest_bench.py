"""Ingest benchmark: full ingest vs raw imapclient FETCH, on one private Dovecot, one run.

For 2 KB and 1 MB messages it appends N messages, measures a raw FETCH BODY.PEEK[] of
all of them (100 per command, nothing else done), then the full ingest of the same N
(fetch, parse, classify, credit, commit, MOVE) and prints msg/s, MB/s, the ratio to raw
and the peak RSS. Each measurement runs in its own child process so RSS is its own.
A memory run ingests 1k and then 100k small messages to show memory stays flat. The 2 KB
and 1 MB cases run three times each (raw FETCH speed varies between runs here); the run
with the median ratio is shown, with all ratios.

    python benchmarks/ingest_bench.py                # full run (several minutes)
    python benchmarks/ingest_bench.py --quick        # small sizes, about a minute
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mailfactory import review_with_screenshot, unique_review  # noqa: E402
from tests.roster import MEMBERS  # noqa: E402
from tests.servers.dovecot import Dovecot, server_dir  # noqa: E402


def child_raw(port: int, user: str, password: str) -> dict:
    from imapclient import IMAPClient
    c = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=120)
    c.login(user, password)
    c.select_folder("INBOX", readonly=True)
    t0 = time.perf_counter()
    uids = c.search(["NOT", "DELETED"])
    n = nbytes = 0
    for i in range(0, len(uids), 100):
        for _, d in c.fetch(uids[i:i + 100], ["BODY.PEEK[]"]).items():
            n += 1
            nbytes += len(d[b"BODY[]"])
    secs = time.perf_counter() - t0
    c.logout()
    return {"messages": n, "bytes": nbytes, "seconds": secs, "peak_rss_mb": _rss_mb()}


def child_ingest(config: str) -> dict:
    from mailworker import config as config_mod
    from mailworker.clock import FixedClock
    from mailworker.db import open_from_config
    from mailworker.ingest.pipeline import Ingestor
    from mailworker.ingest.sources import source_from_config
    from mailworker.members import add_member
    cfg = config_mod.load(config)
    clock = FixedClock(dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.timezone.utc))
    open_from_config(cfg, clock)
    for name, email, cat, aliases in MEMBERS:
        add_member(name, email, cat, clock, aliases=aliases)
    source = source_from_config(cfg)
    source.open()
    t0 = time.perf_counter()
    result = Ingestor(cfg, clock, source, b"bench-key" * 4).run_pass()
    secs = time.perf_counter() - t0
    source.close()
    import peewee as pw
    from mailworker.models import Message
    nbytes = Message.select(pw.fn.SUM(Message.size)).scalar() or 0
    # A long pass analyses in a second process (reaped by now): its peak counts too.
    helper_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"messages": result.seen, "bytes": nbytes, "seconds": secs,
            "peak_rss_mb": _rss_mb() + helper_mb, "worker_rss_mb": _rss_mb(),
            "helper_rss_mb": helper_mb, "dispositions": dict(result.dispositions)}


def _rss_mb() -> float:
    """Peak RSS of this process since its exec (VmHWM; getrusage's ru_maxrss would carry
    over the parent's peak on Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True, check=False, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_config(work: Path, server: Dovecot) -> Path:
    path = work / "mailworker.toml"
    path.write_text(f"""
[inbox]
type = "imap"
host = "127.0.0.1"
port = {server.port}
security = "plain"
username = "{server.user}"
password_env = "MW_BENCH_IMAP_PASSWORD"
[ingest]
daily_credit_cap = 100000000
[database]
url = "sqlite:///{work}/bench.db"
[ledger]
directory = "{work}/ledger"
""", encoding="utf-8")
    return path


def make_messages(n: int, size: int) -> list[bytes]:
    senders = [e for _, e, _, _ in MEMBERS]
    if size >= 100_000:   # large mail is a short text with an attachment
        return [review_with_screenshot(i, sender=senders[i % len(senders)], size=size)
                for i in range(n)]
    return [unique_review(i, sender=senders[i % len(senders)], size=size) for i in range(n)]


def measure(n: int, size: int, label: str, repeat: int = 1) -> dict:
    """The case ``repeat`` times (fresh server each time); the run with the median ratio,
    with every run's ratio kept: raw FETCH speed here varies from run to run."""
    runs = sorted((measure_once(n, size, label) for _ in range(repeat)),
                  key=lambda r: r["ratio_msg"])
    row = dict(runs[len(runs) // 2])
    row["ratios_msg"] = [round(r["ratio_msg"], 3) for r in runs]
    return row


def measure_once(n: int, size: int, label: str) -> dict:
    work = server_dir("mw-bench-")
    try:
        server = Dovecot(work / "dovecot")
        server.start()
        try:
            os.environ["MW_BENCH_IMAP_PASSWORD"] = server.password
            msgs = make_messages(n, size)
            for i in range(0, n, 500):
                server.append(msgs[i:i + 500])
            del msgs
            raw = run_child("raw", str(server.port), server.user, server.password)
            cfg = write_config(work, server)
            full = run_child("ingest", str(cfg))
            assert full["messages"] == n, full
            assert server.count("INBOX") == 0
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    row = {"case": label, "n": n}
    for name, r in (("raw", raw), ("ingest", full)):
        row[f"{name}_msg_s"] = r["messages"] / r["seconds"]
        row[f"{name}_mb_s"] = r["bytes"] / r["seconds"] / 1e6
        row[f"{name}_rss_mb"] = r["peak_rss_mb"]
    row["ingest_worker_rss_mb"] = full["worker_rss_mb"]
    row["ingest_helper_rss_mb"] = full["helper_rss_mb"]
    row["ratio_msg"] = row["ingest_msg_s"] / row["raw_msg_s"]
    row["ratio_mb"] = row["ingest_mb_s"] / row["raw_mb_s"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON too")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the 2 KB and 1 MB cases; the median is shown (default 3)")
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        print(json.dumps(child_raw(int(rest[0]), rest[1], rest[2]) if kind == "raw"
                         else child_ingest(rest[0])))
        return
    if args.quick:
        plan = [(2000, 2048, "2 KB", 1), (40, 1_000_000, "1 MB", 1), (1000, 2048, "mem 1k", 1),
                (5000, 2048, "mem 5k", 1)]
    else:
        plan = [(10000, 2048, "2 KB", args.repeat), (200, 1_000_000, "1 MB", args.repeat),
                (1000, 2048, "mem 1k", 1), (100000, 2048, "mem 100k", 1)]
    rows = [measure(n, size, label, repeat) for n, size, label, repeat in plan]
    print(f"{'case':<9}{'N':>7} {'raw msg/s':>10} {'ingest msg/s':>13} {'ratio':>6} "
          f"{'raw MB/s':>9} {'ingest MB/s':>12} {'ratio':>6} {'ingest RSS MB':>14}"
          f"  (worker + analysis process)  ratios of all runs")
    for r in rows:
        print(f"{r['case']:<9}{r['n']:>7} {r['raw_msg_s']:>10.0f} {r['ingest_msg_s']:>13.0f} "
              f"{r['ratio_msg']:>6.2f} {r['raw_mb_s']:>9.1f} {r['ingest_mb_s']:>12.1f} "
              f"{r['ratio_mb']:>6.2f} {r['ingest_rss_mb']:>14.1f}  "
              f"({r['ingest_worker_rss_mb']:.1f} + {r['ingest_helper_rss_mb']:.1f})"
              f"  {r['ratios_msg']}")
    mem = [r for r in rows if r["case"].startswith("mem")]
    if len(mem) == 2:
        print(f"memory: peak RSS {mem[0]['ingest_rss_mb']:.1f} MB at {mem[0]['n']} messages, "
              f"{mem[1]['ingest_rss_mb']:.1f} MB at {mem[1]['n']} "
              f"(x{mem[1]['ingest_rss_mb'] / mem[0]['ingest_rss_mb']:.2f})")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
