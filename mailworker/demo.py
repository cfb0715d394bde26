"""`mailworker demo`: the newcomer's first run, on embedded defaults only.

Creates a workspace (config, demo roster, Maildir inbox with realistic member mail, file
transport for outgoing mail, SQLite, four local ledger replicas), runs one pass and shows
what happened. Running it again delivers the same mails again and shows that nothing is
credited twice, with what the earlier run recorded for each mail. The workspace also holds a
release key and a small installer file, so `release build` / `release send` can be tried.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import mailbox
import os
import secrets
import shutil
import sys
from pathlib import Path

import peewee as pw

from . import config as config_mod
from .clock import local_day
from .db import open_from_config
from .demo_data import DEMO_MEMBERS, demo_messages
from .ledger.keys import create_secret_file
from .members import import_roster
from .models import HourCredit, Member, Message
from .table import fit_limits, render

RELEASE_KEY_FILE = "ledger/release.key"
DEMO_INSTALLER = "installer/seoul-wallet-beta.apk"
MIN_COLUMNS = 100     # below this the table is cut as if the terminal were this wide

DEMO_CONFIG = """\
# mailworker demo workspace, made by `mailworker demo`. Paths are relative to this file.
[general]
state_dir = "."

[inbox]
type = "maildir"
path = "Maildir"

[outgoing]
transport = "file"
directory = "sent-mail"
from_address = "governance@seoul-demo.example"

[database]
url = "sqlite:///mailworker.db"

[ledger]
directory = "ledger"
# The demo's own release key (made by the demo, mode 0600): package passwords derive from it.
release_key_file = "ledger/release.key"

[staff]
addresses = ["secretariat@seoul-demo.example"]
"""


def run_demo(workspace: Path, ctx, wide: bool = False, as_json: bool = False) -> int:
    from .service import Service
    # The table below says what happened; a log line per mail sent would bury it.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("mailworker").setLevel(logging.WARNING)
    workspace = workspace.resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    cfg_path = workspace / "mailworker.toml"
    fresh = not cfg_path.exists()
    if fresh:
        cfg_path.write_text(DEMO_CONFIG, encoding="utf-8")
    cfg = config_mod.load(cfg_path)
    ctx.__dict__["cfg"] = cfg  # later commands in this process use the demo config
    _ensure_release_files(cfg, workspace)
    db = open_from_config(cfg, ctx.clock)
    try:
        roster_csv = workspace / "roster.csv"
        _write_roster(roster_csv)
        roster = import_roster(roster_csv, ctx.clock).summary()
        inbox = mailbox.Maildir(cfg.inbox.path, factory=None, create=True)
        for _, raw in demo_messages():
            inbox.add(raw)
        service = Service(cfg, ctx.clock, keep_outcomes=True)
        report = service.run_once()
        rows = _rows(report)
        if as_json:
            for row in rows:
                ctx.print(json.dumps(row, ensure_ascii=False))
            for err in report.errors:
                print(f"Problem: {err}", file=ctx.err)
        else:
            _show(ctx, cfg, report, rows, fresh, roster, wide)
    finally:
        db.close()
    return 1 if report.errors else 0


def _write_roster(path: Path) -> None:
    """The demo roster as the CSV a staff member would export from Excel."""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "email", "category", "aliases", "language"])
        for m in DEMO_MEMBERS:
            aliases = m.get("aliases") or m.get("extra_emails") or []
            w.writerow([m["name"], m["email"], m["category"],
                        ";".join(aliases) if isinstance(aliases, list) else aliases,
                        m.get("language", "ko")])


def _ensure_release_files(cfg, workspace: Path) -> None:
    """The demo's release key (0600, made once, never replaced) and a small stand-in
    installer, so `release build` and `release send` work on the demo workspace."""
    path = cfg.resolve(RELEASE_KEY_FILE)
    # Only the demo's own key file, as its config names it; never a key configured by hand.
    if (cfg.has_secret("ledger", "release_key")
            and cfg.secret_source("ledger", "release_key") == f"file {path}"):
        create_secret_file(path, secrets.token_hex(32).encode("ascii"))
    installer = workspace / DEMO_INSTALLER
    if not installer.exists():
        installer.parent.mkdir(parents=True, exist_ok=True)
        # Not a real app: a few KB that stand for the beta installer members receive.
        installer.write_bytes(b"Seoul blockchain wallet beta (demo installer)\n" * 100)


def _rows(report) -> list[dict]:
    """One dict per mail of the pass. A mail recorded by an earlier run shows what that
    run recorded (kind, subject, result, reason): the pass itself only filed it."""
    outcomes = report.ingest.outcomes
    # By content hash: a row written in this pass's batch has no id in the outcome.
    shas = [o.message.sha256 for o in outcomes]
    full = {m.sha256: m for m in Message.select(Message, Member)
            .join(Member, pw.JOIN.LEFT_OUTER).where(Message.sha256.in_(shas))}
    hours = {sha: h for sha, h in HourCredit.select(Message.sha256, HourCredit.hours)
             .join(Message).where(Message.sha256.in_(shas)).tuples()}
    rows = []
    for i, o in enumerate(outcomes, 1):
        m = full.get(o.message.sha256)
        if m is None:       # not written (its batch failed): the pass reports the error
            continue
        who = m.member.display_name if m.member_id else (m.sender or "(no sender)")
        result = f"already recorded: {m.disposition}" if o.already else m.disposition
        credited = hours.get(m.sha256, 0)
        rows.append({"n": i, "from": who, "subject": m.subject or "(no subject)",
                     "kind": m.kind or "-", "result": result, "already": o.already,
                     "hours": None if o.already else credited,
                     "earlier_hours": credited if o.already else None,
                     "reason": m.reason or ""})
    return rows


def _show(ctx, cfg, report, rows: list[dict], fresh: bool, roster_note: str,
          wide: bool) -> None:
    p = ctx.print
    p(f"Demo workspace: {cfg.base_dir}  ({'created' if fresh else 'reused'})")
    p(f"Roster: {roster_note}")
    p("")
    headers = ["#", "from", "subject", "kind", "result", "hours", "reason"]
    table = [[r["n"], r["from"], r["subject"], r["kind"], r["result"],
              "-" if r["hours"] is None else r["hours"], r["reason"]] for r in rows]
    limits = {} if wide else fit_limits(headers, table, _columns(), shrinkable=[1, 2, 6])
    p(render(headers, table, limits))
    if limits:
        p("(cut to fit the terminal; the full text: --wide or --json)")
    p("")
    p(f"Inbox: {report.ingest.summary()}")
    if report.ledger:
        p(f"Ledger: {report.ledger}")
    if report.outbox:
        p(f"Outgoing mail: {report.outbox} (files in {cfg.outgoing.directory})")
    for err in report.errors:
        p(f"Problem: {err}")
    if report.ingest.already:
        p("Nothing was credited twice: the same mails were already recorded by the last run "
          "(the table shows what that run recorded).")
    p("")
    p("Next steps:")
    me = f"{_command_name()} --config {cfg.path}"
    p(f"  {me} status        # counts, outbox, ledger health")
    p(f"  {me} hours         # volunteer hours per member")
    p(f"  {me} triage list   # mail waiting for staff")
    # The digest dated D covers the day before: today's demo mail is in tomorrow's.
    tomorrow = local_day(ctx.clock.now(), cfg.tz) + dt.timedelta(days=1)
    p(f"  {me} digest --preview --date {tomorrow}   # the staff digest covering today")
    if cfg.has_secret("ledger", "release_key"):
        installer = cfg.base_dir / DEMO_INSTALLER
        p(f"  {me} release build --installer {installer} --version 1.0")
        p(f"  {me} release send --version 1.0   # each member's encrypted package")
    else:
        p(f"  (this workspace was made by an older demo without a release key: remove "
          f"{cfg.base_dir} and run the demo again to try releases)")


def _columns() -> int:
    return max(MIN_COLUMNS, shutil.get_terminal_size((MIN_COLUMNS, 24)).columns)


def _command_name() -> str:
    """How this run was started, so the hints can be pasted (e.g. .venv/bin/mailworker)."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0.endswith("__main__.py"):
        return "python -m mailworker"
    if os.path.basename(argv0) == "mailworker":
        rel = os.path.relpath(argv0)
        return rel if not rel.startswith("..") and os.sep in rel else argv0
    return "mailworker"
