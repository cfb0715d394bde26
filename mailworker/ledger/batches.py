"""Planning append batches: which pending events go next, each replica's append plan, and
the root every replica must reach, agreed before any of them writes.

Full leaf bundles are compressed on a thread of their own (the packer), once per batch for
all replicas, while the replicas write the batch before (``tree.AppendPlan.start_packing``).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import tree
from .catchup import Drop
from .checkpoint import Checkpoint
from .errors import LedgerProblem
from .handle import Tip
from .pending import Queued, match_pending, oldest_pending
from .replica import Replica


@dataclass
class Batch:
    """One planned batch: its events, the checkpoint it makes, each replica's plan (None
    for a replica that already holds the leaves), and the plan the next batch can be
    planned from."""
    events: list[Queued]
    checkpoint: Checkpoint
    plans: dict[str, tree.AppendPlan | None]
    basis: tree.AppendPlan | None


class BatchPlanner:
    def __init__(self, origin: str, batch_size: int):
        self.origin = origin
        self.batch_size = batch_size
        self.packer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-pack")

    def close(self) -> None:
        self.packer.shutdown(wait=True)

    def next_events(self, usable: list[Replica], tip: Tip, room: int, drop: Drop
                    ) -> list[Queued] | None:
        """Events for the next batch: first those whose leaves some replicas already hold
        beyond the tip (a crash after appending but before the quorum signed), then the
        oldest pending ones. None if a replica had to be dropped."""
        tails: dict[str, list[bytes]] = {}
        for rep in list(usable):
            try:
                size = rep.size()
                if size > tip.size:
                    tails[rep.name] = rep.leaves(tip.size, size)
            except LedgerProblem as exc:
                drop(rep, str(exc))
                return None
        tail_events: list[Queued] = []
        if tails:
            by_len = sorted(tails.items(), key=lambda kv: -len(kv[1]))
            chosen = None
            for name, tail in by_len:
                events = match_pending(tail, tip.size, self.batch_size)
                if events is not None:
                    chosen, tail_events = tail, events
                    break
            for name, tail in by_len:
                if chosen is None or tail != chosen[:len(tail)]:
                    rep = next(r for r in usable if r.name == name)
                    drop(rep, f"{name}: holds {len(tail)} uncommitted leaves after size "
                              f"{tip.size} that differ from the pending events; run "
                              f"`mailworker ledger repair {name}`")
                    return None
        more = max(0, room - len(tail_events))
        fresh = oldest_pending(more, {e.id for e in tail_events}) if more else []
        return tail_events + fresh

    def prepare(self, usable: list[Replica], tip: Tip, events: list[Queued], drop: Drop
                ) -> Batch | None:
        """Plan every replica's append (replicas at the same size share one plan) and agree
        on the new root before anybody writes. None if a replica had to be dropped."""
        leaves = [e.payload.encode("utf-8") for e in events]
        new_size = tip.size + len(leaves)
        plans: dict[str, tree.AppendPlan | None] = {}
        by_size: dict[int, tree.AppendPlan] = {}
        root: bytes | None = None
        for rep in list(usable):
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
                drop(rep, str(exc))
                return None
            if root is None:
                root = got
            elif got != root:
                drop(rep, f"{rep.name}: computed root {got.hex()[:16]}... for size "
                          f"{new_size}, the others {root.hex()[:16]}...; run `mailworker "
                          f"ledger verify`")
                return None
            plans[rep.name] = plan
        if root is None:
            return None
        basis = next(iter(by_size.values()), None)
        return Batch(events, Checkpoint(self.origin, new_size, root), plans, basis)

    def following(self, batch: Batch, usable: list[Replica], room: int) -> Batch | None:
        """Plan the batch after ``batch`` from its plan, without reading the replicas (they
        are busy writing it). Only fresh pending events: nobody holds a tail now."""
        if batch.basis is None or room <= 0:
            return None
        # Events queued after this batch's, in id order (a straggler with a smaller id,
        # possible on PostgreSQL, is taken by the next round's full query).
        events = oldest_pending(room, after=max(e.id for e in batch.events))
        if not events:
            return None
        basis = batch.basis
        try:
            plan = tree.plan_append(basis.new_size, basis.edge_after, basis.bundle_after,
                                    [e.payload.encode("utf-8") for e in events])
        except tree.MissingNode:
            return None
        plan.start_packing(self.packer)
        cp = Checkpoint(self.origin, plan.new_size, plan.root)
        return Batch(events, cp, {rep.name: plan for rep in usable}, plan)
