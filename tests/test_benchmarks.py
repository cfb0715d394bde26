"""The benchmark scripts run end to end at a tiny size and report what they promise (their
speed figures are for the README, never asserted here)."""
from __future__ import annotations

from tests.conftest import load_benchmark


def test_ingest_bench_measures_every_baseline_and_the_growing_cost():
    bench = load_benchmark("ingest_bench")
    row = bench.measure(60, 2048, "tiny", repeat=1, then=20)
    for b in bench.BASELINES:
        assert row[f"{b}_mb_s"] > 0 and row[f"ratio_{b}"] > 0
        assert len(row[f"ratios_{b}"]) == 1
    assert row["ingest_msg_s"] > 0 and row["ingest_rss_mb"] > 0
    assert row["then"] == 20 and row["then_ms_per_1000"] > 0


def test_package_bench_compares_with_7zz_store_and_the_aes_limit(tmp_path):
    from tests.conftest import skip_unless
    import shutil
    skip_unless(shutil.which("7zz") is not None, "7zz is not installed (apt-get install 7zip)")
    bench = load_benchmark("package_bench")
    res = bench.run(members=2, size_mb=0.3, naive=1, work=tmp_path, repeat=2)
    for key in ("mailworker", "7zz_mx0", "limit"):
        assert res["per_package_s"][key]["median"] > 0
        assert len(res["per_package_s"][key]["runs"]) == 2
    assert res["ratio_mailworker_over_7zz_mx0"]["median"] > 0
    assert res["7zz_mx0_avg_package_mb"] > 0.2           # stored: about the installer's size


def test_flat_cost_bench_takes_turns_between_an_empty_and_a_full_database(tmp_path):
    bench = load_benchmark("flat_cost_bench")
    res = bench.run(tmp_path, first=20, fill=40, repeat=2)
    for end in ("us_per_msg_empty", "us_per_msg_full"):
        assert len(res[end]["runs"]) == 2
        assert 0 < res[end]["min"] <= res[end]["median"] <= res[end]["max"]
    assert len(res["ratio_per_pair"]["runs"]) == 2
    assert res["ratio_of_medians"] > 0


def test_flat_cost_bench_reads_through_dovecot_too(tmp_path):
    import os
    from tests.conftest import skip_unless
    from tests.servers.dovecot import DOVECOT
    skip_unless(os.path.exists(DOVECOT), "Dovecot is not installed (apt-get install dovecot-imapd)")
    bench = load_benchmark("flat_cost_bench")
    res = bench.run(tmp_path, first=10, fill=20, repeat=1, imap=True)
    assert res["inbox"] == "imap"
    assert res["us_per_msg_empty"]["median"] > 0 and res["us_per_msg_full"]["median"] > 0
