"""`mailworker ledger ...` sub-commands."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..commands import command
from ..errors import ConfigError


def register(sub) -> None:
    p = command(sub, "ledger", _need_action,
                "the four-replica Merkle ledger: append, status, verify, repair, receipts")
    actions = p.add_subparsers(dest="ledger_command", metavar="ACTION")
    actions.required = True

    command(actions, "init", _init, "create missing keys and replica stores; show the "
            "public keys for a production configuration")

    a = command(actions, "append", _append, "append pending events to the replicas now")
    a.add_argument("--max", type=int, default=None, metavar="N",
                   help="append at most N events")

    s = command(actions, "status", _status, "tree size, last checkpoint, replica health")
    s.add_argument("--json", action="store_true", help="print one JSON object")

    v = command(actions, "verify", _verify, "recompute and cross-check all replicas; "
                "exit status 1 if any disagrees")
    v.add_argument("--json", action="store_true", help="print one JSON object")

    r = command(actions, "repair", _repair, "rebuild one replica from the quorum")
    r.add_argument("replica", metavar="REPLICA", help="replica name, e.g. replica-3")

    rc = command(actions, "receipt", _receipt, "print the JSON receipt for a message")
    rc.add_argument("sha256", metavar="SHA256", help="the message's SHA-256 (64 hex digits)")
    rc.add_argument("-o", "--output", metavar="FILE", help="write the receipt to FILE")

    vr = command(actions, "verify-receipt", _verify_receipt,
                 "check a receipt offline with the replicas' public keys")
    vr.add_argument("file", metavar="FILE", help="receipt JSON file ('-' for standard input)")
    vr.add_argument("--keys", metavar="FILE", help="public keys, one per line (default: from "
                    "the configuration)")
    vr.add_argument("--quorum", type=int, default=None, metavar="N",
                    help="signatures needed (default: [ledger] quorum, or 3)")

    sv = command(actions, "serve", _serve, "run one replica as a small HTTP service")
    sv.add_argument("--replica", required=True, metavar="NAME",
                    help="replica name (or its number, 1-4)")
    sv.add_argument("--listen", default="127.0.0.1:8470", metavar="HOST:PORT",
                    help="address to listen on (default 127.0.0.1:8470)")


def _need_action(args, ctx) -> int:
    ctx.print("usage: mailworker ledger ACTION (see mailworker ledger --help)")
    return 2


def _init(args, ctx) -> int:
    from .bootstrap import init_ledger
    ctx.print(init_ledger(ctx.cfg).text())
    return 0


def _append(args, ctx) -> int:
    from .appender import append_pending
    ctx.db()
    result = append_pending(ctx.cfg, ctx.clock, args.max)
    ctx.print(result.message)
    for p in result.problems:
        ctx.print(f"  problem: {p}")
    return 1 if result.waiting else 0


def _status(args, ctx) -> int:
    from .status import format_status, ledger_status
    ctx.db()
    info = ledger_status(ctx.cfg)
    ctx.print(json.dumps(info, ensure_ascii=False, indent=2) if args.json
              else format_status(info))
    return 0


def _verify(args, ctx) -> int:
    from .audit import run_audit
    ctx.db()
    # A full audit: what it finds marks replicas damaged, or clears them (after a repair
    # done on another host).
    report = run_audit(ctx.cfg, ctx.clock)
    ctx.print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if args.json
              else report.text())
    return 0 if report.ok else 1


def _repair(args, ctx) -> int:
    from .audit import repair_replica
    ctx.db()
    report = repair_replica(ctx.cfg, args.replica, ctx.clock)
    ctx.print(report.text())
    return 0


def _receipt(args, ctx) -> int:
    from .receipt import build_receipt
    ctx.db()
    receipt = build_receipt(ctx.cfg, args.sha256)
    if receipt is None:
        print(f"mailworker: no receipt yet for {args.sha256}: the message is unknown or its "
              "ledger entry is not yet under a quorum checkpoint (try after the next "
              "`mailworker ledger append`)", file=ctx.err)
        return 1
    text = json.dumps(receipt, ensure_ascii=False, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        ctx.print(f"receipt written to {args.output}")
    else:
        ctx.out.write(text)
    return 0


def _verify_receipt(args, ctx) -> int:
    from .errors import ReceiptError
    from .keys import read_keys_file
    from .layout import verifiers
    from .receipt import verify_receipt
    try:
        raw = sys.stdin.read() if args.file == "-" else \
            Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReceiptError(f"{args.file}: cannot read the receipt: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ReceiptError(f"{args.file}: the receipt is not UTF-8 text") from None
    try:
        receipt = json.loads(raw)
    except ValueError as exc:
        raise ReceiptError(f"{args.file}: not a JSON receipt ({exc})") from None
    cfg = _optional_cfg(ctx) if args.keys else ctx.cfg
    keys = read_keys_file(Path(args.keys)) if args.keys else verifiers(cfg)
    quorum = args.quorum or (cfg.ledger.quorum if cfg is not None else 3)
    origin = cfg.ledger.origin if cfg is not None else None
    info = verify_receipt(receipt, keys, quorum, origin)
    ctx.print(f"receipt OK: leaf {info['leaf_index']} of {info['tree_size']} in "
              f"{info['origin']}, checkpoint signed by {', '.join(info['signers'])}"
              + (f"; message {info['msg_sha256']}" if info.get("msg_sha256") else ""))
    return 0


def _optional_cfg(ctx):
    """The configuration if there is one; a member checking a receipt may have none."""
    try:
        return ctx.cfg
    except ConfigError as exc:
        if "no configuration found" in str(exc):
            return None
        raise


def _serve(args, ctx) -> int:
    from .server import serve
    name = args.replica if not args.replica.isdigit() else f"replica-{args.replica}"
    return serve(ctx.cfg, name, args.listen, ctx)
