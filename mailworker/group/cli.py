"""Staff commands of the group's life cycle: `recruit ...`, `seats`, `members resign`,
`members purge`."""
from __future__ import annotations

import argparse
import datetime as dt

from .. import audit
from ..commands import command, command_group
from ..members import category_label
from ..models import CATEGORIES, Application, db_proxy
from ..table import render
from . import purge as purge_mod
from . import recruitment, roster, vacancies


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2019-01-14") from None


def register(sub) -> None:
    rec_sub = command_group(sub, "recruit", "recruitment rounds (모집): open, status, extend, "
                            "close, accept", description="Recruitment rounds: non-members "
                            "apply by mail while a round is open; at the close each "
                            "category's seats go to its first applicants, the rest wait on "
                            "the waitlist.")
    op = command(rec_sub, "open", cmd_open, "open a round taking applications through "
                     "--until (local day)")
    op.add_argument("--until", type=_day, required=True, metavar="YYYY-MM-DD",
                    help="last day applications are taken")
    op.add_argument("--seats", metavar="CATEGORY=N,...",
                    help="seats per category, e.g. student=40,citizen=30,developer=20,"
                         "business=10 (default: every empty seat, see `mailworker seats`)")
    command(rec_sub, "status", cmd_status, "the open (or last) round: seats and "
                "applications per category, in arrival order")
    ex = command(rec_sub, "extend", cmd_extend, "take applications longer")
    ex.add_argument("--until", type=_day, required=True, metavar="YYYY-MM-DD")
    command(rec_sub, "close", cmd_close, "stop taking applications; select the first "
                "applicants of each category, waitlist the rest")
    command(rec_sub, "accept", cmd_accept, "appoint the selected applicants of the closed "
                "round (they become members and get the appointment mail, 위촉 안내)")
    command(sub, "seats", cmd_seats, "seats per category: quota, filled, vacant, "
                "waitlisted, pending offers")


def register_members(members_sub) -> None:
    """`members resign` and `members purge` (added to admin_cli's `members`)."""
    res = command(members_sub, "resign", cmd_resign,
                      "confirm a member's resignation (해촉): status resigned, confirmation "
                      "mail with the final hours, the seat becomes a vacancy")
    res.add_argument("email", metavar="EMAIL", help="any address of the member")
    res.add_argument("--confirm", action="store_true",
                     help="do it (without: show what would happen)")
    pur = command(members_sub, "purge", cmd_purge,
                      "delete personal data past its retention ([group] "
                      "applicant_retention_days, member_retention_days); the worker does "
                      "this daily by itself")
    pur.add_argument("--dry-run", action="store_true", help="only show what would go")


def _round_table(ctx, r) -> None:
    cfg = ctx.cfg
    s = recruitment.round_summary(cfg, r, ctx.clock)
    state = s["status"] + (" (end date passed)" if s["ended"] else "")
    ctx.print(f"round #{s['id']}: {state}; opened {s['opened']}, applications through "
              f"{s['last_day']}" + (f", extended {s['extensions']}x" if s["extensions"] else ""))
    ctx.print(render(["분야 category", "seats", "applied", "selected", "waitlisted",
                      "appointed"],
                     [[category_label(row["category"]), row["seats"], row["applications"],
                       row.get("selected", 0), row.get("waitlisted", 0),
                       row.get("appointed", 0)] for row in s["rows"]]))
    if s["unknown"]:
        ctx.print(f"{s['unknown']} application(s) without a category (asked by mail)")
    if s["ended"] and s["short"]:
        ctx.print("seats still empty: " + ", ".join(f"{category_label(c)} {n}"
                                                      for c, n in s["short"].items()))
        ctx.hint("  extend: mailworker recruit extend --until YYYY-MM-DD   "
                  "or close: mailworker recruit close")


def cmd_open(args, ctx) -> int:
    ctx.db()
    seats = recruitment.parse_seats(args.seats) if args.seats else None
    r = recruitment.start_round(ctx.cfg, ctx.clock, args.until, seats)
    _round_table(ctx, r)
    return 0


def cmd_status(args, ctx) -> int:
    ctx.db()
    r = recruitment.open_round() or recruitment.latest_round()
    if r is None:
        ctx.hint("no recruitment round yet: mailworker recruit open --until YYYY-MM-DD")
        return 0
    _round_table(ctx, r)
    apps = list(Application.select().where(Application.round == r).order_by(Application.id))
    if apps:
        ctx.print(render(["#", "received", "name", "email", "category", "status"],
                         [[i, roster.local_text(a.received_at, ctx.cfg.tz), a.name or "-",
                           a.email, category_label(a.category) if a.category else "?",
                           a.status] for i, a in enumerate(apps, 1)],
                         limits={2: 20, 3: 40}))
    return 0


def cmd_extend(args, ctx) -> int:
    ctx.db()
    r = recruitment.extend_round(ctx.cfg, ctx.clock, args.until)
    _round_table(ctx, r)
    return 0


def cmd_close(args, ctx) -> int:
    ctx.db()
    result = recruitment.close_round(ctx.clock)
    ctx.print(f"round #{result.round.id} closed")
    ctx.print(render(["분야 category", "selected", "waitlisted"],
                     [[category_label(c), result.selected[c], result.waitlisted[c]]
                      for c in CATEGORIES]))
    if result.incomplete:
        ctx.print(f"{result.incomplete} application(s) without name or category were not "
                  "placed")
    ctx.hint("next: mailworker recruit accept   (appoints the selected applicants)")
    return 0


def cmd_accept(args, ctx) -> int:
    ctx.db()
    result = recruitment.accept_round(ctx.cfg, ctx.clock)
    ctx.print(f"{len(result.appointed)} new member(s) appointed; appointment mail queued")
    for problem in result.problems:
        ctx.print(f"  not appointed: {problem}")
    return 2 if result.problems else 0


def cmd_seats(args, ctx) -> int:
    ctx.db()
    rows = roster.seats()
    ctx.print(render(["분야 category", "quota", "filled", "vacant", "waitlisted",
                      "offers"],
                     [[category_label(r.category), r.quota, r.filled, r.vacant, r.waitlisted,
                       r.offers] for r in rows]))
    ctx.print(f"total: {sum(r.filled for r in rows)} of {sum(r.quota for r in rows)} seats "
              f"filled, {sum(r.vacant for r in rows)} vacant")
    return 0


def cmd_resign(args, ctx) -> int:
    ctx.db()
    actor = audit.cli_actor()
    if not args.confirm:
        done = vacancies.resign(ctx.cfg, ctx.clock, args.email, False, actor)
        m = done.member
        asked = (", ".join(f"#{q.id} {roster.local_text(q.received_at, ctx.cfg.tz)}"
                           for q in done.requests) or "no resignation mail waiting")
        ctx.print(f"{m.display_name} ({category_label(m.category)}, {m.status}): request "
                  f"{asked}; {done.totals['total_hours']} hour(s) credited")
        ctx.hint(f"to confirm: mailworker members resign {args.email} --confirm")
        return 0
    with db_proxy.atomic():
        done = vacancies.resign(ctx.cfg, ctx.clock, args.email, True, actor)
        m = done.member
        audit.record(ctx.clock, actor=actor, how="cli", action="member.resign_confirm",
                     item=f"{m.display_name} <{m.primary_address}>",
                     reason=m.status_reason or "", detail="active → resigned; seat vacant")
    ctx.print(f"{m.display_name} resigned; {done.totals['total_hours']} hour(s) in total; "
              "confirmation mail queued")
    ctx.print(f"a {category_label(m.category)} seat is vacant; " + _offer_note(ctx))
    return 0


def _offer_note(ctx) -> str:
    summary = vacancies.vacancy_step(ctx.cfg, ctx.clock)
    return summary or ("nobody waits for it: announce a new call (mailworker notice send "
                       "--template recruitment_call --to all --var last_day=YYYY-MM-DD --var "
                       "seats=...) and open a round (mailworker recruit open --until ...)")


def cmd_purge(args, ctx) -> int:
    ctx.db()
    p = purge_mod.plan(ctx.cfg, ctx.clock)
    if not p:
        ctx.print("nothing to delete now")
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for app in p.applicants:
        ctx.print(f"{verb}: applicant {app.email} ({app.status}, round #{app.round_id} "
                  f"closed {roster.local_text(app.round.closed_at, ctx.cfg.tz, False)})")
    for member in p.members:
        ctx.print(f"{verb}: contact data of {member.display_name} ({member.status}); "
                  f"{purge_mod.kept_hours(member)} hour(s) kept under the pseudonym")
    if not args.dry_run:
        purge_mod.carry_out(ctx.cfg, ctx.clock, p)
    ctx.print(f"{len(p.applicants)} applicant(s), {len(p.members)} former member(s)"
              + (" — run without --dry-run to delete" if args.dry_run else ""))
    return 0
