"""The RFC 9162 reference (merkle.py) against the published vectors, their named
corruptions and the empty-tree edge cases; and the stored tiled tree against the
reference for every size and index up to 64 (and spot checks beyond)."""
from __future__ import annotations

import ast
import hashlib
import json
import random
from pathlib import Path

import pytest

from mailworker.ledger import merkle, tree

VECTORS = json.loads((Path(__file__).parent / "data" / "ledger" / "rfc9162_vectors.json")
                     .read_text(encoding="utf-8"))
LEAVES = [bytes.fromhex(h) for h in VECTORS["leaves_hex"]]


def h(x: str) -> bytes:
    return bytes.fromhex(x)


def hs(xs: list[str]) -> list[bytes]:
    return [h(x) for x in xs]


class MemoryTiles:
    """The stored tree's reader protocol over dicts: exercises tree.py without a database
    (the replica tests run the same code against SQLite and PostgreSQL)."""

    def __init__(self):
        self.tiles: dict[int, bytes] = {}
        self.bundles: dict[int, bytes] = {}
        self.size = 0

    def read_tiles(self, ids):
        return {i: self.tiles[i] for i in ids if i in self.tiles}

    def read_bundles(self, first, last):
        return {i: self.bundles[i] for i in range(first, last + 1) if i in self.bundles}

    def append(self, leaves):
        edge, bundle = tree.read_edge(self, self.size)
        plan = tree.plan_append(self.size, edge, bundle, leaves)
        self.tiles.update(plan.tiles)
        self.bundles.update(plan.bundles)
        self.size = plan.new_size
        return plan


# --- reference vs vectors ----------------------------------------------------------------

def test_roots_of_the_reference_tree():
    for n, want in VECTORS["roots_hex"].items():
        assert merkle.root(LEAVES[:int(n)]).hex() == want


def test_empty_tree():
    assert merkle.root([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT
    with pytest.raises(merkle.InclusionProofError) as e:
        merkle.inclusion_proof([], 0)
    assert e.value.reason == "index_out_of_range"
    assert merkle.consistency_proof([], 0) == []
    assert merkle.consistency_proof(LEAVES, 0) == []


@pytest.mark.parametrize("case", VECTORS["inclusion"],
                         ids=lambda c: f"leaf{c['index']}-of-{c['size']}")
def test_inclusion_vectors(case):
    leaves = LEAVES[:case["size"]]
    assert merkle.inclusion_proof(leaves, case["index"]) == hs(case["proof"])
    merkle.verify_inclusion(merkle.leaf_hash(LEAVES[case["index"]]), case["index"],
                            case["size"], hs(case["proof"]), h(VECTORS["roots_hex"][str(case["size"])]))


@pytest.mark.parametrize("case", VECTORS["consistency"],
                         ids=lambda c: f"{c['old_size']}-to-{c['new_size']}")
def test_consistency_vectors(case):
    old, new = case["old_size"], case["new_size"]
    assert merkle.consistency_proof(LEAVES[:new], old) == hs(case["proof"])
    merkle.verify_consistency(old, new, h(VECTORS["roots_hex"][str(old)]),
                              h(VECTORS["roots_hex"][str(new)]), hs(case["proof"]))


@pytest.mark.parametrize("case", VECTORS["inclusion_corruptions"], ids=lambda c: c["name"])
def test_inclusion_corruptions_are_rejected(case):
    with pytest.raises(merkle.InclusionProofError) as e:
        merkle.verify_inclusion(h(case["leaf_hash"]), case["index"], case["size"],
                                hs(case["proof"]), h(case["root"]))
    assert e.value.reason == case["reason"]
    assert isinstance(e.value, merkle.LedgerError) and str(e.value)


@pytest.mark.parametrize("case", VECTORS["consistency_corruptions"], ids=lambda c: c["name"])
def test_consistency_corruptions_are_rejected(case):
    with pytest.raises(merkle.ConsistencyProofError) as e:
        merkle.verify_consistency(case["old_size"], case["new_size"], h(case["old_root"]),
                                  h(case["new_root"]), hs(case["proof"]))
    assert e.value.reason == case["reason"]


def test_every_kind_of_named_corruption_is_present():
    names = " ".join(c["name"] for c in VECTORS["inclusion_corruptions"]
                     + VECTORS["consistency_corruptions"])
    for kind in ("wrong index", "wrong size", "truncated proof", "extended proof",
                 "flipped bit"):
        assert kind in names


@pytest.mark.parametrize("case", VECTORS["edge_cases"]["consistency_ok"], ids=lambda c: c["name"])
def test_consistency_edge_cases_that_hold(case):
    assert merkle.verify_consistency(case["old_size"], case["new_size"], h(case["old_root"]),
                                     h(case["new_root"]), hs(case["proof"])) is None


@pytest.mark.parametrize("case", VECTORS["edge_cases"]["consistency_bad"], ids=lambda c: c["name"])
def test_consistency_edge_cases_that_fail(case):
    with pytest.raises(merkle.ConsistencyProofError):
        merkle.verify_consistency(case["old_size"], case["new_size"], h(case["old_root"]),
                                  h(case["new_root"]), hs(case["proof"]))


@pytest.mark.parametrize("case", VECTORS["edge_cases"]["inclusion_bad"], ids=lambda c: c["name"])
def test_inclusion_edge_cases_that_fail(case):
    with pytest.raises(merkle.InclusionProofError):
        merkle.verify_inclusion(h(case["leaf_hash"]), case["index"], case["size"],
                                hs(case["proof"]), h(case["root"]))


def test_errors_name_what_did_not_match():
    leaves = [b"a", b"b", b"c"]
    proof = merkle.inclusion_proof(leaves, 1)
    with pytest.raises(merkle.InclusionProofError, match="leads to root .* but the tree of size 3"):
        merkle.verify_inclusion(merkle.leaf_hash(b"x"), 1, 3, proof, merkle.root(leaves))
    with pytest.raises(merkle.InclusionProofError, match="must have 2 hash"):
        merkle.verify_inclusion(merkle.leaf_hash(b"b"), 1, 3, proof[:1], merkle.root(leaves))
    with pytest.raises(merkle.ConsistencyProofError, match="history was rewritten"):
        merkle.verify_consistency(3, 2, merkle.root(leaves), merkle.root(leaves[:2]), [])


def test_merkle_module_uses_only_the_standard_library():
    import sys
    source = Path(merkle.__file__).read_text(encoding="utf-8")
    mods = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            mods.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "merkle.py must not import from mailworker"
            mods.add(node.module.split(".")[0])
    assert mods <= set(sys.stdlib_module_names) | {"__future__"}, mods


# --- reference vs stored tree ------------------------------------------------------------

def test_reference_agrees_with_itself_for_every_size_and_index_up_to_64():
    rnd = random.Random(7)
    leaves = [rnd.randbytes(rnd.randint(0, 12)) for _ in range(64)]
    for n in range(1, 65):
        r = merkle.root(leaves[:n])
        for i in range(n):
            p = merkle.inclusion_proof(leaves[:n], i)
            assert len(p) == merkle.inclusion_path_length(i, n)
            merkle.verify_inclusion(merkle.leaf_hash(leaves[i]), i, n, p, r)
        for m in range(0, n + 1):
            p = merkle.consistency_proof(leaves[:n], m)
            assert len(p) == merkle.consistency_path_length(m, n)
            merkle.verify_consistency(m, n, merkle.root(leaves[:m]), r, p)


def test_stored_tree_agrees_with_reference_for_every_size_and_index_up_to_64():
    rnd = random.Random(11)
    leaves = [rnd.randbytes(rnd.randint(0, 30)) for _ in range(64)]
    store = MemoryTiles()
    for n in range(1, 65):
        plan = store.append([leaves[n - 1]])      # one leaf at a time: every edge case
        assert plan.root == merkle.root(leaves[:n])
    for n in range(0, 65):
        assert tree.stored_root(store, n) == merkle.root(leaves[:n])
        for i in range(n):
            assert tree.stored_inclusion_proof(store, i, n) == \
                merkle.inclusion_proof(leaves[:n], i), (i, n)
        for m in range(0, n + 1):
            assert tree.stored_consistency_proof(store, m, n) == \
                merkle.consistency_proof(leaves[:n], m), (m, n)
    assert tree.stored_leaves(store, 0, 64) == leaves


def test_stored_tree_across_tile_and_bundle_borders_with_uneven_batches():
    rnd = random.Random(3)
    leaves: list[bytes] = []
    store = MemoryTiles()
    for batch in (1, 254, 1, 1, 300, 255, 256, 257, 2, 700):   # total 2027
        new = [rnd.randbytes(rnd.randint(0, 40)) for _ in range(batch)]
        leaves += new
        assert store.append(new).root == merkle.root(leaves)
    n = len(leaves)
    for size in (255, 256, 257, 511, 512, 513, 1024, 1025, n):
        assert tree.stored_root(store, size) == merkle.root(leaves[:size])
        for i in rnd.sample(range(size), 15) + [0, size - 1]:
            assert tree.stored_inclusion_proof(store, i, size) == \
                merkle.inclusion_proof(leaves[:size], i)
        for m in rnd.sample(range(size + 1), 15) + [1, size - 1]:
            assert tree.stored_consistency_proof(store, m, size) == \
                merkle.consistency_proof(leaves[:size], m)
    assert tree.stored_leaves(store, 250, 1030) == leaves[250:1030]
    assert sorted(store.tiles) == list(tree.tile_ids_for(n))


def test_truncated_tile_matches_a_tree_built_to_that_size():
    rnd = random.Random(9)
    leaves = [rnd.randbytes(5) for _ in range(600)]
    full, short = MemoryTiles(), MemoryTiles()
    full.append(leaves)
    short.append(leaves[:333])
    for tid in tree.edge_tile_ids(333):
        assert tree.truncate_tile(tid, full.tiles[tid], 333) == short.tiles[tid]


def test_proof_reads_are_logarithmic():
    """A proof touches at most a handful of tiles whatever the size (one query)."""
    for size in (1000, 100_000, 1_000_000, 10 ** 9):
        for index in (0, size // 3, size - 1):
            ranges = tree.inclusion_ranges(index, size)
            nodes = [n for s, e in ranges for n in tree.decompose(s, e)]
            assert len(nodes) <= 2 * size.bit_length()
            assert len({tree.node_address(lv, p)[0] for lv, p in nodes}) <= 8
