"""The worker's own cost per message as the database fills, on a local Maildir inbox.

`ingest_bench.py` measures the same with Dovecot, where the mail server's own work (a
MOVE into a Processed folder already holding 100,000 messages) is part of the figure.
Here the inbox is a Maildir, so what is measured is the worker: parsing, deciding, the
database's look-ups and writes. It ingests ``--first`` messages into an empty database,
then ``--fill`` more, then ``--first`` more into the database now holding them, each pass
in this one process, and prints microseconds per message of the first and the last pass
and their ratio (target: at most 1.2).

    python benchmarks/flat_cost_bench.py                     # 1,000 / 100,000 / 1,000
    python benchmarks/flat_cost_bench.py --fill 10000        # shorter
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import mailbox
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

CONFIG = """[inbox]
type = "maildir"
path = "Maildir"
[database]
url = "sqlite:///mailworker.db"
[ledger]
directory = "ledger"
[ingest]
daily_credit_cap = 100000000
"""


def run(work: Path, first: int, fill: int) -> dict:
    for sub in ("cur", "new", "tmp"):
        (work / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
    (work / "mailworker.toml").write_text(CONFIG, encoding="utf-8")
    cfg = config_mod.load(work / "mailworker.toml")
    clock = FixedClock(dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.timezone.utc))
    db = open_from_config(cfg, clock)
    for name, email, category, aliases in MEMBERS:
        add_member(name, email, category, clock, aliases=aliases)
    senders = [e for _, e, _, _ in MEMBERS]
    box = mailbox.Maildir(work / "Maildir")
    made = [0]

    def one_pass(n: int) -> float:
        for i in range(made[0], made[0] + n):
            box.add(member_review(i, sender=senders[i % len(senders)], size=2048))
        made[0] += n
        # Each pass builds its statements afresh, as a new worker process would (the
        # multi-row INSERTs are built once per row count and kept for the process).
        prepared._cache.clear()
        source = source_from_config(cfg)
        source.open()
        try:
            t0 = time.perf_counter()
            result = Ingestor(cfg, clock, source, b"bench-key" * 4).run_pass()
            seconds = time.perf_counter() - t0
        finally:
            source.close()
        assert result.seen == n, result.summary()
        return seconds / n * 1e6

    try:
        empty = one_pass(first)
        filling = one_pass(fill)
        full = one_pass(first)
    finally:
        db.close()
    return {"first": first, "fill": fill, "us_per_msg_empty": round(empty),
            "us_per_msg_filling": round(filling), "us_per_msg_full": round(full),
            "ratio_full_over_empty": round(full / empty, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--first", type=int, default=1000)
    ap.add_argument("--fill", type=int, default=100_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mw-flat-") as tmp:
        res = run(Path(tmp), args.first, args.fill)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{res['first']} into an empty database: {res['us_per_msg_empty']} µs/message; "
          f"{res['fill']} more: {res['us_per_msg_filling']} µs/message; {res['first']} into "
          f"the database then holding {res['first'] + res['fill']}: "
          f"{res['us_per_msg_full']} µs/message (x{res['ratio_full_over_empty']}; target at "
          "most x1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
