"""Registering hours with the volunteer centre (봉사시간 실적 등록): export batches.

Volunteer centres register hours per activity, with its date, within a limited time after
it. An export batch holds every credited activity not exported before (``HourExportRow``
is unique per message, so no activity is ever in two batches) plus, once, each exported
activity whose credit was withdrawn since (a correction for the centre). A batch can be
written again at any time from what was stored, unchanged.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from ..clock import Clock, local_day_bounds_utc, naive_utc, to_utc
from ..csvfile import safe_row, write_csv
from ..errors import MailworkerError, NotFound
from ..models import (HourCredit, HourExport, HourExportCorrection, HourExportRow, Member,
                      Message, db_proxy)

KIND_KO = {"review": "품평", "proposal": "제안"}
SUBJECT_CHARS = 40
HEADER = ["구분", "이름", "봉사포털ID", "활동일", "봉사시간", "활동종류", "제목",
          "참조(메시지 해시)", "배치"]
ACTION_REGISTER = "등록"
ACTION_WITHDRAW = "취소"


class ExportError(MailworkerError):
    """An export cannot be made or written as asked."""


def short_subject(subject: str) -> str:
    subject = " ".join((subject or "").split())
    return subject if len(subject) <= SUBJECT_CHARS else subject[:SUBJECT_CHARS - 1] + "…"


def _window(since: dt.date | None, until: dt.date | None, tz):
    cond = HourCredit.id.is_null(False)
    if since is not None:
        cond &= Message.received_at >= local_day_bounds_utc(since, tz)[0]
    if until is not None:
        cond &= Message.received_at < local_day_bounds_utc(until, tz)[1]
    return cond


def unexported(since: dt.date | None, until: dt.date | None, tz):
    """Credited activity (credit, message, member) in the window that no batch holds."""
    exported = HourExportRow.select(HourExportRow.message)
    return (HourCredit.select(HourCredit, Message, Member).join(Message)
            .switch(HourCredit).join(Member)
            .where(_window(since, until, tz) & Message.id.not_in(exported))
            .order_by(Message.received_at, Message.id))


def withdrawn_since_export():
    """Exported rows whose credit no longer exists and that no batch corrected yet."""
    credited = HourCredit.select(HourCredit.message)
    corrected = HourExportCorrection.select(HourExportCorrection.row)
    return (HourExportRow.select().where(HourExportRow.message.not_in(credited)
                                         & HourExportRow.id.not_in(corrected))
            .order_by(HourExportRow.id))


@dataclass
class BatchView:
    batch: HourExport
    rows: list[HourExportRow]
    corrections: list[HourExportRow]


def create_export(cfg, clock: Clock, since: dt.date | None, until: dt.date | None
                  ) -> BatchView | None:
    """A new batch of what is not exported yet (None when there is nothing new)."""
    if since and until and since > until:
        raise ExportError(f"--since {since} is after --until {until}")
    tz = cfg.tz
    now = naive_utc(clock.now())
    with db_proxy.atomic():
        fresh = list(unexported(since, until, tz))
        withdrawn = list(withdrawn_since_export())
        if not fresh and not withdrawn:
            return None
        batch = HourExport.create(created_at=now, since=since, until=until)
        rows = []
        for credit in fresh:
            message, member = credit.message, credit.member
            rows.append(HourExportRow.create(
                batch=batch, message=message, member=member, name=member.display_name,
                volunteer_id=member.volunteer_id or "",
                activity_date=to_utc(message.received_at).astimezone(tz).date(),
                hours=credit.hours, kind=credit.kind, subject=short_subject(message.subject),
                sha256=message.sha256))
        for row in withdrawn:
            HourExportCorrection.create(batch=batch, row=row)
        batch.rows, batch.corrections = len(rows), len(withdrawn)
        batch.save()
    return BatchView(batch, rows, withdrawn)


def get_batch(batch_id: int) -> BatchView:
    batch = HourExport.get_or_none(HourExport.id == batch_id)
    if batch is None:
        raise NotFound(f"no export batch #{batch_id}; see `mailworker hours batches`")
    rows = list(HourExportRow.select().where(HourExportRow.batch == batch)
                .order_by(HourExportRow.activity_date, HourExportRow.id))
    corrections = list(HourExportRow.select().join(
        HourExportCorrection, on=(HourExportCorrection.row == HourExportRow.id))
        .where(HourExportCorrection.batch == batch).order_by(HourExportRow.id))
    return BatchView(batch, rows, corrections)


def list_batches() -> list[HourExport]:
    return list(HourExport.select().order_by(HourExport.id))


def table_rows(view: BatchView) -> list[list]:
    """The batch as the centre's rows: registrations, then withdrawals of earlier ones."""
    out = []
    for action, rows in ((ACTION_REGISTER, view.rows), (ACTION_WITHDRAW, view.corrections)):
        for r in rows:
            out.append([action, r.name, r.volunteer_id, r.activity_date.isoformat(), r.hours,
                        KIND_KO.get(r.kind, r.kind), r.subject, r.sha256, r.batch_id])
    return out


def write_batch_csv(view: BatchView, out) -> None:
    write_csv(out, HEADER, table_rows(view))


def write_batch_xlsx(view: BatchView, path: Path) -> None:
    """The same rows as an Excel workbook (cells that look like formulas stay text)."""
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.title = f"batch {view.batch.id}"
    ws.append(safe_row(HEADER))
    for row in table_rows(view):
        ws.append(safe_row(row))
    try:
        wb.save(str(path))
    except OSError as exc:
        raise ExportError(f"{path}: cannot write the workbook: {exc.strerror}") from None


@dataclass
class Backlog:
    count: int
    hours: int
    oldest: dt.date | None


def unexported_backlog(cfg, now: dt.datetime) -> Backlog:
    """Credited activity older than ``[group] registration_warn_days`` not exported yet."""
    tz = cfg.tz
    days = cfg.group.registration_warn_days
    cutoff = to_utc(now).astimezone(tz).date() - dt.timedelta(days=days)
    rows = list(unexported(None, cutoff - dt.timedelta(days=1), tz))
    if not rows:
        return Backlog(0, 0, None)
    return Backlog(len(rows), sum(c.hours for c in rows),
                   to_utc(rows[0].message.received_at).astimezone(tz).date())
