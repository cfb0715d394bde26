"""A member's own record, filled into self-service answers when they are sent.

``hours_statement``: the member's credited contributions (date, kind, subject, hours,
receipt number) for this half-year, with the half-year's and the all-time totals.
``member_receipts``: the ledger receipts of the member's credited contributions, as JSON
attachments (those whose leaf is not under a quorum checkpoint yet are counted, not
waited for: the member asked for what exists).
Both are read when the mail goes out, so the answer is as current as the database.
"""
from __future__ import annotations

import datetime as dt
import json

from ..clock import half_year_start, local_day_bounds_utc, to_utc
from ..ledger.merkle import LedgerError
from ..ledger.receipt import ReceiptSource
from ..models import HourCredit, Member, Message

MAX_RECEIPTS = 50          # attachments in one mail; the newest first
MAX_ROWS = 200             # statement lines in one mail


def _member(member_id: int) -> Member:
    return Member.get_by_id(member_id)


def hours_statement(cfg, member_id: int, now: dt.datetime) -> dict:
    """Template values: ``rows`` (this half-year), ``half_year_hours``, ``total_hours``,
    ``total_count``, ``half_year_start``."""
    tz = cfg.tz
    start_day = half_year_start(now, tz)
    start, _ = local_day_bounds_utc(start_day, tz)
    credits = list(HourCredit.select(HourCredit, Message).join(Message)
                   .where(HourCredit.member == _member(member_id))
                   .order_by(HourCredit.credited_at))
    rows = []
    for c in credits:
        if c.credited_at >= start:
            rows.append({"date": to_utc(c.credited_at).astimezone(tz).strftime("%Y-%m-%d"),
                         "kind": c.kind, "subject": c.message.subject, "hours": c.hours,
                         "receipt": c.message.sha256[:12]})
    return {"rows": rows[-MAX_ROWS:], "rows_omitted": max(0, len(rows) - MAX_ROWS),
            "half_year_hours": sum(r["hours"] for r in rows),
            "total_hours": sum(c.hours for c in credits), "total_count": len(credits),
            "half_year_start": start_day.isoformat()}


def member_receipts(cfg, member_id: int, receipts: ReceiptSource | None
                    ) -> tuple[list[tuple[bytes, str, str, str]], dict]:
    """(attachments, template values ``receipts_attached``, ``receipts_pending``)."""
    shas = [m.sha256 for m in Message.select(Message.sha256).join(
        HourCredit, on=(HourCredit.message == Message.id))
        .where(HourCredit.member == _member(member_id))
        .order_by(HourCredit.credited_at.desc()).limit(MAX_RECEIPTS)]
    own = receipts is None
    source = receipts or ReceiptSource(cfg)
    attachments, pending = [], 0
    try:
        for sha in shas:
            try:
                receipt = source.build(sha)
            except LedgerError:
                receipt = None
            if receipt is None:
                pending += 1
                continue
            data = json.dumps(receipt, ensure_ascii=False, indent=2, sort_keys=True).encode()
            attachments.append((data, "application", "json", f"receipt-{sha[:12]}.json"))
    finally:
        if own:
            source.close()
    return attachments, {"receipts_attached": len(attachments), "receipts_pending": pending}
