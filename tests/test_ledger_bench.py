"""The benchmark runs end to end at a tiny size and reports what it promises (its speed
figures are for the README, not asserted here)."""
from __future__ import annotations

import json


from tests.conftest import load_benchmark, skip_unless

bench = load_benchmark("ledger_bench")


def needs_pymerkle() -> None:
    try:
        import pymerkle  # noqa: F401
        have = True
    except ImportError:
        have = False
    skip_unless(have, "pymerkle is not installed (pip install -e '.[bench]')")


def test_bench_reports_the_same_figures_as_json(tmp_path, capsys):
    needs_pymerkle()
    code = bench.main(["--json", "--quick", "--sizes", "300,700", "--append", "400",
                       "--batches", "100,400", "--dir", str(tmp_path)])
    assert code == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["pymerkle_version"].startswith("7.")
    a = res["append"]
    assert a["leaves"] == 400 and [r["batch"] for r in a["ours"]] == [100, 400]
    assert a["runs"] == 1                                   # --quick: one run each
    assert a["pymerkle_sqlite_bulk"]["leaves_per_s"] > 0
    for row in a["ours"]:
        for key in ("four_replicas", "append_pending_end_to_end"):
            assert row[key]["leaves_per_s"] > 0 and row[key]["peak_rss_mb"] > 0
            assert row[f"ratio_{key}_vs_pymerkle"] > 0
    assert [p["size"] for p in res["proofs"]] == [300, 700]
    for p in res["proofs"]:
        for kind in ("inclusion_per_s", "consistency_per_s"):
            assert p[kind]["ours"] > 0 and p[kind]["pymerkle"] > 0
    text = bench.format_table(res)
    assert "pymerkle SqliteTree bulk" in text and "proofs per second" in text


def test_synthetic_leaves_look_like_real_ones():
    leaf = json.loads(bench.synthetic_leaves(5, 1)[0])
    assert set(leaf) == {"v", "type", "msg_sha256", "kind", "hours", "time", "member"}
    assert len(leaf["msg_sha256"]) == 64 and len(leaf["member"]) == 64


def test_the_table_marks_the_configured_batch_size(tmp_path, capsys):
    needs_pymerkle()
    default = bench.configured_batch()
    assert default >= bench.SMALL_BATCH
    res = bench.run(quick=True, sizes=(200,), workdir=tmp_path, append_n=1200,
                    batches=(bench.SMALL_BATCH, default), repeat=2)
    assert [r["configured_default"] for r in res["append"]["ours"]] == [False, True]
    lines = bench.format_table(res).splitlines()
    assert "append 1200 leaves (durable, median of 2 runs)" in lines[2]
    assert any(f"batches of {default} (default)" in line for line in lines)
    assert not any(f"batches of {bench.SMALL_BATCH} (default)" in line for line in lines)
