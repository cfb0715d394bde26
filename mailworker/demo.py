"""`mailworker demo`: the newcomer's first run, on embedded defaults only.

Creates a workspace (config, demo roster, Maildir inbox with realistic member mail, file
transport for outgoing mail, SQLite, four local ledger replicas), runs one pass and shows
what happened. Running it again delivers the same mails again and shows that nothing is
credited twice, with what the earlier run recorded for each mail. The workspace also holds a
release key and a small installer file, so `release build` / `release send` can be tried.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import mailbox
import secrets
import shutil
from pathlib import Path

import peewee as pw

from . import config as config_mod
from .commands import command_name
from .clock import local_day
from .csvfile import csv_text
from .db import open_from_config
from .demo_data import DEMO_MEMBERS, demo_applications, demo_messages
from .ledger.keys import create_secret_file
from .members import import_roster
from .models import HourCredit, Meeting, Member, Message
from .private import open_private, private_dir
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
    if logging.getLogger("mailworker").getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("mailworker").setLevel(logging.WARNING)
    workspace = workspace.resolve()
    private_dir(workspace)
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
        meeting = _demo_meeting(cfg, ctx.clock)
        first_round = _open_demo_round(cfg, ctx.clock)
        inbox = mailbox.Maildir(cfg.inbox.path, factory=None, create=True)
        for _, raw in demo_messages() + demo_applications():
            inbox.add(raw)
        service = Service(cfg, ctx.clock, keep_outcomes=True)
        report = service.run_once()
        rows = _rows(report)
        if as_json:
            for row in rows:
                ctx.print(json.dumps(row, ensure_ascii=False))
            for err in report.errors:
                print(f"Problem: {err}", file=ctx.err)
            notes = _NotesTo(ctx.err, ctx.clock)   # stdout stays one JSON object a line
        else:
            _show(ctx, cfg, report, rows, fresh, roster, wide)
            notes = ctx
        _show_meeting_and_export(notes, cfg, meeting, workspace)
        if first_round:
            _group_year(notes, cfg)
    finally:
        db.close()
    return 1 if report.errors else 0


DEMO_MEETING_TITLE = "정례회의 (데모)"


def _demo_meeting(cfg, clock):
    """A meeting two weeks ahead with its notice queued: the demo's two meeting answers
    (they reply to an older notice nobody knows) are tied to it as the only open meeting."""
    from .clock import to_utc
    from .group import meetings as mt
    meeting = Meeting.get_or_none(Meeting.title == DEMO_MEETING_TITLE)
    if meeting is None:
        day = to_utc(clock.now()).astimezone(cfg.tz).date() + dt.timedelta(days=14)
        starts = dt.datetime.combine(day, dt.time(19, 0), tzinfo=cfg.tz)
        meeting = mt.create_meeting(starts, "서울시청 본관 8층 다목적홀", clock, cfg.tz,
                                    DEMO_MEETING_TITLE)
    mt.queue_meeting_mail(cfg, clock, meeting, "meeting_notice", "notice", mt.active_members())
    return meeting


def _show_meeting_and_export(ctx, cfg, meeting, workspace: Path) -> None:
    from .group import exports
    from .group import meetings as mt
    p = ctx.print
    me = command_name()
    counts = mt.answer_counts(meeting)
    p("")
    p(f"Meeting #{meeting.id} {meeting.title}, {mt.date_label(meeting, cfg.tz)}: "
      f"{counts.attend} attend, {counts.decline} decline, {counts.unanswered} not answered")
    view = exports.create_export(cfg, ctx.clock, None, None)
    if view is None:
        p("Hours export: nothing new (every credited activity is in an earlier batch)")
    else:
        path = workspace / f"hours-export-{view.batch.id}.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            exports.write_batch_csv(view, fh)
        p(f"Hours export: batch #{view.batch.id} with {len(view.rows)} credited "
          f"activities for the volunteer centre in {path}")
    p(f"  {me} --config {cfg.path} meeting show {meeting.id}   # who answered what")
    p(f"  {me} --config {cfg.path} hours batches        # export batches")


def _open_demo_round(cfg, clock) -> bool:
    """A recruitment round for one student seat (first run only), so the demo's
    applications are taken in arrival order."""
    from .group import recruitment
    from .models import RecruitmentRound
    if RecruitmentRound.select().exists():
        return False
    until = local_day(clock.now(), cfg.tz) + dt.timedelta(days=14)
    recruitment.start_round(cfg, clock, until, {"student": 1})
    return True


def _group_year(ctx, cfg) -> None:
    """What the secretariat does next, as staff commands would: close the round, appoint,
    confirm the demo resignation; its seat becomes a vacancy offered to the waitlist."""
    from .group import recruitment, roster, vacancies
    from .members import open_resignation_requests
    from .outbound.sender import drain_outbox
    p = ctx.print
    p("")
    p("Recruitment round (recruit open/close/accept), one student seat:")
    closed = recruitment.close_round(ctx.clock)
    for i, app in enumerate(closed.round.applications.order_by("id"), 1):
        p(f"  {i}. {app.name or app.email} ({app.category or 'category not given yet'}): "
          f"{app.status}")
    accepted = recruitment.accept_round(cfg, ctx.clock)
    p(f"  appointed: {', '.join(a.name for a in accepted.appointed) or 'nobody'}")
    for request in list(open_resignation_requests()):
        done = vacancies.resign(cfg, ctx.clock, request.member.primary_address, True,
                                "demo")
        p(f"Resignation confirmed (members resign --confirm): {done.member.display_name}, "
          f"{done.totals['total_hours']} hour(s) in total")
    vacancies.vacancy_step(cfg, ctx.clock)
    for v in roster.open_vacancies():
        offer = f"offered to {v.offer.name}" if v.offer_id else v.status
        p(f"Vacancy: one {v.category} seat, {offer}")
    sent = drain_outbox(cfg, ctx.clock).message
    p(f"Outgoing mail: {sent}")
    p(render(["category", "quota", "filled", "vacant", "waitlisted", "offers"],
             [[r.category, r.quota, r.filled, r.vacant, r.waitlisted, r.offers]
              for r in roster.seats()]))


def _write_roster(path: Path) -> None:
    """The demo roster as the CSV a staff member would export from Excel."""
    rows = []
    for m in DEMO_MEMBERS:
        aliases = m.get("aliases") or m.get("extra_emails") or []
        rows.append([m["name"], m["email"], m["category"],
                     ";".join(aliases) if isinstance(aliases, list) else aliases,
                     m.get("language", "ko")])
    with open_private(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(csv_text(["name", "email", "category", "aliases", "language"], rows))


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
    me = f"{command_name()} --config {cfg.path}"
    p(f"  {me} status        # counts, outbox, ledger health")
    p(f"  {me} hours         # volunteer hours per member")
    p(f"  {me} triage list   # mail waiting for staff")
    p(f"  {me} seats         # seats, vacancies, waitlist")
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


class _NotesTo:
    """What the demo's later steps print, sent to another stream (stderr with --json)."""

    def __init__(self, stream, clock):
        self.stream = stream
        self.clock = clock

    def print(self, *args, **kw) -> None:
        print(*args, file=self.stream, **kw)
