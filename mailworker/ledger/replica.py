"""One replica: its store, its signing key, and the rules it follows before signing.

A replica signs a checkpoint only if its own stored tree has exactly that root at that
size, only if the tree it signed last is a prefix of it (checked with a consistency
proof from its own store against the root it signed then), and only if what it stores
at the tree's right edge recomputes: the leaves of the last bundle against their stored
hashes, and every stored node on the path to the new root against its children. So a
replica whose store was altered refuses to sign (``ReplicaDamaged``) instead of vouching
for a rewritten history; damage deeper in the tree is found by the scheduled full audit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol

from . import checkpoint as cp_mod
from . import tree
from .checkpoint import Checkpoint
from .errors import (LedgerProblem, ReplicaCorrupt, ReplicaDamaged, ReplicaRefused,
                     ReplicaUnavailable)
from .keys import Signer, Verifier
from .layout import ReplicaSpec
from .merkle import ConsistencyProofError, leaf_hash, node_hash, verify_consistency
from .store import (FORMAT, READABLE_FORMATS, PostgresReplicaStore, ReplicaStore,
                    SignedRecord, SqliteReplicaStore)


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


class Replica(Protocol):
    """What the appender, status, verify, repair and receipts ask of a replica, whether this
    process opens its store (``LocalReplica``) or talks to it over HTTP
    (``remote.RemoteReplica``). Errors are ``LedgerProblem``s naming the replica."""

    name: str
    spec: ReplicaSpec

    @property
    def can_sign(self) -> bool:
        """Whether its signing key is usable from here."""

    # -- reading -------------------------------------------------------------------------
    def size(self) -> int:
        """Leaves it holds."""

    def root(self, size: int | None = None) -> bytes:
        """Root of its tree at ``size`` (default: all it holds)."""

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in its tree of ``size``."""

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 consistency proof between its trees of the two sizes."""

    def leaves(self, start: int, end: int) -> list[bytes]:
        """Leaf data ``start`` .. ``end - 1``."""

    def last_signed(self) -> SignedRecord | None:
        """The last checkpoint it signed."""

    def ever_signed_by(self, name: str) -> bool:
        """Whether it holds a quorum checkpoint signed by replica ``name``."""

    def edge(self, size: int) -> tuple[dict[int, bytes], bytes | None]:
        """The right-edge tiles and partial bundle an append at ``size`` starts from."""

    def checkpoint_note(self) -> tuple[int, str] | None:
        """The newest quorum checkpoint handed to it: (size, note)."""

    # -- appending and signing -----------------------------------------------------------
    def plan(self, leaves: list[bytes], size: int | None = None) -> tree.AppendPlan:
        """The append of ``leaves`` at ``size``, computed from its right edge."""

    def can_apply(self, plan: tree.AppendPlan) -> bool:
        """Whether ``plan`` (made for another replica) can be written to it as it is."""

    def apply_and_sign(self, plan: tree.AppendPlan | None, checkpoint: Checkpoint,
                       signed_at: str, previous: tuple[int, str] | None = None) -> str:
        """Write the append, store ``previous``, check and sign ``checkpoint``: one commit;
        returns the signature line."""

    def append(self, leaves: list[bytes], expect_root: bytes | None = None
               ) -> tree.AppendPlan:
        """Catch-up: append ``leaves`` without signing, refused unless the new root is
        ``expect_root``."""

    def sign(self, checkpoint: Checkpoint, signed_at: str) -> str:
        """Check ``checkpoint`` against its own tree, then sign it."""

    def store_checkpoint(self, size: int, note: str) -> None:
        """Keep the quorum checkpoint ``note`` of tree ``size``."""

    # -- audit ---------------------------------------------------------------------------
    def audit(self, sizes_of_interest: Iterable[int] = ()) -> AuditReport:
        """Recompute its whole store (see ``LocalReplica.audit``)."""

    def close(self) -> None:
        """Release what it holds open."""


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
        self.reader = tree.TileCache(store)     # for proofs and roots; audits read the store

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
            return fn(self.reader, *args)
        except tree.MissingNode as exc:
            raise ReplicaCorrupt(f"{self.name}: {exc}") from None
        except ValueError as exc:
            raise ReplicaCorrupt(f"{self.name}: unreadable leaf bundle: {exc}") from None

    def last_signed(self) -> SignedRecord | None:
        return self.store.last_signed()

    def ever_signed_by(self, name: str) -> bool:
        return self.store.ever_signed_by(name)

    def edge(self, size: int) -> tuple[dict[int, bytes], bytes | None]:
        """The right-edge tiles and partial bundle an append at ``size`` starts from."""
        return tree.read_edge(self.store, size)

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

    def rewrite(self, change) -> None:
        """A repair's truncation; cached tiles may no longer be the stored ones."""
        self.reader.clear()
        try:
            self.store.rewrite(change)
        finally:
            self.reader.clear()

    def append(self, leaves: list[bytes], expect_root: bytes | None = None
               ) -> tree.AppendPlan:
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
                # The checkpoint's root is its own tree's: its store changed since.
                raise ReplicaDamaged(
                    f"{self.name}: refuses to sign size {checkpoint.size}: it is not "
                    f"consistent with the checkpoint it signed last (size {last.size}): "
                    f"{exc}") from None
        since = last.size if last is not None and last.size < checkpoint.size else None
        problems = self.check_edge(checkpoint.size, since)
        if problems:
            raise ReplicaDamaged(
                f"{self.name}: refuses to sign size {checkpoint.size}: what it stores does "
                f"not recompute ({problems[0].message}); it stays out of the quorum until "
                f"`mailworker ledger repair {self.name}`")
        line = cp_mod.sign(checkpoint, self.signer)
        self.store.add_signed(checkpoint.size, checkpoint.root, line, signed_at)
        return line

    def apply_and_sign(self, plan: tree.AppendPlan | None, checkpoint: Checkpoint,
                       signed_at: str, previous: tuple[int, str] | None = None) -> str:
        """Write an append, store the previous quorum checkpoint, check and sign the new
        checkpoint: one commit. If the checkpoint does not check, nothing is written."""
        try:
            with self.store.transaction("append and sign"):
                if plan is not None:
                    self.store.apply(plan)
                if previous is not None:
                    self.store.put_checkpoint(*previous)
                return self.sign(checkpoint, signed_at)
        except BaseException:
            self.reader.clear()     # it may hold tiles of the append that was rolled back
            raise

    def store_checkpoint(self, size: int, note: str) -> None:
        self.store.put_checkpoint(size, note)

    # -- audit ---------------------------------------------------------------------------
    def check_edge(self, size: int, since: int | None = None) -> list[Problem]:
        """What signing ``size`` rests on, recomputed from the store itself (not the tile
        cache): the leaves from ``since`` (the size it signed last; else the last bundle)
        against their stored hashes, and the stored nodes of the tiles on the path to the
        root against their children."""
        if size <= 0:
            return []
        rep = AuditReport(self.name, size)
        bad: set[tuple[int, int]] = set()
        last_bundle = (size - 1) // tree.BUNDLE_WIDTH
        first_bundle = last_bundle if since is None else min(last_bundle,
                                                             since // tree.BUNDLE_WIDTH)
        self._audit_leaves(size, last_bundle + 1, 64, rep, bad, first_bundle=first_bundle)
        path = []
        tl = 0
        while size >> (tree.TILE_HEIGHT * tl):
            count = size >> (tree.TILE_HEIGHT * tl)
            path.append(tree.tile_id(tl, (count - 1) >> tree.TILE_HEIGHT))
            tl += 1
        stored = set(self.store.read_tiles(path))
        for tid in path:
            if tid not in stored:
                rep.problems.append(Problem(self.name, 0, "missing_row",
                                            f"tile {_tile_name(tid)} on the path to its root "
                                            "is missing"))
        self._audit_nodes(size, path, stored, len(path), rep, bad)
        return rep.problems

    def audit(self, sizes_of_interest: Iterable[int] = (), chunk: int = 64) -> AuditReport:
        """Check the whole store: every leaf against its stored hash, every stored node
        against the hash of its two stored children, every signature this replica
        recorded, and which rows are missing or extra. Roots at ``sizes_of_interest`` (and
        at every signed size) are computed from the stored tree."""
        meta = self.store.meta()
        size = int(meta.get("size", "0"))
        rep = AuditReport(self.name, size)
        add = rep.problems.append
        if meta.get("format") not in READABLE_FORMATS:
            add(Problem(self.name, 0, "identity", f"store says format = "
                                                  f"{meta.get('format')!r}, expected {FORMAT!r}"))
        for key, want in (("origin", self.origin), ("replica", self.name)):
            if meta.get(key) != want:
                add(Problem(self.name, 0, "identity",
                            f"store says {key} = {meta.get(key)!r}, expected {want!r}"))
        nbundles = (size + tree.BUNDLE_WIDTH - 1) // tree.BUNDLE_WIDTH
        for bid in self.store.bundle_ids():
            if bid >= nbundles:
                add(Problem(self.name, size, "extra_rows",
                            f"leaf bundle {bid} lies beyond its size {size}"))
        expected_tiles = list(tree.tile_ids_for(size))
        stored_ids = set(self.store.tile_ids())
        for tid in sorted(stored_ids - set(expected_tiles)):
            add(Problem(self.name, size, "extra_rows",
                        f"tile {_tile_name(tid)} lies beyond its size {size}"))
        for tid in expected_tiles:
            if tid not in stored_ids:
                tl, n = tree.split_tile_id(tid)
                start = n << (tree.TILE_HEIGHT * (tl + 1))
                add(Problem(self.name, start, "missing_row",
                            f"tile {_tile_name(tid)} (hashes of leaves from {start} on) is "
                            "missing: rows were dropped"))
        bad: set[tuple[int, int]] = set()
        rep.recomputed_size = self._audit_leaves(size, nbundles, chunk, rep, bad)
        self._audit_nodes(size, expected_tiles, stored_ids, chunk, rep, bad)
        self._audit_signed(size, sorted(set(sizes_of_interest)), rep)
        return rep

    def _audit_leaves(self, size: int, nbundles: int, chunk: int, rep: AuditReport,
                      bad: set, first_bundle: int = 0) -> int:
        """Each leaf's data against the leaf hash stored for it; returns leaves read."""
        add = rep.problems.append
        read = 0
        for first in range(first_bundle, nbundles, chunk):
            last = min(nbundles, first + chunk) - 1
            bundles = self.store.read_bundles(first, last)
            tiles = self.store.read_tiles(tree.tile_id(0, b) for b in range(first, last + 1))
            for b in range(first, last + 1):
                start = b * tree.BUNDLE_WIDTH
                want = min(tree.BUNDLE_WIDTH, size - start)
                blob = bundles.get(b)
                if blob is None:
                    add(Problem(self.name, start, "missing_row",
                                f"leaf bundle {b} (leaves {start}..{start + want - 1}) is "
                                "missing: rows were dropped"))
                    continue
                leaves, damage = tree.salvage_bundle(blob)
                if damage is not None:
                    # The leaves before the damage are still checked below. (All of them
                    # read but the row has bytes after them: a repair rewrites it from
                    # its last leaf on.)
                    at = start + min(len(leaves), want - 1)
                    add(Problem(self.name, at, "unreadable",
                                f"leaf bundle {b} is unreadable from leaf {at} on ({damage})"))
                    if not leaves:
                        continue
                elif len(leaves) != want:
                    add(Problem(self.name, start + min(len(leaves), want), "wrong_count",
                                f"leaf bundle {b} holds {len(leaves)} leaves, expected {want}"))
                read = max(read, start + min(len(leaves), want))
                tile = tiles.get(tree.tile_id(0, b))
                if tile is None or len(tile) != tree.TILE_BYTES:
                    continue                # reported with the tiles
                wrong = [j for j, leaf in enumerate(leaves[:want])
                         if leaf_hash(leaf) != tile[j * tree.HASH:(j + 1) * tree.HASH]]
                for j in wrong:
                    bad.add((0, start + j))
                if wrong:
                    more = f" (and {len(wrong) - 1} more in this bundle)" if len(wrong) > 1 \
                        else ""
                    add(Problem(self.name, start + wrong[0], "leaf",
                                f"leaf {start + wrong[0]}: its stored data does not match its "
                                f"stored hash (the leaf or its hash was changed){more}"))
        return read

    def _audit_nodes(self, size: int, expected_tiles: list[int], stored_ids: set[int],
                     chunk: int, rep: AuditReport, bad: set) -> None:
        """Each stored node against the hash of its two stored children; tile level L+1's
        bottom row against the tops of the tiles of level L."""
        H, TW, TH = tree.HASH, tree.TILE_WIDTH, tree.TILE_HEIGHT
        parents: dict[int, bytes] = {}        # expected level-8(L+1) nodes from level L tops
        ids = [t for t in expected_tiles if t in stored_ids]
        for i in range(0, len(ids), chunk):
            part = ids[i:i + chunk]
            tiles = self.store.read_tiles(part)
            for tid in part:
                blob = tiles.get(tid)
                tl, n = tree.split_tile_id(tid)
                if blob is None or len(blob) != tree.TILE_BYTES:
                    rep.problems.append(Problem(self.name, n << (TH * (tl + 1)), "node_hash",
                                                f"tile {_tile_name(tid)} has the wrong length"))
                    continue
                if tl:
                    self._check_bottom(tl, n, blob, size, parents, rep, bad)
                for r in range(1, TH + 1):
                    level = tl * TH + r
                    span = TW >> r
                    count = size >> level
                    lo = n * span
                    hi = min(lo + span, count)
                    below = 2 * TW - (2 * TW >> (r - 1))
                    here = 2 * TW - (2 * TW >> r)
                    for p in range(lo, hi):
                        j = p - lo
                        c = (below + 2 * j) * H
                        got = node_hash(blob[c:c + H], blob[c + H:c + 2 * H])
                        if r == TH:     # the tile's root is a node of the next tile level
                            parents[p] = got
                            continue
                        if (level - 1, 2 * p) in bad or (level - 1, 2 * p + 1) in bad:
                            bad.add((level, p))
                            continue
                        o = (here + j) * H
                        if got != blob[o:o + H]:
                            bad.add((level, p))
                            rep.problems.append(self._node_problem(level, p))

    def _check_bottom(self, tl: int, n: int, blob: bytes, size: int, parents: dict,
                      rep: AuditReport, bad: set) -> None:
        level = tl * tree.TILE_HEIGHT
        lo = n * tree.TILE_WIDTH
        hi = min(lo + tree.TILE_WIDTH, size >> level)
        for p in range(lo, hi):
            want = parents.pop(p, None)
            if want is None:
                continue                        # its child tile is missing (reported)
            j = p - lo
            if blob[j * tree.HASH:(j + 1) * tree.HASH] != want:
                bad.add((level, p))
                rep.problems.append(self._node_problem(level, p))

    def _node_problem(self, level: int, pos: int) -> Problem:
        index = pos << level
        return Problem(self.name, index, "node_hash",
                       f"node at level {level}, position {pos} (leaves {index}.."
                       f"{index + (1 << level) - 1}) is not the hash of its two children "
                       "(a node hash was replaced)")

    def _audit_signed(self, size: int, sizes: list[int], rep: AuditReport) -> None:
        signed = self.store.signed()
        want = sorted({s for s in sizes if 0 <= s <= size} | {size} |
                      {r.size for r in signed if r.size <= size})
        for s in want:
            try:
                rep.roots[s] = tree.stored_root(self.store, s)     # the disk, not the cache
            except tree.MissingNode:
                continue                        # a missing tile, reported above
        matched = 0          # largest signed size whose root still matches
        for r in signed:
            if r.size > size:
                rep.problems.append(Problem(
                    self.name, size, "signed_beyond",
                    f"signed a tree of size {r.size} but holds only {size} leaves (rows were "
                    "dropped)"))
                continue
            if self.verifier is not None:
                try:
                    cp_mod.open_note(Checkpoint(self.origin, r.size, r.root).body() + "\n"
                                     + r.line + "\n", [self.verifier], 1)
                except LedgerProblem:
                    rep.problems.append(Problem(
                        self.name, min(r.size, size), "bad_signature",
                        f"its record of signing size {r.size} carries a signature that does "
                        "not verify"))
            got = rep.roots.get(r.size)
            if got is None:
                continue
            if got == r.root:
                matched = max(matched, r.size)
                continue
            # The first changed leaf lies at or after the last size that still matches.
            rep.problems.append(Problem(
                self.name, matched, "signed_root",
                f"its tree's root at size {r.size} differs from the root it signed then (it "
                f"still matches at size {matched}): its history was rewritten"))

    def close(self) -> None:
        self.store.close()


def _tile_name(tid: int) -> str:
    tl, n = tree.split_tile_id(tid)
    return f"{tl}/{n}"


def open_store(spec: ReplicaSpec, create: bool = False) -> ReplicaStore:
    if spec.kind == "sqlite":
        return SqliteReplicaStore(spec.name, spec.path, create=create)
    if spec.kind == "postgresql":
        return PostgresReplicaStore(spec.name, spec.url, spec.password())
    raise ReplicaUnavailable(f"{spec.name}: {spec.display_url} is served by another process; "
                             "open it with mailworker.ledger.remote")


def check_identity(store: ReplicaStore, spec: ReplicaSpec, origin: str) -> None:
    meta = store.meta()
    if meta.get("format") not in READABLE_FORMATS:
        raise ReplicaCorrupt(f"{spec.name}: {store.where} is not a mailworker ledger replica "
                             f"(format {meta.get('format')!r})")
    if meta.get("origin") != origin:
        raise ReplicaCorrupt(f"{spec.name}: {store.where} belongs to the ledger "
                             f"{meta.get('origin')!r}, not {origin!r}")
    if meta.get("replica") != spec.name:
        raise ReplicaCorrupt(f"{spec.name}: {store.where} is the store of "
                             f"{meta.get('replica')!r}; two replicas must not share a store")

