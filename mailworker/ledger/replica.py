"""One replica: its store, its signing key, and the rules it follows before signing.

A replica signs a checkpoint only if its own stored tree has exactly that root at that
size, and only if the tree it signed last is a prefix of it (checked with a consistency
proof from its own store against the root it signed then). So a replica whose store was
altered refuses to sign instead of vouching for a rewritten history.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from . import checkpoint as cp_mod
from . import tree
from .checkpoint import Checkpoint
from .errors import (LedgerProblem, ReplicaCorrupt, ReplicaRefused, ReplicaUnavailable)
from .keys import Signer, Verifier
from .layout import ReplicaSpec
from .merkle import ConsistencyProofError, verify_consistency
from .store import (FORMAT, PostgresReplicaStore, ReplicaStore, SignedRecord,
                    SqliteReplicaStore, iter_bundles)


@dataclass
class Problem:
    """Something wrong in one replica; ``index`` is the first leaf it affects."""
    replica: str
    index: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.replica}: {self.message}"


@dataclass
class AuditReport:
    replica: str
    size: int
    problems: list[Problem] = field(default_factory=list)
    roots: dict[int, bytes] = field(default_factory=dict)   # recomputed roots at sizes asked
    recomputed_size: int = 0                                # leaves that could be read

    @property
    def first_bad(self) -> int | None:
        return min((p.index for p in self.problems), default=None)


class LocalReplica:
    """A replica whose store this process opens directly (SQLite file or database URL)."""

    def __init__(self, spec: ReplicaSpec, store: ReplicaStore, origin: str,
                 signer: Signer | None, verifier: Verifier | None):
        self.spec = spec
        self.name = spec.name
        self.store = store
        self.origin = origin
        self.signer = signer
        self.verifier = verifier

    @property
    def can_sign(self) -> bool:
        return self.signer is not None

    # -- reading -------------------------------------------------------------------------
    def size(self) -> int:
        return self.store.size()

    def root(self, size: int | None = None) -> bytes:
        return self._tree_call(tree.stored_root, self.size() if size is None else size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self._tree_call(tree.stored_inclusion_proof, index, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self._tree_call(tree.stored_consistency_proof, old_size, new_size)

    def leaves(self, start: int, end: int) -> list[bytes]:
        return self._tree_call(tree.stored_leaves, start, end)

    def _tree_call(self, fn, *args):
        try:
            return fn(self.store, *args)
        except tree.MissingNode as exc:
            raise ReplicaCorrupt(f"{self.name}: {exc}") from None
        except ValueError as exc:
            raise ReplicaCorrupt(f"{self.name}: unreadable leaf bundle: {exc}") from None

    def last_signed(self) -> SignedRecord | None:
        return self.store.last_signed()

    def checkpoint_note(self) -> tuple[int, str] | None:
        return self.store.checkpoint()

    # -- appending -----------------------------------------------------------------------
    def plan(self, leaves: list[bytes], size: int | None = None) -> tree.AppendPlan:
        size = self.size() if size is None else size
        edge, bundle = tree.read_edge(self.store, size)
        try:
            return tree.plan_append(size, edge, bundle, leaves)
        except tree.MissingNode as exc:
            raise ReplicaCorrupt(f"{self.name}: {exc}") from None

    def can_apply(self, plan: tree.AppendPlan) -> bool:
        """True when this store's right edge is byte-for-byte the plan's base."""
        if self.size() != plan.old_size:
            return False
        if self.store.read_tiles(plan.base_tiles) != plan.base_tiles:
            return False
        if plan.base_bundle is not None:
            bid, blob = plan.base_bundle
            if self.store.read_bundles(bid, bid).get(bid) != blob:
                return False
        return True

    def apply(self, plan: tree.AppendPlan) -> None:
        self.store.apply(plan)

    def append(self, leaves: list[bytes], expect_root: bytes | None = None) -> tree.AppendPlan:
        """Append ``leaves``; with ``expect_root``, refuse unless the new root matches."""
        plan = self.plan(leaves)
        if expect_root is not None and plan.root != expect_root:
            raise ReplicaRefused(
                f"{self.name}: after appending, its root at size {plan.new_size} would be "
                f"{plan.root.hex()[:16]}..., the quorum has {expect_root.hex()[:16]}...: its "
                "older leaves differ from the quorum's")
        self.store.apply(plan)
        return plan

    # -- signing -------------------------------------------------------------------------
    def sign(self, checkpoint: Checkpoint, signed_at: str) -> str:
        """Check the checkpoint against this replica's own tree, then sign it."""
        if checkpoint.origin != self.origin:
            raise ReplicaRefused(f"{self.name}: checkpoint origin {checkpoint.origin!r} is not "
                                 f"this ledger's ({self.origin!r})")
        if self.signer is None:
            raise ReplicaRefused(f"{self.name}: its signing key is not on this host")
        size = self.size()
        if checkpoint.size > size:
            raise ReplicaRefused(f"{self.name}: holds {size} leaves, cannot sign a tree of "
                                 f"{checkpoint.size}")
        mine = self.root(checkpoint.size)
        if mine != checkpoint.root:
            raise ReplicaRefused(f"{self.name}: its tree of size {checkpoint.size} has root "
                                 f"{mine.hex()[:16]}..., not {checkpoint.root.hex()[:16]}...")
        last = self.store.last_signed()
        if last is not None:
            lo, hi = sorted([(last.size, last.root), (checkpoint.size, checkpoint.root)])
            try:
                verify_consistency(lo[0], hi[0], lo[1], hi[1],
                                   self.consistency_proof(lo[0], hi[0]))
            except ConsistencyProofError as exc:
                raise ReplicaRefused(
                    f"{self.name}: refuses to sign size {checkpoint.size}: it is not "
                    f"consistent with the checkpoint it signed last (size {last.size}): "
                    f"{exc}") from None
        line = cp_mod.sign(checkpoint, self.signer)
        self.store.add_signed(checkpoint.size, checkpoint.root, line, signed_at)
        return line

    def store_checkpoint(self, size: int, note: str) -> None:
        self.store.put_checkpoint(size, note)

    # -- audit ---------------------------------------------------------------------------
    def audit(self, sizes_of_interest: Iterable[int] = (), chunk_bundles: int = 64
              ) -> AuditReport:
        """Recompute the whole tree from the leaf data and compare every stored hash."""
        meta = self.store.meta()
        size = int(meta.get("size", "0"))
        rep = AuditReport(self.name, size)
        add = rep.problems.append
        for key, want in (("format", FORMAT), ("origin", self.origin), ("replica", self.name)):
            if meta.get(key) != want:
                add(Problem(self.name, 0, "identity",
                            f"store says {key} = {meta.get(key)!r}, expected {want!r}"))
        signed = self.store.signed()
        interesting = sorted({s for s in sizes_of_interest if 0 < s <= size}
                             | {r.size for r in signed if 0 < r.size <= size})
        for r in signed:
            if r.size > size:
                add(Problem(self.name, size, "signed_beyond",
                            f"signed a tree of size {r.size} but holds only {size} leaves "
                            "(rows were dropped)"))
            if self.verifier is not None:
                try:
                    cp_mod.open_note(
                        Checkpoint(self.origin, r.size, r.root).body() + "\n" + r.line + "\n",
                        [self.verifier], 1)
                except LedgerProblem:
                    add(Problem(self.name, min(r.size, size), "bad_signature",
                                f"its record of signing size {r.size} carries a signature "
                                "that does not verify"))
        nbundles = (size + tree.BUNDLE_WIDTH - 1) // tree.BUNDLE_WIDTH
        for bid in self.store.bundle_ids():
            if bid >= nbundles:
                add(Problem(self.name, size, "extra_rows",
                            f"leaf bundle {bid} lies beyond its size {size}"))
        expected_tiles = set(tree.tile_ids_for(size))
        for tid in self.store.tile_ids():
            if tid not in expected_tiles:
                add(Problem(self.name, size, "extra_rows", f"tile {_tile_name(tid)} lies "
                            f"beyond its size {size}"))
        rc = tree.Recomputer()
        pending_sizes = list(interesting)
        stopped = False
        for bid, blob in iter_bundles(self.store, 0, nbundles - 1, chunk_bundles):
            start = bid * tree.BUNDLE_WIDTH
            want = min(tree.BUNDLE_WIDTH, size - start)
            if blob is None:
                add(Problem(self.name, start, "missing_row",
                            f"leaf bundle {bid} (leaves {start}..{start + want - 1}) is "
                            "missing: rows were dropped"))
                stopped = True
                break
            try:
                leaves = tree.decode_bundle(blob)
            except ValueError as exc:
                add(Problem(self.name, start, "unreadable",
                            f"leaf bundle {bid} is unreadable ({exc})"))
                stopped = True
                break
            if len(leaves) != want:
                add(Problem(self.name, start + min(len(leaves), want), "wrong_count",
                            f"leaf bundle {bid} holds {len(leaves)} leaves, expected {want}"))
                leaves = leaves[:want]
                if len(leaves) < want:
                    stopped = True
            # Feed in pieces that end at each size we want a root for.
            i = 0
            while i < len(leaves):
                end = len(leaves)
                if pending_sizes and pending_sizes[0] - rc.size <= end - i:
                    end = i + pending_sizes[0] - rc.size
                done = rc.feed(leaves[i:end])
                self._compare_tiles(done, rep)
                i = end
                while pending_sizes and pending_sizes[0] == rc.size:
                    rep.roots[rc.size] = rc.root
                    pending_sizes.pop(0)
            if stopped:
                break
        if not stopped:
            self._compare_tiles(rc.edge, rep)
        rep.recomputed_size = rc.size
        for r in signed:
            got = rep.roots.get(r.size)
            if got is not None and got != r.root:
                add(Problem(self.name, _first_diff_hint(rep, r.size), "signed_root",
                            f"recomputed root at size {r.size} differs from the root it "
                            "signed then: its stored leaves were changed"))
        return rep

    def _compare_tiles(self, expected: dict[int, bytes], rep: AuditReport) -> None:
        if not expected:
            return
        stored = self.store.read_tiles(expected)
        for tid in sorted(expected):
            got = stored.get(tid)
            if got is None:
                tl, n = tree.split_tile_id(tid)
                rep.problems.append(Problem(
                    self.name, n << (tree.TILE_HEIGHT * (tl + 1)), "missing_row",
                    f"tile {_tile_name(tid)} is missing: rows were dropped"))
                continue
            if got == expected[tid]:
                continue
            if len(got) != len(expected[tid]):
                tl, n = tree.split_tile_id(tid)
                rep.problems.append(Problem(
                    self.name, n << (tree.TILE_HEIGHT * (tl + 1)), "node_hash",
                    f"tile {_tile_name(tid)} has the wrong length"))
                continue
            level, pos = _first_diff_node(tid, got, expected[tid])
            index = pos << level
            if level == 0:
                msg = (f"leaf {index}: its stored data does not match its stored hash "
                       "(the leaf or its hash was changed)")
                kind = "leaf"
            else:
                msg = (f"node at level {level}, position {pos} (leaves {index}.."
                       f"{index + (1 << level) - 1}): stored hash differs from the one "
                       "recomputed from the leaves (a node hash was replaced)")
                kind = "node_hash"
            rep.problems.append(Problem(self.name, index, kind, msg))

    def close(self) -> None:
        self.store.close()


def _tile_name(tid: int) -> str:
    tl, n = tree.split_tile_id(tid)
    return f"{tl}/{n}"


def _first_diff_node(tid: int, got: bytes, want: bytes) -> tuple[int, int]:
    """The lowest-level differing node in a tile, as (tree level, position)."""
    tl, n = tree.split_tile_id(tid)
    for r in range(tree.TILE_HEIGHT):
        span = tree.TILE_WIDTH >> r
        slot0 = 2 * tree.TILE_WIDTH - (2 * tree.TILE_WIDTH >> r)
        for j in range(span):
            off = (slot0 + j) * tree.HASH
            if got[off:off + tree.HASH] != want[off:off + tree.HASH]:
                return tl * tree.TILE_HEIGHT + r, n * span + j
    return tl * tree.TILE_HEIGHT, n * tree.TILE_WIDTH


def _first_diff_hint(rep: AuditReport, size: int) -> int:
    return min([p.index for p in rep.problems if p.index < size], default=0)


def open_store(spec: ReplicaSpec, create: bool = False) -> ReplicaStore:
    if spec.kind == "sqlite":
        return SqliteReplicaStore(spec.name, spec.path, create=create)
    if spec.kind == "postgresql":
        return PostgresReplicaStore(spec.name, spec.url, spec.password())
    raise ReplicaUnavailable(f"{spec.name}: {spec.display_url} is served by another process; "
                             "open it with mailworker.ledger.remote")


def check_identity(store: ReplicaStore, spec: ReplicaSpec, origin: str) -> None:
    meta = store.meta()
    if meta.get("format") != FORMAT:
        raise ReplicaCorrupt(f"{spec.name}: {store.where} is not a mailworker ledger replica "
                             f"(format {meta.get('format')!r})")
    if meta.get("origin") != origin:
        raise ReplicaCorrupt(f"{spec.name}: {store.where} belongs to the ledger "
                             f"{meta.get('origin')!r}, not {origin!r}")
    if meta.get("replica") != spec.name:
        raise ReplicaCorrupt(f"{spec.name}: {store.where} is the store of "
                             f"{meta.get('replica')!r}; two replicas must not share a store")

