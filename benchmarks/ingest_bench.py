"""Ingest benchmark: full ingest against three ways of only reading the same mail, on one
private Dovecot, in one run.

For 2 KB and 1 MB messages it appends N messages, then measures, each in its own child
process (so peak RSS is its own):

- ``socket``: the physical limit here: one ``UID FETCH 1:* BODY.PEEK[]`` on a plain
  socket, the answer read into a buffer and nothing else done;
- ``imapclient``: imapclient as a user would pick it, as shipped (``fetch`` of
  ``BODY.PEEK[]``, 100 UIDs per command), which keeps imaplib's protocol trace on;
- ``imapclient -trace``: the same with the trace off (``debug = 0``), as the worker runs it;
- ``ingest``: the full ingest of the same N (fetch, parse, classify, credit, commit, MOVE);

and prints msg/s, MB/s and the ingest's ratio to each baseline. The 2 KB and 1 MB cases
run three times each (the baselines' speed varies between runs here); the run with the
median ratio to the socket is shown, with every run's ratios.

Costs that grow: a memory run ingests 1k and then 100k small messages (memory stays
flat), and then 1k more into the database that already holds those 100k: its cost per
message is compared with the 1k into an empty database (target: at most 1.2x).

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

from tests.mailfactory import member_review, review_with_screenshot  # noqa: E402
from tests.roster import MEMBERS  # noqa: E402
from tests.servers.dovecot import Dovecot, server_dir  # noqa: E402


def child_socket(port: int, user: str, password: str) -> dict:
    """UID FETCH 1:* BODY.PEEK[] on a bare socket: the bytes as fast as Dovecot sends them."""
    import socket
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    reader = sock.makefile("rb")
    reader.readline()                                             # greeting

    def command(tag: bytes, text: bytes) -> None:
        sock.sendall(tag + b" " + text + b"\r\n")
        while not reader.readline().startswith(tag + b" "):
            pass
    command(b"a1", b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))
    command(b"a2", b"EXAMINE INBOX")
    t0 = time.perf_counter()
    sock.sendall(b"a3 UID FETCH 1:* BODY.PEEK[]\r\n")
    buf = bytearray(1 << 24)
    view = memoryview(buf)
    nbytes = 0
    tail = b""
    while True:
        got = sock.recv_into(view)
        if not got:
            raise SystemExit("the server closed the connection during FETCH")
        nbytes += got
        tail = (tail + bytes(view[:got]))[-256:]
        if b"\r\na3 OK" in tail and tail.endswith(b"\r\n"):
            break
    secs = time.perf_counter() - t0
    sock.close()
    return {"messages": None, "bytes": nbytes, "seconds": secs, "peak_rss_mb": _rss_mb()}


def child_raw(port: int, user: str, password: str, trace: str = "on") -> dict:
    from imapclient import IMAPClient
    c = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=120)
    if trace == "off":
        c._imap.debug = 0     # what the worker does while nobody listens to the trace
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
    from mailworker.ingest.open_inbox import source_from_config
    from mailworker.members import add_member
    cfg = config_mod.load(config)
    clock = FixedClock(dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.timezone.utc))
    open_from_config(cfg, clock)
    if not Member_exists():
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


def Member_exists() -> bool:
    from mailworker.models import Member
    return Member.select().exists()


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


def make_messages(n: int, size: int, start: int = 0) -> list[bytes]:
    senders = [e for _, e, _, _ in MEMBERS]
    if size >= 100_000:   # large mail is a short text with an attachment
        return [review_with_screenshot(i, sender=senders[i % len(senders)], size=size)
                for i in range(start, start + n)]
    return [member_review(i, sender=senders[i % len(senders)], size=size)
            for i in range(start, start + n)]


BASELINES = ("socket", "imapclient", "imapclient_notrace")


def measure(n: int, size: int, label: str, repeat: int = 1, then: int = 0) -> dict:
    """The case ``repeat`` times (fresh server each time); the run with the median ratio to
    the socket, with every run's ratios kept: the baselines vary from run to run here."""
    runs = sorted((measure_once(n, size, label, then) for _ in range(repeat)),
                  key=lambda r: r["ratio_socket"])
    row = dict(runs[len(runs) // 2])
    for b in BASELINES:
        row[f"ratios_{b}"] = [round(r[f"ratio_{b}"], 3) for r in runs]
    return row


def _append(server: Dovecot, n: int, size: int, start: int = 0) -> None:
    msgs = make_messages(n, size, start)
    for i in range(0, n, 500):
        server.append(msgs[i:i + 500])


def measure_once(n: int, size: int, label: str, then: int = 0) -> dict:
    work = server_dir("mw-bench-")
    try:
        server = Dovecot(work / "dovecot")
        server.start()
        try:
            os.environ["MW_BENCH_IMAP_PASSWORD"] = server.password
            _append(server, n, size)
            login = (str(server.port), server.user, server.password)
            base = {"socket": run_child("socket", *login),
                    "imapclient": run_child("raw", *login, "on"),
                    "imapclient_notrace": run_child("raw", *login, "off")}
            cfg = write_config(work, server)
            full = run_child("ingest", str(cfg))
            assert full["messages"] == n, full
            assert server.count("INBOX") == 0
            more = None
            if then:          # the same database, now holding n messages: then more
                _append(server, then, size, start=n)
                more = run_child("ingest", str(cfg))
                assert more["messages"] == then, more
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    row = {"case": label, "n": n}
    for name, r in (*base.items(), ("ingest", full)):
        row[f"{name}_msg_s"] = (r["messages"] or n) / r["seconds"]
        row[f"{name}_mb_s"] = r["bytes"] / r["seconds"] / 1e6
        row[f"{name}_rss_mb"] = r["peak_rss_mb"]
    row["ingest_worker_rss_mb"] = full["worker_rss_mb"]
    row["ingest_helper_rss_mb"] = full["helper_rss_mb"]
    row["ingest_ms_per_1000"] = full["seconds"] / n * 1e6
    for b in BASELINES:
        # Bytes, not messages: the socket reads the answer's bytes (headers of the answer
        # included), the others the messages' bytes; per byte is the fair comparison.
        row[f"ratio_{b}"] = row["ingest_mb_s"] / row[f"{b}_mb_s"]
    if more is not None:
        row["then"] = then
        row["then_ms_per_1000"] = more["seconds"] / then * 1e6
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
        result = {"socket": lambda: child_socket(int(rest[0]), rest[1], rest[2]),
                  "raw": lambda: child_raw(int(rest[0]), rest[1], rest[2], rest[3]),
                  "ingest": lambda: child_ingest(rest[0])}[kind]()
        print(json.dumps(result))
        return
    if args.quick:
        plan = [(2000, 2048, "2 KB", 1, 0), (40, 1_000_000, "1 MB", 1, 0),
                (1000, 2048, "mem 1k", 1, 0), (5000, 2048, "mem 5k", 1, 1000)]
    else:
        plan = [(10000, 2048, "2 KB", args.repeat, 0), (200, 1_000_000, "1 MB", args.repeat, 0),
                (1000, 2048, "mem 1k", 1, 0), (100000, 2048, "mem 100k", 1, 1000)]
    rows = [measure(n, size, label, repeat, then) for n, size, label, repeat, then in plan]
    print(f"{'case':<9}{'N':>7} {'ingest':>8} {'ingest':>7}   ratio of ingest MB/s to:"
          f"                                       {'ingest RSS MB':>14}")
    print(f"{'':<9}{'':>7} {'msg/s':>8} {'MB/s':>7}   {'socket (MB/s)':>20} "
          f"{'imapclient (MB/s)':>22} {'imapclient -trace':>22} {'':>14}  runs: socket ratios")
    for r in rows:
        cells = "".join(f" {r[f'ratio_{b}']:>11.2f} ({r[f'{b}_mb_s']:>6.1f})   "
                        for b in BASELINES)
        print(f"{r['case']:<9}{r['n']:>7} {r['ingest_msg_s']:>8.0f} {r['ingest_mb_s']:>7.1f}  "
              f"{cells}{r['ingest_rss_mb']:>8.1f} ({r['ingest_worker_rss_mb']:.1f} + "
              f"{r['ingest_helper_rss_mb']:.1f})  {r['ratios_socket']}")
    mem = [r for r in rows if r["case"].startswith("mem")]
    if len(mem) == 2:
        small, big = mem
        print(f"memory: peak RSS {small['ingest_rss_mb']:.1f} MB at {small['n']} messages, "
              f"{big['ingest_rss_mb']:.1f} MB at {big['n']} "
              f"(x{big['ingest_rss_mb'] / small['ingest_rss_mb']:.2f})")
        if "then" in big:
            print(f"cost per message: {small['ingest_ms_per_1000']:.0f} ms per 1,000 into an "
                  f"empty database, {big['then_ms_per_1000']:.0f} ms per 1,000 into one holding "
                  f"{big['n']:,} (x{big['then_ms_per_1000'] / small['ingest_ms_per_1000']:.2f}; "
                  f"target at most x1.2; one pass at each end, so a busy machine moves it: "
                  f"flat_cost_bench.py --imap takes turns over five pairs)")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
