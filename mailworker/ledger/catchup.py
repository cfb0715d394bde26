"""Catch-up: a replica behind the quorum checkpoint copies the leaves it lacks from one that
holds the checkpoint's tree, and counts again only once its root equals the checkpoint's.

An append round starts with ``sync_replicas``; ``ledger repair`` rebuilds a replica it has
cut back with the same ``copy_leaves``.
"""
from __future__ import annotations

import logging
from typing import Callable

from .damage import damage_text, damaged_replicas
from .errors import LedgerProblem
from .handle import Tip
from .replica import Replica

log = logging.getLogger(__name__)

CATCH_UP_CHUNK = 4096

# drop(replica, why, damaged=False): leave it out of this round (``damaged``: and of every
# round until it is repaired).
Drop = Callable[..., None]


def copy_leaves(target: Replica, source: Replica, start: int, tip: Tip) -> None:
    """Copy the leaves ``start`` .. ``tip.size - 1`` from ``source`` to ``target``, chunk by
    chunk. Each chunk must reproduce the source's root at its end (the last one: the tip's
    root), or nothing of that chunk is written."""
    for pos in range(start, tip.size, CATCH_UP_CHUNK):
        end = min(pos + CATCH_UP_CHUNK, tip.size)
        leaves = source.leaves(pos, end)
        expect = tip.root if end == tip.size else source.root(end)
        target.append(leaves, expect_root=expect)


def sync_replicas(reachable: list[Replica], tip: Tip, drop: Drop) -> list[Replica]:
    """The replicas that can take part in appends after ``tip``: those that hold its tree,
    then those that were behind and have caught up. Every other one is dropped with the
    reason: recorded as damaged, a tree that differs from the tip's (damaged from now on),
    unreachable, or behind with nobody to copy from."""
    healthy: list[Replica] = []
    lagging: list[Replica] = []
    sizes: dict[str, int] = {}
    damaged = damaged_replicas()
    for rep in reachable:
        if rep.name in damaged:
            drop(rep, f"{rep.name}: {damage_text(rep.name, damaged[rep.name])}")
            continue
        try:
            size = sizes[rep.name] = rep.size()
            if size < tip.size:
                lagging.append(rep)
            elif rep.root(tip.size) == tip.root:
                healthy.append(rep)
            else:
                drop(rep, f"{rep.name}: its tree at size {tip.size} differs from the quorum "
                          "checkpoint; it needs `mailworker ledger verify` and `mailworker "
                          f"ledger repair {rep.name}`", damaged=True)
        except LedgerProblem as exc:
            drop(rep, str(exc))
    usable = list(healthy)
    for rep in lagging:
        if not healthy:
            drop(rep, f"{rep.name}: is behind (size {sizes[rep.name]} < {tip.size}); no "
                      "replica that holds the quorum checkpoint is reachable to copy from")
            continue
        try:
            start = sizes[rep.name]
            copy_leaves(rep, healthy[0], start, tip)
            log.info("ledger: %s caught up from %d to %d leaves (copied from %s)",
                     rep.name, start, tip.size, healthy[0].name)
            usable.append(rep)
        except LedgerProblem as exc:
            drop(rep, str(exc))
    return usable
