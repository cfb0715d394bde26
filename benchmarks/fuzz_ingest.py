"""Fuzz the ingest path by hand: 10,000+ hostile mails through Maildir, the pipeline and
the outbox (the suite runs 2,000 of the same kind in tests/test_fuzz_ingest.py).

    .venv/bin/python benchmarks/fuzz_ingest.py              # 10,000 mails, seed 10
    .venv/bin/python benchmarks/fuzz_ingest.py -n 20000 --seed 7 --words 8000

Prints how many mails ended in each disposition, how the outbox drain went, and the
slowest message: the time its analysis (parse, classify, checks, fingerprint) took on
its own, measured once per mail (after a warm-up) before the pipeline runs. Exits 1 when a mail was not
recorded, an exception escaped, or the outbox kept rows pending.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import mailbox
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailworker import config as config_mod  # noqa: E402
from mailworker.clock import FixedClock  # noqa: E402
from mailworker.db import open_from_config  # noqa: E402
from mailworker.ingest.analysis import Rules, analyze  # noqa: E402
from mailworker.ingest.maildir_source import MaildirSource  # noqa: E402
from mailworker.ingest.pipeline import Ingestor  # noqa: E402
from mailworker.ingest.sources import folder_names  # noqa: E402
from mailworker.models import Message, Outbox  # noqa: E402
from mailworker.outbound.sender import drain_outbox  # noqa: E402
from tests.hostile_mail import OURS, hostile_mails  # noqa: E402
from tests.roster import load_roster  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10_000, help="how many mails (10000)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--words", type=int, default=4000,
                        help="most encoded words in one hostile header (4000; the mails are "
                             "all built first, so this sets the memory used)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")

    mails = hostile_mails(args.n, seed=args.seed, words=args.words)
    rules = Rules(OURS, ("relay.seoul.example.org",), 5.0)
    slowest, slowest_at = 0.0, -1
    # First uses (the Public Suffix List, codecs, patterns) are not a mail's cost: warm up.
    for raw in mails[:200]:
        analyze(raw, rules)
    for i, raw in enumerate(mails):
        started = time.perf_counter()
        analyze(raw, rules)
        took = time.perf_counter() - started
        if took > slowest:
            slowest, slowest_at = took, i

    with tempfile.TemporaryDirectory(prefix="fuzz-ingest-") as tmp:
        root = Path(tmp)
        (root / "mailworker.toml").write_text(
            '[inbox]\ntype = "maildir"\npath = "Maildir"\n'
            f'[ingest]\ntrusted_authserv_id = "{OURS}"\ndaily_credit_cap = 100000\n'
            'internal_authserv_ids = ["relay.seoul.example.org"]\n'
            '[outgoing]\ndirectory = "sent"\nreceipt_wait_seconds = 0\n'
            'rate_per_minute = 1000000\n', encoding="utf-8")
        cfg = config_mod.load(root / "mailworker.toml")
        clock = FixedClock(dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.timezone.utc))
        database = open_from_config(cfg, clock)
        load_roster(clock)
        box = mailbox.Maildir(cfg.inbox.path, factory=None, create=True)
        for raw in mails:
            box.add(raw)
        delivered = {hashlib.sha256(p.read_bytes()).hexdigest()
                     for d in ("new", "cur") for p in (Path(cfg.inbox.path) / d).iterdir()}
        source = MaildirSource(cfg.inbox.path, folder_names(cfg))
        source.open()
        started = time.perf_counter()
        result = Ingestor(cfg, clock, source, b"k" * 32).run_pass()
        ingest_seconds = time.perf_counter() - started
        recorded = {sha for (sha,) in Message.select(Message.sha256).tuples()}
        dispositions = Counter(d for (d,) in Message.select(Message.disposition).tuples())
        queued = Outbox.select().count()
        started = time.perf_counter()
        drained = drain_outbox(cfg, clock)
        drain_seconds = time.perf_counter() - started
        pending = Outbox.select().where(Outbox.status == "pending").count()
        database.close()

    print(f"{args.n} hostile mails (seed {args.seed}), {len(delivered)} distinct")
    print(f"ingest: {result.seen} read in {ingest_seconds:.1f} s; "
          f"{len(recorded & delivered)} recorded")
    for name, count in sorted(dispositions.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<12} {count:>6}")
    print(f"outbox: {queued} queued, {drained.sent} sent, {drained.failed} failed, "
          f"{pending} pending ({drain_seconds:.1f} s)")
    print(f"slowest message: {slowest * 1000:.1f} ms to analyse (mail #{slowest_at}, "
          f"{len(mails[slowest_at]):,} bytes)")
    ok = recorded == delivered and pending == 0 and result.seen == args.n
    print("OK" if ok else "PROBLEM: see the counts above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
