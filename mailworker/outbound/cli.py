"""Sub-commands for outgoing mail: outbox, notice, release, digest."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from ..commands import command, command_group
from ..clock import local_day, to_utc
from ..errors import MailworkerError
from ..models import Outbox
from ..table import render
from .templates import NOTICE_TEMPLATES, NOTICE_VARIABLES

STATUSES = ("pending", "sent", "failed", "cancelled")


def register(sub) -> None:
    osub = command_group(sub, "outbox", "outgoing mail waiting, sent or failed",
                         "Outgoing mail: list it, send it now, retry or cancel a row.")
    p = command(osub, "list", cmd_outbox_list, "list outgoing mail (default: pending "
                                                   "and failed)")
    p.add_argument("--status", choices=STATUSES + ("all",), action="append",
                   help="only rows in this state (repeatable); 'all' for every row")
    p.add_argument("--limit", type=int, default=50, help="show at most this many (newest)")
    p = command(osub, "send", cmd_outbox_send, "send what is due now (one pass)")
    p.add_argument("--limit", type=int, default=None, help="send at most this many")
    p = command(osub, "retry", cmd_outbox_retry, "send a failed or cancelled row again")
    p.add_argument("id", type=int)
    p = command(osub, "cancel", cmd_outbox_cancel, "do not send this row")
    p.add_argument("id", type=int)

    nsub = command_group(sub, "notice", "notices to members (trial operation, meeting, "
                         "free-form announcements)",
                         "Notices to members, queued through the outbox: the trial-operation "
                         "notice, the meeting notice, or a free-form announcement written in "
                         "a text file, to everyone or a category.")
    p = command(nsub, "send", cmd_notice_send,
                "queue a notice to members through the outbox",
                epilog=_notice_variables_help(),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--template", help=" or ".join(NOTICE_TEMPLATES)
                   + " (or --subject and --body-file for a free-form announcement)")
    p.add_argument("--subject", help="free-form announcement: its subject")
    p.add_argument("--body-file", type=Path, metavar="FILE",
                   help="free-form announcement: its text (UTF-8; paragraphs split by blank "
                        "lines; links are written out, e.g. https://...)")
    p.add_argument("--to", nargs="+", metavar="TARGET",
                   help="all (default), a category (student, 대학생, ...) or member addresses")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="a value the template needs; repeat --var for each value, e.g. "
                        "--var service_name=\"S-지갑\" --var period=\"12월 1일~14일\"")
    p.add_argument("--dry-run", action="store_true", help="show the mail, queue nothing")

    rsub = command_group(sub, "release", "per-member encrypted installer packages",
                         "Per-member encrypted installer packages: build a release from an "
                         "installer, send each member their package and password, follow "
                         "how far it has gone.")
    p = command(rsub, "build", cmd_release_build, "prepare an installer as a release")
    p.add_argument("--installer", required=True, type=Path)
    p.add_argument("--version", required=True, dest="release_version", metavar="V",
                   help="release version, e.g. 1.2.0-beta1")
    p = command(rsub, "send", cmd_release_send,
                "send each active member their package (resumable)")
    p.add_argument("--version", required=True, dest="release_version", metavar="V",
                   help="release version, e.g. 1.2.0-beta1")
    p.add_argument("--members", nargs="+", metavar="EMAIL", help="only these members")
    p.add_argument("--password-sheet", type=Path, metavar="FILE.csv",
                   help="write passwords to this CSV (mode 0600) instead of mailing them")
    p.add_argument("--queue-only", action="store_true",
                   help="queue the mails; let `mailworker run` send them")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p = command(rsub, "password", cmd_release_password,
                "show a member's package password, or export all to a sheet")
    p.add_argument("--version", required=True, dest="release_version", metavar="V",
                   help="release version, e.g. 1.2.0-beta1")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--member", metavar="EMAIL")
    group.add_argument("--password-sheet", type=Path, metavar="FILE.csv")
    p = command(rsub, "status", cmd_release_status, "how far a release has been sent")
    p.add_argument("--version", required=True, dest="release_version", metavar="V",
                   help="release version, e.g. 1.2.0-beta1")
    p = command(rsub, "certificate", cmd_release_certificate,
                "register a member's S/MIME certificate (packages then need no password)")
    p.add_argument("--member", required=True, metavar="EMAIL")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--file", type=Path, metavar="CERT.pem")
    group.add_argument("--remove", action="store_true")

    p = command(sub, "digest", cmd_digest, "the staff's daily digest, by hand")
    p.add_argument("--date", help="YYYY-MM-DD: the digest of that morning, about the day "
                                  "before (default: --preview shows the next digest to go "
                                  "out, --send today's)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--send", action="store_true", help="queue it (once per day) and send")
    mode.add_argument("--preview", action="store_true", help="print it (the default)")


# --- outbox ------------------------------------------------------------------------------

def cmd_outbox_list(args, ctx) -> int:
    ctx.db()
    wanted = args.status or ["pending", "failed"]
    query = Outbox.select().order_by(Outbox.id.desc()).limit(args.limit)
    if "all" not in wanted:
        query = query.where(Outbox.status.in_(wanted))
    rows = list(query)
    if not rows:
        ctx.print("no outgoing mail " + ("" if "all" in wanted else "in state "
                                         + ", ".join(wanted)))
        return 0
    tz = ctx.cfg.tz
    table = []
    for o in reversed(rows):
        when = o.sent_at if o.status == "sent" else o.not_before
        table.append([o.id, o.status, o.template, o.to_addr, o.attempts,
                      f"{to_utc(when).astimezone(tz):%m-%d %H:%M}", o.last_error or ""])
    ctx.print(render(["id", "status", "template", "to", "tries", "sent/next", "note"], table,
                     {3: 32, 6: 70}))
    return 0


def cmd_outbox_send(args, ctx) -> int:
    from .sender import drain_outbox
    ctx.db()
    result = drain_outbox(ctx.cfg, ctx.clock, limit=args.limit)
    ctx.print(f"outgoing mail: {result.message}")
    return 0 if not result.failed else 1


def cmd_outbox_retry(args, ctx) -> int:
    from .sender import retry_row
    ctx.db()
    row = retry_row(args.id, ctx.clock)
    ctx.print(f"outbox #{row.id} ({row.template} to {row.to_addr}) will be sent again on the "
              "next pass (now: mailworker outbox send)")
    return 0


def cmd_outbox_cancel(args, ctx) -> int:
    from .sender import cancel_row
    ctx.db()
    row = cancel_row(args.id)
    ctx.print(f"outbox #{row.id} ({row.template} to {row.to_addr}) cancelled")
    return 0


# --- notices -----------------------------------------------------------------------------

def _notice_variables_help() -> str:
    lines = ["values for --var (one --var NAME=VALUE each):"]
    for template in NOTICE_TEMPLATES:
        required, optional = NOTICE_VARIABLES[template]
        line = f"  {template}: needs {', '.join(required)}"
        if optional:
            line += f"; optional: {', '.join(optional)}"
        lines.append(line)
    lines += ["example:",
              "  mailworker notice send --template meeting_notice --to student \\",
              "    --var meeting_date=\"12월 10일 19:00\" --var place=\"서울시청 3층\" --dry-run",
              "free-form announcement:",
              "  mailworker notice send --subject \"설명회 안내\" --body-file briefing.txt "
              "--to all --dry-run"]
    return "\n".join(lines)


def cmd_notice_send(args, ctx) -> int:
    from .notices import NoticeError, plan_announcement, plan_notice
    ctx.db()
    if args.subject is not None or args.body_file is not None:
        if args.template or args.var:
            raise NoticeError("give either --template (with --var) or --subject and "
                              "--body-file, not both")
        if args.subject is None or args.body_file is None:
            raise NoticeError("a free-form announcement needs both --subject and --body-file")
        plan = plan_announcement(ctx.cfg, args.subject, args.body_file, args.to)
        return _notice_send(args, ctx, plan)
    if not args.template:
        raise NoticeError("give --template NAME (" + ", ".join(NOTICE_TEMPLATES) + ") or "
                          "--subject and --body-file for a free-form announcement")
    values = {}
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise NoticeError(f"--var {item!r}: write NAME=VALUE, e.g. --var period=\"12월\"")
        values[name.strip()] = value
    plan = plan_notice(ctx.cfg, args.template, args.to, values)
    return _notice_send(args, ctx, plan)


def _notice_send(args, ctx, plan) -> int:
    from .notices import queue_notice
    who = plan.preview_member
    ctx.print(f"notice {plan.template} to {len(plan.members)} member(s)")
    if args.dry_run:
        ctx.print(f"--- preview for {who.display_name} <{who.primary_address}> ---")
        ctx.print(f"Subject: {plan.preview.subject}")
        ctx.print("")
        ctx.print(plan.preview.text)
        ctx.print("--- recipients ---")
        for m in plan.members[:20]:
            ctx.print(f"  {m.display_name} <{m.primary_address}>")
        if len(plan.members) > 20:
            ctx.print(f"  … and {len(plan.members) - 20} more")
        ctx.print("dry run: nothing was queued")
        return 0
    from ..audit import cli_actor, record
    from ..models import db_proxy
    with db_proxy.atomic():
        queue_notice(ctx.cfg, ctx.clock, plan)
        record(ctx.clock, actor=cli_actor(), how="cli", action="notice.send",
               item=f"{plan.template} to {' '.join(args.to or ['all'])}",
               detail=f"queued {plan.queued}, {plan.already} queued earlier")
    ctx.print(f"queued {plan.queued}; {plan.already} already queued earlier (not again)")
    for note in plan.skipped:
        ctx.print(f"  skipped {note}")
    ctx.hint("they go out with `mailworker run`, or now: mailworker outbox send")
    return 0


# --- releases ----------------------------------------------------------------------------

def cmd_release_build(args, ctx) -> int:
    from .packages import build_release
    release, new = build_release(ctx.cfg, ctx.clock, args.installer, args.release_version)
    state = "built" if new else "already built (same installer)"
    ctx.print(f"release {release.version} {state} in {release.directory}")
    ctx.print(f"  installer {release.installer_name}: {release.installer_size:,} bytes, "
              f"SHA-256 {release.installer_sha256}")
    ctx.print(f"  packed as {release.method}: {release.stream_size:,} bytes")
    ctx.hint(f"next: mailworker release send --version {release.version}")
    return 0


def cmd_release_send(args, ctx) -> int:
    from .release import send_release
    ctx.db()
    # Bars only for a person at a terminal: redrawn into a pipe or log they print twice.
    progress = not args.no_progress and sys.stderr.isatty()
    report = send_release(ctx.cfg, ctx.clock, args.release_version, args.members,
                          args.password_sheet, wait=not args.queue_only, progress=progress)
    from ..audit import cli_actor, record
    record(ctx.clock, actor=cli_actor(), how="cli", action="release.send",
           item=f"release {report.version}",
           detail=f"queued {report.queued}, {report.already} queued before; "
                  f"{report.sent} sent, {report.failed} failed")
    if report.already == report.members:
        who = "every member" if not args.members else "every member named"
        ctx.print(f"nothing to send: {who} already has release {report.version} "
                  f"({report.already} queued before)")
    else:
        ctx.print(f"release {report.version}: queued {report.queued} package mail(s) now "
                  f"({report.smime} S/MIME); {report.already} member(s) had it queued before")
    ctx.print(f"  package mails: {report.sent} sent, {report.pending} waiting, "
              f"{report.failed} failed")
    for note in report.notes:
        ctx.print(f"  {note}")
    if report.sheet:
        ctx.print(f"  passwords written to {report.sheet} (mode 0600): hand them over "
                  "another way, then delete the file")
    if report.pending:
        ctx.hint("  the rest goes out with `mailworker run`; run this command again at any "
                  "time: members who have it are skipped")
    if report.failed:
        ctx.hint("  see failures: mailworker outbox list --status failed")
    return 0 if not report.failed else 1


def cmd_release_password(args, ctx) -> int:
    from .packages import check_version
    from .release import password_for, select_members, write_password_sheet
    ctx.db()
    check_version(args.release_version)
    if args.member:
        member, password = password_for(ctx.cfg, args.release_version, args.member)
        ctx.print(f"{member.display_name} <{member.primary_address}> {args.release_version}: "
                  f"{password}")
        return 0
    path = write_password_sheet(ctx.cfg, args.release_version, select_members(None),
                                args.password_sheet)
    ctx.print(f"passwords of all active members for {args.release_version} written to {path} "
              "(mode 0600)")
    return 0


def cmd_release_status(args, ctx) -> int:
    from .packages import load_release
    from .release import release_summary
    ctx.db()
    release = load_release(ctx.cfg, args.release_version)
    counts = release_summary(args.release_version)
    ctx.print(f"release {release.version}: installer {release.installer_name} "
              f"(SHA-256 {release.installer_sha256[:16]}…), built {release.built_at}")
    ctx.print("  package mails: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_release_certificate(args, ctx) -> int:
    from .release import register_certificate
    ctx.db()
    member, note = register_certificate(args.member, None if args.remove else args.file,
                                        ctx.clock)
    ctx.print(f"{member.display_name} <{member.primary_address}>: {note}")
    return 0


# --- digest ------------------------------------------------------------------------------

def cmd_digest(args, ctx) -> int:
    from .digest import contributions_on, digest_key, gather, next_digest_day, queue_digest
    from .sender import drain_outbox
    from .templates import Renderer
    ctx.db()
    cfg = ctx.cfg
    today = local_day(ctx.clock.now(), cfg.tz)
    if args.date:
        try:
            day = dt.date.fromisoformat(args.date)
        except ValueError:
            raise DigestDateError(f"--date {args.date!r}: write YYYY-MM-DD") from None
    elif args.send:
        day = today
    else:
        day = next_digest_day(cfg, ctx.clock)
    if args.send:
        row = queue_digest(cfg, ctx.clock, day)
        if row is None:
            raise DigestDateError(f"{cfg.where}: [staff] addresses is empty; add the staff's "
                                  "addresses to send the digest")
        if row.status == "sent":
            ctx.print(f"the digest of {day} was already sent (outbox #{row.id}); "
                      "nothing sent again")
            return 0
        result = drain_outbox(cfg, ctx.clock)
        row = Outbox.get_by_id(row.id)
        ctx.print(f"digest of {day} to {row.to_addr}: {row.status} (outbox #{row.id}); "
                  f"outgoing mail: {result.message}")
        return 0 if row.status == "sent" else 1
    existing = Outbox.get_or_none(Outbox.key == digest_key(day))
    rendered = Renderer(cfg).render("digest", gather(cfg, ctx.clock, day))
    covered = day - dt.timedelta(days=1)
    # Say which day the digest covers: "yesterday" in a digest is the day before its date.
    if existing is not None:
        ctx.print(f"(the digest of {day} is outbox #{existing.id}, {existing.status}; "
                  f"it covers mail received on {covered})")
    else:
        which = "the digest" if args.date else "the next digest to go out,"
        so_far = ", today, so far" if covered >= today else ""
        ctx.print(f"({which} dated {day}, due at {cfg.schedule.digest_time}: it covers mail "
                  f"received on {covered}{so_far})")
    if not contributions_on(cfg, covered):
        note = f"(no reviews or proposals were received on {covered}"
        waiting = contributions_on(cfg, today) if covered < today else 0
        if waiting:
            later = today + dt.timedelta(days=1)
            note += (f"; the {waiting} received today go into the digest of {later}: "
                     f"mailworker digest --preview --date {later}")
        ctx.print(note + ")")
    ctx.print(f"Subject: {rendered.subject}")
    ctx.print("")
    ctx.print(rendered.text)
    return 0


class DigestDateError(MailworkerError):
    """The digest command was given something it cannot use."""
