"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing, proofs and verification.

Standard library only, on purpose: a member or an auditor can copy this one file to check a
receipt without installing mailworker. Everything here works on the whole list of leaves
and is the slow, obvious reference; ``mailworker.ledger.tree`` is the fast stored tree and
the tests check that both agree.

Definitions (RFC 9162 section 2.1):

- leaf hash  ``SHA-256(0x00 || leaf)``; node hash ``SHA-256(0x01 || left || right)``;
- a tree of n > 1 leaves splits at k, the largest power of two smaller than n;
- the empty tree's root is ``SHA-256("")``.

Leaf indices count from 0. Verification functions return ``None`` on success and raise a
subclass of ``ProofError`` naming what did not match; ``.reason`` is a short machine word.
"""
from __future__ import annotations

import hashlib
import hmac

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


# --- errors ------------------------------------------------------------------------------

class LedgerError(Exception):
    """Base of every ledger error; the message is written for the person reading it."""


class ProofError(LedgerError):
    """A Merkle proof does not verify. ``reason`` says which check failed."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class InclusionProofError(ProofError):
    """An inclusion proof does not show the leaf in the tree."""


class ConsistencyProofError(ProofError):
    """A consistency proof does not show the old tree is a prefix of the new one."""


# --- hashing -----------------------------------------------------------------------------

def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: list[bytes]) -> bytes:
    """Merkle tree hash over already-hashed leaves."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = split_point(n)
    return node_hash(_mth(hashes[:k]), _mth(hashes[k:]))


def root(leaves: list[bytes]) -> bytes:
    """Root hash of the tree over the raw leaf data ``leaves``."""
    return _mth([leaf_hash(d) for d in leaves])


# --- proofs (reference) ----------------------------------------------------------------

def inclusion_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(index, D[n])."""
    if not 0 <= index < len(leaves):
        raise InclusionProofError(f"leaf index {index} is not inside a tree of size "
                                  f"{len(leaves)}", "index_out_of_range")
    return _path(index, [leaf_hash(d) for d in leaves])


def _path(m: int, hashes: list[bytes]) -> list[bytes]:
    n = len(hashes)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return _path(m, hashes[:k]) + [_mth(hashes[k:])]
    return _path(m - k, hashes[k:]) + [_mth(hashes[:k])]


def consistency_proof(leaves: list[bytes], old_size: int) -> list[bytes]:
    """RFC 9162 2.1.4.1 PROOF(old_size, D[n]); empty when old_size is 0 or n."""
    n = len(leaves)
    if not 0 <= old_size <= n:
        raise ConsistencyProofError(f"old size {old_size} is not between 0 and the tree "
                                    f"size {n}", "size_out_of_range")
    if old_size in (0, n):
        return []
    return _subproof(old_size, [leaf_hash(d) for d in leaves], True)


def _subproof(m: int, hashes: list[bytes], complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [_mth(hashes)]
    k = split_point(n)
    if m <= k:
        return _subproof(m, hashes[:k], complete) + [_mth(hashes[k:])]
    return _subproof(m - k, hashes[k:], False) + [_mth(hashes[:k])]


# --- verification ------------------------------------------------------------------------

def _short(h: bytes) -> str:
    return h.hex()[:16] + "..." if isinstance(h, (bytes, bytearray)) else repr(h)


def _check_hash(value, what: str, error: type[ProofError]) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, (bytes, bytearray)) else type(value).__name__
        raise error(f"{what} is not a {HASH_SIZE}-byte SHA-256 hash (got {size})", "bad_hash")


def inclusion_path_length(index: int, size: int) -> int:
    """How many hashes an inclusion proof for ``index`` in a tree of ``size`` has."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner + border


def consistency_path_length(old_size: int, new_size: int) -> int:
    """How many hashes a consistency proof from ``old_size`` to ``new_size`` has."""
    if old_size in (0, new_size):
        return 0
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length()
    border = bin((old_size - 1) >> inner).count("1")
    shift = (old_size & -old_size).bit_length() - 1      # trailing zeros of old_size
    start = 0 if old_size == 1 << shift else 1           # a power of two: its root is implied
    return start + inner - shift + border


def _chain(fn: int, sn: int, proof: list[bytes], error: type[ProofError], what: str):
    """RFC 9162's chaining loop (2.1.3.2 and 2.1.4.2), shared by both verifiers: walk from
    node ``fn`` up to the root of a tree whose last node is ``sn``, yielding each proof
    hash with whether it is the left sibling. Raises ``error`` if the proof is longer or
    shorter than the walk."""
    for p in proof:
        if sn == 0:
            raise error(f"{what} is longer than the tree is high", "wrong_length")
        left = bool(fn & 1) or fn == sn
        if left:
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        yield p, left
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise error(f"{what} is shorter than the tree is high", "wrong_length")


def root_from_inclusion_proof(leaf_hash_: bytes, index: int, size: int,
                              proof: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root that ``proof`` leads to from the leaf hash."""
    _check_hash(leaf_hash_, "the leaf hash", InclusionProofError)
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf index {index} is not inside a tree of size {size}",
                                  "index_out_of_range")
    want = inclusion_path_length(index, size)
    if len(proof) != want:
        raise InclusionProofError(
            f"inclusion proof for leaf {index} in a tree of size {size} must have {want} "
            f"hash(es), this one has {len(proof)} "
            f"({'truncated' if len(proof) < want else 'extended'} or wrong index/size)",
            "wrong_length")
    for i, p in enumerate(proof):
        _check_hash(p, f"inclusion proof hash #{i}", InclusionProofError)
    r = bytes(leaf_hash_)
    for p, left in _chain(index, size - 1, proof, InclusionProofError, "inclusion proof"):
        r = node_hash(p, r) if left else node_hash(r, p)
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: list[bytes],
                     root: bytes) -> None:
    """Check that the leaf with ``leaf_hash`` is at ``index`` in the tree (size, root)."""
    _check_hash(root, "the root hash", InclusionProofError)
    got = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if not hmac.compare_digest(got, bytes(root)):
        raise InclusionProofError(
            f"inclusion proof for leaf {index} leads to root {_short(got)}, but the tree of "
            f"size {size} has root {_short(root)} (the leaf, the proof or the root was "
            "changed)", "root_mismatch")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: list[bytes]) -> None:
    """Check that the tree (old_size, old_root) is a prefix of (new_size, new_root).

    RFC 9162 2.1.4.2, with the usual edge cases: equal sizes need equal roots and an
    empty proof; the empty tree is a prefix of every tree (empty proof).
    """
    err = ConsistencyProofError
    if old_size < 0 or new_size < 0:
        raise err("tree sizes cannot be negative", "size_out_of_range")
    if new_size < old_size:
        raise err(f"the new tree (size {new_size}) is smaller than the old one "
                  f"(size {old_size}): history was rewritten", "size_out_of_range")
    if old_size == new_size:
        if proof:
            raise err(f"trees of equal size {old_size} need an empty proof, got "
                      f"{len(proof)} hash(es)", "wrong_length")
        _check_hash(old_root, "the old root", err)
        _check_hash(new_root, "the new root", err)
        if not hmac.compare_digest(bytes(old_root), bytes(new_root)):
            raise err(f"two different roots for the same tree size {old_size}: "
                      f"{_short(old_root)} and {_short(new_root)}", "root_mismatch")
        return
    if old_size == 0:
        if proof:
            raise err("the empty tree needs an empty consistency proof", "wrong_length")
        return
    _check_hash(old_root, "the old root", err)
    _check_hash(new_root, "the new root", err)
    want = consistency_path_length(old_size, new_size)
    if len(proof) != want:
        raise err(f"consistency proof from size {old_size} to {new_size} must have {want} "
                  f"hash(es), this one has {len(proof)} "
                  f"({'truncated' if len(proof) < want else 'extended'} or wrong sizes)",
                  "wrong_length")
    for i, p in enumerate(proof):
        _check_hash(p, f"consistency proof hash #{i}", err)
    path = list(proof)
    if old_size & (old_size - 1) == 0:      # a power of two: the old root is a subtree
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:       # path[0] is the old tree's last complete subtree: start at its level
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c, left in _chain(fn, sn, path[1:], err, "consistency proof"):
        if left:        # a node left of the path is in both trees
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
        else:           # a node right of it only in the new one
            sr = node_hash(sr, c)
    if not hmac.compare_digest(fr, bytes(old_root)):
        raise err(f"consistency proof leads to old root {_short(fr)}, but the old tree of "
                  f"size {old_size} has root {_short(old_root)}", "old_root_mismatch")
    if not hmac.compare_digest(sr, bytes(new_root)):
        raise err(f"consistency proof leads to new root {_short(sr)}, but the new tree of "
                  f"size {new_size} has root {_short(new_root)}", "new_root_mismatch")
