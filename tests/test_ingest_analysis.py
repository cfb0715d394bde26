"""Analysis in a second process gives what analysis in place gives, and survives its loss."""
from __future__ import annotations

import os
import signal
import sysconfig
from pathlib import Path

from mailworker.demo_data import demo_messages
from mailworker.ingest.analysis import Analyzer, analyze_batch
from tests.mailfactory import PROPOSAL_KO, make_mail, unique_review


def sample_mails() -> list[bytes]:
    data = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
    corpus = [f.read_bytes() for f in sorted(data.glob("msg_*.txt"))[:40]]
    return ([unique_review(i) for i in range(20)] + [make_mail(subject="[제안]", body=PROPOSAL_KO)]
            + [raw for _, raw in demo_messages()] + corpus + [b"", b"\xff\xfe garbage"])


def test_a_second_process_analyses_exactly_as_the_worker_itself():
    mails = sample_mails()
    here = analyze_batch(mails, "mx.example.org")
    with Analyzer("mx.example.org", parallel=True) as analyzer:
        jobs = [analyzer.submit(mails[i:i + 10]) for i in range(0, len(mails), 10)]
        there = [a for i, job in enumerate(jobs)
                 for a in analyzer.results(job, mails[i * 10:i * 10 + 10])]
    assert [a.__dict__ for a in there] == [a.__dict__ for a in here]
    assert {a.kind for a in here} >= {"review", "proposal", "triage"}


def test_if_the_analysis_process_dies_the_worker_analyses_by_itself(caplog):
    mails = [unique_review(i) for i in range(6)]
    with Analyzer("", parallel=True) as analyzer:
        first = analyzer.submit(mails[:3])
        assert [a.kind for a in analyzer.results(first, mails[:3])] == ["review"] * 3
        for pid in list(analyzer._pool._processes):
            os.kill(pid, signal.SIGKILL)       # as the kernel's OOM killer would
        second = analyzer.submit(mails[3:])
        got = analyzer.results(second, mails[3:])
    assert [a.kind for a in got] == ["review"] * 3
    assert "analysing in the worker itself" in caplog.text
