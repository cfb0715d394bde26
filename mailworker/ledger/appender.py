"""The appender: moves pending ``ledger_event`` rows onto the four replicas.

One round, in order:

1. Open every reachable replica; find the newest quorum checkpoint (the *tip*).
2. Replicas that are behind the tip catch up by copying the missing leaves from one that
   holds the tip, and only count once their root equals the tip's root.
3. Leaves beyond the tip that some replicas already hold (a crash after appending but
   before the quorum signed) are matched back to their pending events by leaf data; they
   are appended again by nobody: the next batch starts with them.
4. Append a batch of pending events (in id order) to every usable replica; each checks
   and signs the new checkpoint. With at least ``quorum`` signatures the events are
   marked (leaf_index, appended_at) in the same main-database transaction that stores the
   checkpoint, and the checkpoint is handed to the replicas.

Every step can be killed at any point: the replica stores commit each append atomically,
signatures are deterministic (Ed25519), and the main database only says "appended" once
a quorum checkpoint covers the leaf. A rerun therefore finds the same tree, appends no
leaf twice and misses none. With fewer than ``quorum`` usable replicas nothing is
appended: the events wait in the queue and the result says why.

The parts: ``catchup`` (step 2), ``batches`` (steps 3 and 4: which events go next and
every replica's plan, with the packer thread), ``fanout`` (the replicas write and sign at
once), ``recorder`` (the main database records a batch on its own thread while the
replicas write the next one) and ``pending`` (the events in the main database). This
module runs the round: who takes part, and when a batch counts.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .. import models
from ..clock import Clock, naive_utc
from ..db import state_set
from ..errors import DatabaseError
from ..events import utc_stamp
from . import checkpoint as cp_mod
from .batches import Batch, BatchPlanner
from .catchup import CATCH_UP_CHUNK, sync_replicas
from .damage import mark_damaged
from .errors import CheckpointError, LedgerProblem, ReplicaCorrupt, ReplicaDamaged
from .fanout import Outcome, ReplicaFanout
from .handle import STATE_KEY, LedgerHandle, Tip, ledger_lock, main_db_note, open_ledger
from .merkle import LedgerError
from .pending import Queued, match_pending, pending_count
# Called by this name, so that the crash tests can stop the process inside the
# main-database transaction.
from .pending import mark_appended as _mark
from .recorder import BatchRecorder
from .replica import Replica

log = logging.getLogger(__name__)


@dataclass
class AppendResult:
    appended: int = 0           # events committed at quorum in this run
    pending: int = 0            # events still waiting
    size: int = 0               # tree size of the newest quorum checkpoint
    replicas_ok: int = 0        # replicas that hold and signed the newest checkpoint
    message: str = ""
    checkpoint: str | None = None
    waiting: bool = False       # True when appends wait for replicas to come back
    problems: list[str] = field(default_factory=list)


def append_pending(cfg, clock: Clock, max_events: int | None = None) -> AppendResult:
    """Append pending ledger events. Never raises because replicas are down: the result
    says how many replicas answered and the events stay queued. The main database must
    be open (``mailworker.db.open_from_config``)."""
    if models.db_proxy.obj is None:
        raise DatabaseError("the ledger appender needs the main database open "
                            "(mailworker.db.open_from_config)")
    with ledger_lock(cfg) as got:
        if not got:
            return AppendResult(pending=pending_count(), message=(
                "another ledger append or repair is running; events stay queued"))
        handle = open_ledger(cfg)
        try:
            return _Appender(cfg, clock, handle).run(max_events)
        except LedgerError as exc:
            if isinstance(exc, LedgerProblem):
                raise
            # The service loop catches MailworkerError; a bare ledger error is one too here.
            raise LedgerProblem(str(exc)) from exc
        finally:
            handle.close()


class _Appender:
    """One round: who takes part, the batches, and what counts as committed."""

    def __init__(self, cfg, clock: Clock, handle: LedgerHandle):
        self.clock = clock
        self.h = handle
        self.quorum = handle.quorum
        self.batch_size = max(1, cfg.ledger.batch_size)
        self.result = AppendResult()
        self.usable: list[Replica] = []
        self.fanout = ReplicaFanout(len(handle.specs))
        self.planner = BatchPlanner(handle.origin, self.batch_size)
        self.recorder = BatchRecorder(self._commit_batch)

    def problem(self, text: str) -> None:
        self.result.problems.append(text)
        log.warning("ledger: %s", text)

    def drop(self, rep: Replica, reason: str, damaged: bool = False) -> None:
        """Leave ``rep`` out of this round; ``damaged``: and of every round until it is
        repaired (recorded in the main database, shown by status and the digest)."""
        if rep in self.usable:
            self.usable.remove(rep)
        self.h.mark_down(rep.name, reason)
        if damaged:
            mark_damaged(rep.name, reason, self.clock)

    # -- the round -----------------------------------------------------------------------
    def run(self, max_events: int | None) -> AppendResult:
        try:
            return self._run(max_events)
        finally:
            self.fanout.close()
            self.planner.close()
            self.recorder.close()

    def _run(self, max_events: int | None) -> AppendResult:
        res = self.result
        try:
            tip = self.h.tip(main_db_note())
        except ReplicaCorrupt as exc:
            return self._finish(Tip(0, b"", None, []), f"cannot append: {exc}")
        for text in self.h.notes:
            self.problem(text)
        self.usable = sync_replicas(self.h.reachable, tip, self.drop)
        tip = self._cosign_and_spread(tip)
        self._reconcile_main_db(tip)
        limit = max_events
        batch: Batch | None = None
        while limit is None or res.appended < limit:
            if len(self.usable) < self.quorum:
                return self._wait(tip)
            if batch is None:
                self.recorder.flush()   # the pending query below must see the last batch
                events = self.planner.next_events(self.usable, tip, self._room(limit),
                                                  self.drop)
                if events is None:
                    continue            # a replica was dropped; re-check the quorum
                if not events:
                    break
                batch = self.planner.prepare(self.usable, tip, events, self.drop)
                if batch is None:
                    continue
            # The replicas write and sign this batch while, here, the main database records
            # the previous one and the next one is planned.
            previous = (tip.size, tip.note) if tip.note else None
            writers = list(self.usable)
            futures = self.fanout.apply_and_sign(writers, batch.plans, batch.checkpoint,
                                                 utc_stamp(self.clock.now()), previous)
            self.recorder.flush(wait=False)
            following = self.planner.following(batch, self.usable,
                                               self._room(limit, ahead=len(batch.events)))
            outcomes = [f.result() for f in futures]
            new_tip = self._conclude(tip, batch, writers, outcomes)
            if new_tip is None:
                return self._wait(tip)
            tip = new_tip
            # A planned batch only fits if every replica took this one.
            batch = following if len(self.usable) == len(writers) else None
        self.recorder.flush()
        self._store_note(tip, save_main=False)
        return self._finish(tip, None)

    def _wait(self, tip: Tip) -> AppendResult:
        self.recorder.flush()
        self.result.waiting = True
        self._store_note(tip, save_main=False)
        return self._finish(tip, self._waiting_text())

    def _room(self, limit: int | None, ahead: int = 0) -> int:
        """Events the next batch may take; ``ahead``: events already planned before it."""
        if limit is None:
            return self.batch_size
        return min(self.batch_size, limit - self.result.appended - ahead)

    def _finish(self, tip: Tip, text: str | None) -> AppendResult:
        res = self.result
        res.pending = pending_count()
        res.size = tip.size
        res.checkpoint = tip.note
        res.replicas_ok = len([r for r in self.usable if r.name in tip.signers]) \
            if tip.note else len(self.usable)
        if text is None:
            text = (f"appended {res.appended} event(s); tree size {tip.size}; "
                    f"{res.replicas_ok} of {len(self.h.specs)} replicas signed; "
                    f"{res.pending} waiting")
            if self.h.down:
                text += "; left out: " + self._down_text()
        res.message = text
        return res

    def _waiting_text(self) -> str:
        return (f"appends wait: only {len(self.usable)} of {len(self.h.specs)} replicas are "
                f"usable, {self.quorum} are needed; {pending_count()} event(s) stay queued "
                f"(appended {self.result.appended} before). Unavailable: "
                f"{self._down_text() or 'none'}")

    def _down_text(self) -> str:
        return "; ".join(f"{n}: {why}" if not why.startswith(n) else why
                         for n, why in sorted(self.h.down.items()))

    # -- after step 2: every usable replica signs the tip and holds its note -------------
    def _cosign_and_spread(self, tip: Tip) -> Tip:
        """Replicas that hold the tip but did not sign it sign now; all get the note."""
        if not tip.note:
            return tip
        cp = tip.checkpoint
        lines = [s.text() for s in cp_mod.signatures_by(tip.note)]
        added = False
        for rep in list(self.usable):
            if rep.name in tip.signers or not rep.can_sign:
                continue
            try:
                lines.append(rep.sign(cp, utc_stamp(self.clock.now())))
                added = True
            except LedgerProblem as exc:
                self.drop(rep, str(exc), damaged=isinstance(exc, ReplicaDamaged))
        if added:
            note = cp_mod.assemble(cp, lines)
            opened = self.h.open_note(note)
            tip = Tip(tip.size, tip.root, note, opened.signers)
        self._store_note(tip, save_main=added)
        return tip

    def _store_note(self, tip: Tip, save_main: bool) -> None:
        if not tip.note:
            return
        if save_main:
            with models.db_proxy.atomic():
                state_set(STATE_KEY, tip.note, self.clock.now())
        for text in self.fanout.store_note(list(self.usable), tip.size, tip.note):
            self.problem(text)

    # -- after step 2: the main database must say what the tip says ----------------------
    def _reconcile_main_db(self, tip: Tip) -> None:
        """If the tip came from the replicas (the main database missed its commit, or was
        restored from a backup), mark the events of leaves below the tip."""
        LE = models.LedgerEvent
        marked = LE.select().where(LE.leaf_index.is_null(False)).count()
        if marked > tip.size:
            self.problem(f"the main database marks {marked} events as appended but the "
                         f"quorum checkpoint has only {tip.size} leaves; run `mailworker "
                         "ledger verify`")
            return
        if marked == tip.size:
            if tip.note and main_db_note() != tip.note:
                with models.db_proxy.atomic():
                    state_set(STATE_KEY, tip.note, self.clock.now())
            return
        if not self.usable:
            return
        source = self.usable[0]
        now = naive_utc(self.clock.now())
        for start in range(marked, tip.size, CATCH_UP_CHUNK):
            end = min(start + CATCH_UP_CHUNK, tip.size)
            events = match_pending(source.leaves(start, end), start, self.batch_size,
                                   report=self.problem)
            if events is None:
                return
            with models.db_proxy.atomic():
                _mark(events, start, now)
                if end == tip.size:
                    state_set(STATE_KEY, tip.note, self.clock.now())
        log.info("ledger: marked events %d..%d as appended (their leaves were already under "
                 "the quorum checkpoint)", marked, tip.size - 1)

    # -- step 4: a batch is committed when a quorum signed it ----------------------------
    def _conclude(self, tip: Tip, batch: Batch, writers: list[Replica],
                  outcomes: list[Outcome]) -> Tip | None:
        """Collect the signatures; at quorum, hand the batch to the recorder."""
        lines = []
        for rep, (line, error, damaged) in zip(writers, outcomes):
            if error is not None:
                self.drop(rep, error, damaged=damaged)
            else:
                lines.append(line)
        cp = batch.checkpoint
        if len(lines) < self.quorum:
            self.problem(f"only {len(lines)} replica(s) signed size {cp.size}; "
                         f"{self.quorum} needed")
            return None
        note = cp_mod.assemble(cp, lines)
        try:
            opened = self.h.open_note(note)
        except CheckpointError as exc:
            self.problem(f"the new checkpoint does not verify with the configured public "
                         f"keys: {exc}")
            return None
        # Committed: a quorum holds it. The main database records it while the replicas
        # write the next batch (they get this note with it, or at the end of the round).
        self.recorder.committed(batch.events, tip.size, note)
        self.result.appended += len(batch.events)
        return Tip(cp.size, cp.root, note, opened.signers)

    def _commit_batch(self, events: list[Queued], first_index: int, note: str) -> None:
        """The main database learns of a committed batch and its checkpoint in one
        transaction (on the recorder's thread). A crash before it is what
        ``_reconcile_main_db`` repairs from the replicas' checkpoint."""
        with models.db_proxy.atomic():
            _mark(events, first_index, naive_utc(self.clock.now()))
            state_set(STATE_KEY, note, self.clock.now())
