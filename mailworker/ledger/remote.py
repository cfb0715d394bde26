"""A replica on another machine, reached over HTTP (see wire.py and ``ledger serve``).

It offers the appender, status, verify and receipts the methods of ``replica.Replica``, as
a local replica does; the replica itself checks and signs on its own host, with its own key.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterable

from . import tree
from .checkpoint import Checkpoint
from .errors import (LedgerProblem, ReplicaCorrupt, ReplicaDamaged, ReplicaRefused,
                     ReplicaUnavailable)
from .layout import ReplicaSpec, verifier_for
from .replica import AuditReport, Problem
from .store import SignedRecord
from .wire import MAX_LEAVES, b64, unb64

AUDIT_TIMEOUT = 900


class RemoteReplica:
    """A ``replica.Replica`` whose store is another host's ``ledger serve``."""

    can_sign = True          # it signs on its own host; whether it will is its decision

    def __init__(self, spec: ReplicaSpec, origin: str, timeout: float,
                 token: str | None = None):
        self.spec = spec
        self.name = spec.name
        self.origin = origin
        self.base = spec.url.rstrip("/")
        self.timeout = timeout
        self.token = token
        self.verifier = verifier_for(spec)
        self.signer = None

    @classmethod
    def from_config(cls, cfg, spec: ReplicaSpec) -> "RemoteReplica":
        token = (cfg.secret_text("ledger", "replica_token")
                 if cfg.has_secret("ledger", "replica_token") else None)
        rep = cls(spec, cfg.ledger.origin, cfg.ledger.timeout_seconds, token)
        info = rep._get("/info")
        if info.get("name") != spec.name or info.get("origin") != cfg.ledger.origin:
            raise ReplicaCorrupt(f"{spec.name}: {spec.display_url} serves replica "
                                 f"{info.get('name')!r} of {info.get('origin')!r}")
        return rep

    # -- HTTP ----------------------------------------------------------------------------
    def _call(self, method: str, path: str, params: dict | None = None,
              body: dict | None = None, timeout: float | None = None) -> dict:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode("utf-8") if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            damaged = False
            try:
                answer = json.loads(exc.read().decode("utf-8"))
                why = answer.get("error", exc.reason)
                damaged = answer.get("damaged") is True
            except (ValueError, OSError, AttributeError):
                why = exc.reason
            kind = {409: ReplicaRefused, 500: ReplicaCorrupt, 503: ReplicaUnavailable}.get(
                exc.code, LedgerProblem)
            if damaged:
                kind = ReplicaDamaged
            if exc.code in (401, 403):
                why = f"the replica refused our token ({why}); check [ledger] replica_token"
            raise kind(f"{self.name} ({self.spec.display_url}): {why}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ReplicaUnavailable(f"{self.name}: cannot reach {self.spec.display_url}: "
                                     f"{reason}") from None
        except ValueError:
            raise ReplicaCorrupt(f"{self.name}: {self.spec.display_url} did not answer with "
                                 "JSON (is it a mailworker replica?)") from None

    def _get(self, path: str, **params) -> dict:
        return self._call("GET", path, params or None)

    def _post(self, path: str, body: dict) -> dict:
        return self._call("POST", path, body=body)

    # -- reading -------------------------------------------------------------------------
    def size(self) -> int:
        return int(self._get("/info")["size"])

    def root(self, size: int | None = None) -> bytes:
        return unb64(self._get("/root", size=self.size() if size is None else size)["root"])

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return [unb64(h) for h in self._get("/inclusion", index=index, size=size)["proof"]]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return [unb64(h) for h in
                self._get("/consistency", old=old_size, new=new_size)["proof"]]

    def leaves(self, start: int, end: int) -> list[bytes]:
        out: list[bytes] = []
        while start < end:
            stop = min(end, start + MAX_LEAVES)
            got = [unb64(x) for x in self._get("/leaves", start=start, end=stop)["leaves"]]
            if len(got) != stop - start:
                raise ReplicaCorrupt(f"{self.name}: asked for {stop - start} leaves, got "
                                     f"{len(got)}")
            out += got
            start = stop
        return out

    def last_signed(self) -> SignedRecord | None:
        last = self._get("/info").get("last_signed")
        return SignedRecord(last["size"], unb64(last["root"]), "", last.get("signed_at", "")) \
            if last else None

    def checkpoint_note(self) -> tuple[int, str] | None:
        cp = self._get("/info").get("checkpoint")
        return (cp["size"], cp["note"]) if cp else None

    def ever_signed_by(self, name: str) -> bool:
        return bool(self._get("/info", signed_by=name).get("ever_signed_by"))

    def edge(self, size: int) -> tuple[dict[int, bytes], bytes | None]:
        got = self._get("/edge", size=size)
        return ({int(k): unb64(v) for k, v in got["tiles"].items()},
                unb64(got["bundle"]) if got.get("bundle") else None)

    # -- appending and signing -------------------------------------------------------------
    def plan(self, leaves: list[bytes], size: int | None = None) -> tree.AppendPlan:
        size = self.size() if size is None else size
        edge, bundle = self.edge(size)
        try:
            return tree.plan_append(size, edge, bundle, leaves)
        except tree.MissingNode as exc:
            raise ReplicaCorrupt(f"{self.name}: {exc}") from None

    def can_apply(self, plan: tree.AppendPlan) -> bool:
        return False        # the replica plans its own append on its host

    def apply_and_sign(self, plan: tree.AppendPlan | None, checkpoint: Checkpoint,
                       signed_at: str, previous: tuple[int, str] | None = None) -> str:
        body = {"base_size": plan.old_size if plan is not None else checkpoint.size,
                "leaves": [b64(d) for d in plan.leaves] if plan is not None else [],
                "checkpoint": checkpoint.body(), "signed_at": signed_at,
                "previous": list(previous) if previous else None}
        return self._post("/append-and-sign", body)["signature"]

    def append(self, leaves: list[bytes], expect_root: bytes | None = None
               ) -> tree.AppendPlan:
        """Catch-up: append leaves and sign nothing (the caller cosigns the tip after)."""
        size = self.size()
        plan = self.plan(leaves, size)
        if expect_root is not None and plan.root != expect_root:
            raise ReplicaRefused(f"{self.name}: its older leaves differ from the quorum's")
        self._post("/append-and-sign", {
            "base_size": size, "leaves": [b64(d) for d in leaves],
            "checkpoint": Checkpoint(self.origin, plan.new_size, plan.root).body(),
            "signed_at": "", "previous": None, "sign": False})
        return plan

    def sign(self, checkpoint: Checkpoint, signed_at: str) -> str:
        return self._post("/sign", {"checkpoint": checkpoint.body(),
                                    "signed_at": signed_at})["signature"]

    def store_checkpoint(self, size: int, note: str) -> None:
        self._post("/checkpoint", {"size": size, "note": note})

    # -- audit ---------------------------------------------------------------------------
    def audit(self, sizes_of_interest: Iterable[int] = ()) -> AuditReport:
        got = self._call("GET", "/audit", {"sizes": ",".join(str(s) for s in sizes_of_interest)},
                         timeout=AUDIT_TIMEOUT)
        rep = AuditReport(self.name, int(got["size"]))
        rep.problems = [Problem(self.name, p["index"], p["kind"], p["message"])
                        for p in got["problems"]]
        rep.roots = {int(k): unb64(v) for k, v in got["roots"].items()}
        rep.recomputed_size = int(got.get("recomputed_size", 0))
        return rep

    def close(self) -> None:
        """Nothing held open between calls."""
