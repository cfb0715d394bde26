"""Opening the ledger for one operation: every replica that can be reached, the trusted
keys, and the newest quorum checkpoint anybody holds.

A replica that cannot be opened is recorded with the reason and left out; the caller
decides whether the others are enough. A replica store that does not exist yet is
created only if that replica never signed a quorum checkpoint: a store that vanished
after it had signed is reported (restore it, or rebuild it with ``ledger repair``),
never silently started afresh.
"""
from __future__ import annotations

import fcntl
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import models
from ..errors import ConfigError
from ..private import private_dir
from . import checkpoint as cp_mod
from .checkpoint import Checkpoint, OpenedNote
from .errors import (CheckpointError, LedgerProblem, ReplicaCorrupt, ReplicaUnavailable,
                     ReplicaUnreadable)
from .keys import Verifier
from .layout import ReplicaSpec, replica_specs, signer_for, verifier_for
from .merkle import EMPTY_ROOT
from .replica import LocalReplica, Replica, check_identity, open_store

log = logging.getLogger(__name__)

STATE_KEY = "ledger.checkpoint"


@dataclass
class Tip:
    """The newest quorum checkpoint (or the empty tree when there is none yet)."""
    size: int
    root: bytes
    note: str | None
    signers: list[str]

    @property
    def checkpoint(self) -> Checkpoint | None:
        return cp_mod.parse_body(cp_mod.split_note(self.note)[0]) if self.note else None


class LedgerHandle:
    def __init__(self, cfg, specs: list[ReplicaSpec], verifiers: list[Verifier]):
        self.cfg = cfg
        self.origin: str = cfg.ledger.origin
        self.quorum: int = cfg.ledger.quorum
        self.specs = specs
        self.verifiers = verifiers
        self.replicas: dict[str, Replica] = {}
        self.down: dict[str, str] = {}
        self.notes: list[str] = []      # problems met while choosing the tip

    @property
    def reachable(self) -> list[Replica]:
        return [self.replicas[s.name] for s in self.specs if s.name in self.replicas]

    def mark_down(self, name: str, reason: str) -> None:
        rep = self.replicas.pop(name, None)
        if rep is not None:
            rep.close()
        self.down[name] = reason
        log.warning("ledger: %s", reason)

    def open_note(self, note: str) -> OpenedNote:
        return cp_mod.open_note(note, self.verifiers, self.quorum, self.origin)

    def tip(self, main_db_note: str | None = None) -> Tip:
        """The largest valid quorum checkpoint among the replicas (and the main DB)."""
        candidates: list[tuple[str, str]] = []
        if main_db_note:
            candidates.append(("the main database", main_db_note))
        for rep in self.reachable:
            try:
                got = rep.checkpoint_note()
            except LedgerProblem as exc:
                self.mark_down(rep.name, str(exc))
                continue
            if got:
                candidates.append((rep.name, got[1]))
        best: OpenedNote | None = None
        for source, note in candidates:
            try:
                opened = self.open_note(note)
            except CheckpointError as exc:
                self.notes.append(f"ignored the checkpoint stored by {source}: {exc}")
                continue
            if best is None or opened.checkpoint.size > best.checkpoint.size:
                best = opened
            elif (opened.checkpoint.size == best.checkpoint.size
                  and opened.checkpoint.root != best.checkpoint.root):
                raise ReplicaCorrupt(
                    f"two quorum checkpoints of size {opened.checkpoint.size} with different "
                    "roots exist (a quorum of keys signed two histories): stop and "
                    "investigate the replica keys")
            elif (opened.checkpoint.size == best.checkpoint.size
                  and len(opened.signers) > len(best.signers)):
                best = opened
        if best is None:
            return Tip(0, EMPTY_ROOT, None, [])
        return Tip(best.checkpoint.size, best.checkpoint.root, best.note, best.signers)

    def close(self) -> None:
        for rep in self.replicas.values():
            rep.close()
        self.replicas.clear()


def main_db_bound() -> bool:
    return models.db_proxy.obj is not None


def main_db_note() -> str | None:
    if not main_db_bound():
        return None
    from ..db import state_get
    return state_get(STATE_KEY)


def open_ledger(cfg, create_missing: bool = True) -> LedgerHandle:
    """Open every replica that can be opened. Raises only for configuration errors."""
    specs = replica_specs(cfg)
    verifiers = []
    key_problems: dict[str, str] = {}
    for spec in specs:
        try:
            v = verifier_for(spec)
        except LedgerProblem as exc:
            key_problems[spec.name] = str(exc)
            continue
        if v is not None:
            verifiers.append(v)
    handle = LedgerHandle(cfg, specs, verifiers)
    missing: list[ReplicaSpec] = []
    for spec in specs:
        if spec.name in key_problems:
            handle.down[spec.name] = key_problems[spec.name]
            continue
        try:
            rep = _open_replica(cfg, spec)
        except _StoreMissing:
            missing.append(spec)
            continue
        except ReplicaUnreadable as exc:
            handle.down[spec.name] = (f"DAMAGED: {exc}; run `mailworker ledger repair "
                                      f"{spec.name}` (it keeps the file aside and rebuilds "
                                      "the replica from the others)")
            continue
        except (LedgerProblem, ConfigError) as exc:
            handle.down[spec.name] = str(exc)
            continue
        handle.replicas[spec.name] = rep
    if missing:
        tip = handle.tip(main_db_note())
        for spec in missing:
            if _has_signed(handle, tip, spec.name):
                handle.down[spec.name] = (
                    f"{spec.name}: its store {spec.display_url} is gone, although it signed "
                    f"the checkpoint of size {tip.size}; restore it, or rebuild it from the "
                    f"quorum with `mailworker ledger repair {spec.name}`")
            elif not create_missing:
                handle.down[spec.name] = (f"{spec.name}: its store {spec.display_url} does "
                                          "not exist yet (run `mailworker ledger init`)")
            else:
                try:
                    handle.replicas[spec.name] = _open_replica(cfg, spec, create=True)
                except (LedgerProblem, ConfigError) as exc:
                    handle.down[spec.name] = str(exc)
    return handle


class _StoreMissing(Exception):
    """The replica's store has not been created (internal signal, never shown)."""


def _open_replica(cfg, spec: ReplicaSpec, create: bool = False) -> Replica:
    if spec.kind == "http":
        from .remote import RemoteReplica
        return RemoteReplica.from_config(cfg, spec)
    if spec.kind == "sqlite" and not create and not spec.path.exists():
        raise _StoreMissing(spec.name)
    store = open_store(spec, create=create)
    try:
        if not store.has_schema():
            if not create:
                raise _StoreMissing(spec.name)
            store.create_schema(cfg.ledger.origin, spec.name)
        check_identity(store, spec, cfg.ledger.origin)
        signer = signer_for(spec)
        verifier = signer.verifier if signer is not None else verifier_for(spec)
    except BaseException:
        store.close()
        raise
    return LocalReplica(spec, store, cfg.ledger.origin, signer, verifier)


def open_one(cfg, name: str, create: bool = False) -> Replica:
    """Open one replica by name (for repair and serve); errors say why it cannot."""
    specs = {s.name: s for s in replica_specs(cfg)}
    if name not in specs:
        raise ConfigError(f"{cfg.where}: there is no replica named {name!r}; replicas: "
                          + ", ".join(specs))
    try:
        return _open_replica(cfg, specs[name], create=create)
    except _StoreMissing:
        raise ReplicaUnavailable(f"{name}: its store {specs[name].display_url} does not "
                                 "exist") from None


def _has_signed(handle: LedgerHandle, tip: Tip, name: str) -> bool:
    """Did this replica ever sign a quorum checkpoint that anybody still holds?"""
    if tip.note and name in _signature_names(tip.note):
        return True
    for rep in handle.reachable:
        try:
            if rep.ever_signed_by(name):
                return True
        except LedgerProblem:
            continue
    return False


def _signature_names(note: str) -> set[str]:
    try:
        return {s.name for s in cp_mod.signatures_by(note)}
    except CheckpointError:
        return set()


@contextmanager
def ledger_lock(cfg, wait: bool = False):
    """One appender/repairer at a time on this host; yields False if another holds it."""
    directory = Path(cfg.ledger.directory)
    private_dir(directory)
    fd = os.open(directory / "ledger.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
