"""Both verifiers of merkle.py walk the RFC 9162 chaining loop through one helper, and its
errors name the verifier that used it."""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

from mailworker.ledger import merkle

H = hashlib.sha256(b"x").digest()


def test_the_chaining_loop_exists_once():
    tree = ast.parse(Path(merkle.__file__).read_text(encoding="utf-8"))
    owners = []
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef):
            for node in ast.walk(fn):
                # fn == sn: "is this proof hash the left sibling" (RFC 9162 2.1.3.2 step 5)
                if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name)
                        and node.left.id == "fn" and isinstance(node.comparators[0], ast.Name)
                        and node.comparators[0].id == "sn"):
                    owners.append(fn.name)
    assert owners == ["_chain"]


@pytest.mark.parametrize("error, what", [
    (merkle.InclusionProofError, "inclusion proof"),
    (merkle.ConsistencyProofError, "consistency proof"),
])
def test_a_walk_that_does_not_fit_the_tree_names_the_proof(error, what):
    # Leaf 0 of a tree of 2 needs one hash: two are one too many, none one too few.
    with pytest.raises(error, match=f"^{what} is longer than the tree is high") as got:
        list(merkle._chain(0, 1, [H, H], error, what))
    assert got.value.reason == "wrong_length"
    with pytest.raises(error, match=f"^{what} is shorter than the tree is high"):
        list(merkle._chain(0, 1, [], error, what))
    assert [left for _, left in merkle._chain(1, 1, [H], error, what)] == [True]
    assert [left for _, left in merkle._chain(0, 1, [H], error, what)] == [False]
