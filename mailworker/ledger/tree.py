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
  followed by its bytes; a full bundle is stored compressed (see ``pack_bundle``).

A proof needs O(log n) nodes, which lie in at most a handful of tiles (one per 8 tree
levels, plus the right edge), read in one query. An append rewrites only the right-edge
tiles and bundle. Tiles and bundles are written in one transaction with the size, so a
store is always a complete tree of its recorded size.
"""
from __future__ import annotations

import hashlib
import struct
import threading
import zlib
from collections import OrderedDict
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from functools import cache
from typing import Iterable, Mapping, Protocol

from .merkle import EMPTY_ROOT, LedgerError, node_hash, split_point

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT                      # level-0 entries of a tile
TILE_ENTRIES = 2 * TILE_WIDTH - 2                  # 510 hashes
HASH = 32
TILE_BYTES = TILE_ENTRIES * HASH
BUNDLE_WIDTH = 256
_TILE_ID_SHIFT = 40
_UPPER = 1 << _TILE_ID_SHIFT                    # ids of tiles of level 1 and up
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
#
# A bundle is stored *plain* (each leaf as a 4-byte big-endian length and its bytes) while
# it fills, and *packed* once it holds all 256 leaves: PACKED_MARK, then the plain form
# compressed with raw DEFLATE (zlib level 1; no zlib header or checksum, since the leaf
# hashes in the tiles already check every byte). Packing happens once, in the append plan
# that all replicas share. The mark cannot begin a plain bundle: its first leaf would be
# over 4 GB, and a stored value is at most 1 GB. Stores written before packing existed
# hold only plain bundles, and read as before.

PACKED_MARK = b"\xffZ"


def encode_leaves(leaves: Iterable[bytes]) -> bytes:
    return b"".join(_LEN.pack(len(d)) + d for d in leaves)


def pack_bundle(plain: bytes) -> bytes:
    """The packed form of a full bundle's plain encoding."""
    z = zlib.compressobj(1, zlib.DEFLATED, -15)
    return PACKED_MARK + z.compress(plain) + z.flush()


def plain_bundle(blob: bytes) -> bytes:
    """The plain encoding of a stored bundle, packed or not (ValueError if damaged)."""
    if not blob.startswith(PACKED_MARK):
        return blob
    z = zlib.decompressobj(-15)
    try:
        out = z.decompress(memoryview(blob)[len(PACKED_MARK):])
    except zlib.error as exc:
        raise ValueError(f"packed bundle does not inflate ({exc})") from None
    if not z.eof or z.unused_data:
        raise ValueError("packed bundle is cut short" if not z.eof
                         else "packed bundle has bytes after its end")
    return out


def decode_bundle(blob: bytes) -> list[bytes]:
    return _split_leaves(plain_bundle(blob))


def _split_leaves(blob: bytes) -> list[bytes]:
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


def salvage_bundle(blob: bytes) -> tuple[list[bytes], str | None]:
    """For an audit: the leaves of a stored bundle up to where it is damaged, and what
    is wrong after them (None if nothing). DEFLATE output before a damaged byte is
    intact, so the leaves before it can still be checked against their hashes."""
    try:
        return decode_bundle(blob), None
    except ValueError as exc:
        problem = str(exc)
    plain = bytearray()
    if blob.startswith(PACKED_MARK):
        z = zlib.decompressobj(-15)
        data = memoryview(blob)[len(PACKED_MARK):]
        try:
            for i in range(0, len(data), 64):
                plain += z.decompress(data[i:i + 64])
        except zlib.error:
            pass                                    # keep what came out before the damage
    else:
        plain += blob
    leaves, i = [], 0
    while i + 4 <= len(plain):
        (length,) = _LEN.unpack_from(plain, i)
        if i + 4 + length > len(plain):
            break
        leaves.append(bytes(plain[i + 4:i + 4 + length]))
        i += 4 + length
    return leaves, problem


# --- reading a stored tree ---------------------------------------------------------------

class TileReader(Protocol):
    def read_tiles(self, ids: Iterable[int]) -> dict[int, bytes]: ...
    def read_bundles(self, first: int, last: int) -> dict[int, bytes]: ...


class TileCache:
    """A reader that keeps upper-level tiles in memory (a bounded LRU).

    In an append-only tree a stored node never changes once written; an append only
    fills empty slots of the right-edge tiles (and a repair, or an append rolled back,
    which may change anything, clears the cache). So a cached tile stays right for every
    slot it has filled, and a proof that needs a slot still empty in the cached copy reads
    the tile again (``refresh``).

    Only tiles of level 1 and up are kept (one per 65,536 leaves, 16 KB each; every proof
    needs them): up to ``capacity`` of them. Bottom tiles, one per 256 leaves, are always
    read from the store, so a proof costs the same one-row read at any tree size and a
    big tree is never held in memory.

    ``tails`` remembers, per tree size, the part of a proof that all leaves under one
    fork share (the hash of the incomplete right edge and the complete subtrees on its
    left): a few dozen hashes per size, bounded too.
    """

    def __init__(self, reader: TileReader, capacity: int = 512, tails: int = 256):
        self.reader = reader
        self.capacity = capacity
        self._tiles: OrderedDict[int, bytes] = OrderedDict()
        self.tails_limit = tails
        self.tails: OrderedDict = OrderedDict()

    def read_tiles(self, ids: Iterable[int]) -> dict[int, bytes]:
        out, missing = {}, []
        cache = self._tiles
        for tid in ids:
            blob = cache.get(tid)
            if blob is None:
                missing.append(tid)
            else:
                cache.move_to_end(tid)
                out[tid] = blob
        if missing:
            out.update(self.refresh(missing))
        return out

    def refresh(self, ids: Iterable[int]) -> dict[int, bytes]:
        got = self.reader.read_tiles(ids)
        cache = self._tiles
        for tid, blob in got.items():
            if tid >= _UPPER:
                cache[tid] = blob
                cache.move_to_end(tid)
                if len(cache) > self.capacity:
                    cache.popitem(last=False)
        return got

    def remember_tail(self, key, value: tuple[bytes, ...]) -> None:
        self.tails[key] = value
        if len(self.tails) > self.tails_limit:
            self.tails.popitem(last=False)

    def read_bundles(self, first: int, last: int) -> dict[int, bytes]:
        return self.reader.read_bundles(first, last)

    def clear(self) -> None:
        self._tiles.clear()
        self.tails.clear()


_EMPTY_SLOT = bytes(HASH)


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


def hashes_for_ranges(reader: TileReader, ranges: list[tuple[int, int]]) -> list[bytes]:
    """The RFC 9162 hash of each leaf range, from the stored complete subtrees."""
    nodes = [decompose(s, e) for s, e in ranges]
    addrs = [[node_address(lv, p) for lv, p in part] for part in nodes]
    tiles = reader.read_tiles({tid for part in addrs for tid, _ in part})
    for attempt in (0, 1):
        values, stale = [], set()
        for part, part_addrs in zip(nodes, addrs):
            vals = []
            for (lv, p), (tid, off) in zip(part, part_addrs):
                blob = tiles.get(tid)
                if blob is None or len(blob) != TILE_BYTES:
                    node_in(tiles, lv, p)           # raises MissingNode with the details
                v = blob[off:off + HASH]
                if v == _EMPTY_SLOT:
                    stale.add(tid)
                vals.append(v)
            values.append(vals)
        if not stale or attempt or not isinstance(reader, TileCache):
            break
        tiles.update(reader.refresh(stale))     # the cached copy predates the last append
    return [fold(vals) for vals in values]


def stored_root(reader: TileReader, size: int) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    return hashes_for_ranges(reader, [(0, size)])[0]


@cache                                  # at most 256 * 8 * 8 small entries
def _tile_path(j: int, r0: int, take: int) -> struct.Struct:
    """Reads, from one tile, the siblings on the path up from level-0 slot ``j``, at tile
    levels r0 .. r0+take-1 (in that order, which is also their order in the tile)."""
    fmt, at = [">"], 0
    for r in range(r0, r0 + take):
        off = (2 * TILE_WIDTH - (2 * TILE_WIDTH >> r)
               + (((j >> r) ^ 1) & ((TILE_WIDTH >> r) - 1))) * HASH
        fmt.append(f"{off - at}x{HASH}s")
        at = off + HASH
    return struct.Struct("".join(fmt))


@cache                                  # at most TILE_ENTRIES entries
def _one_node(off: int) -> struct.Struct:
    return struct.Struct(f">{off}x{HASH}s")


def _path(reader: TileReader, level: int, index: int, size: int,
          head: bool = False) -> list[bytes]:
    """The RFC 9162 audit path of node (level, index) in a tree of ``size``, bottom up
    (with ``head``, the node itself first): the node walk of RFC 9162 section 2.1.3.

    Below the *fork* (where the path leaves the complete subtree around the node) every
    sibling is a stored node, read from one tile per 8 levels. Above it come the hash of
    the incomplete right edge [end, size), if any, and the complete subtrees left of the
    fork: both depend only on the fork and the size, so a TileCache remembers them.
    """
    inner = (index ^ (size >> level)).bit_length() - 1
    fork = level + inner
    ids, fmts = [], []                               # tiles, and what to read from each
    lv, pos = level, index
    if head:
        tid, off = node_address(lv, pos)
        ids.append(tid)
        fmts.append(_one_node(off))
    while lv < fork:
        tl, r = divmod(lv, TILE_HEIGHT)
        take = min(TILE_HEIGHT - r, fork - lv)
        ids.append((tl << _TILE_ID_SHIFT) | (pos >> (TILE_HEIGHT - r)))
        fmts.append(_tile_path((pos << r) & (TILE_WIDTH - 1), r, take))
        pos >>= take
        lv += take
    wanted = list(dict.fromkeys(ids)) if head else ids   # the node shares its sibling's tile
    tiles = reader.read_tiles(wanted)
    out = _unpack(tiles, ids, fmts)
    if _EMPTY_SLOT in out and isinstance(reader, TileCache):
        tiles.update(reader.refresh(wanted))        # the cached copy predates an append
        out = _unpack(tiles, ids, fmts)
    out += _tail(reader, fork, size)
    return out


def _unpack(tiles: Mapping[int, bytes], ids: list[int], fmts: list[struct.Struct]
            ) -> list[bytes]:
    out: list[bytes] = []
    for tid, fmt in zip(ids, fmts):
        blob = tiles.get(tid)
        if blob is None or len(blob) != TILE_BYTES:
            tl, n = split_tile_id(tid)
            raise MissingNode(f"tile {tl}/{n} is "
                              f"{'missing' if blob is None else 'damaged (wrong length)'}")
        out += fmt.unpack_from(blob)
    return out


def _tail(reader: TileReader, fork: int, size: int) -> tuple[bytes, ...]:
    """Proof hashes above a fork at level ``fork``: the right edge, then the left side."""
    cache = reader if isinstance(reader, TileCache) else None
    key = (fork, size)
    if cache is not None:
        got = cache.tails.get(key)
        if got is not None:
            return got
    begin = (size >> (fork + 1)) << (fork + 1)       # the fork subtree covers [begin, end)
    end = begin + (1 << fork)
    ranges = [(end, size)] if end < size else []
    rest = begin
    while rest:                                      # complete subtrees of [0, begin),
        low = rest & -rest                           # nearest (smallest) first
        ranges.append((rest - low, rest))
        rest -= low
    value = tuple(hashes_for_ranges(reader, ranges))
    if cache is not None and _EMPTY_SLOT not in value:
        cache.remember_tail(key, value)
    return value


def stored_inclusion_proof(reader: TileReader, index: int, size: int) -> list[bytes]:
    if not 0 <= index < size:
        raise LedgerError(f"leaf index {index} is not inside a tree of size {size}")
    return _path(reader, 0, index, size)


def stored_consistency_proof(reader: TileReader, old_size: int, new_size: int) -> list[bytes]:
    if not 0 <= old_size <= new_size:
        raise LedgerError(f"cannot prove size {old_size} is a prefix of size {new_size}")
    if old_size in (0, new_size):
        return []
    # The largest complete subtree ending at old_size, then its path in the new tree;
    # the subtree itself is left out when it is the whole old tree (its root is known).
    level = (old_size & -old_size).bit_length() - 1
    index = (old_size - 1) >> level
    return _path(reader, level, index, new_size, head=index != 0)


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
    Bundles are planned plain; ``bundles``, what a store writes, has the full ones packed:
    once per plan, for every replica, either on an executor (``start_packing``: zlib runs
    without the GIL, so an appender plans the next batch meanwhile) or on first use.
    """
    old_size: int
    new_size: int
    tiles: dict[int, bytes]
    plain_bundles: dict[int, bytes]
    full_bundles: frozenset[int]                         # ids of bundles now full
    root: bytes
    base_tiles: dict[int, bytes] = field(default_factory=dict)
    base_bundle: tuple[int, bytes] | None = None
    leaves: list[bytes] = field(default_factory=list)    # what is appended (for remotes)
    edge_after: dict[int, bytes] = field(default_factory=dict)   # to plan the next append
    bundle_after: bytes | None = None
    _packed: dict[int, bytes] | Future | None = field(default=None, repr=False, compare=False)
    _packing: threading.Lock = field(default_factory=threading.Lock, repr=False,
                                     compare=False)

    def start_packing(self, executor: Executor) -> None:
        with self._packing:
            if self._packed is None:
                self._packed = executor.submit(self._pack)

    @property
    def bundles(self) -> dict[int, bytes]:
        """The bundles as stored: full ones packed, the last one plain while it fills."""
        with self._packing:
            if self._packed is None:
                self._packed = self._pack()
            packed = self._packed
        return packed.result() if isinstance(packed, Future) else packed

    def _pack(self) -> dict[int, bytes]:
        return {b: pack_bundle(v) if b in self.full_bundles else v
                for b, v in self.plain_bundles.items()}


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
    sha256 = hashlib.sha256
    cur = [sha256(b"\x00" + d).digest() for d in leaves]           # leaf_hash, inlined
    while cur:
        _write_level(tiles, edge_tiles, level, start, cur)
        if start & 1:
            cur.insert(0, node_in(edge_tiles, level, start - 1))
            start -= 1
        it = iter(cur)
        cur = [sha256(b"\x01" + a + b).digest() for a, b in zip(it, it)]   # node_hash
        start >>= 1
        level += 1
    view = dict(edge_tiles)
    view.update(tiles)
    root = fold([node_in(view, lv, p) for lv, p in decompose(0, new_size)]) if new_size \
        else EMPTY_ROOT
    bundles: dict[int, bytes] = {}
    full: list[int] = []
    i, b = 0, old_size // BUNDLE_WIDTH
    while i < len(leaves):
        filled = (old_size + i) % BUNDLE_WIDTH
        room = BUNDLE_WIDTH - filled
        plain = encode_leaves(leaves[i:i + room])
        if filled:
            try:
                plain = plain_bundle(partial_bundle) + plain
            except ValueError as exc:
                raise MissingNode(f"bundle {b} (the last, partly filled one) is "
                                  f"unreadable: {exc}") from None
        bundles[b] = plain
        if i + room <= len(leaves):
            full.append(b)      # packed once, for every replica (AppendPlan.bundles)
        i += room
        b += 1
    base_bundle = (old_size // BUNDLE_WIDTH, partial_bundle) if old_size % BUNDLE_WIDTH \
        else None
    new_tiles = {k: bytes(v) for k, v in tiles.items()}
    view.update(new_tiles)
    after = {tid: view[tid] for tid in edge_tile_ids(new_size) if tid in view}
    bundle_after = (bundles.get(new_size // BUNDLE_WIDTH, partial_bundle)
                    if new_size % BUNDLE_WIDTH else None)
    return AppendPlan(old_size, new_size, new_tiles, bundles, frozenset(full), root,
                      {k: v for k, v in edge_tiles.items() if k in tiles}, base_bundle,
                      leaves, after, bundle_after)


def read_edge(reader: TileReader, size: int) -> tuple[dict[int, bytes], bytes | None]:
    """The right-edge tiles and partial bundle an append to a tree of ``size`` starts from."""
    tiles = reader.read_tiles(edge_tile_ids(size))
    bundle = None
    if size % BUNDLE_WIDTH:
        b = size // BUNDLE_WIDTH
        bundle = reader.read_bundles(b, b).get(b)
    return tiles, bundle


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
