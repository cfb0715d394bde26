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
"""
from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import peewee as pw

from .. import models
from ..clock import Clock, naive_utc
from ..db import state_set
from ..errors import DatabaseError
from ..events import utc_stamp
from . import checkpoint as cp_mod
from .checkpoint import Checkpoint
from .damage import damage_text, damaged_replicas, mark_damaged
from .errors import CheckpointError, LedgerProblem, ReplicaCorrupt, ReplicaDamaged
from .merkle import LedgerError
from .handle import STATE_KEY, LedgerHandle, Tip, ledger_lock, main_db_note, open_ledger
from . import tree
from .replica import LocalReplica

log = logging.getLogger(__name__)

CATCH_UP_CHUNK = 4096


class Queued(NamedTuple):
    """A pending ledger event: its row id and its leaf data."""
    id: int
    payload: str


def _queued(query) -> list[Queued]:
    return [Queued(i, p) for i, p in query.tuples()]


def _oldest_pending(count: int, skip: set[int] = frozenset(), after: int = 0
                    ) -> list[Queued]:
    """The ``count`` oldest pending events not in ``skip`` with id > ``after`` (plain SQL:
    this is the hot read of a big backlog; model objects would cost more than the append)."""
    db = models.db_proxy.obj
    table = models.LedgerEvent._meta.table_name
    p = db.param
    cur = db.execute_sql(f"SELECT id, payload FROM {table} WHERE leaf_index IS NULL "
                         f"AND id > {p} ORDER BY id LIMIT {p}", (after, count + len(skip)))
    rows = cur.fetchall()
    if skip:
        rows = [r for r in rows if r[0] not in skip][:count]
    return list(map(Queued._make, rows))


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
            return AppendResult(pending=_pending_count(), message=(
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


def _pending_count() -> int:
    return models.LedgerEvent.select().where(models.LedgerEvent.leaf_index.is_null()).count()


class _Appender:
    def __init__(self, cfg, clock: Clock, handle: LedgerHandle):
        self.cfg = cfg
        self.clock = clock
        self.h = handle
        self.quorum = handle.quorum
        self.batch_size = max(1, cfg.ledger.batch_size)
        self.result = AppendResult()
        self.usable: list[LocalReplica] = []
        self._unrecorded: tuple[list, int, str] | None = None   # committed, not yet marked
        self._recording: Future | None = None
        # Replicas may be other hosts: talk to all of them at once.
        self.pool = ThreadPoolExecutor(max_workers=max(1, len(handle.specs)),
                                       thread_name_prefix="ledger-replica")
        # The main database records committed batches on a thread of its own (with its
        # own connection), so that planning the next batch here does not wait for it.
        self.recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-record")
        # Full leaf bundles are compressed here, once per batch, while the replicas write
        # the batch before (tree.AppendPlan.start_packing).
        self.packer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-pack")

    def problem(self, text: str) -> None:
        self.result.problems.append(text)
        log.warning("ledger: %s", text)

    def drop(self, rep: LocalReplica, reason: str, damaged: bool = False) -> None:
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
            self.pool.shutdown(wait=True)
            self.packer.shutdown(wait=True)
            try:
                if self._recording is not None:
                    self._recording.exception()      # let it finish; _run reported errors
            finally:
                self.recorder.submit(_close_thread_connection).result()
                self.recorder.shutdown(wait=True)

    def _run(self, max_events: int | None) -> AppendResult:
        res = self.result
        try:
            tip = self.h.tip(main_db_note())
        except ReplicaCorrupt as exc:
            return self._finish(Tip(0, b"", None, []), f"cannot append: {exc}")
        for text in self.h.notes:
            self.problem(text)
        self._sync_replicas(tip)
        tip = self._cosign_and_spread(tip)
        self._reconcile_main_db(tip)
        limit = max_events
        batch: _Batch | None = None
        while limit is None or res.appended < limit:
            if len(self.usable) < self.quorum:
                return self._wait(tip)
            if batch is None:
                self._record()          # the pending query below must see the last batch
                events = self._next_batch(tip, self._room(limit))
                if events is None:
                    continue            # a replica was dropped; re-check the quorum
                if not events:
                    break
                batch = self._prepare(tip, events)
                if batch is None:
                    continue
            # The replicas write and sign this batch while, here, the main database records
            # the previous one and the next one is planned.
            stamp = utc_stamp(self.clock.now())
            previous = (tip.size, tip.note) if tip.note else None
            writers = list(self.usable)
            futures = [self.pool.submit(_apply_and_sign, rep, batch.plans[rep.name],
                                        batch.checkpoint, stamp, previous) for rep in writers]
            self._record(wait=False)
            following = self._plan_following(batch, limit)
            outcomes = [f.result() for f in futures]
            new_tip = self._conclude(tip, batch, writers, outcomes)
            if new_tip is None:
                return self._wait(tip)
            tip = new_tip
            # A planned batch only fits if every replica took this one.
            batch = following if len(self.usable) == len(writers) else None
        self._record()
        self._store_note(tip, save_main=False)
        return self._finish(tip, None)

    def _wait(self, tip: Tip) -> AppendResult:
        self._record()
        self.result.waiting = True
        self._store_note(tip, save_main=False)
        return self._finish(tip, self._waiting_text())

    def _room(self, limit: int | None) -> int:
        return self.batch_size if limit is None else min(self.batch_size,
                                                         limit - self.result.appended)

    def _finish(self, tip: Tip, text: str | None) -> AppendResult:
        res = self.result
        res.pending = _pending_count()
        res.size = tip.size
        res.checkpoint = tip.note
        res.replicas_ok = len([r for r in self.usable if r.name in tip.signers]) \
            if tip.note else len(self.usable)
        if text is None:
            text = (f"appended {res.appended} event(s); tree size {tip.size}; "
                    f"{res.replicas_ok} of {len(self.h.specs)} replicas signed; "
                    f"{res.pending} waiting")
            if self.h.down:
                text += "; left out: " + "; ".join(f"{n}: {why}" if not why.startswith(n)
                                                   else why
                                                   for n, why in sorted(self.h.down.items()))
        res.message = text
        return res

    def _waiting_text(self) -> str:
        down = "; ".join(f"{n}: {why}" if not why.startswith(n) else why
                         for n, why in sorted(self.h.down.items())) or "none"
        return (f"appends wait: only {len(self.usable)} of {len(self.h.specs)} replicas are "
                f"usable, {self.quorum} are needed; {_pending_count()} event(s) stay queued "
                f"(appended {self.result.appended} before). Unavailable: {down}")

    # -- step 2: bring every reachable replica to the tip ---------------------------------
    def _sync_replicas(self, tip: Tip) -> None:
        healthy, lagging = [], []
        sizes: dict[str, int] = {}
        damaged = damaged_replicas()
        for rep in self.h.reachable:
            if rep.name in damaged:
                self.drop(rep, f"{rep.name}: {damage_text(rep.name, damaged[rep.name])}")
                continue
            try:
                size = sizes[rep.name] = rep.size()
                if size >= tip.size:
                    mine = rep.root(tip.size)
                    if mine != tip.root:
                        self.drop(rep, f"{rep.name}: its tree at size {tip.size} differs from "
                                       "the quorum checkpoint; it needs `mailworker ledger "
                                       f"verify` and `mailworker ledger repair {rep.name}`",
                                  damaged=True)
                        continue
                    healthy.append(rep)
                else:
                    lagging.append(rep)
            except LedgerProblem as exc:
                self.drop(rep, str(exc))
        self.usable = healthy
        for rep in lagging:
            if not healthy:
                self.drop(rep, f"{rep.name}: is behind (size {sizes[rep.name]} < {tip.size}); no "
                               "replica that holds the quorum checkpoint is reachable to copy "
                               "from")
                continue
            try:
                self._catch_up(rep, healthy, tip)
                self.usable.append(rep)
            except LedgerProblem as exc:
                self.drop(rep, str(exc))

    def _catch_up(self, rep: LocalReplica, sources: list[LocalReplica], tip: Tip) -> None:
        """Copy leaves the replica lacks, chunk by chunk; the last chunk must reproduce the
        tip's root or nothing of it is written."""
        start = rep.size()
        source = sources[0]
        pos = start
        while pos < tip.size:
            end = min(pos + CATCH_UP_CHUNK, tip.size)
            leaves = source.leaves(pos, end)
            expect = tip.root if end == tip.size else source.root(end)
            rep.append(leaves, expect_root=expect)
            pos = end
        log.info("ledger: %s caught up from %d to %d leaves (copied from %s)",
                 rep.name, start, tip.size, source.name)

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

        def hand_over(rep: LocalReplica) -> str | None:
            try:
                have = rep.checkpoint_note()
                if have is None or have[0] < tip.size or have[1] != tip.note:
                    rep.store_checkpoint(tip.size, tip.note)
            except LedgerProblem as exc:
                return f"{rep.name}: could not store the checkpoint: {exc}"
            return None

        # One durable commit per replica: all at once, like the appends.
        for text in self.pool.map(hand_over, list(self.usable)):
            if text is not None:
                self.problem(text)

    # -- step 3: the main database must say what the tip says -----------------------------
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
            leaves = source.leaves(start, end)
            events = self._match(leaves, start)
            if events is None:
                return
            with models.db_proxy.atomic():
                _mark(events, start, now)
                if end == tip.size:
                    state_set(STATE_KEY, tip.note, self.clock.now())
        log.info("ledger: marked events %d..%d as appended (their leaves were already under "
                 "the quorum checkpoint)", marked, tip.size - 1)

    def _match(self, leaves: list[bytes], start: int, report: bool = True) -> list | None:
        """The pending events whose payloads are these leaves, in order; None (and a
        problem reported) if some leaf has no pending event."""
        LE = models.LedgerEvent
        candidates = _oldest_pending(len(leaves) + self.batch_size)
        by_payload: dict[bytes, list] = {}
        for e in candidates:
            by_payload.setdefault(e.payload.encode("utf-8"), []).append(e)
        out = []
        for i, leaf in enumerate(leaves):
            bucket = by_payload.get(leaf)
            if not bucket:
                found = _queued(LE.select(LE.id, LE.payload).where(
                    LE.leaf_index.is_null(), LE.payload == leaf.decode("utf-8", "replace"),
                    LE.id.not_in([e.id for e in out] or [0])).order_by(LE.id).limit(1))
                if not found:
                    if not report:
                        return None
                    self.problem(f"leaf {start + i} on the replicas has no pending event in "
                                 "the main database (was the database restored from an old "
                                 "backup?); run `mailworker ledger verify`")
                    return None
                bucket = found
            out.append(bucket.pop(0))
        return out

    # -- step 4: batches ------------------------------------------------------------------
    def _next_batch(self, tip: Tip, room: int) -> list | None:
        """Events for the next batch: first those whose leaves some replicas already hold
        beyond the tip, then the oldest pending ones. None if a replica had to be dropped."""
        tails: dict[str, list[bytes]] = {}
        for rep in list(self.usable):
            try:
                size = rep.size()
                if size > tip.size:
                    tails[rep.name] = rep.leaves(tip.size, size)
            except LedgerProblem as exc:
                self.drop(rep, str(exc))
                return None
        tail_events: list = []
        if tails:
            by_len = sorted(tails.items(), key=lambda kv: -len(kv[1]))
            chosen = None
            for name, tail in by_len:
                events = self._match(tail, tip.size, report=False)
                if events is not None:
                    chosen, tail_events = tail, events
                    break
            for name, tail in by_len:
                if chosen is None or tail != chosen[:len(tail)]:
                    rep = next(r for r in self.usable if r.name == name)
                    self.drop(rep, f"{name}: holds {len(tail)} uncommitted leaves after size "
                                   f"{tip.size} that differ from the pending events; run "
                                   f"`mailworker ledger repair {name}`")
                    return None
        more = max(0, room - len(tail_events))
        fresh = _oldest_pending(more, {e.id for e in tail_events}) if more else []
        return tail_events + fresh

    def _prepare(self, tip: Tip, events: list) -> "_Batch | None":
        """Plan every replica's append (replicas at the same size share one plan) and agree
        on the new root before anybody writes. None if a replica had to be dropped."""
        leaves = [e.payload.encode("utf-8") for e in events]
        new_size = tip.size + len(leaves)
        plans: dict[str, object] = {}
        by_size: dict[int, object] = {}
        root: bytes | None = None
        for rep in list(self.usable):
            try:
                size = rep.size()
                missing = leaves[size - tip.size:]
                plan = None
                if missing:
                    plan = by_size.get(size)
                    if plan is None or not rep.can_apply(plan):
                        plan = rep.plan(missing, size)
                        plan.start_packing(self.packer)
                        by_size.setdefault(size, plan)
                    got = plan.root
                else:
                    got = rep.root(new_size)
            except LedgerProblem as exc:
                self.drop(rep, str(exc))
                return None
            if root is None:
                root = got
            elif got != root:
                self.drop(rep, f"{rep.name}: computed root {got.hex()[:16]}... for size "
                               f"{new_size}, the others {root.hex()[:16]}...; run `mailworker "
                               f"ledger verify`")
                return None
            plans[rep.name] = plan
        if root is None:
            return None
        basis = next(iter(by_size.values()), None)
        return _Batch(events, Checkpoint(self.h.origin, new_size, root), plans, basis)

    def _plan_following(self, batch: "_Batch", limit: int | None) -> "_Batch | None":
        """Plan the batch after ``batch`` from its plan, without reading the replicas (they
        are busy writing it). Only fresh pending events: nobody holds a tail now."""
        if batch.basis is None:
            return None
        room = self.batch_size if limit is None else min(
            self.batch_size, limit - self.result.appended - len(batch.events))
        if room <= 0:
            return None
        # Events queued after this batch's, in id order (a straggler with a smaller id,
        # possible on PostgreSQL, is taken by the next round's full query).
        events = _oldest_pending(room, after=max(e.id for e in batch.events))
        if not events:
            return None
        basis = batch.basis
        try:
            plan = tree.plan_append(basis.new_size, basis.edge_after, basis.bundle_after,
                                    [e.payload.encode("utf-8") for e in events])
        except tree.MissingNode:
            return None
        plan.start_packing(self.packer)
        cp = Checkpoint(self.h.origin, plan.new_size, plan.root)
        return _Batch(events, cp, {rep.name: plan for rep in self.usable}, plan)

    def _conclude(self, tip: Tip, batch: "_Batch", writers: list, outcomes: list) -> Tip | None:
        """Collect the signatures; at quorum, record the batch in the main database."""
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
        self._unrecorded = (batch.events, tip.size, note)
        self.result.appended += len(batch.events)
        return Tip(cp.size, cp.root, note, opened.signers)

    def _record(self, wait: bool = True) -> None:
        """The main database learns of the last committed batch and its checkpoint, in one
        transaction (on the recorder thread; ``wait`` for it). Until then the events look
        pending; a crash in between is what ``_reconcile_main_db`` repairs from the
        replicas' checkpoint."""
        if self._recording is not None:
            recording, self._recording = self._recording, None
            recording.result()                  # one at a time, in order; raises its error
        if self._unrecorded is not None:
            self._recording = self.recorder.submit(self._commit_batch, *self._unrecorded)
            self._unrecorded = None
        if wait and self._recording is not None:
            recording, self._recording = self._recording, None
            recording.result()

    def _commit_batch(self, events: list, first_index: int, note: str) -> None:
        with models.db_proxy.atomic():
            _mark(events, first_index, naive_utc(self.clock.now()))
            state_set(STATE_KEY, note, self.clock.now())


@dataclass
class _Batch:
    """One planned batch: its events, the checkpoint it makes, each replica's plan, and
    the plan the next batch can be planned from."""
    events: list
    checkpoint: Checkpoint
    plans: dict
    basis: object | None


def _close_thread_connection() -> None:
    """Close the main-database connection peewee opened for the calling thread."""
    db = models.db_proxy.obj
    if db is not None and not db.is_closed():
        db.close()


def _apply_and_sign(rep: LocalReplica, plan, cp: Checkpoint, stamp: str,
                    previous: tuple[int, str] | None
                    ) -> tuple[str | None, str | None, bool]:
    """(signature line, None, False) or (None, why not, whether it found itself damaged).
    Runs in a worker thread."""
    try:
        return rep.apply_and_sign(plan, cp, stamp, previous), None, False
    except LedgerProblem as exc:
        return None, str(exc), isinstance(exc, ReplicaDamaged)


def _mark(events: list, first_index: int, now) -> None:
    """Set leaf_index/appended_at for events appended at first_index.. (inside a tx)."""
    LE = models.LedgerEvent
    db = models.db_proxy.obj
    table, p = LE._meta.table_name, db.param
    # Stored the way peewee stores a DateTimeField on this backend.
    stamp = now.isoformat(" ") if isinstance(db, pw.SqliteDatabase) else now
    ids = [e.id for e in events]
    try:
        cur = db.cursor()
        if ids == list(range(ids[0], ids[0] + len(ids))):
            # Consecutive ids (the usual case): one statement for the whole batch.
            cur.execute(f"UPDATE {table} SET leaf_index = id - {p}, appended_at = {p} "
                        f"WHERE id BETWEEN {p} AND {p} AND leaf_index IS NULL",
                        (ids[0] - first_index, stamp, ids[0], ids[-1]))
        else:
            cur.executemany(f"UPDATE {table} SET leaf_index = {p}, appended_at = {p} "
                            f"WHERE id = {p} AND leaf_index IS NULL",
                            [(first_index + i, stamp, e) for i, e in enumerate(ids)])
        n = (LE.select().where(LE.leaf_index.between(first_index,
                                                     first_index + len(events) - 1))
             .count())
    except pw.DatabaseError as exc:
        raise DatabaseError(f"cannot mark ledger events as appended: {exc}") from None
    if n != len(events):
        raise ReplicaCorrupt(f"marking {len(events)} ledger events as appended left {n} with "
                             "those leaf indexes: another process appended at the same time")
