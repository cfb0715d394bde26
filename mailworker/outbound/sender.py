"""Draining the outbox: the only place mail leaves mailworker.

One pass takes the rows that are due (pending, ``not_before`` passed, their ``after`` row
sent), renders each, and hands it to the transport. Per row:

- claim it first (``attempts + 1`` and a lease on ``not_before``, committed), so a crash
  counts as an attempt and a second worker does not take the same row;
- send; then mark it sent. A crash between the two re-sends the *same* message later
  (same Message-ID, same content), which mail clients merge;
- 4xx replies and network trouble: retry after ``retry_base_seconds * 2^(n-1)`` with jitter,
  until ``max_attempts``; 5xx: failed at once, the server's reply kept in ``last_error``;
- a mail larger than the server's advertised SIZE fails before sending, saying both sizes.

At most ``rate_per_minute`` mails go to an SMTP relay in any minute (counted from the
rows' ``sent_at``, so restarts do not reset it). Nothing here raises for SMTP or network
trouble; only configuration and secret errors (``MailworkerError``) come out.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
from dataclasses import dataclass


from ..clock import Clock, naive_utc, to_utc
from ..errors import NotFound, MailworkerError
from ..ledger.receipt import ReceiptSource
from ..models import LedgerEvent, Outbox, db_proxy
from ..safetext import without_addresses
from .compose import RECEIPT_WAIT_NOTE, ComposeError, Deferred, prepare
from .packages import human_size
from .templates import TemplateError, renderer_for
from .transport import SendFailure, Transport, make_transport

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 6 * 3600.0
RATE_WINDOW = dt.timedelta(seconds=60)


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0          # temporary failures that will be tried again
    failed: int = 0           # given up this pass (5xx, too big, too many tries, bad row)
    waiting: int = 0          # rows still pending after this pass
    rate_limited: bool = False
    next_slot: dt.datetime | None = None   # when the rate limit lets the next mail go
    message: str = ""


def retry_delay(attempt: int, base_seconds: float, rng: random.Random) -> float:
    """Seconds before try ``attempt + 1``: exponential, with "equal jitter" in [d/2, d]."""
    d = min(MAX_RETRY_DELAY, base_seconds * 2 ** max(0, attempt - 1))
    return d / 2 + rng.uniform(0, d / 2)


def drain_outbox(cfg, clock: Clock, limit: int | None = None, *,
                 transport: Transport | None = None,
                 rng: random.Random | None = None) -> DrainResult:
    """One pass over due rows. The database must be open (``db.open_from_config``)."""
    rng = rng or random.Random()
    now = to_utc(clock.now())
    stored_now = naive_utc(now)
    result = DrainResult()
    renderer = renderer_for(cfg)
    transport = transport or make_transport(cfg)
    budget = limit if limit is not None else float("inf")
    if transport.rate_limited:
        recent = (Outbox.select()
                  .where((Outbox.status == "sent") & (Outbox.sent_at > stored_now - RATE_WINDOW))
                  .count())
        allowance = cfg.outgoing.rate_per_minute - recent
        if allowance < budget:
            budget = max(0, allowance)
            result.rate_limited = True
    due_ids = [r.id for r in Outbox.select(Outbox.id)
               .where((Outbox.status == "pending") & (Outbox.not_before <= stored_now))
               .order_by(Outbox.id)]
    early = receipt_ready_early(stored_now)
    due_ids = sorted(set(due_ids) | early)
    opened = False
    # The ledger is opened at the first receipt of the pass and serves all of them.
    receipts = ReceiptSource(cfg)
    try:
        for position, row_id in enumerate(due_ids):
            if result.sent >= budget:
                break
            row = Outbox.get_or_none(Outbox.id == row_id)
            if (row is None or row.status != "pending"
                    or (row.not_before > stored_now and row_id not in early)):
                continue
            if not _predecessor_ready(row, stored_now):
                continue
            if row.attempts >= cfg.outgoing.max_attempts:
                # Only a try that never finished (the worker died while sending) gets here.
                _give_up(row, f"gave up after {row.attempts} tries; the last one did not "
                              f"finish (the worker stopped while sending); last note: "
                              f"{row.last_error or 'none'}", stored_now, result)
                continue
            try:
                prepared = prepare(cfg, row, now, renderer, receipts)
            except (ComposeError, TemplateError) as exc:
                _give_up(row, str(exc), stored_now, result)
                continue
            except MailworkerError:
                raise       # configuration or secrets: nothing can go out, staff must act
            except Exception as exc:  # noqa: BLE001 - one row's data must not stop the drain
                _give_up(row, f"this mail could not be built from the stored row "
                              f"({type(exc).__name__}: {exc}); nothing was sent, the other "
                              f"mails went on", stored_now, result,
                         logged=f"could not be built ({type(exc).__name__})")
                continue
            if isinstance(prepared, Deferred):
                (Outbox.update(not_before=naive_utc(prepared.until), last_error=prepared.why)
                 .where(Outbox.id == row.id).execute())
                continue
            if not opened:
                try:
                    transport.open()
                    opened = True
                except SendFailure as exc:
                    # Nothing can go out now: every row that was due shares this try.
                    for other_id in due_ids[position:]:
                        other = Outbox.get_or_none(Outbox.id == other_id)
                        if (other is not None and other.status == "pending"
                                and other.not_before <= stored_now
                                and _predecessor_ready(other, stored_now)):
                            _temporary(cfg, other, other.attempts + 1, exc, stored_now,
                                       rng, result)
                    break
            if not _fits(transport, row, prepared.data, stored_now, result):
                continue
            attempt = row.attempts + 1
            lease = dt.timedelta(seconds=3 * cfg.outgoing.timeout_seconds + 60)
            claimed = (Outbox.update(attempts=attempt, not_before=stored_now + lease)
                       .where((Outbox.id == row.id) & (Outbox.status == "pending")
                              & (Outbox.attempts == row.attempts))
                       .execute())
            if not claimed:
                continue  # another worker took it
            try:
                notes = transport.send(prepared.envelope_from, prepared.recipients,
                                       prepared.data, row.message_id)
            except SendFailure as exc:
                _temporary(cfg, row, attempt, exc, stored_now, rng, result)
                if exc.connection:
                    break
                continue
            _mark_sent(cfg, row, stored_now, notes + prepared.notes,
                       hashlib.sha256(prepared.data).hexdigest())
            result.sent += 1
    finally:
        receipts.close()
        if opened:
            transport.close()
    result.waiting = Outbox.select().where(Outbox.status == "pending").count()
    still_due = (Outbox.select().where((Outbox.status == "pending")
                                       & (Outbox.not_before <= stored_now)).exists())
    if result.rate_limited and result.sent >= budget and still_due:
        oldest = (Outbox.select(Outbox.sent_at)
                  .where((Outbox.status == "sent") & (Outbox.sent_at > stored_now - RATE_WINDOW))
                  .order_by(Outbox.sent_at).first())
        result.next_slot = to_utc(oldest.sent_at + RATE_WINDOW) if oldest else now
    else:
        result.rate_limited = False
    result.message = _summary(result, cfg)
    return result


def receipt_ready_early(stored_now: dt.datetime) -> set[int]:
    """Rows put off to wait for a ledger receipt whose leaves have been appended since.

    The recheck time of a deferred row is a guess; once the ledger append has run (a staff
    `triage accept` followed by `ledger append`, or the service's ledger step) the row is
    due at once instead of waiting out its retry time with a stale note."""
    ready: set[int] = set()
    waiting = (Outbox.select(Outbox.id, Outbox.attachments)
               .where((Outbox.status == "pending") & (Outbox.not_before > stored_now)
                      & Outbox.last_error.startswith(RECEIPT_WAIT_NOTE)))
    for row in waiting:
        keys = [f"contribution:{a['msg_sha256']}" for a in row.attachments
                if a.get("kind") == "ledger_receipt" and a.get("msg_sha256")]
        appended = (LedgerEvent.select().where(LedgerEvent.dedup_key.in_(keys)
                                               & LedgerEvent.leaf_index.is_null(False)).count()
                    if keys else 0)
        if keys and appended == len(keys):
            ready.add(row.id)
    return ready


def _predecessor_ready(row: Outbox, stored_now: dt.datetime) -> bool:
    """Rows with ``after`` wait for that row to be sent; a cancelled one cancels them."""
    if row.after_id is None:
        return True
    before = Outbox.get_or_none(Outbox.id == row.after_id)
    if before is not None and before.status == "sent":
        return True
    if before is None or before.status == "cancelled":
        (Outbox.update(status="cancelled",
                       last_error=f"not sent: the mail it follows (#{row.after_id}) "
                                  "was cancelled")
         .where(Outbox.id == row.id).execute())
        log.warning("outbox #%d cancelled: the mail it follows (#%s) was cancelled",
                    row.id, row.after_id)
    return False


def _fits(transport: Transport, row: Outbox, data: bytes, stored_now, result) -> bool:
    limit = transport.size_limit()
    if limit is None or len(data) <= limit:
        return True
    _give_up(row, f"too big for {transport.description}: the mail is {human_size(len(data))} "
                  f"({len(data):,} bytes) but the server accepts at most {human_size(limit)} "
                  f"({limit:,} bytes, its SIZE limit); nothing was sent",
             stored_now, result)
    return False


def _temporary(cfg, row: Outbox, attempt: int, exc: SendFailure, stored_now, rng,
               result: DrainResult) -> None:
    if not exc.temporary or attempt >= cfg.outgoing.max_attempts:
        why = str(exc) if not exc.temporary else (
            f"gave up after {attempt} tries; last: {exc}")
        (Outbox.update(status="failed", attempts=attempt, last_error=why)
         .where(Outbox.id == row.id).execute())
        result.failed += 1
        log.warning("outbox #%d (%s) failed: %s", row.id, row.template,
                    without_addresses(why))
        return
    delay = retry_delay(attempt, cfg.outgoing.retry_base_seconds, rng)
    (Outbox.update(attempts=attempt, last_error=str(exc),
                   not_before=stored_now + dt.timedelta(seconds=delay))
     .where(Outbox.id == row.id).execute())
    result.retried += 1
    log.info("outbox #%d (%s): %s; try %d in %.0f s", row.id, row.template,
             without_addresses(str(exc)), attempt + 1, delay)


def _give_up(row: Outbox, why: str, stored_now, result: DrainResult,
             logged: str | None = None) -> None:
    """``logged``: what the log says instead of ``why`` when ``why`` may quote stored
    personal data (the full reason stays in ``last_error`` for staff)."""
    Outbox.update(status="failed", last_error=why[:2000]).where(Outbox.id == row.id).execute()
    result.failed += 1
    log.error("outbox #%d (%s) failed: %s", row.id, row.template,
              logged or without_addresses(why))


def _mark_sent(cfg, row: Outbox, stored_now, notes: list[str], sha256: str) -> None:
    with db_proxy.atomic():
        (Outbox.update(status="sent", sent_at=stored_now, last_error="; ".join(notes),
                       sent_sha256=sha256)
         .where(Outbox.id == row.id).execute())
        if row.template == "package":
            from .packages import record_sent_package
            record_sent_package(row, stored_now)
    log.info("outbox #%d (%s) sent", row.id, row.template)


def _summary(r: DrainResult, cfg) -> str:
    text = f"sent {r.sent}, retrying {r.retried}, failed {r.failed}, waiting {r.waiting}"
    if r.rate_limited:
        text += f" (rate limit {cfg.outgoing.rate_per_minute}/min reached)"
    return text


# --- staff actions ---------------------------------------------------------------------

def get_row(row_id: int) -> Outbox:
    row = Outbox.get_or_none(Outbox.id == row_id)
    if row is None:
        raise NotFound(f"outbox row #{row_id} does not exist (see: mailworker outbox list)")
    return row


def retry_row(row_id: int, clock: Clock) -> Outbox:
    """Put a failed (or cancelled, or waiting) row back in line to go out now."""
    row = get_row(row_id)
    if row.status == "sent":
        raise OutboxStateError(f"outbox row #{row_id} was already sent at "
                               f"{to_utc(row.sent_at):%Y-%m-%d %H:%M} UTC; nothing to retry")
    (Outbox.update(status="pending", attempts=0, not_before=naive_utc(clock.now()),
                   last_error=f"retry asked by staff; before: {row.last_error}"[:2000])
     .where(Outbox.id == row_id).execute())
    return get_row(row_id)


def cancel_row(row_id: int) -> Outbox:
    row = get_row(row_id)
    if row.status == "sent":
        raise OutboxStateError(f"outbox row #{row_id} was already sent; it cannot be "
                               "cancelled")
    if row.status != "cancelled":
        (Outbox.update(status="cancelled", last_error=f"cancelled by staff; {row.last_error}"
                       [:2000]).where(Outbox.id == row_id).execute())
    return get_row(row_id)


class OutboxStateError(MailworkerError):
    """The row is not in a state that allows what was asked."""


# --- keeping the outbox small ----------------------------------------------------------

# Rows whose values later work reads again: a package's (the ledger event, a password
# sent again on request) and its password mail's. Small, one per member and release.
KEEP_CONTEXT = ("package", "package_password")


def prune_sent(cfg, clock: Clock) -> int:
    """Clear the template values of mail sent more than ``[outgoing] keep_sent_days``
    ago (a member's excerpt, names, statements); the row keeps its key, template,
    recipient, Message-ID, status, times and the SHA-256 of the bytes sent. Returns how
    many rows were cleared."""
    days = cfg.outgoing.keep_sent_days
    if days <= 0:
        return 0
    stored_now = naive_utc(clock.now())
    cleared = (Outbox.update(context={}, attachments=[], pruned_at=stored_now)
               .where((Outbox.status == "sent")
                      & (Outbox.sent_at < stored_now - dt.timedelta(days=days))
                      & Outbox.pruned_at.is_null()
                      & Outbox.template.not_in(KEEP_CONTEXT))
               .execute())
    if cleared:
        log.info("outbox: template values of %d mail(s) sent over %d days ago cleared "
                 "([outgoing] keep_sent_days)", cleared, days)
    return cleared
