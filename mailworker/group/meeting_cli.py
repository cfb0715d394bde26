"""Staff commands for meetings, the budget, the half-year commendation and hour exports:
`meeting ...`, `budget`, `awards ...`, and `hours export|batches|volunteer-id`.

Mails (meeting notices) are queued as outbox rows; the outbound stage renders and sends
them. A preview needs the renderer, which the CLI layer hands in (``register(sub,
preview)``): group does not import outbound.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path
from typing import Callable

from .. import audit
from ..clock import naive_utc, to_utc
from ..commands import command, command_group
from ..csvfile import write_csv
from ..errors import MailworkerError
from ..members import find_member_by_address
from ..models import db_proxy
from ..table import render
from . import awards as awards_mod
from . import exports
from . import meetings as mt
from .rsvp import meeting_summary

Preview = Callable[..., object]     # (cfg, template, context) -> Rendered (subject, text)
_preview: Preview | None = None


def register(sub, preview: Preview | None = None) -> None:
    global _preview
    _preview = preview
    msub = command_group(sub, "meeting", "regular meetings (정례회의): notices, answers, "
                                         "attendance, allowances",
                         "Regular meetings: create one, send its notice (replies are the "
                         "members' answers for it), see the answers, record attendance and "
                         "hand over the allowance list.")
    p = command(msub, "create", cmd_create, "add a meeting")
    p.add_argument("--date", required=True, metavar="\"YYYY-MM-DD HH:MM\"",
                   help="local date and time, e.g. \"2019-05-23 19:00\"")
    p.add_argument("--place", required=True, help="where, e.g. \"서울시청 3층 대회의실\"")
    p.add_argument("--title", help="default: \"<year> 상/하반기 정례회의\"")
    command(msub, "list", cmd_list, "all meetings with the answers so far")
    p = command(msub, "show", cmd_show, "one meeting: answers, attendance")
    p.add_argument("id", type=int)
    p = command(msub, "notice", cmd_notice,
                    "send the meeting notice to every active member (replies are answers "
                    "for this meeting); running it again sends only to new members")
    p.add_argument("id", type=int)
    p.add_argument("--agenda", default="", help="optional agenda line in the notice")
    p.add_argument("--dry-run", action="store_true", help="show the first mail, queue nothing")
    p = command(msub, "rsvp", cmd_rsvp,
                    "tie a member's mail (e.g. an answer waiting in triage) to this meeting")
    p.add_argument("id", type=int, help="meeting number")
    p.add_argument("--message", type=int, required=True, help="message number")
    p.add_argument("--answer", choices=("attend", "decline"),
                   help="default: the answer read from the mail")
    p.add_argument("--by", help="your name, kept with the message and the audit entry "
                                "(the login behind sudo is kept too)")
    p = command(msub, "attendance", cmd_attendance,
                    "record who was present (the allowance is paid on this list)")
    p.add_argument("id", type=int)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--present", nargs="+", metavar="EMAIL", help="member addresses")
    who.add_argument("--from", dest="from_file", type=Path, metavar="SIGN-IN.csv",
                     help="sign-in sheet (CSV with a column 'email' or '이메일')")
    who.add_argument("--remove", nargs="+", metavar="EMAIL",
                     help="take these members off the list (recorded by mistake)")
    p = command(msub, "allowance", cmd_allowance,
                    "the attendance allowance per attendee, for the payment officer")
    p.add_argument("id", type=int)
    p.add_argument("--csv", action="store_true",
                   help="write CSV (UTF-8 with BOM, opens in Excel) to standard output")

    p = command(sub, "budget", cmd_budget,
                    "allowances paid per meeting and per year against [group] budget_krw")
    p.add_argument("--year", type=int, help="only this year")

    p = command(sub, "awards", cmd_awards,
                    "the half-year commendation (시장 표창) ranking; "
                    "`awards score MESSAGE 1-5` records a staff quality score")
    p.add_argument("--half", metavar="YYYYH1|YYYYH2",
                   help="e.g. 2019H1 (Jan-Jun) or 2019H2 (Jul-Dec); default: the current half")
    p.add_argument("--csv", action="store_true", help="write the ranking as CSV for the "
                                                      "nomination (UTF-8 with BOM)")
    asub = p.add_subparsers(dest="awards_command", metavar="ACTION")
    s = command(asub, "score", cmd_awards_score,
                    "judge one credited review or proposal from 1 (weak) to 5 (excellent)")
    s.add_argument("message", type=int, help="message number (as in the digest)")
    s.add_argument("score", type=int, choices=list(awards_mod.SCORES), metavar="1-5")
    s.add_argument("--by", help="your name, kept with the score and the audit entry")


def register_hours_actions(hours_parser: argparse.ArgumentParser) -> None:
    """`hours export`, `hours batches`, `hours volunteer-id` under the `hours` command."""
    hsub = hours_parser.add_subparsers(dest="hours_command", metavar="ACTION")
    p = command(hsub, "export", cmd_hours_export,
                    "credited activity for the volunteer centre (one row each), as a new "
                    "export batch of what no batch holds yet; or --batch ID again")
    p.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="activity from this day")
    p.add_argument("--until", type=_day, metavar="YYYY-MM-DD",
                   help="activity up to this day (included)")
    p.add_argument("--batch", type=int, metavar="ID", help="write this earlier batch again")
    p.add_argument("--output", "-o", type=Path, metavar="FILE",
                   help="write to this file (default: CSV to standard output)")
    p.add_argument("--xlsx", action="store_true", help="an Excel workbook (needs --output)")
    command(hsub, "batches", cmd_hours_batches, "the export batches made so far")
    p = command(hsub, "withdraw", cmd_hours_withdraw,
                    "take back the hour of a credited message (recorded in the ledger; "
                    "an exported one is listed for correction in the next export)")
    p.add_argument("message", type=int, help="message number")
    p.add_argument("--reason", required=True, help="why; kept with the message")
    p.add_argument("--by", help="your name, kept with the message and the audit entry")
    p = command(hsub, "volunteer-id", cmd_volunteer_id,
                    "set a member's ID on the volunteer-centre portal (shown in exports)")
    p.add_argument("email")
    p.add_argument("volunteer_id", metavar="ID", help="the portal ID; \"\" to clear it")


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-07-01") from None


def _local(value: dt.datetime | None, tz) -> str:
    return f"{to_utc(value).astimezone(tz):%Y-%m-%d %H:%M}" if value else "-"


def _krw(amount: int) -> str:
    return f"{amount:,}원"


def _audit(ctx, action: str, item: str, detail: str = "", reason: str = "",
           by: str | None = None) -> None:
    """The audit entry of a staff command; call inside the command's transaction."""
    audit.record(ctx.clock, actor=audit.cli_actor(by), how="cli", action=action, item=item,
                 reason=reason, detail=detail)


# --- meeting ---------------------------------------------------------------------------

def cmd_create(args, ctx) -> int:
    ctx.db()
    tz = ctx.cfg.tz
    starts = mt.parse_local_datetime(args.date, tz)
    with db_proxy.atomic():
        meeting = mt.create_meeting(starts, args.place, ctx.clock, tz, args.title)
        _audit(ctx, "meeting.create", f"meeting #{meeting.id}",
               f"{meeting.title}, {mt.date_label(meeting, tz)}, {meeting.place}")
    ctx.print(f"meeting #{meeting.id}: {meeting.title}, {mt.date_label(meeting, tz)}, "
              f"{meeting.place}")
    ctx.hint(f"next: mailworker meeting notice {meeting.id} --dry-run")
    return 0


def cmd_list(args, ctx) -> int:
    ctx.db()
    tz = ctx.cfg.tz
    rows = []
    for m in mt.list_meetings():
        s = meeting_summary(m, tz)
        rows.append([m.id, mt.date_label(m, tz), m.title, m.place,
                     "yes" if m.notice_sent_at else "no", s["attend"], s["decline"],
                     s["unanswered"], len(mt.allowance_rows(m))])
    if not rows:
        ctx.hint("no meetings yet; add one: mailworker meeting create --date "
                  "\"2019-05-23 19:00\" --place \"서울시청\"")
        return 0
    ctx.print(render(["id", "일시 when", "제목 title", "장소 place", "notice", "참석 attend",
                      "불참 decline", "미회신 no answer", "출석 present"], rows, {2: 30, 3: 30}))
    return 0


def cmd_show(args, ctx) -> int:
    ctx.db()
    tz = ctx.cfg.tz
    m = mt.get_meeting(args.id)
    s = meeting_summary(m, tz)
    ctx.print(f"meeting #{m.id}: {m.title}")
    ctx.print(f"  when: {mt.date_label(m, tz)}   where: {m.place}")
    ctx.print(f"  notice sent: {_local(m.notice_sent_at, tz)}   "
              f"reminder sent: {_local(m.reminded_at, tz)}")
    ctx.print(f"  answers: {s['attend']} attend, {s['decline']} decline, "
              f"{s['unanswered']} not answered")
    answers = mt.answers(m)
    if answers:
        ctx.print(render(["이름 name", "회신 answer", "받은 때 when", "연결 matched by",
                          "메시지 message"],
                         [[r.member.display_name, "참석 attend" if r.answer == "attend"
                           else "불참 decline", _local(r.answered_at, tz), r.matched_by,
                           f"#{r.message_id}"] for r in answers], {0: 30}))
    silent = mt.unanswered_members(m)
    if silent:
        ctx.print("  not answered: " + ", ".join(x.display_name for x in silent))
    present = mt.allowance_rows(m)
    ctx.print(f"  present: {len(present)}" + (": " + ", ".join(r.name for r in present)
                                               if present else ""))
    return 0


def cmd_notice(args, ctx) -> int:
    ctx.db()
    cfg = ctx.cfg
    m = mt.get_meeting(args.id)
    if m.starts_at <= naive_utc(ctx.clock.now()):
        raise mt.MeetingError(f"meeting #{m.id} was on {mt.date_label(m, cfg.tz)}: notices go "
                              "out only before a meeting")
    members = mt.active_members()
    if not members:
        raise mt.MeetingError("no active member to send the notice to (mailworker members list)")
    first = members[0]
    context = mt.notice_context(m, first, cfg.tz, args.agenda)
    if _preview is not None:
        # Render once before queueing anything: a broken template stops here, not in 100 rows.
        rendered = _preview(cfg, "meeting_notice", context)
    ctx.print(f"meeting #{m.id} notice to {len(members)} active member(s)")
    if args.dry_run:
        if _preview is None:
            raise MailworkerError("no preview available in this command set-up")
        ctx.print(f"--- preview for {first.display_name} <{first.primary_address}> ---")
        ctx.print(f"Subject: {rendered.subject}")
        ctx.print("")
        ctx.print(rendered.text)
        ctx.print("dry run: nothing was queued")
        return 0
    with db_proxy.atomic():
        report = mt.queue_meeting_mail(cfg, ctx.clock, m, "meeting_notice", "notice",
                                       members, args.agenda)
        _audit(ctx, "meeting.notice", f"meeting #{m.id}",
               f"queued {report.queued}, {report.already} queued earlier")
    ctx.print(f"queued {report.queued}; {report.already} already queued earlier (not again)")
    for note in report.skipped:
        ctx.print(f"  skipped {note}")
    ctx.print("replies to the notice are recorded as answers for this meeting; "
              f"see: mailworker meeting show {m.id}")
    return 0


def cmd_rsvp(args, ctx) -> int:
    from .rsvp import assign_answer
    ctx.db()
    m = mt.get_meeting(args.id)
    actor = audit.cli_actor(args.by)
    with db_proxy.atomic():
        row = assign_answer(m, args.message, args.answer, actor, ctx.clock)
        _audit(ctx, "meeting.rsvp", f"meeting #{m.id}, message #{args.message}",
               f"{row.member.display_name}: {row.answer}", by=args.by)
    ctx.print(f"meeting #{m.id}: {row.member.display_name} — "
              f"{'참석 attend' if row.answer == 'attend' else '불참 decline'} "
              f"(message #{args.message})")
    return 0


def cmd_attendance(args, ctx) -> int:
    ctx.db()
    m = mt.get_meeting(args.id)
    if args.remove:
        with db_proxy.atomic():
            report = mt.remove_attendance(m, args.remove)
            _audit(ctx, "meeting.attendance_remove", f"meeting #{m.id}",
                   f"removed {len(report.removed)}")
        ctx.print(f"meeting #{m.id}: removed {len(report.removed)}; "
                  f"{len(report.already)} were not on the list")
    else:
        if args.from_file:
            emails, source = mt.read_sign_in(args.from_file), args.from_file.name
        else:
            emails, source = args.present, "list"
        with db_proxy.atomic():
            report = mt.record_attendance(ctx.cfg, ctx.clock, m, emails, source)
            _audit(ctx, "meeting.attendance", f"meeting #{m.id}",
                   f"{len(report.added)} marked present from {source}")
        ctx.print(f"meeting #{m.id}: {len(report.added)} marked present; "
                  f"{len(report.already)} were already on the list")
    ctx.print(f"present now: {len(mt.allowance_rows(m))} "
              f"(allowance: mailworker meeting allowance {m.id} --csv)")
    return 0


def cmd_allowance(args, ctx) -> int:
    ctx.db()
    m = mt.get_meeting(args.id)
    rows = mt.allowance_rows(m)
    if args.csv:
        write_csv(ctx.out, ["이름 name", "분야 category", "금액 amount_krw"],
                  [[r.name, r.category_ko, r.amount_krw] for r in rows])
        return 0
    ctx.print(f"meeting #{m.id} {m.title} ({mt.date_label(m, ctx.cfg.tz)}): "
              f"참석수당 attendance allowance")
    ctx.print(render(["이름 name", "분야 category", "금액 amount"],
                     [[r.name + ("" if r.status == "active" else f" ({r.status})"),
                       r.category_ko, _krw(r.amount_krw)] for r in rows]
                     + [["합계 total", f"{len(rows)}명", _krw(sum(r.amount_krw for r in rows))]],
                     {0: 30}))
    return 0


def cmd_budget(args, ctx) -> int:
    ctx.db()
    tz = ctx.cfg.tz
    years = mt.budget(ctx.cfg, args.year)
    if not years:
        ctx.print(f"no meetings yet; budget {_krw(ctx.cfg.group.budget_krw)} a year")
        return 0
    for y in years:
        ctx.print(f"{y.year}년 참석수당 예산 allowance budget: {_krw(y.budget_krw)}")
        ctx.print(render(["id", "일시 when", "제목 title", "출석 present", "지급 paid"],
                         [[b.meeting.id, mt.date_label(b.meeting, tz), b.meeting.title,
                           b.attendees, _krw(b.paid_krw)] for b in y.meetings]
                         + [["", "", "합계 total", sum(b.attendees for b in y.meetings),
                             _krw(y.paid_krw)]], {2: 30}))
        note = "" if y.remaining_krw >= 0 else "  (over budget!)"
        ctx.print(f"  남은 예산 remaining: {_krw(y.remaining_krw)}{note}")
        ctx.print("")
    return 0


# --- awards ----------------------------------------------------------------------------

def cmd_awards(args, ctx) -> int:
    ctx.db()
    tz = ctx.cfg.tz
    if args.half:
        half = awards_mod.parse_half(args.half)
    else:
        half = awards_mod.half_of(to_utc(ctx.clock.now()).astimezone(tz).date())
    rows = awards_mod.ranking(ctx.cfg, half)
    if args.csv:
        write_csv(ctx.out, awards_mod.CSV_HEADER, awards_mod.csv_rows(rows, tz))
        return 0
    ctx.print(f"{half.label_ko} ({half.label}) 시장 표창 순위: credited reviews + proposals, "
              "ties by the earlier date of reaching the count")
    if not rows:
        ctx.print("  no credited reviews or proposals in this half-year")
        return 0
    ctx.print(render(["순위", "이름 name", "분야", "품평", "제안", "합계", "시간 hours",
                      "점수 score", "달성 reached"],
                     [[r.rank, r.name + (" (해촉 resigned)" if r.status == "resigned"
                                         else "" if r.status == "active" else f" ({r.status})"),
                       r.category_ko, r.reviews, r.proposals, r.count, r.hours,
                       "-" if r.score_avg is None else f"{r.score_avg:.1f} ({r.scored})",
                       awards_mod.reached_local(r, tz)] for r in rows], {1: 30}))
    return 0


def cmd_awards_score(args, ctx) -> int:
    ctx.db()
    actor = audit.cli_actor(args.by)
    with db_proxy.atomic():
        row = awards_mod.score_message(args.message, args.score, actor, ctx.clock)
        _audit(ctx, "awards.score", f"message #{args.message}", f"score {args.score}",
               by=args.by)
    ctx.print(f"message #{row.message_id}: quality score {row.score} (by {row.scored_by})")
    return 0


# --- hours export ----------------------------------------------------------------------

def cmd_hours_export(args, ctx) -> int:
    ctx.db()
    if args.xlsx and not args.output:
        raise exports.ExportError("--xlsx needs --output FILE.xlsx")
    if args.output is not None:
        folder = args.output.resolve().parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise exports.ExportError(f"{args.output}: cannot write there (no such folder, or "
                                      "no permission); nothing was exported")
    if args.batch is not None:
        if args.since or args.until:
            raise exports.ExportError("--batch writes a batch as it was; leave out --since "
                                      "and --until")
        view = exports.get_batch(args.batch)
        again = True
    else:
        with db_proxy.atomic():
            view = exports.create_export(ctx.cfg, ctx.clock, args.since, args.until)
            if view is not None:
                _audit(ctx, "hours.export", f"export batch #{view.batch.id}",
                       f"{len(view.rows)} activities, {len(view.corrections)} corrections")
        again = False
        if view is None:
            ctx.err.write("nothing new to export: every credited activity in that period is "
                          "in an earlier batch (see: mailworker hours batches)\n")
            return 0
    try:
        _write_batch(view, args, ctx)
    except exports.ExportError as exc:
        raise exports.ExportError(f"{exc}; batch #{view.batch.id} is kept: write it again "
                                  f"with mailworker hours export --batch {view.batch.id} "
                                  "-o FILE") from None
    b = view.batch
    what = "written again" if again else "new"
    ctx.err.write(f"export batch #{b.id} ({what}): {len(view.rows)} activit"
                  f"{'y' if len(view.rows) == 1 else 'ies'}, "
                  f"{sum(r.hours for r in view.rows)} hour(s)"
                  + (f"; {len(view.corrections)} withdrawn credit(s) to correct (구분 취소)"
                     if view.corrections else "")
                  + (f" → {args.output}" if args.output else "") + "\n")
    return 0


def _write_batch(view, args, ctx) -> None:
    if args.xlsx:
        exports.write_batch_xlsx(view, args.output)
    elif args.output:
        try:
            with open(args.output, "w", encoding="utf-8", newline="") as f:
                exports.write_batch_csv(view, f)
        except OSError as exc:
            raise exports.ExportError(f"{args.output}: cannot write: {exc.strerror}") from None
    else:
        exports.write_batch_csv(view, ctx.out)


def cmd_hours_batches(args, ctx) -> int:
    ctx.db()
    tz = ctx.cfg.tz
    batches = exports.list_batches()
    if not batches:
        ctx.hint("no export batches yet; make one: mailworker hours export --until "
                  "YYYY-MM-DD -o batch.csv")
        return 0
    ctx.print(render(["batch", "made", "since", "until", "rows", "corrections"],
                     [[b.id, _local(b.created_at, tz), b.since or "-", b.until or "-", b.rows,
                       b.corrections] for b in batches]))
    return 0


def cmd_hours_withdraw(args, ctx) -> int:
    from ..ledger.keys import pseudonym_key
    from .credits import withdraw_credit
    ctx.db()
    message, exported = withdraw_credit(args.message, args.reason,
                                        audit.cli_actor(args.by), ctx.clock,
                                        pseudonym_key(ctx.cfg))
    ctx.print(f"message #{message.id}: credit withdrawn ({message.reason[:120]})")
    if exported:
        ctx.print("  it was exported to the volunteer centre already: the next "
                  "`mailworker hours export` lists it for correction (구분 취소)")
    return 0


def cmd_volunteer_id(args, ctx) -> int:
    ctx.db()
    member = find_member_by_address(args.email)
    if member is None:
        raise MailworkerError(f"no member has the address {args.email!r} "
                              "(see: mailworker members list)")
    member.volunteer_id = args.volunteer_id.strip()[:100] or None
    with db_proxy.atomic():
        member.save()
        _audit(ctx, "member.volunteer_id", f"member {member.primary_address}",
               f"volunteer-portal ID {member.volunteer_id or '(none)'}")
    ctx.print(f"{member.display_name}: volunteer-portal ID "
              f"{member.volunteer_id or '(none)'}")
    return 0
