"""The stored Merkle tree: tiles of complete-subtree hashes, so appends and proofs stay
O(log n) whatever the size.

Layout (the same in every replica store):

- A *node* (level, pos) is the hash of the complete subtree over leaves
  ``[pos * 2**level, (pos + 1) * 2**level)``; level 0 nodes are leaf hashes.
- Nodes are kept in *tiles* of height 8: tile (L, N) holds the nodes of tree levels
  8L .. 8L+7 below 256 consecutive level-8L nodes starting at position 256 N, level by
  level (256 + 128 + ... + 2 = 510 hashes, 16320 bytes; unused slots of the right-edge
  tile are zero). The root of a full tile is level 0 of tile (L+1, N // 256).
- Leaf data is kept in *bundles* of 256 leaves, each leaf as a 4-byte big-endian length
  followed by its bytes.

A proof needs O(log n) nodes, which lie in at most a handful of tiles (one per 8 tree
levels, plus the right edge), read in one query. An append rewrites only the right-edge
tiles and bundle. Tiles and bundles are written in one transaction with the size, so a
store is always a complete tree of its recorded size.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Protocol

from .merkle import EMPTY_ROOT, LedgerError, leaf_hash, node_hash, split_point

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT                      # level-0 entries of a tile
TILE_ENTRIES = 2 * TILE_WIDTH - 2                  # 510 hashes
HASH = 32
TILE_BYTES = TILE_ENTRIES * HASH
BUNDLE_WIDTH = 256
_TILE_ID_SHIFT = 40
_LEN = struct.Struct(">I")


# --- addressing ------------------------------------------------------------------------

def tile_id(tile_level: int, index: int) -> int:
    return (tile_level << _TILE_ID_SHIFT) | index


def split_tile_id(tid: int) -> tuple[int, int]:
    return tid >> _TILE_ID_SHIFT, tid & ((1 << _TILE_ID_SHIFT) - 1)


def node_address(level: int, pos: int) -> tuple[int, int]:
    """(tile id, byte offset) of node (level, pos)."""
    tl, r = divmod(level, TILE_HEIGHT)
    span = TILE_WIDTH >> r                          # nodes of this level in one tile
    slot = (2 * TILE_WIDTH - (2 * TILE_WIDTH >> r)) + (pos & (span - 1))
    return tile_id(tl, pos >> (TILE_HEIGHT - r)), slot * HASH


def decompose(start: int, end: int) -> list[tuple[int, int]]:
    """Complete aligned subtrees (level, pos) covering [start, end), left to right."""
    out = []
    while start < end:
        k = (end - start).bit_length() - 1
        if start:
            k = min(k, (start & -start).bit_length() - 1)
        out.append((k, start >> k))
        start += 1 << k
    return out


def fold(hashes: list[bytes]) -> bytes:
    """RFC 9162 hash of a range given its complete subtrees left to right (largest first)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the RFC 9162 inclusion proof, in proof order."""
    out = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the RFC 9162 consistency proof, in proof order."""
    if old_size in (0, new_size):
        return []
    out = []
    start, width, m, complete = 0, new_size, old_size, True
    while m != width:
        k = split_point(width)
        if m <= k:
            out.append((start + k, start + width))
            width = k
        else:
            out.append((start, start + k))
            start, m, width, complete = start + k, m - k, width - k, False
    if not complete:
        out.append((start, start + width))
    out.reverse()
    return out


def edge_tile_ids(size: int) -> list[int]:
    """Tiles on the right edge of a tree of ``size`` that are only partly filled."""
    out = []
    tl = 0
    while size >> (TILE_HEIGHT * tl):
        count = size >> (TILE_HEIGHT * tl)
        if count & (TILE_WIDTH - 1):
            out.append(tile_id(tl, count >> TILE_HEIGHT))
        tl += 1
    return out


def tile_ids_for(size: int) -> Iterable[int]:
    """Every tile a tree of ``size`` has, in id order."""
    tl = 0
    while size >> (TILE_HEIGHT * tl):
        count = size >> (TILE_HEIGHT * tl)
        for n in range((count + TILE_WIDTH - 1) >> TILE_HEIGHT):
            yield tile_id(tl, n)
        tl += 1


# --- bundles ---------------------------------------------------------------------------

def encode_leaves(leaves: Iterable[bytes]) -> bytes:
    return b"".join(_LEN.pack(len(d)) + d for d in leaves)


def decode_bundle(blob: bytes) -> list[bytes]:
    out, i, n = [], 0, len(blob)
    while i < n:
        if i + 4 > n:
            raise ValueError("bundle ends inside a length prefix")
        (length,) = _LEN.unpack_from(blob, i)
        i += 4
        if i + length > n:
            raise ValueError("bundle ends inside a leaf")
        out.append(bytes(blob[i:i + length]))
        i += length
    return out


# --- reading a stored tree ---------------------------------------------------------------

class TileReader(Protocol):
    def read_tiles(self, ids: Iterable[int]) -> dict[int, bytes]: ...
    def read_bundles(self, first: int, last: int) -> dict[int, bytes]: ...


class MissingNode(LedgerError):
    """A tile the tree needs is not in the store (the store was altered or truncated)."""


def node_in(tiles: Mapping[int, bytes], level: int, pos: int) -> bytes:
    tid, off = node_address(level, pos)
    blob = tiles.get(tid)
    if blob is None or len(blob) != TILE_BYTES:
        tl, n = split_tile_id(tid)
        raise MissingNode(f"tile {tl}/{n} holding node level {level} position {pos} is "
                          f"{'missing' if blob is None else 'damaged (wrong length)'}")
    return bytes(blob[off:off + HASH])


def _ranges_nodes(ranges: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    return [decompose(s, e) for s, e in ranges]


def hashes_for_ranges(reader: TileReader, ranges: list[tuple[int, int]]) -> list[bytes]:
    parts = _ranges_nodes(ranges)
    ids = {node_address(lv, p)[0] for nodes in parts for lv, p in nodes}
    tiles = reader.read_tiles(ids)
    return [fold([node_in(tiles, lv, p) for lv, p in nodes]) for nodes in parts]


def stored_root(reader: TileReader, size: int) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    return hashes_for_ranges(reader, [(0, size)])[0]


def stored_inclusion_proof(reader: TileReader, index: int, size: int) -> list[bytes]:
    if not 0 <= index < size:
        raise LedgerError(f"leaf index {index} is not inside a tree of size {size}")
    return hashes_for_ranges(reader, inclusion_ranges(index, size))


def stored_consistency_proof(reader: TileReader, old_size: int, new_size: int) -> list[bytes]:
    if not 0 <= old_size <= new_size:
        raise LedgerError(f"cannot prove size {old_size} is a prefix of size {new_size}")
    return hashes_for_ranges(reader, consistency_ranges(old_size, new_size))


def stored_leaves(reader: TileReader, start: int, end: int) -> list[bytes]:
    """Raw leaf data for [start, end)."""
    if start >= end:
        return []
    first, last = start // BUNDLE_WIDTH, (end - 1) // BUNDLE_WIDTH
    bundles = reader.read_bundles(first, last)
    out: list[bytes] = []
    for b in range(first, last + 1):
        blob = bundles.get(b)
        if blob is None:
            raise MissingNode(f"bundle {b} (leaves {b * BUNDLE_WIDTH}.."
                              f"{(b + 1) * BUNDLE_WIDTH - 1}) is missing")
        leaves = decode_bundle(blob)
        lo = max(start - b * BUNDLE_WIDTH, 0)
        hi = min(end - b * BUNDLE_WIDTH, BUNDLE_WIDTH)
        if len(leaves) < hi:
            raise MissingNode(f"bundle {b} holds {len(leaves)} leaves, expected at least {hi}")
        out.extend(leaves[lo:hi])
    return out


# --- appending ---------------------------------------------------------------------------

@dataclass
class AppendPlan:
    """What one append writes: new and rewritten tiles and bundles, the new root.

    ``base`` holds the right-edge tiles and bundle as they were before, so a store can
    check (compare-and-swap) that it is still exactly the tree the plan was made for.
    """
    old_size: int
    new_size: int
    tiles: dict[int, bytes]
    bundles: dict[int, bytes]
    root: bytes
    base_tiles: dict[int, bytes] = field(default_factory=dict)
    base_bundle: tuple[int, bytes] | None = None


def _write_level(tiles: dict[int, bytearray], base: Mapping[int, bytes], level: int,
                 start: int, hashes: list[bytes]) -> None:
    tl, r = divmod(level, TILE_HEIGHT)
    span = TILE_WIDTH >> r
    slot0 = 2 * TILE_WIDTH - (2 * TILE_WIDTH >> r)
    i, n = 0, len(hashes)
    while i < n:
        pos = start + i
        tid = tile_id(tl, pos >> (TILE_HEIGHT - r))
        buf = tiles.get(tid)
        if buf is None:
            old = base.get(tid)
            buf = tiles[tid] = bytearray(old) if old is not None else bytearray(TILE_BYTES)
        within = pos & (span - 1)
        take = min(span - within, n - i)
        off = (slot0 + within) * HASH
        buf[off:off + take * HASH] = b"".join(hashes[i:i + take])
        i += take


def plan_append(old_size: int, edge_tiles: Mapping[int, bytes], partial_bundle: bytes | None,
                leaves: list[bytes]) -> AppendPlan:
    """Compute the tiles, bundles and root after appending ``leaves`` to a tree whose
    right-edge tiles and last partial bundle are given."""
    if old_size % BUNDLE_WIDTH and partial_bundle is None:
        raise MissingNode(f"bundle {old_size // BUNDLE_WIDTH} (the last, partly filled one) "
                          "is missing")
    new_size = old_size + len(leaves)
    tiles: dict[int, bytearray] = {}
    level, start = 0, old_size
    cur = [leaf_hash(d) for d in leaves]
    while cur:
        _write_level(tiles, edge_tiles, level, start, cur)
        if start & 1:
            cur.insert(0, node_in(edge_tiles, level, start - 1))
            start -= 1
        cur = [node_hash(cur[i], cur[i + 1]) for i in range(0, len(cur) - 1, 2)]
        start >>= 1
        level += 1
    view = dict(edge_tiles)
    view.update(tiles)
    root = fold([node_in(view, lv, p) for lv, p in decompose(0, new_size)]) if new_size \
        else EMPTY_ROOT
    bundles: dict[int, bytes] = {}
    i, b = 0, old_size // BUNDLE_WIDTH
    while i < len(leaves):
        room = BUNDLE_WIDTH - (old_size + i) % BUNDLE_WIDTH
        chunk = encode_leaves(leaves[i:i + room])
        bundles[b] = (partial_bundle + chunk) if (i == 0 and old_size % BUNDLE_WIDTH) \
            else chunk
        i += room
        b += 1
    base_bundle = (old_size // BUNDLE_WIDTH, partial_bundle) if old_size % BUNDLE_WIDTH \
        else None
    return AppendPlan(old_size, new_size, {k: bytes(v) for k, v in tiles.items()}, bundles,
                      root, {k: v for k, v in edge_tiles.items() if k in tiles}, base_bundle)


def read_edge(reader: TileReader, size: int) -> tuple[dict[int, bytes], bytes | None]:
    """The right-edge tiles and partial bundle an append to a tree of ``size`` starts from."""
    tiles = reader.read_tiles(edge_tile_ids(size))
    bundle = None
    if size % BUNDLE_WIDTH:
        b = size // BUNDLE_WIDTH
        bundle = reader.read_bundles(b, b).get(b)
    return tiles, bundle


# --- streaming recomputation (audit) -----------------------------------------------------

class Recomputer:
    """Rebuilds tiles from leaves, chunk by chunk, keeping only the right edge in memory.

    ``feed`` returns the tiles that became complete (full) in that chunk, which the
    caller compares with the store and forgets; ``edge`` holds the partial ones.
    """

    def __init__(self):
        self.size = 0
        self.root = EMPTY_ROOT
        self.edge: dict[int, bytes] = {}
        self._bundle: bytes | None = None

    def feed(self, leaves: list[bytes]) -> dict[int, bytes]:
        plan = plan_append(self.size, self.edge, self._bundle, leaves)
        self.size, self.root = plan.new_size, plan.root
        self.edge.update(plan.tiles)
        keep = set(edge_tile_ids(self.size))
        done = {tid: blob for tid, blob in self.edge.items() if tid not in keep}
        for tid in done:
            del self.edge[tid]
        self._bundle = plan.bundles[self.size // BUNDLE_WIDTH] if self.size % BUNDLE_WIDTH \
            else None
        return done


# --- truncation (repair) -----------------------------------------------------------------

def truncate_tile(tid: int, blob: bytes, size: int) -> bytes:
    """The tile as it is in a tree of ``size`` leaves: slots of nodes that reach beyond
    ``size`` are zeroed."""
    tl, n = split_tile_id(tid)
    out = bytearray(blob)
    for r in range(TILE_HEIGHT):
        level = tl * TILE_HEIGHT + r
        span = TILE_WIDTH >> r
        slot0 = 2 * TILE_WIDTH - (2 * TILE_WIDTH >> r)
        first_pos = n * span
        keep = max(0, min(span, (size >> level) - first_pos))
        start = (slot0 + keep) * HASH
        end = (slot0 + span) * HASH
        out[start:end] = bytes(end - start)
    return bytes(out)
