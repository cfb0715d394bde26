"""What the worker has done and what is waiting: for `mailworker status` and the demo."""
from __future__ import annotations

import datetime as dt

import peewee as pw

from .db import state_get
from .models import HourCredit, LedgerEvent, Message, Outbox


def gather(cfg, ledger: dict) -> dict:
    """``ledger`` is the ledger's own status (``mailworker.ledger.status.ledger_status``),
    handed in by the command that wires the stages: the core does not import them."""
    dispositions = {d: n for d, n in
                    Message.select(Message.disposition, pw.fn.COUNT(Message.id))
                    .group_by(Message.disposition).tuples()}
    outbox = {s: n for s, n in Outbox.select(Outbox.status, pw.fn.COUNT(Outbox.id))
              .group_by(Outbox.status).tuples()}
    failed = [{"id": o.id, "to": o.to_addr, "template": o.template, "error": o.last_error}
              for o in Outbox.select().where(Outbox.status == "failed").order_by(Outbox.id)
              .limit(10)]
    last_fetch = state_get("last_fetch")
    return {
        "config": cfg.where,
        "inbox": cfg.inbox.path if cfg.inbox.type == "maildir"
        else f"imap://{cfg.inbox.host}:{cfg.inbox.port}/{cfg.inbox.mailbox}",
        "last_fetch": last_fetch,
        "messages": dispositions,
        "hours_credited": HourCredit.select(pw.fn.COALESCE(pw.fn.SUM(HourCredit.hours), 0))
        .scalar(),
        "outbox": outbox,
        "outbox_failed": failed,
        "ledger_pending": LedgerEvent.select().where(LedgerEvent.leaf_index.is_null()).count(),
        "ledger": ledger,
    }


def format_text(info: dict, tz) -> str:
    lines = [f"configuration: {info['config']}", f"inbox: {info['inbox']}"]
    if info["last_fetch"]:
        when = dt.datetime.fromisoformat(info["last_fetch"]).astimezone(tz)
        lines.append(f"last mail read: {when:%Y-%m-%d %H:%M:%S %Z}")
    else:
        lines.append("last mail read: never")
    msgs = info["messages"]
    lines.append(f"messages: {sum(msgs.values())} recorded"
                 + ("" if not msgs else " (" + ", ".join(f"{k} {v}" for k, v in
                                                         sorted(msgs.items())) + ")"))
    if msgs.get("triage"):
        lines.append(f"  {msgs['triage']} waiting for staff: mailworker triage list")
    lines.append(f"volunteer hours credited: {info['hours_credited']}")
    ob = info["outbox"]
    lines.append("outgoing mail: " + (", ".join(f"{k} {v}" for k, v in sorted(ob.items()))
                                      if ob else "none yet"))
    for f in info["outbox_failed"]:
        lines.append(f"  failed #{f['id']} {f['template']} to {f['to']}: {f['error']}")
    lines.append(f"ledger: {info['ledger_pending']} event(s) waiting to be appended")
    led = info["ledger"]
    lines.append(f"  size {led.get('size', 0)}, last checkpoint: "
                 f"{led.get('checkpoint_summary') or led.get('last_checkpoint') or 'none'}")
    for r in led.get("replicas", []):
        lines.append(f"  {r.get('name')}: size {r.get('size')}, lag {r.get('lag')}, "
                     f"{r.get('health')}")
    return "\n".join(lines)
