"""Receipts: self-contained proof that one message was recorded on the ledger.

A receipt is a JSON object holding the leaf data (canonical JSON, as stored), its index,
the inclusion proof and the quorum-signed checkpoint. Anyone with the replicas' public
keys can check it offline; ``merkle.py`` alone (standard library) checks the proof part.
"""
from __future__ import annotations

import base64
import binascii
import json
import re

from .. import models
from . import checkpoint as cp_mod
from .checkpoint import OpenedNote
from .errors import CheckpointError, LedgerProblem, ReceiptError, ReplicaUnavailable
from .handle import LedgerHandle, Tip, main_db_note, open_ledger
from .keys import Verifier, parse_public_key
from .merkle import InclusionProofError, leaf_hash, verify_inclusion

FORMAT = "mailworker-ledger-receipt/1"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def build_receipt(cfg, msg_sha256: str) -> dict | None:
    """The receipt for the message with this SHA-256, or None while its leaf is not yet
    under a quorum checkpoint. Raises ReplicaUnavailable if it is committed but no replica
    holding the checkpoint can be reached to prove it. Needs the main database open.
    For many receipts in a row use one ``ReceiptSource``."""
    with ReceiptSource(cfg) as source:
        return source.build(msg_sha256)


class ReceiptSource:
    """Receipts from a ledger opened once, for callers that need many (one outbox drain
    pass). Opening every replica and checking the newest checkpoint's signatures cost
    more than a proof, so they happen at the first receipt, not at each; every receipt is
    still proven from a replica and checked before it is handed out. The checkpoint is
    read again when a leaf is newer than the one in hand. Close it (or use ``with``)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self._handle: LedgerHandle | None = None
        self._tip: Tip | None = None
        self._opened: OpenedNote | None = None   # the tip's note, signatures checked
        self._holders: set[str] = set()          # replicas seen to hold the tip's tree

    def __enter__(self) -> "ReceiptSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle, self._tip, self._opened = None, None, None
        self._holders.clear()

    def build(self, msg_sha256: str) -> dict | None:
        """Same contract as ``build_receipt``."""
        sha = msg_sha256.strip().lower()
        if not _SHA256.match(sha):
            raise ReceiptError(f"{msg_sha256!r} is not a SHA-256 (64 hexadecimal characters)")
        if models.db_proxy.obj is None:
            raise ReceiptError("building a receipt needs the main database open")
        event = _event_for(sha)
        if event is None or event.leaf_index is None:
            return None
        index = event.leaf_index
        handle = self._ledger()
        if self._tip is None or self._tip.size <= index:
            self._read_tip(handle)
        tip = self._tip
        if tip.size <= index:
            return None
        leaf = event.payload.encode("utf-8")
        failures = []
        for rep in handle.reachable:
            try:
                if rep.name not in self._holders:
                    if rep.size() < tip.size or rep.root(tip.size) != tip.root:
                        failures.append(f"{rep.name}: does not hold the quorum checkpoint")
                        continue
                    self._holders.add(rep.name)
                stored = rep.leaves(index, index + 1)[0]
                if stored != leaf:
                    failures.append(f"{rep.name}: its leaf {index} differs from the event")
                    continue
                receipt = {
                    "format": FORMAT,
                    "origin": handle.origin,
                    "msg_sha256": sha,
                    "leaf": event.payload,
                    "leaf_index": index,
                    "tree_size": tip.size,
                    "inclusion_proof": [base64.b64encode(h).decode()
                                        for h in rep.inclusion_proof(index, tip.size)],
                    "checkpoint": tip.note,
                    "hashing": "RFC 9162 SHA-256: leaf = H(0x00 || leaf), "
                               "node = H(0x01 || left || right)",
                }
                # The same check a member's verifier makes; the checkpoint's signatures
                # were checked once when it was read.
                _check_receipt(receipt, self._opened)
                return receipt
            except (LedgerProblem, ReceiptError) as exc:
                failures.append(str(exc))
        raise ReplicaUnavailable(
            f"leaf {index} is committed, but no reachable replica could prove it: "
            + ("; ".join(failures + [f"{n}: {w}" for n, w in handle.down.items()]) or
               "no replicas"))

    def _ledger(self) -> LedgerHandle:
        if self._handle is None:
            self._handle = open_ledger(self.cfg, create_missing=False)
        return self._handle

    def _read_tip(self, handle: LedgerHandle) -> None:
        tip = handle.tip(main_db_note())
        self._opened = handle.open_note(tip.note) if tip.note else None
        self._tip = tip
        self._holders.clear()


def _event_for(sha: str):
    """The ledger event that records this message: its contribution (found by its
    dedup key, as ingest writes it), else any event whose leaf names the message."""
    LE = models.LedgerEvent
    event = LE.get_or_none(LE.dedup_key == f"contribution:{sha}")
    if event is not None and event.event_type == "contribution" \
            and _leaf_msg(event.payload) == sha:
        return event
    events = [e for e in LE.select().where(LE.payload.contains(f'"msg_sha256":"{sha}"'))
              .order_by(LE.id) if _leaf_msg(e.payload) == sha]
    if not events:
        return None
    return next((e for e in events if e.event_type == "contribution"), events[0])


def _leaf_msg(payload: str) -> str | None:
    try:
        return json.loads(payload).get("msg_sha256")
    except (ValueError, AttributeError):
        return None


def as_verifiers(public_keys) -> list[Verifier]:
    """Accept Verifier objects, verifier-key strings, or a {name: key} mapping."""
    if isinstance(public_keys, dict):
        return [parse_public_key(k, n, f"public key of {n}") for n, k in public_keys.items()]
    out = []
    for k in public_keys:
        if isinstance(k, Verifier):
            out.append(k)
        elif isinstance(k, str):
            out.append(parse_public_key(k, k.split("+", 1)[0], "public key"))
        else:
            raise ReceiptError(f"cannot use {type(k).__name__} as a public key")
    return out


def verify_receipt(receipt: dict, public_keys, quorum: int = 3,
                   origin: str | None = None) -> dict:
    """Check a receipt offline. Returns a short summary; raises ReceiptError saying
    plainly what is wrong."""
    _check_shape(receipt)
    verifiers = as_verifiers(public_keys)
    try:
        opened = cp_mod.open_note(receipt["checkpoint"], verifiers, quorum,
                                  origin or receipt["origin"])
    except CheckpointError as exc:
        raise ReceiptError(f"the checkpoint in the receipt is not acceptable: {exc}") from None
    return _check_receipt(receipt, opened)


def _check_shape(receipt) -> None:
    if not isinstance(receipt, dict):
        raise ReceiptError("the receipt is not a JSON object")
    if receipt.get("format") != FORMAT:
        raise ReceiptError(f"not a mailworker ledger receipt (format "
                           f"{receipt.get('format')!r}, expected {FORMAT!r})")
    for key, kind in (("leaf", str), ("leaf_index", int), ("tree_size", int),
                      ("inclusion_proof", list), ("checkpoint", str), ("origin", str)):
        if not isinstance(receipt.get(key), kind) or isinstance(receipt.get(key), bool):
            raise ReceiptError(f"the receipt's {key!r} is missing or has the wrong type")


def _check_receipt(receipt: dict, opened: OpenedNote | None) -> dict:
    """Everything but the checkpoint's signatures, given the opened (verified) note,
    which must be the receipt's own checkpoint."""
    _check_shape(receipt)
    if opened is None or opened.note != receipt["checkpoint"]:
        raise ReceiptError("the receipt's checkpoint is not the verified one")
    cp = opened.checkpoint
    if receipt["tree_size"] != cp.size:
        raise ReceiptError(f"the receipt says tree size {receipt['tree_size']} but its "
                           f"checkpoint is for size {cp.size}")
    leaf = receipt["leaf"].encode("utf-8")
    sha = receipt.get("msg_sha256")
    if sha is not None and _leaf_msg(receipt["leaf"]) != sha:
        raise ReceiptError(f"the leaf in the receipt is not about message {sha}")
    try:
        proof = [base64.b64decode(h, validate=True) for h in receipt["inclusion_proof"]]
    except (binascii.Error, TypeError, ValueError):
        raise ReceiptError("the inclusion proof in the receipt is not base64") from None
    try:
        verify_inclusion(leaf_hash(leaf), receipt["leaf_index"], cp.size, proof, cp.root)
    except InclusionProofError as exc:
        raise ReceiptError(f"the leaf is not proven to be in the signed tree: {exc}") from None
    return {"origin": cp.origin, "leaf_index": receipt["leaf_index"], "tree_size": cp.size,
            "signers": opened.signers, "msg_sha256": sha}
