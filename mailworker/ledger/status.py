"""`mailworker ledger status`: tree size, the last quorum checkpoint, and how each replica
is doing (size, lag behind the checkpoint, health), in words staff can act on."""
from __future__ import annotations

from .. import models
from .damage import damage_text, damaged_replicas
from .errors import LedgerProblem, ReplicaCorrupt
from .handle import Tip, main_db_note, open_ledger
from .merkle import EMPTY_ROOT


def ledger_status(cfg) -> dict:
    """A plain dict (JSON-ready). Works with or without the main database open; with it,
    ``pending`` counts the events waiting to be appended."""
    handle = open_ledger(cfg, create_missing=False)
    problems: list[str] = []
    try:
        try:
            tip = handle.tip(main_db_note())
        except ReplicaCorrupt as exc:
            problems.append(str(exc))
            tip = Tip(0, EMPTY_ROOT, None, [])
        problems.extend(handle.notes)
        replicas = []
        usable = 0
        damaged = damaged_replicas()
        for spec in handle.specs:
            row = {"name": spec.name, "url": spec.display_url, "reachable": False,
                   "size": None, "lag": None, "ahead": 0, "last_signed": None,
                   "signed_checkpoint": spec.name in tip.signers,
                   "damaged": spec.name in damaged}
            rep = handle.replicas.get(spec.name)
            if spec.name in damaged:
                # Out of the quorum until repaired, whatever it looks like right now.
                row["health"] = damage_text(spec.name, damaged[spec.name])
                if rep is not None:
                    try:
                        row["reachable"], row["size"] = True, rep.size()
                        row["lag"] = max(0, tip.size - row["size"])
                    except LedgerProblem:
                        pass
                replicas.append(row)
                continue
            if rep is None:
                why = handle.down.get(spec.name, "not opened")
                row["damaged"] = why.startswith("DAMAGED")
                row["health"] = why if row["damaged"] else f"unavailable: {why}"
                replicas.append(row)
                continue
            row["reachable"] = True
            try:
                size = rep.size()
                row["size"] = size
                row["lag"] = max(0, tip.size - size)
                row["ahead"] = max(0, size - tip.size)
                last = rep.last_signed()
                row["last_signed"] = last.size if last else None
                if size >= tip.size and rep.root(tip.size) != tip.root:
                    row["damaged"] = True
                    row["health"] = (f"DAMAGED: its tree at size {tip.size} differs from the "
                                     "quorum checkpoint; run `mailworker ledger verify`, then "
                                     f"`mailworker ledger repair {spec.name}`")
                elif not rep.can_sign:
                    row["health"] = "no signing key on this host"
                elif row["lag"]:
                    row["health"] = (f"behind by {row['lag']} leaves; catches up by itself on "
                                     "the next append")
                    usable += 1
                elif row["ahead"]:
                    row["health"] = (f"ok; holds {row['ahead']} leaves not yet under a quorum "
                                     "checkpoint (the next append commits them)")
                    usable += 1
                else:
                    row["health"] = "ok"
                    usable += 1
            except LedgerProblem as exc:
                row["health"] = f"error: {exc}"
            replicas.append(row)
    finally:
        handle.close()
    pending = None
    if models.db_proxy.obj is not None:
        LE = models.LedgerEvent
        pending = LE.select().where(LE.leaf_index.is_null()).count()
    waiting = usable < handle.quorum
    summary = (f"size {tip.size}, root {tip.root.hex()[:16]}..., signed by "
               f"{', '.join(tip.signers)}" if tip.note else "none yet (empty ledger)")
    if waiting:
        message = (f"appends wait: only {usable} of {len(handle.specs)} replicas are usable, "
                   f"{handle.quorum} needed" + (f"; {pending} event(s) queued, none lost"
                                                if pending is not None else ""))
    else:
        message = f"ok: {usable} of {len(handle.specs)} replicas usable"
    return {
        "origin": handle.origin,
        "quorum": handle.quorum,
        "size": tip.size,
        "root": tip.root.hex(),
        "last_checkpoint": tip.note,
        "checkpoint_summary": summary,
        "signers": list(tip.signers),
        "pending": pending,
        "usable": usable,
        "appends_wait": waiting,
        "message": message,
        "replicas": replicas,
        "damaged": [r["name"] for r in replicas if r["damaged"]],
        "problems": problems,
    }


def format_status(info: dict) -> str:
    lines = [f"ledger {info['origin']}",
             f"  tree size {info['size']}; last checkpoint: {info['checkpoint_summary']}",
             f"  {info['message']}"]
    if info["pending"] is not None:
        lines.append(f"  events waiting to be appended: {info['pending']}")
    for r in info["replicas"]:
        size = "-" if r["size"] is None else r["size"]
        lag = "-" if r["lag"] is None else r["lag"]
        lines.append(f"  {r['name']:<12} size {size:<8} lag {lag:<6} {r['health']}")
    for p in info["problems"]:
        lines.append(f"  problem: {p}")
    return "\n".join(lines)
