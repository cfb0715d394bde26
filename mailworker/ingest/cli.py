"""Sub-commands for inbound mail: inspect, triage."""
from __future__ import annotations

import getpass
import os

from ..commands import command, command_group
from ..clock import to_utc
from ..table import render


def register(sub) -> None:
    p = command(sub, "inspect", cmd_inspect,
                "classify .eml files without touching any database")
    p.add_argument("--json", action="store_true", help="one JSON object per file per line")
    p.add_argument("files", nargs="+", metavar="FILE")

    tsub = command_group(sub, "triage", "messages waiting for a staff decision",
                         "Messages the classifier was unsure of. Accept credits one hour and "
                         "answers the member; reject keeps your reason.")
    command(tsub, "list", cmd_triage_list, "list messages waiting in triage")
    a = command(tsub, "accept", cmd_triage_accept, "credit a triage message as review/proposal")
    a.add_argument("id", type=int)
    a.add_argument("--as", dest="as_kind", required=True, choices=["review", "proposal"])
    a.add_argument("--by", default=None, help="staff name recorded with the decision "
                   "(default: your login name)")
    r = command(tsub, "reject", cmd_triage_reject, "reject a triage message; the reason is "
                "kept and mailed to the member (for a question: your answer)")
    r.add_argument("id", type=int)
    r.add_argument("--reason", required=True, help="mailed to the member as written")
    r.add_argument("--by", default=None)


def cmd_inspect(args, ctx) -> int:
    from .inspect import run_inspect
    return run_inspect(args.files, args.json, ctx.out)


def _staff(args) -> str:
    if args.by:
        return args.by
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "staff"


def _item(msg) -> str:
    who = msg.member.display_name if msg.member_id else (msg.sender or "(no sender)")
    return f"#{msg.id} {who} — {msg.subject}"


def cmd_triage_list(args, ctx) -> int:
    from .triage import pending
    ctx.db()
    rows = pending()
    if not rows:
        ctx.print("Nothing is waiting in triage.")
        return 0
    tz = ctx.cfg.tz
    ctx.print(render(
        ["ID", "received", "from", "member", "subject", "why"],
        [[m.id, to_utc(m.received_at).astimezone(tz).strftime("%m-%d %H:%M"), m.sender,
          m.member.display_name if m.member else "(not a member)", m.subject, m.reason]
         for m in rows], {2: 28, 4: 36, 5: 50}))
    ctx.hint(f"\n{len(rows)} waiting. Decide with:\n"
              "  mailworker triage accept ID --as review|proposal\n"
              "  mailworker triage reject ID --reason \"...\"")
    return 0


def cmd_triage_accept(args, ctx) -> int:
    from .. import audit
    from ..ledger.keys import pseudonym_key
    from ..models import db_proxy
    from .triage import accept
    ctx.db()
    key = pseudonym_key(ctx.cfg)
    with db_proxy.atomic():      # the decision and its audit entry commit together
        msg = accept(ctx.cfg, ctx.clock, args.id, args.as_kind, _staff(args), key)
        audit.record(ctx.clock, actor=audit.cli_actor(args.by), how="cli",
                     action=f"triage.accept_{args.as_kind}", item=_item(msg),
                     detail=msg.reason, hours=1, member_uuid=msg.member.uuid,
                     msg_sha256=msg.sha256, pseudonym_key=key)
    ctx.print(f"#{msg.id} accepted as {msg.kind}: 1 hour credited to "
              f"{msg.member.display_name}; acknowledgement queued.")
    return 0


def cmd_triage_reject(args, ctx) -> int:
    from .. import audit
    from ..models import Outbox, db_proxy
    from .triage import reject
    ctx.db()
    with db_proxy.atomic():
        msg = reject(ctx.cfg, ctx.clock, args.id, args.reason, _staff(args))
        audit.record(ctx.clock, actor=audit.cli_actor(args.by), how="cli",
                     action="triage.reject", item=_item(msg), reason=args.reason.strip(),
                     detail=msg.reason)
    mailed = msg.member is not None and Outbox.get_or_none(
        Outbox.key == f"decided:{msg.sha256}") is not None
    ctx.print(f"#{msg.id} rejected: {msg.reason}"
              + ("; the reason is queued to the member." if mailed else "."))
    return 0
