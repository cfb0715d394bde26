"""Writing to every usable replica at once: replicas may be other hosts, so each gets a
thread of its own and a round waits for the slowest, not for the sum."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from .checkpoint import Checkpoint
from .errors import LedgerProblem, ReplicaDamaged
from .replica import Replica

# What one replica made of a batch: (signature line, None, False) or (None, why not,
# whether it found itself damaged).
Outcome = tuple[str | None, str | None, bool]


class ReplicaFanout:
    def __init__(self, replicas: int):
        self.pool = ThreadPoolExecutor(max_workers=max(1, replicas),
                                       thread_name_prefix="ledger-replica")

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def apply_and_sign(self, writers: list[Replica], plans: dict, cp: Checkpoint, stamp: str,
                       previous: tuple[int, str] | None) -> list[Future[Outcome]]:
        """Start every writer's append of its plan and signature of ``cp`` (with the
        previous quorum checkpoint stored in the same commit); the caller collects."""
        return [self.pool.submit(_apply_and_sign, rep, plans[rep.name], cp, stamp, previous)
                for rep in writers]

    def store_note(self, replicas: list[Replica], size: int, note: str) -> list[str]:
        """Hand the quorum checkpoint to every replica that lacks it (one durable commit
        each, all at once); returns what went wrong, one text a replica."""
        def hand_over(rep: Replica) -> str | None:
            try:
                have = rep.checkpoint_note()
                if have is None or have[0] < size or have[1] != note:
                    rep.store_checkpoint(size, note)
            except LedgerProblem as exc:
                return f"{rep.name}: could not store the checkpoint: {exc}"
            return None

        return [text for text in self.pool.map(hand_over, replicas) if text is not None]


def _apply_and_sign(rep: Replica, plan, cp: Checkpoint, stamp: str,
                    previous: tuple[int, str] | None) -> Outcome:
    """Runs in a worker thread; a replica's refusal is an outcome, not an exception."""
    try:
        return rep.apply_and_sign(plan, cp, stamp, previous), None, False
    except LedgerProblem as exc:
        return None, str(exc), isinstance(exc, ReplicaDamaged)
