"""The digest as staff see it: the 30-day chart built from HTML table cells (a browser
screenshot at 900 px is kept as a test artefact), the text part on its own, and
`digest --preview` saying which day the digest covers."""
from __future__ import annotations

import datetime as dt
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import mailworker.staff_actions  # noqa: F401  (registers the digest's action buttons)
from mailworker import cli
from mailworker.clock import FixedClock
from mailworker.models import Outbox
from mailworker.outbound.digest import gather, queue_digest
from mailworker.outbound.sender import drain_outbox
from mailworker.outbox import domain_of, enqueue
from tests.conftest import skip_unless
from tests.outbound_support import bodies, open_db, outbound_config, parse
from tests.test_outbound_digest import add_message, at, fill_yesterday

ARTEFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artefacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(params=["ko", "en"])
def staff_view(request, make_config, tmp_path):
    """A digest of 2026-11-25 over a month with a busy day, sent through the outbox."""
    clock = FixedClock(at(25, 9, 0))
    cfg = outbound_config(make_config, tmp_path, staff={"language": request.param})
    db = open_db(cfg, clock)
    try:
        fill_yesterday(cfg, clock)          # 11/23: 1, 11/24: 3 reviews and proposals
        from mailworker.models import Member
        minji = Member.select().order_by(Member.id).first()
        for n in range(6):                  # 11/20: the busiest day
            add_message(100 + n, "review", "credited", at(20, 10 + n), minji,
                        subject=f"busy day {n}")
        row = queue_digest(cfg, clock, dt.date(2026, 11, 25))
        assert drain_outbox(cfg, clock).sent == 1
        sent = sorted(cfg.resolve(cfg.outgoing.directory).glob("*.eml"))
        msg = parse(sent[-1].read_bytes())
        assert msg["Message-ID"] == row.message_id
        yield request.param, msg
    finally:
        db.close()


class Cells(HTMLParser):
    """Every <td>/<th>: its attributes and its own text."""

    def __init__(self):
        super().__init__()
        self.cells: list[dict] = []
        self._open: list[dict] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag in ("td", "th"):
            cell = {**dict(attrs), "text": ""}
            self.cells.append(cell)
            self._open.append(cell)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._open:
            self._open.pop()

    def handle_data(self, data):
        if self._open:
            self._open[-1]["text"] += data


def cells_of(html: str) -> Cells:
    parser = Cells()
    parser.feed(html)
    return parser


def test_chart_is_table_cells_with_text_labels_and_labels_do_not_wrap(staff_view):
    language, msg = staff_view
    text, html = bodies(msg)
    assert not [p for p in msg.walk() if p.get_content_maintype() == "image"]
    parsed = cells_of(html)
    assert not parsed.tags & {"img", "svg", "script", "canvas"}
    cells = parsed.cells
    # Day labels are text under the bars, one per day; the month where it starts.
    labels = [c["text"] for c in cells if "border-top:1px solid #505a6e" in c.get("style", "")]
    assert labels[0] == "10/26" and labels[6] == "11/1" and labels[-1] == "24"
    assert len(labels) == 30
    assert all("white-space:nowrap" in c["style"] for c in cells
               if c["text"] in labels and "#505a6e" in c.get("style", ""))
    # Bars: coloured cells, heights in proportion (6 the tallest, 3 half, 1 a sixth).
    bars = [int(c["height"]) for c in cells if c.get("bgcolor") in ("#3366cc", "#7896d7")]
    assert bars == [90, 15, 45]
    assert all(f"height:{h}px" in html for h in bars)      # as style too (Gmail, Naver)
    # The numbers above the bars are text as well.
    tops = [c["text"].strip() for c in cells if c.get("valign") == "bottom" and c["text"].strip()]
    assert tops == ["6", "1", "3"]
    # Short label columns never break one character per line ("블/록/체/인").
    category = "블록체인 개발자" if language == "ko" else "blockchain developer"
    kind = "제안" if language == "ko" else "proposal"
    size = "크기" if language == "ko" else "size"
    replica_sizes = [c["text"].strip() for c in cells if c["text"].startswith(size + " ")]
    assert len(replica_sizes) == 4
    for label in (category, kind, "Daniel Park", "replica-1", *replica_sizes):
        found = [c for c in cells if c["text"].strip() == label]
        assert found and all("white-space:nowrap" in c["style"] for c in found), label
    # Issue 14's action buttons are still there.
    assert re.search(r'<a href="mailto:governance@seoul\.example\?subject=', html)


def test_text_part_reads_on_its_own(staff_view):
    language, msg = staff_view
    text, _ = bodies(msg)
    assert "<" not in text.replace("<gone@example.com>", "")
    fri, mon, tue, sat = (("금", "월", "화", "토") if language == "ko"
                          else ("Fri", "Mon", "Tue", "Sat"))
    lines = text.splitlines()
    assert f"  11/20({fri}) {'█' * 24} 6" in lines
    assert f"  11/23({mon}) {'█' * 4} 1" in lines
    assert f"  11/24({tue}) {'█' * 12} 3" in lines
    assert f"  11/21({sat}) 0" in lines and f"  10/26({mon}) 0" in lines
    assert sum(1 for line in lines if re.match(r"  \d\d/\d\d\(", line)) == 30


def test_screenshot_at_900px(staff_view):
    """The HTML part as a browser shows it at 900 px, kept in var/test-artefacts/."""
    skip_unless(CHROMIUM is not None, "chromium is not installed (scripts/setup-env --test)")
    language, msg = staff_view
    _, html = bodies(msg)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page = ARTEFACTS / f"digest-{language}.html"
    page.write_text(html, encoding="utf-8")
    shot = ARTEFACTS / f"digest-{language}-900px.png"
    shot.unlink(missing_ok=True)
    profile = ARTEFACTS / f"chromium-profile-{language}"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", f"--user-data-dir={profile}", "--hide-scrollbars",
         "--force-device-scale-factor=1", "--window-size=900,1600",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (900, 1600)
    assert len(data) > 30_000       # a page with text and bars, not a blank one


def test_a_digest_queued_with_the_old_png_chart_still_goes_out(make_config, tmp_path):
    clock = FixedClock(at(25, 9, 0))
    cfg = outbound_config(make_config, tmp_path)
    db = open_db(cfg, clock)
    try:
        fill_yesterday(cfg, clock)
        context = gather(cfg, clock, dt.date(2026, 11, 25))
        context["chart"] = {k: v for k, v in context["chart"].items() if k != "bars"}
        row = enqueue("digest:2026-11-25", "digest", "staff1@seoul.example", context, clock,
                      attachments=[{"kind": "chart", "values": [0] * 29 + [3]}],
                      domain=domain_of(cfg))
        assert drain_outbox(cfg, clock).sent == 1
        assert Outbox.get_by_id(row.id).status == "sent"
        sent = sorted(cfg.resolve(cfg.outgoing.directory).glob("*.eml"))
        text, html = bodies(parse(sent[-1].read_bytes()))
        assert "합계 4건" in text and "합계 4건" in html and "<img" not in html
    finally:
        db.close()


@pytest.fixture
def desk(make_config, tmp_path):
    clock = FixedClock(at(25, 11, 0))
    cfg = outbound_config(make_config, tmp_path)
    db = open_db(cfg, clock)
    yield cfg, clock
    db.close()


def test_preview_shows_the_next_digest_and_which_day_it_covers(desk, capsys):
    cfg, clock = desk
    fill_yesterday(cfg, clock)      # includes a review received today, 01:00
    preview = ["--config", str(cfg.path), "digest", "--preview"]
    # Today's digest has not gone out yet: it is the next one, about yesterday.
    assert cli.main(preview, clock=clock) == 0
    out = capsys.readouterr().out
    assert "(the next digest to go out, dated 2026-11-25, due at 09:00: it covers mail " \
           "received on 2026-11-24)" in out
    assert "새 품평 2 · 제안 1" in out and "no reviews or proposals" not in out
    # Once it is queued, the next one is tomorrow's: today so far.
    queue_digest(cfg, clock, dt.date(2026, 11, 25))
    assert cli.main(preview, clock=clock) == 0
    out = capsys.readouterr().out
    assert "(the next digest to go out, dated 2026-11-26, due at 09:00: it covers mail " \
           "received on 2026-11-25, today, so far)" in out
    assert "today, after midnight" in out and "새 품평 1 · 제안 0" in out


def test_preview_of_an_empty_day_says_so_and_where_todays_mail_goes(desk, capsys):
    cfg, clock = desk
    assert cli.main(["--config", str(cfg.path), "digest", "--preview"], clock=clock) == 0
    out = capsys.readouterr().out
    assert "(no reviews or proposals were received on 2026-11-24)" in out
    assert "■ 최근 30일 품평·제안 수 (2026-10-26 ~ 2026-11-24): 없음" in out
    assert "가장 많은 날" not in out
    fill_yesterday(cfg, clock)
    clock.set(at(26, 11, 0))        # 11/25 had one review (01:00); add one today
    from mailworker.models import Member
    add_message(50, "proposal", "credited", at(26, 10), Member.select().first(),
                subject="today's idea")
    queue_digest(cfg, clock, dt.date(2026, 11, 26))
    clock.set(at(27, 8, 0))         # before 09:00: the next digest covers the 26th
    assert cli.main(["--config", str(cfg.path), "digest", "--preview"], clock=clock) == 0
    out = capsys.readouterr().out
    assert "it covers mail received on 2026-11-26)" in out and "today's idea" in out
    clock.set(at(28, 8, 0))         # the 27th was empty; nothing today either
    assert cli.main(["--config", str(cfg.path), "digest", "--preview"], clock=clock) == 0
    out = capsys.readouterr().out
    assert "(no reviews or proposals were received on 2026-11-27)" in out
    add_message(51, "review", "credited", at(28, 7), Member.select().first(),
                subject="early review")
    assert cli.main(["--config", str(cfg.path), "digest", "--preview"], clock=clock) == 0
    assert ("the 1 received today go into the digest of 2026-11-29: mailworker digest "
            "--preview --date 2026-11-29)") in capsys.readouterr().out
