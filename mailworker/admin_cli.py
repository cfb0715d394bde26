"""Staff commands: `config check`, `members import/list/add/set-status`, `hours`, `audit`.

Every command that changes the roster writes an audit entry (who: the user behind sudo)."""
from __future__ import annotations

import argparse
import datetime as dt

from . import audit
from .commands import command, command_group
from .csvfile import write_csv
from .config_check import OK, PROBLEM, WARNING, check_config
from .errors import ConfigError
from .hours import hours_by_category, hours_by_member
from .members import (add_member, category_label, close_resignation_requests, import_roster,
                      list_members, quota_warnings, set_member_status)
from .models import CATEGORY_KO, MEMBER_STATUSES, db_proxy
from .table import render

def register(sub, members_extra=None) -> None:
    """``members_extra(members_actions)`` lets the wiring (mailworker.cli) add the group's
    member actions without this core module importing the group."""
    config_sub = command_group(sub, "config", "check the configuration",
                               "Check the configuration file.")
    check = command(config_sub, "check", cmd_config_check,
                    "read every secret, open the database, look at the folders; "
                    "print 'configuration OK' or the problems (exit 2)")
    check.add_argument("--connect", action="store_true",
                       help="also log in to the IMAP and SMTP servers")
    check.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                       help="network timeout for --connect and the database (default 10)")

    members_sub = command_group(sub, "members", "the member roster (단원 명단)",
                                "Import, list and add members; set a member's status.")
    imp = command(members_sub, "import", cmd_members_import,
                  "import a roster CSV (name,email,category[,aliases][,language]); "
                  "all rows or none")
    imp.add_argument("file", metavar="FILE.csv")
    lst = command(members_sub, "list", cmd_members_list, "list the members")
    lst.add_argument("--csv", action="store_true",
                     help="write CSV (UTF-8 with BOM, opens in Excel) to standard output")
    lst.add_argument("--status", choices=MEMBER_STATUSES, help="only members with this status")
    add = command(members_sub, "add", cmd_members_add, "add one member")
    add.add_argument("--name", required=True, help="display name, e.g. 김민지")
    add.add_argument("--email", required=True, help="main e-mail address")
    add.add_argument("--category", required=True,
                     help="student/대학생, citizen/일반시민, developer/블록체인 개발자, "
                          "business/블록체인 기업인")
    add.add_argument("--alias", action="append", default=[], metavar="EMAIL",
                     help="another address of the same member (repeat as needed)")
    add.add_argument("--language", default="ko", help="ko (default) or en")
    status = command(members_sub, "set-status", cmd_members_set_status,
                     "set a member's status: active, resigned (해촉) or suspended (활동 "
                     "정지); only active members earn hours and get notices and packages")
    status.add_argument("email", metavar="EMAIL", help="any address of the member")
    status.add_argument("status", choices=MEMBER_STATUSES, metavar="STATUS",
                        help="active, resigned, suspended or term_ended")
    status.add_argument("--reason", metavar="TEXT",
                        help="why, kept with the status, e.g. --reason \"본인 요청\"")

    if members_extra is not None:
        members_extra(members_sub)   # the wiring adds members resign / purge (group)

    hours = command(sub, "hours", cmd_hours,
                    "volunteer hours (봉사시간) per member and per category")
    hours.add_argument("--member", metavar="EMAIL", help="only this member (any address)")
    hours.add_argument("--since", type=_day, metavar="YYYY-MM-DD",
                       help="only credits from this local day on")
    hours.add_argument("--until", type=_day, metavar="YYYY-MM-DD",
                       help="only credits up to this local day (included)")
    hours.add_argument("--csv", action="store_true",
                       help="write CSV (UTF-8 with BOM, opens in Excel) to standard output")

    aud = command(sub, "audit", cmd_audit,
                  "who did what (감사 기록): every staff action, from the command line "
                  "or by mail from the digest")
    aud.add_argument("--since", type=_day, metavar="YYYY-MM-DD",
                     help="only actions from this local day on (default: the last 30 days)")
    aud.add_argument("--all", action="store_true", help="every action ever recorded")
    aud.add_argument("--csv", action="store_true",
                     help="write CSV (UTF-8 with BOM, opens in Excel) to standard output")


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-07-01") from None


def _write_csv(ctx, header: list[str], rows: list[list]) -> None:
    write_csv(ctx.out, header, rows)


# --- config check -------------------------------------------------------------------------

def cmd_config_check(args, ctx) -> int:
    try:
        cfg = ctx.cfg
    except ConfigError as exc:
        ctx.print(f"PROBLEM  {exc}")
        ctx.print("1 problem: the configuration cannot be loaded")
        return 2
    ctx.print(f"Checking {cfg.where}")
    findings = check_config(cfg, connect=args.connect, timeout=args.timeout)
    marks = {OK: "ok      ", WARNING: "WARNING ", PROBLEM: "PROBLEM "}
    for f in findings:
        ctx.print(f"  {marks[f.level]} {f.text}")
    problems = sum(1 for f in findings if f.level == PROBLEM)
    warnings = sum(1 for f in findings if f.level == WARNING)
    if problems:
        ctx.print(f"{problems} problem(s), {warnings} warning(s): fix the PROBLEM lines above")
        return 2
    ctx.print("configuration OK" + (f" ({warnings} warning(s))" if warnings else ""))
    return 0


# --- members ------------------------------------------------------------------------------

def cmd_members_import(args, ctx) -> int:
    ctx.db()
    with db_proxy.atomic():
        report = import_roster(args.file, ctx.clock)
        audit.record(ctx.clock, actor=audit.cli_actor(), how="cli", action="member.import",
                     item=str(args.file), detail=report.summary())
    ctx.print(report.summary())
    if report.addresses_added:
        ctx.print(f"  {report.addresses_added} address(es) added")
    for warning in report.warnings:
        ctx.print(f"  warning: {warning}")
    return 0


def cmd_members_list(args, ctx) -> int:
    ctx.db()
    views = list_members(args.status)
    tz = ctx.cfg.tz
    if args.csv:
        _write_csv(ctx, ["name", "email", "category", "category_ko", "status", "language",
                         "aliases", "created", "status_reason"],
                   [[v.member.display_name, v.primary, v.member.category,
                     CATEGORY_KO.get(v.member.category, ""), v.member.status,
                     v.member.language, ";".join(v.aliases),
                     _local_date(v.member.created_at, tz), v.member.status_reason or ""]
                    for v in views])
        return 0
    if not views:
        ctx.hint("no members yet: mailworker members import FILE.csv")
        return 0
    ctx.print(render(
        ["이름 name", "이메일 email", "분야 category", "상태 status", "lang", "다른 주소 aliases"],
        [[v.member.display_name, v.primary, category_label(v.member.category), v.member.status,
          v.member.language, ", ".join(v.aliases)] for v in views],
        limits={0: 24, 5: 50}))
    ctx.print(f"{len(views)} member(s)")
    return 0


def cmd_members_add(args, ctx) -> int:
    ctx.db()
    with db_proxy.atomic():
        member = add_member(args.name, args.email, args.category, ctx.clock,
                            aliases=args.alias, language=args.language)
        audit.record(ctx.clock, actor=audit.cli_actor(), how="cli", action="member.add",
                     item=f"{member.display_name} <{member.primary_address}>",
                     detail=f"added as {member.category}")
    ctx.print(f"added {member.display_name} <{member.primary_address}> as "
              f"{category_label(member.category)}")
    return 0


_STATUS_EFFECT = {
    "active": "their reviews and proposals earn volunteer hours again; notices and "
              "installer packages reach them",
    "resigned": "from now on their reviews and proposals earn no hours; notices and "
                "installer packages skip them; their hours so far are kept",
    "suspended": "until set active again, their reviews and proposals earn no hours; notices "
                 "and installer packages skip them; their hours so far are kept",
}


def cmd_members_set_status(args, ctx) -> int:
    ctx.db()
    actor = audit.cli_actor()
    with db_proxy.atomic():
        change = set_member_status(args.email, args.status, ctx.clock, reason=args.reason)
        m = change.member
        if change.changed or change.reason_changed:
            if m.status == "resigned":   # their resignation request mails are answered now
                close_resignation_requests(m, actor, ctx.clock)
            audit.record(ctx.clock, actor=actor, how="cli", action="member.set_status",
                         item=f"{m.display_name} <{m.primary_address}>",
                         reason=m.status_reason or "",
                         detail=f"{change.old_status} → {m.status}")
    who = f"{m.display_name} <{m.primary_address}>"
    reason = f" (reason: {m.status_reason})" if m.status_reason else ""
    if not change.changed:
        what = "reason updated" if change.reason_changed else "nothing changed"
        ctx.print(f"{who} is already {m.status}{reason}; {what}")
        return 0
    when = ""
    if m.status == "resigned":
        local = m.resigned_at.replace(tzinfo=dt.timezone.utc).astimezone(ctx.cfg.tz)
        when = f" on {local:%Y-%m-%d %H:%M}"
    ctx.print(f"{who}: {change.old_status} → {m.status}{when}{reason}")
    ctx.print(f"  {_STATUS_EFFECT[m.status]}")
    if m.status == "active":
        for warning in quota_warnings():
            ctx.print(f"  warning: {warning}")
    return 0


def _local_date(naive_utc_value: dt.datetime, tz) -> str:
    return naive_utc_value.replace(tzinfo=dt.timezone.utc).astimezone(tz).date().isoformat()


# --- hours --------------------------------------------------------------------------------

def cmd_hours(args, ctx) -> int:
    ctx.db()
    if args.since and args.until and args.since > args.until:
        raise ConfigError(f"--since {args.since} is after --until {args.until}")
    rows = hours_by_member(since=args.since, member_email=args.member, tz=ctx.cfg.tz,
                           until=args.until)
    if args.csv:
        _write_csv(ctx, ["name", "email", "category", "category_ko", "status", "hours",
                         "reviews", "proposals"],
                   [[r.display_name, r.primary_address, r.category,
                     CATEGORY_KO.get(r.category, ""), r.status, r.hours, r.reviews, r.proposals]
                    for r in rows])
        return 0
    period = " ".join(p for p in (f"since {args.since.isoformat()}" if args.since else "",
                                  f"until {args.until.isoformat()}" if args.until else "")
                      if p) or "all time"
    ctx.print(f"봉사시간 volunteer hours, {period}")
    ctx.print(render(
        ["이름 name", "이메일 email", "분야 category", "시간 hours", "품평 reviews",
         "제안 proposals"],
        [[r.display_name + ("" if r.status == "active" else f" ({r.status})"),
          r.primary_address, category_label(r.category), r.hours, r.reviews, r.proposals]
         for r in rows],
        limits={0: 30}))
    if args.member:
        return 0
    ctx.print("")
    totals = hours_by_category(rows)
    ctx.print(render(
        ["분야 category", "단원 members", "시간 hours", "품평 reviews", "제안 proposals"],
        [[category_label(t.category), f"{t.active_members}/{t.quota}", t.hours, t.reviews,
          t.proposals] for t in totals]
        + [["합계 total", f"{sum(t.active_members for t in totals)}/"
                          f"{sum(t.quota for t in totals)}",
            sum(t.hours for t in totals), sum(t.reviews for t in totals),
            sum(t.proposals for t in totals)]]))
    return 0


# --- audit --------------------------------------------------------------------------------

def cmd_audit(args, ctx) -> int:
    ctx.db()
    tz = ctx.cfg.tz
    since = args.since
    if since is None and not args.all:
        since = (ctx.clock.now().astimezone(tz).date() - dt.timedelta(days=30))
    rows = audit.entries(None if args.all else since, tz)
    header = ["when", "who", "how", "what", "item", "reason", "result"]
    table = [[_local_minute(e.at, tz), e.actor, e.how, e.action, e.item, e.reason, e.detail]
             for e in rows]
    if args.csv:
        _write_csv(ctx, header, table)
        return 0
    if not rows:
        ctx.print("no staff actions recorded" + (f" since {since}" if since else ""))
        return 0
    ctx.print(render(header, table, limits={1: 28, 4: 40, 5: 40, 6: 50}))
    ctx.print(f"{len(rows)} action(s)" + (f" since {since}" if since else ""))
    return 0


def _local_minute(naive_utc_value: dt.datetime, tz) -> str:
    return (naive_utc_value.replace(tzinfo=dt.timezone.utc).astimezone(tz)
            .strftime("%Y-%m-%d %H:%M"))
