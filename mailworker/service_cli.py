"""Sub-commands for the worker itself: run, status, demo."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from .commands import command

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = command(sub, "run", cmd_run, "run the worker (the systemd service runs this)")
    p.add_argument("--once", action="store_true", help="one pass over everything, then exit")
    p = command(sub, "status", cmd_status, "what was done, what is waiting, replica health")
    p.add_argument("--json", action="store_true")
    p = command(sub, "demo", cmd_demo,
                "try mailworker on embedded defaults: a local demo inbox under var/demo/")
    p.add_argument("--dir", default="var/demo", help="demo workspace (default: var/demo)")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--wide", action="store_true",
                       help="show subjects and reasons in full (default: fit the terminal)")
    shown.add_argument("--json", action="store_true",
                       help="one JSON object per mail instead of the table")


def cmd_run(args, ctx) -> int:
    from .service import Service
    from .commands import setup_logging
    cfg = ctx.cfg
    setup_logging(args.verbose, cfg.general.log_level)
    ctx.db()
    service = Service(cfg, ctx.clock)
    if args.once:
        report = service.run_once()
        ctx.print(f"inbox: {report.ingest.summary()}")
        if report.ledger:
            ctx.print(f"ledger: {report.ledger}")
        if report.outbox:
            ctx.print(f"outgoing mail: {report.outbox}")
        for err in report.errors:
            ctx.print(f"problem: {err}")
        return 1 if report.errors else 0
    service.run_forever()
    return 0


def cmd_status(args, ctx) -> int:
    from .ledger.status import ledger_status
    from .status import format_text, gather
    ctx.db()
    info = gather(ctx.cfg, ledger_status(ctx.cfg))
    if args.json:
        ctx.print(json.dumps(info, ensure_ascii=False, default=str))
    else:
        ctx.print(format_text(info, ctx.cfg.tz))
    return 0


def cmd_demo(args, ctx) -> int:
    from .demo import run_demo
    return run_demo(Path(args.dir), ctx, wide=args.wide, as_json=args.json)
