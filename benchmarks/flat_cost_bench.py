"""The worker's own cost per message as the database fills, on a local Maildir inbox.

By default the inbox is a Maildir, so what is measured is the worker: parsing, deciding,
the database's look-ups and writes. With ``--imap`` each database has its own private
Dovecot, and the mail server's share (a MOVE into a Processed folder that holds what was
read before) is part of the figure, as in production.

One database is filled with ``--fill`` messages. Then, ``--repeat`` times, the two ends
take turns: a pass of ``--first`` messages into a new, empty database, and a pass of
``--first`` more into the full one. Taking turns puts both ends under the same load of a
shared machine; every pass opens its database afresh and builds its statements afresh,
as a new worker process would. It prints microseconds per message at each end (median
and range), each pair's ratio, and the ratio of the medians (target: at most 1.2).

    python benchmarks/flat_cost_bench.py                     # 1,000 / 100,000, 5 pairs
    python benchmarks/flat_cost_bench.py --fill 10000        # shorter
    python benchmarks/flat_cost_bench.py --imap              # through Dovecot
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import mailbox
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailworker import config as config_mod  # noqa: E402
from mailworker import prepared  # noqa: E402
from mailworker.clock import FixedClock  # noqa: E402
from mailworker.db import open_from_config  # noqa: E402
from mailworker.ingest.open_inbox import source_from_config  # noqa: E402
from mailworker.ingest.pipeline import Ingestor  # noqa: E402
from mailworker.members import add_member  # noqa: E402
from tests.mailfactory import member_review  # noqa: E402
from tests.roster import MEMBERS  # noqa: E402
from tests.servers.dovecot import Dovecot, server_dir  # noqa: E402

MAILDIR = """[inbox]
type = "maildir"
path = "Maildir"
"""
IMAP = """[inbox]
type = "imap"
host = "127.0.0.1"
port = {port}
security = "plain"
username = "{user}"
password_env = "{password_env}"
"""
CONFIG = """[database]
url = "sqlite:///mailworker.db"
[ledger]
directory = "ledger"
[ingest]
daily_credit_cap = 100000000
"""

CLOCK = FixedClock(dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.timezone.utc))
SENDERS = [e for _, e, _, _ in MEMBERS]


class Site:
    """One worker's folder: its inbox (a Maildir, or a private Dovecot) and its database."""

    def __init__(self, work: Path, imap: bool = False):
        work.mkdir(parents=True)
        self.server = self.box = None
        if imap:
            self.server_dir = server_dir("mw-flat-imap-")
            self.server = Dovecot(self.server_dir / "dovecot")
            self.server.start()
            password_env = f"MW_FLAT_IMAP_PASSWORD_{abs(hash(str(work)))}"
            os.environ[password_env] = self.server.password
            inbox = IMAP.format(port=self.server.port, user=self.server.user,
                                password_env=password_env)
        else:
            for sub in ("cur", "new", "tmp"):
                (work / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
            self.box = mailbox.Maildir(work / "Maildir")
            inbox = MAILDIR
        try:
            (work / "mailworker.toml").write_text(inbox + CONFIG, encoding="utf-8")
            self.cfg = config_mod.load(work / "mailworker.toml")
            db = open_from_config(self.cfg, CLOCK)
            try:
                for name, email, category, aliases in MEMBERS:
                    add_member(name, email, category, CLOCK, aliases=aliases)
            finally:
                db.close()
        except BaseException:
            self.close()          # no Dovecot left running behind a failed setup
            raise

    def one_pass(self, numbers: range) -> float:
        """Ingest one review per number (every number a different text); µs a message."""
        mails = [member_review(i, sender=SENDERS[i % len(SENDERS)], size=2048) for i in numbers]
        if self.server is not None:
            for start in range(0, len(mails), 500):
                self.server.append(mails[start:start + 500])
        else:
            for mail in mails:
                self.box.add(mail)
        prepared._cache.clear()
        db = open_from_config(self.cfg, CLOCK)
        source = source_from_config(self.cfg)
        source.open()
        try:
            t0 = time.perf_counter()
            result = Ingestor(self.cfg, CLOCK, source, b"bench-key" * 4).run_pass()
            seconds = time.perf_counter() - t0
        finally:
            source.close()
            db.close()
        assert result.dispositions.get("credited") == len(numbers) == result.seen, \
            result.summary()
        return seconds / len(numbers) * 1e6

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            shutil.rmtree(self.server_dir, ignore_errors=True)


def _spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2 if values[0] < 10 else 0),
            "min": round(min(values), 2 if values[0] < 10 else 0),
            "max": round(max(values), 2 if values[0] < 10 else 0),
            "runs": [round(v, 2 if v < 10 else 0) for v in values]}


def run(work: Path, first: int, fill: int, repeat: int = 5, imap: bool = False) -> dict:
    numbers = iter(range(10 ** 9))

    def take(n: int) -> range:
        start = next(numbers)
        for _ in range(n - 1):
            next(numbers)
        return range(start, start + n)

    full = Site(work / "full", imap)
    try:
        filling = full.one_pass(take(fill))
        empty_us, full_us = [], []
        for r in range(repeat):
            empty = Site(work / f"empty-{r}", imap)
            try:
                empty_us.append(empty.one_pass(take(first)))
            finally:
                empty.close()
            full_us.append(full.one_pass(take(first)))
    finally:
        full.close()
    ratios = [f / e for e, f in zip(empty_us, full_us)]
    return {"inbox": "imap" if imap else "maildir", "first": first, "fill": fill,
            "repeat": repeat,
            "us_per_msg_filling": round(filling),
            "us_per_msg_empty": _spread(empty_us), "us_per_msg_full": _spread(full_us),
            "ratio_of_medians": round(statistics.median(full_us)
                                      / statistics.median(empty_us), 2),
            "ratio_per_pair": _spread(ratios)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--first", type=int, default=1000)
    ap.add_argument("--fill", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5, help="pairs of passes (default 5)")
    ap.add_argument("--imap", action="store_true",
                    help="read through a private Dovecot per database instead of a Maildir")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mw-flat-") as tmp:
        res = run(Path(tmp), args.first, args.fill, args.repeat, args.imap)
    if args.json:
        print(json.dumps(res))
        return 0
    e, f, p = res["us_per_msg_empty"], res["us_per_msg_full"], res["ratio_per_pair"]
    print(f"inbox: {res['inbox']}; filling {res['fill']:,}: {res['us_per_msg_filling']} "
          "µs/message")
    print(f"{res['first']:,} into an empty database: median {e['median']:.0f} µs/message "
          f"({e['min']:.0f}-{e['max']:.0f})")
    print(f"{res['first']:,} into the one holding {res['fill']:,}+: median "
          f"{f['median']:.0f} µs/message ({f['min']:.0f}-{f['max']:.0f})")
    print(f"ratio of the medians x{res['ratio_of_medians']} (target at most x1.2); "
          f"pair by pair: median x{p['median']}, x{p['min']}-x{p['max']} "
          f"over {res['repeat']} pairs: {', '.join(f'x{v}' for v in p['runs'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
