"""Ledger benchmark: our four-replica stored tree against pymerkle, measured in one run.

    python benchmarks/ledger_bench.py            # full: 100k appends; proofs at 1k, 100k, 1M
    python benchmarks/ledger_bench.py --quick    # CI size: 5k appends; proofs at 1k, 10k
    python benchmarks/ledger_bench.py --json     # one JSON object (same as
                                                 # `mailworker ledger bench --json`)

Needs the bench extra: pip install -e '.[bench]'. See mailworker/ledger/bench.py for what
is measured and how.
"""
import sys

from mailworker.ledger.bench import main

if __name__ == "__main__":
    sys.exit(main())
