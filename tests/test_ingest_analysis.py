"""Analysis in a second process gives what analysis in place gives, and survives its loss."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
import sysconfig
from pathlib import Path

from mailworker.demo_data import demo_messages
from mailworker.ingest.analysis import Analyzer, Job, analyze_batch
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
        analyzer._started.result()
        analyzer.share_here = 0.0                   # all of it in the other process
        jobs = [analyzer.submit(mails[i:i + 10]) for i in range(0, len(mails), 10)]
        there = [a for job in jobs for a in analyzer.results(job)]
    assert [a.__dict__ for a in there] == [a.__dict__ for a in here]
    assert {a.kind for a in here} >= {"review", "proposal", "triage"}


def test_if_the_analysis_process_dies_its_messages_are_read_again_one_by_one(caplog):
    mails = [unique_review(i) for i in range(6)]
    with Analyzer("", parallel=True) as analyzer:
        analyzer._started.result()
        analyzer.share_here = 0.0
        first = analyzer.submit(mails[:3])
        assert [a.kind for a in analyzer.results(first)] == ["review"] * 3
        for pid in list(analyzer._pool._processes):
            os.kill(pid, signal.SIGKILL)       # as the kernel's OOM killer would
        second = analyzer.submit(mails[3:])
        got = analyzer.results(second)
        # the new process goes on with the next batches
        third = analyzer.submit(mails[:2])
        assert third.elsewhere is not None
        assert [a.kind for a in analyzer.results(third)] == ["review"] * 2
    assert [a.kind for a in got] == ["review"] * 3
    assert "reading its 3 message(s) again one by one" in caplog.text


def test_an_analysis_process_that_stops_answering_is_killed_and_replaced(caplog,
                                                                         monkeypatch):
    """The process reading a batch stops answering (here: stopped by SIGSTOP, as a
    message stuck where the time limit's signal cannot reach would hold it): it is
    killed, and the batch is read again one message at a time in a new process."""
    from mailworker.ingest import analysis
    from mailworker.ingest.analysis import Rules
    monkeypatch.setattr(analysis, "ALIVE_EVERY", 0.05)
    alive = []
    mails = [unique_review(i) for i in range(3)]
    with Analyzer(Rules(seconds=0.2), parallel=True,
                  alive=lambda: alive.append(1)) as analyzer:
        analyzer.GRACE = 0.3
        analyzer._started.result()
        analyzer.share_here = 0.0
        stuck = list(analyzer._pool._processes)
        for pid in stuck:
            os.kill(pid, signal.SIGSTOP)
        got = analyzer.results(analyzer.submit(mails))
        assert [a.kind for a in got] == ["review"] * 3       # read again in a new process
        assert not set(analyzer._pool._processes) & set(stuck)
    for pid in stuck:                                        # the stuck one was killed
        try:
            os.kill(pid, 0)
            gone = False
        except ProcessLookupError:
            gone = True
        assert gone
    assert "did not answer in time" in caplog.text
    assert len(alive) >= 5      # systemd's watchdog heard from the worker while it waited


def test_the_part_analysed_in_place_follows_who_waits_for_whom():
    mails = [unique_review(i) for i in range(40)]
    with Analyzer("", parallel=True) as analyzer:
        assert analyzer.submit(mails[:4]).elsewhere is None or analyzer._started.done()
        analyzer._started.result()                   # the process is up
        start = analyzer.share_here
        job = analyzer.submit(mails[:20])
        assert job.here == round(20 * start) and job.elsewhere is not None
        job.elsewhere.result()                       # the other process was quick enough
        assert len(analyzer.results(job)) == 20 and analyzer.share_here < start
        # The other process is late (its answer comes 50 ms after it is asked for).
        analyzer.share_here = 0.5
        late: Future = Future()
        threading.Timer(0.05, late.set_result, [analyze_batch(mails[30:], "")]).start()
        got = analyzer.results(Job(mails[20:], 10, late))
        assert [a.kind for a in got] == ["review"] * 20 and analyzer.share_here == 0.55
    with Analyzer("", parallel=False) as inline:
        job = inline.submit(mails[:5])
        assert job.here == 5 and job.elsewhere is None and len(inline.results(job)) == 5


def test_the_process_is_forked_only_while_the_worker_has_one_thread():
    """Forking copies every lock as it is; with another thread running, one could be held
    forever in the copy, so the process is then spawned (a fresh interpreter) instead.
    The single-threaded case runs in a fresh interpreter: the test session may have
    threads of its own."""
    script = (
        "from mailworker.ingest.analysis import Analyzer\n"
        "from tests.mailfactory import unique_review\n"
        "with Analyzer('', parallel=True) as an:\n"
        "    an._started.result(); an.share_here = 0.0\n"
        "    got = an.results(an.submit([unique_review(i) for i in range(4)]))\n"
        "    print(an._pool._mp_context.get_start_method(), [a.kind for a in got])\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, timeout=60, check=True)
    assert out.stdout.split("\n")[0] == "fork ['review', 'review', 'review', 'review']"

    mails = [unique_review(i) for i in range(4)]
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        with Analyzer("", parallel=True) as analyzer:
            assert analyzer._pool._mp_context.get_start_method() == "spawn"
            analyzer._started.result()
            analyzer.share_here = 0.0
            assert [a.kind for a in analyzer.results(analyzer.submit(mails))] == ["review"] * 4
    finally:
        release.set()
        other.join()
