"""Outbox drain cost per acknowledgement, against a plain-stdlib baseline in the same run.

Setup (not timed): a real SQLite database and the four embedded ledger replicas under a
temporary folder, N members' contributions recorded as ledger events the way ingest
writes them, N ``ack`` rows queued with ``mailworker.outbox.enqueue`` (each asking for a
``ledger_receipt``), and ``append_pending`` run until every event is under a quorum
checkpoint, so every acknowledgement carries its receipt.

Timed, on one core:

  * ``drain_outbox`` (file transport): one pass sends all N rows — claim, receipt proof,
    templates, MIME, write + fsync + rename per mail, mark sent;
  * baseline "stdlib": what a straightforward script pays to write the same N mails —
    ``EmailMessage`` (``email.policy.default``) built from the already rendered text and
    HTML parts, the same headers and the same receipt JSON attachment, ``as_bytes()``,
    then write + fsync + rename as the file transport does. No database, no templates,
    no ledger: the floor any stdlib-based sender sits on;
  * floor "write only": the same N finished .eml byte strings written + fsynced + renamed.

It prints mails/s and ms/mail for each and the ratio drain / baseline (> 1: faster).

    python benchmarks/outbox_bench.py            # 1500 acknowledgements
    python benchmarks/outbox_bench.py --quick    # CI size: 150
    python benchmarks/outbox_bench.py -n 500 --profile   # also a cProfile of the drain
"""
from __future__ import annotations

import argparse
import datetime as dt
import email.policy
import json
import os
import shutil
import sys
import tempfile
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailworker import config as config_mod  # noqa: E402
from mailworker.clock import FixedClock  # noqa: E402
from mailworker.db import open_from_config  # noqa: E402
from mailworker.events import canonical_json, contribution_leaf  # noqa: E402
from mailworker.ledger.appender import append_pending  # noqa: E402
from mailworker.ledger.keys import ensure_embedded_keys, pseudonym_key  # noqa: E402
from mailworker.ledger.receipt import build_receipt  # noqa: E402
from mailworker.members import add_member  # noqa: E402
from mailworker.models import LedgerEvent, Outbox, db_proxy  # noqa: E402
from mailworker.outbound.sender import drain_outbox  # noqa: E402
from mailworker.outbound.templates import Renderer  # noqa: E402
from mailworker.outbound.transport import FileTransport  # noqa: E402
from mailworker.outbox import domain_of, enqueue  # noqa: E402
from mailworker.pseudonym import pseudonym  # noqa: E402

NAMES = ["김민지", "이서연", "박지훈", "최준호", "정하은", "강도윤", "조수아", "윤시우",
         "장예린", "임건우", "한지아", "오태민", "서유나", "신동현", "권나래", "황재원"]
TOPICS = ["S-지갑 앱 로그인 오류 – 안드로이드 14에서 잔액 화면이 열리지 않습니다",
          "전자증명서 발급 버튼을 누르면 처음 화면으로 돌아가는 문제",
          "에스코인 적립 내역에 활동 이름을 함께 보여 주면 좋겠습니다",
          "기부금 사용 내역을 시민이 직접 확인할 수 있게 해 주세요"]
TAGS = ["[품평] ", "[제안] ", "Re: [품평] ", ""]

CONFIG = """\
[general]
state_dir = "var"
[outgoing]
transport = "file"
directory = "var/sent-mail"
from_address = "governance@seoul.example"
receipt_wait_seconds = 1800
[staff]
addresses = ["staff@seoul.example"]
"""


def setup(root: Path, n: int, clock: FixedClock):
    path = root / "mailworker.toml"
    path.write_text(CONFIG, encoding="utf-8")
    cfg = config_mod.load(path)
    db = open_from_config(cfg, clock)
    ensure_embedded_keys(cfg)
    pkey = pseudonym_key(cfg)
    members = [add_member(name, f"member{i}@example.net", "citizen", clock)
               for i, name in enumerate(NAMES)]
    with db_proxy.atomic():
        for i in range(n):
            member = members[i % len(members)]
            sha = f"{i:064x}"
            kind = "proposal" if i % 4 == 1 else "review"
            leaf = contribution_leaf(sha, kind, 1, clock.now(), pseudonym(pkey, member.uuid))
            LedgerEvent.create(event_type="contribution", payload=canonical_json(leaf).decode(),
                               dedup_key=f"contribution:{sha}", created_at=clock.now())
            context = {"display_name": member.display_name, "kind": kind,
                       "subject": f"{TAGS[i % len(TAGS)]}{TOPICS[i % len(TOPICS)]} ({i})",
                       "hours": 1, "total_hours": 1 + i // len(members),
                       "half_year": "2026년 하반기", "received_local": "2026-11-25 10:03",
                       "msg_sha256": sha, "in_reply_to": f"<orig-{i}@example.net>"}
            enqueue(f"ack:{sha}", "ack", member.primary_address, context, clock,
                    member=member, domain=domain_of(cfg),
                    attachments=[{"kind": "ledger_receipt", "msg_sha256": sha}])
    while True:
        res = append_pending(cfg, clock)
        if res.pending == 0:
            break
        if res.appended == 0:
            raise SystemExit(f"ledger append made no progress: {res.message}")
    return cfg, db


def baseline_inputs(cfg, renderer: Renderer) -> list[dict]:
    """Everything the stdlib baseline needs, prepared untimed: rendered parts, addresses,
    and the receipt JSON (the drain pass builds all of these itself, timed)."""
    out = []
    for row in Outbox.select().order_by(Outbox.id):
        ctx = {**row.context, "receipt_attached": True}
        rendered = renderer.render(row.template, ctx)
        sha = row.context["msg_sha256"]
        receipt = json.dumps(build_receipt(cfg, sha), ensure_ascii=False, indent=2,
                             sort_keys=True).encode()
        out.append({"subject": rendered.subject, "text": rendered.text,
                    "html": rendered.html, "to_name": row.member.display_name,
                    "to": row.to_addr, "message_id": row.message_id,
                    "in_reply_to": row.context["in_reply_to"], "receipt": receipt,
                    "receipt_name": f"receipt-{sha[:12]}.json"})
    return out


def stdlib_mail(cfg, item: dict, date: str) -> bytes:
    msg = EmailMessage(policy=email.policy.default)
    msg["From"] = Address(cfg.outgoing.from_name, addr_spec=cfg.outgoing.from_address)
    msg["To"] = Address(item["to_name"], addr_spec=item["to"])
    msg["Subject"] = item["subject"]
    msg["Date"] = date
    msg["Message-ID"] = item["message_id"]
    msg["In-Reply-To"] = item["in_reply_to"]
    msg["References"] = item["in_reply_to"]
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(item["text"], charset="utf-8")
    msg.add_alternative(item["html"], subtype="html", charset="utf-8")
    msg.add_attachment(item["receipt"], "application", "json", filename=item["receipt_name"])
    return msg.as_bytes()


def write_like_file_transport(directory: Path, name: str, data: bytes) -> None:
    final = directory / name
    tmp = directory / f".{name}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)


def _has_receipt(data: bytes) -> bool:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    return any((part.get_filename() or "").startswith("receipt-")
               for part in msg.iter_attachments())


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI size (150 mails)")
    ap.add_argument("-n", type=int, default=None, help="number of acknowledgements")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the drain")
    args = ap.parse_args(argv)
    n = args.n or (150 if args.quick else 1500)
    clock = FixedClock(dt.datetime(2026, 11, 25, 1, 5, tzinfo=dt.timezone.utc))
    root = Path(tempfile.mkdtemp(prefix="outbox-bench-"))
    try:
        t_setup, (cfg, db) = timed(lambda: setup(root, n, clock))
        renderer = Renderer(cfg)
        items = baseline_inputs(cfg, renderer)
        date = format_datetime(clock.now().astimezone(cfg.tz))

        # Baseline first, while the page cache is as warm for it as for the drain.
        base_dir = root / "baseline"
        base_dir.mkdir()
        built: list[bytes] = []

        def baseline():
            for item in items:
                data = stdlib_mail(cfg, item, date)
                write_like_file_transport(base_dir, f"{item['message_id'][1:-1]}.eml", data)
                built.append(data)
        t_base, _ = timed(baseline)

        floor_dir = root / "floor"
        floor_dir.mkdir()

        def floor():
            for i, data in enumerate(built):
                write_like_file_transport(floor_dir, f"{i}.eml", data)
        t_floor, _ = timed(floor)

        transport = FileTransport(cfg.resolve(cfg.outgoing.directory))
        if args.profile:
            import cProfile
            import pstats
            prof = cProfile.Profile()
            prof.enable()
        t_drain, result = timed(lambda: drain_outbox(cfg, clock, transport=transport))
        if args.profile:
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        if result.sent != n:
            raise SystemExit(f"drain sent {result.sent} of {n}: {result.message}")
        sent_dir = cfg.resolve(cfg.outgoing.directory)
        with_receipt = sum(_has_receipt(p.read_bytes()) for p in sent_dir.glob("*.eml"))
        db.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def line(label, seconds):
        return (f"  {label:<44} {n / seconds:8.1f} mails/s  {1000 * seconds / n:7.2f} ms/mail"
                f"  ({seconds:.2f} s)")
    print(f"outbox drain, {n} acknowledgements with ledger receipts "
          f"(setup {t_setup:.1f} s untimed; {with_receipt}/{n} sent mails carry a receipt)")
    print(line("drain_outbox, file transport", t_drain))
    print(line("baseline: stdlib EmailMessage + write/fsync", t_base))
    print(line("floor: write/fsync of finished .eml bytes", t_floor))
    print(f"  ratio drain / stdlib baseline: {t_base / t_drain:.2f}x "
          f"({'faster' if t_drain < t_base else 'slower'}); "
          f"drain / write-only floor: {t_floor / t_drain:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
