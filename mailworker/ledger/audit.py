"""`mailworker ledger verify` and `mailworker ledger repair REPLICA`.

Verify recomputes every replica's tree from its leaf data, compares every stored hash and
every signature the replica recorded, cross-checks each replica against the quorum
checkpoint (and, where they differ, against a healthy replica leaf by leaf), and checks
that the main database's appended events are the ledger's leaves. It changes nothing and
names the replica and the first index that disagrees.

Repair rebuilds one replica from the quorum: a store file that cannot be read at all is
moved aside (renamed with a time stamp, kept for inspection) and rebuilt from scratch;
otherwise it cuts the replica's tree back to the first bad leaf, copies the rest from a
replica that verifies clean and holds the quorum checkpoint (``catchup.copy_leaves``),
withdraws signatures the replica can no longer stand behind, and has it sign the quorum
checkpoint again. It says everything it did; nothing is repaired silently.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field

from .. import models
from ..clock import Clock, to_utc
from ..config import parse_every
from ..db import state_get, state_set
from ..events import utc_stamp
from . import checkpoint as cp_mod
from . import tree
from .catchup import copy_leaves
from .damage import clear_damaged, mark_damaged
from .errors import LedgerProblem, ReplicaCorrupt, ReplicaUnavailable, ReplicaUnreadable
from .handle import (STATE_KEY, LedgerHandle, Tip, ledger_lock, main_db_note, open_ledger,
                     open_one)
from .replica import AuditReport, LocalReplica, Problem, Replica
from .store import Rewrite

log = logging.getLogger(__name__)

CHUNK = 4096


@dataclass
class VerifyReport:
    tip: Tip
    replicas: dict[str, dict] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(r["state"] in ("ok", "behind")
                                         for r in self.replicas.values())

    def as_dict(self) -> dict:
        return {"ok": self.ok, "size": self.tip.size, "root": self.tip.root.hex(),
                "signers": self.tip.signers, "replicas": self.replicas,
                "problems": self.problems}

    def text(self) -> str:
        lines = [f"quorum checkpoint: size {self.tip.size}, root "
                 f"{self.tip.root.hex()[:16]}..., signed by "
                 f"{', '.join(self.tip.signers) or 'nobody yet'}"]
        for name, r in self.replicas.items():
            lines.append(f"{name}: {r['summary']}")
            lines.extend(f"  - {p}" for p in r["problems"])
        lines.extend(f"problem: {p}" for p in self.problems)
        lines.append("verdict: all replicas agree with the quorum" if self.ok else
                     "verdict: PROBLEMS FOUND (see above); repair a damaged replica with "
                     "`mailworker ledger repair NAME`")
        return "\n".join(lines)


def verify_ledger(cfg) -> VerifyReport:
    handle = open_ledger(cfg, create_missing=False)
    try:
        return _verify(handle)
    finally:
        handle.close()


def _verify(handle: LedgerHandle) -> VerifyReport:
    tip = handle.tip(main_db_note())
    report = VerifyReport(tip, problems=list(handle.notes))
    audits: dict[str, AuditReport] = {}
    for spec in handle.specs:
        rep = handle.replicas.get(spec.name)
        if rep is None:
            report.replicas[spec.name] = {"state": "unavailable", "size": None, "first_bad": None,
                                          "summary": f"unavailable: {handle.down.get(spec.name)}",
                                          "problems": []}
            continue
        try:
            audits[spec.name] = rep.audit([tip.size])
        except LedgerProblem as exc:
            report.replicas[spec.name] = {"state": "unavailable", "size": None,
                                          "first_bad": None, "summary": f"error: {exc}",
                                          "problems": []}
    good = [n for n, a in audits.items()
            if not [p for p in a.problems if p.index < tip.size]
            and (tip.size == 0 or a.roots.get(tip.size) == tip.root)]
    for name, audit in audits.items():
        rep = handle.replicas[name]
        problems = list(audit.problems)
        parted = _parts_from_quorum(rep, audit, tip, [handle.replicas[g] for g in good
                                                      if g != name])
        if parted is not None:
            problems.append(parted)
        problems.sort(key=lambda p: p.index)
        exact = [p for p in problems if p.kind != "signed_root"] or problems
        first_bad = exact[0].index if problems else None
        if problems:
            state = "damaged"
            summary = (f"DAMAGED: first disagreement at leaf {first_bad} (size {audit.size}); "
                       f"repair with `mailworker ledger repair {name}`")
        elif audit.size < tip.size:
            state = "behind"
            summary = (f"ok but behind: holds {audit.size} of {tip.size} leaves "
                       "(catches up on the next append)")
        else:
            state = "ok"
            extra = (f", plus {audit.size - tip.size} uncommitted leaves"
                     if audit.size > tip.size else "")
            summary = (f"ok: {audit.size} leaves recomputed, every stored hash and signature "
                       f"checks, agrees with the quorum checkpoint{extra}")
        report.replicas[name] = {"state": state, "size": audit.size, "first_bad": first_bad,
                                 "summary": summary, "problems": [p.message for p in problems]}
    if models.db_proxy.obj is not None and good:
        report.problems.extend(_check_main_db(handle.replicas[good[0]], tip))
    elif tip.size and not good:
        report.problems.append("no replica verifies clean against the quorum checkpoint")
    return report


def _parts_from_quorum(rep: Replica, audit: AuditReport, tip: Tip, good: list[Replica]
                       ) -> Problem | None:
    """Where a replica's own (self-consistent) tree parts from the quorum's, if it does:
    its root at min(its size, the checkpoint's size) must be the quorum tree's root there."""
    m = min(audit.size, tip.size)
    if m == 0 or [p for p in audit.problems if p.index < m and p.kind != "signed_root"]:
        return None             # nothing to compare, or already located by the audit
    mine = audit.roots.get(m)
    if mine is None:
        return None
    if m == tip.size:
        expected = tip.root
    elif good:
        expected = good[0].root(m)
    else:
        return None
    if mine == expected:
        return None
    return _locate_divergence(rep, good, m, audit)


def _locate_divergence(rep: Replica, good: list[Replica], size: int, audit: AuditReport
                       ) -> Problem:
    """Where a self-consistent replica parts from the quorum: the first leaf that differs
    from a healthy replica's."""
    if not good:
        return Problem(rep.name, 0, "diverged", f"its tree at size {size} differs from the "
                       "quorum checkpoint (no healthy replica to compare leaves with)")
    ref = good[0]
    for start in range(0, size, CHUNK):
        end = min(start + CHUNK, size)
        mine, theirs = rep.leaves(start, end), ref.leaves(start, end)
        for i, (a, b) in enumerate(zip(mine, theirs)):
            if a != b:
                return Problem(rep.name, start + i, "diverged",
                               f"leaf {start + i} differs from the quorum's (compared with "
                               f"{ref.name}); its hashes were recomputed to match, so only "
                               "the quorum checkpoint shows it")
    return Problem(rep.name, 0, "diverged", f"its root at size {size} differs from the quorum "
                   "checkpoint although its leaves match (stored hashes were replaced)")


def _check_main_db(ref: Replica, tip: Tip) -> list[str]:
    """Every event the main database calls appended is the ledger's leaf at its index."""
    LE = models.LedgerEvent
    out = []
    marked = LE.select().where(LE.leaf_index.is_null(False)).count()
    if marked != tip.size:
        out.append(f"the main database marks {marked} events as appended; the quorum "
                   f"checkpoint has {tip.size} leaves")
    for start in range(0, tip.size, CHUNK):
        end = min(start + CHUNK, tip.size)
        leaves = ref.leaves(start, end)
        rows = dict(LE.select(LE.leaf_index, LE.payload)
                    .where(LE.leaf_index >= start, LE.leaf_index < end).tuples())
        for i, leaf in enumerate(leaves):
            payload = rows.get(start + i)
            if payload is None:
                out.append(f"leaf {start + i}: no event in the main database is marked with "
                           "this index")
            elif payload.encode("utf-8") != leaf:
                out.append(f"leaf {start + i}: the main database's event differs from the "
                           "ledger's leaf")
            if len(out) > 20:
                out.append("(more differences not listed)")
                return out
    return out


# --- repair ------------------------------------------------------------------------------

@dataclass
class RepairReport:
    replica: str
    actions: list[str] = field(default_factory=list)
    repaired: bool = False

    def text(self) -> str:
        return "\n".join([f"repair of {self.replica}:"] + [f"  - {a}" for a in self.actions])


def repair_replica(cfg, name: str, clock: Clock) -> RepairReport:
    """Rebuild replica ``name`` from the quorum. Waits for a running append to finish."""
    with ledger_lock(cfg, wait=True):
        handle = open_ledger(cfg, create_missing=False)
        try:
            return _repair(cfg, handle, name, clock)
        finally:
            handle.close()


def _repair(cfg, handle: LedgerHandle, name: str, clock: Clock) -> RepairReport:
    out = RepairReport(name)
    act = out.actions.append
    if name not in {s.name for s in handle.specs}:
        raise ReplicaUnavailable(f"there is no replica named {name!r}; replicas: "
                                 + ", ".join(s.name for s in handle.specs))
    tip = handle.tip(main_db_note())
    target = handle.replicas.get(name)
    if target is not None and not isinstance(target, LocalReplica):
        raise ReplicaUnavailable(f"{name} is served by another host ({target.spec.display_url});"
                                 f" run `mailworker ledger repair {name}` on that host, then "
                                 "`mailworker ledger verify` here")
    if target is None:
        why = handle.down.get(name, "")
        spec = next(s for s in handle.specs if s.name == name)
        if spec.kind == "sqlite" and spec.path.exists() and "is gone" not in why:
            target = _open_or_set_aside(cfg, spec, clock, act)
        elif "is gone" not in why and "does not exist" not in why:
            raise ReplicaUnavailable(f"cannot repair {name}: {why}")
        else:
            target = open_one(cfg, name, create=True)
            act(f"its store was missing; created an empty one at {target.spec.display_url}")
        handle.replicas[name] = target
    sources = []
    for other in handle.reachable:
        if other.name == name:
            continue
        audit = other.audit([tip.size])
        if not [p for p in audit.problems if p.index < tip.size] and \
                (tip.size == 0 or audit.roots.get(tip.size) == tip.root):
            sources.append(other)
            break
    if tip.size and not sources:
        raise ReplicaCorrupt(f"cannot repair {name}: no other reachable replica verifies clean "
                             f"against the quorum checkpoint of size {tip.size}")
    try:
        audit = target.audit([tip.size])
    except ReplicaUnreadable as exc:
        # Opened, but its pages are not readable: start it afresh from the quorum.
        if target.spec.kind != "sqlite":
            raise
        act(f"its store cannot be read ({exc})")
        target.close()
        target = handle.replicas[name] = _open_or_set_aside(cfg, target.spec, clock, act,
                                                            force=True)
        audit = target.audit([tip.size])
    problems = list(audit.problems)
    parted = _parts_from_quorum(target, audit, tip, sources)
    if parted is not None:
        problems.append(parted)
    problems.sort(key=lambda p: p.index)
    for p in problems:
        act(f"found: {p.message}")
    # Leaves beyond the quorum checkpoint were never committed: the appender adds them
    # again from the pending events, so a repaired replica keeps only the quorum's tree.
    cut = min([p.index for p in problems] + [audit.size, tip.size])
    if not problems and audit.size == tip.size:
        act(f"nothing to repair: {audit.size} leaves verify and agree with the quorum "
            f"checkpoint of size {tip.size}")
        _cosign(cfg, handle, target, tip, clock, act)
        if clear_damaged(name, clock):
            act("it is no longer marked damaged; it counts for the quorum again")
        return out
    if cut < audit.size:
        cut = _usable_cut(target, cut)
        target.rewrite(_truncation(target, cut))
        why = ("everything from the first bad leaf on" if problems and cut < tip.size else
               "leaves not yet under a quorum checkpoint; the next append adds them again")
        act(f"cut its tree back from {audit.size} to {cut} leaves ({why})")
    if cut < tip.size:
        src = sources[0]
        copy_leaves(target, src, cut, tip)
        act(f"copied leaves {cut}..{tip.size - 1} from {src.name}; its root now equals the "
            f"quorum checkpoint's ({tip.root.hex()[:16]}...)")
    size = target.size()
    withdrawn = [rec.size for rec in target.store.signed()
                 if rec.size > size or target.root(rec.size) != rec.root]
    if withdrawn:
        target.store.drop_signed(withdrawn)
        act(f"withdrew its signatures on tree sizes {', '.join(map(str, withdrawn))}, which "
            "its repaired tree no longer matches (they were never part of a quorum "
            "checkpoint it still holds)")
    after = target.audit([tip.size])
    if after.problems or (tip.size and after.roots.get(tip.size) != tip.root):
        raise ReplicaCorrupt(f"{name}: still damaged after repair: "
                             + "; ".join(p.message for p in after.problems))
    act(f"verified: {after.size} leaves recompute cleanly and agree with the quorum")
    _cosign(cfg, handle, target, tip, clock, act)
    if clear_damaged(name, clock):
        act("it is no longer marked damaged; it counts for the quorum again")
    out.repaired = True
    return out


def _open_or_set_aside(cfg, spec, clock: Clock, act, force: bool = False) -> LocalReplica:
    """Open the replica's SQLite file; if it cannot be read (or ``force``), rename it and
    its -wal/-shm/-journal with a time stamp, keep them, and start an empty store."""
    if not force:
        try:
            return open_one(cfg, spec.name)
        except ReplicaUnreadable as exc:
            act(f"its store cannot be read ({exc})")
    stamp = to_utc(clock.now()).strftime("%Y%m%dT%H%M%SZ")
    kept = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        src = spec.path.with_name(spec.path.name + suffix)
        if src.exists():
            dst = src.with_name(f"{spec.path.name}.unreadable-{stamp}{suffix}")
            n = 1
            while dst.exists():
                n += 1
                dst = src.with_name(f"{spec.path.name}.unreadable-{stamp}-{n}{suffix}")
            os.replace(src, dst)
            kept.append(dst)
    if kept:
        act(f"moved the unreadable store aside, kept for inspection: "
            + ", ".join(str(k) for k in kept))
    target = open_one(cfg, spec.name, create=True)
    act(f"created an empty store at {target.spec.display_url}; rebuilding it from the quorum")
    return target


def _cosign(cfg, handle: LedgerHandle, target: Replica, tip: Tip, clock: Clock,
            act) -> None:
    if not tip.note:
        return
    cp = tip.checkpoint
    lines = [s.text() for s in cp_mod.signatures_by(tip.note)]
    if target.name not in tip.signers and target.can_sign:
        lines.append(target.sign(cp, utc_stamp(clock.now())))
        note = cp_mod.assemble(cp, lines)
        handle.open_note(note)
        act(f"signed the quorum checkpoint of size {tip.size}")
        if models.db_proxy.obj is not None:
            with models.db_proxy.atomic():
                state_set(STATE_KEY, note, clock.now())
        for rep in handle.reachable:
            try:
                rep.store_checkpoint(tip.size, note)
            except LedgerProblem as exc:
                act(f"could not hand the checkpoint to {rep.name}: {exc}")
    else:
        target.store_checkpoint(tip.size, tip.note)


def _usable_cut(rep: LocalReplica, cut: int) -> int:
    """Lower ``cut`` until every right-edge tile the shorter tree needs is present."""
    while cut:
        have = rep.store.read_tiles(tree.edge_tile_ids(cut))
        missing = [t for t in tree.edge_tile_ids(cut) if t not in have]
        if not missing:
            return cut
        tl, n = tree.split_tile_id(min(missing))
        cut = min(cut, n << (tree.TILE_HEIGHT * (tl + 1)))
    return cut


def _truncation(rep: LocalReplica, cut: int) -> Rewrite:
    """The store change that leaves exactly the first ``cut`` leaves."""
    keep_tiles = set(tree.tile_ids_for(cut))
    stored_tiles = rep.store.tile_ids()
    delete_tiles = [t for t in stored_tiles if t not in keep_tiles]
    edge = tree.edge_tile_ids(cut)
    have = rep.store.read_tiles(edge)
    write_tiles = {tid: tree.truncate_tile(tid, have[tid], cut) for tid in edge if tid in have}
    nb = (cut + tree.BUNDLE_WIDTH - 1) // tree.BUNDLE_WIDTH
    delete_bundles = [b for b in rep.store.bundle_ids() if b >= nb]
    write_bundles = {}
    if cut % tree.BUNDLE_WIDTH:
        b = cut // tree.BUNDLE_WIDTH
        blob = rep.store.read_bundles(b, b).get(b)
        # The leaves before the cut were checked; the bundle may be damaged after them.
        leaves = tree.salvage_bundle(blob)[0] if blob is not None else []
        if len(leaves) < cut % tree.BUNDLE_WIDTH:
            raise ReplicaCorrupt(f"{rep.name}: leaf bundle {b} lost leaves before the cut at "
                                 f"{cut}; repair it from an earlier cut")
        write_bundles[b] = tree.encode_leaves(leaves[:cut % tree.BUNDLE_WIDTH])
    return Rewrite(cut, write_tiles, delete_tiles, write_bundles, delete_bundles)


# --- the scheduled audit -------------------------------------------------------------------

LAST_AUDIT_KEY = "ledger.audit.last"


def audit_due(cfg, clock: Clock) -> bool:
    """True when ``[ledger] audit_every`` has passed since the last full audit began."""
    every = parse_every(cfg.ledger.audit_every)
    if every is None or models.db_proxy.obj is None:
        return False
    last = state_get(LAST_AUDIT_KEY)
    if last is None:
        return True
    try:
        when = dt.datetime.fromisoformat(last)
    except ValueError:
        return True
    return (to_utc(clock.now()) - to_utc(when)).total_seconds() >= every


def run_audit(cfg, clock: Clock) -> VerifyReport:
    """Verify every replica in full and record what it found; returns the VerifyReport.
    The time is recorded first, so an audit that dies is not retried at once."""
    state_set(LAST_AUDIT_KEY, to_utc(clock.now()).isoformat(), clock.now())
    report = verify_ledger(cfg)
    for name, r in report.replicas.items():
        if r["state"] == "damaged":
            first = "; ".join(r["problems"][:2]) or r["summary"]
            mark_damaged(name, f"the audit found: {first}", clock)
        elif r["state"] in ("ok", "behind"):
            clear_damaged(name, clock)
    log.info("ledger audit: %s", "all replicas agree with the quorum" if report.ok
             else "PROBLEMS FOUND; see `mailworker ledger verify`")
    return report
