"""LocalReplica and RemoteReplica both implement every member of the ``Replica`` Protocol,
with the Protocol's signature, so the two cannot drift apart unnoticed."""
from __future__ import annotations

import dataclasses
import inspect

from mailworker.ledger.handle import open_ledger
from mailworker.ledger.remote import RemoteReplica
from mailworker.ledger.replica import LocalReplica, Replica

from tests.test_ledger_replicas import make_ledger

_ANY = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _shape(params) -> list[tuple]:
    return [(p.name, p.kind, p.default, p.annotation) for p in params]


def drift(proto: type, cls: type, instance) -> list[str]:
    """How ``cls`` (and one of its ``instance``s) differs from ``proto``: missing members,
    and methods whose parameters (names, kinds, defaults, annotations) or return type
    differ. Extra trailing parameters are allowed if they have defaults."""
    out = []
    for name in sorted(proto.__annotations__):
        if not hasattr(instance, name):
            out.append(f"{cls.__name__} has no attribute {name}")
    for name, member in vars(proto).items():
        if isinstance(member, property):
            if not isinstance(getattr(instance, name, None), bool):
                out.append(f"{cls.__name__}.{name} is not a bool")
            continue
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        impl = getattr(cls, name, None)
        if not inspect.isfunction(impl):
            out.append(f"{cls.__name__} has no method {name}")
            continue
        want, got = inspect.signature(member), inspect.signature(impl)
        head = list(got.parameters.values())[:len(want.parameters)]
        tail = list(got.parameters.values())[len(want.parameters):]
        if (_shape(head) != _shape(want.parameters.values())
                or want.return_annotation != got.return_annotation
                or any(p.default is p.empty and p.kind not in _ANY for p in tail)):
            out.append(f"{cls.__name__}.{name}{got} is not Replica.{name}{want}")
    return out


def _replicas(make_config, clock) -> tuple[LocalReplica, RemoteReplica]:
    cfg = make_ledger(make_config, clock)
    handle = open_ledger(cfg)
    local = handle.reachable[0]
    # Made without a connection: only its members are looked at.
    spec = dataclasses.replace(local.spec, kind="http", url="http://127.0.0.1:9",
                               path=None)
    handle.close()
    return local, RemoteReplica(spec, cfg.ledger.origin, timeout=1.0)


def test_both_replicas_implement_the_whole_protocol(make_config, clock):
    local, remote = _replicas(make_config, clock)
    assert isinstance(local, LocalReplica)
    methods = [n for n, m in vars(Replica).items() if inspect.isfunction(m)
               and not n.startswith("_")]
    assert {"size", "root", "leaves", "plan", "apply_and_sign", "append", "sign",
            "store_checkpoint", "checkpoint_note", "audit", "close"} <= set(methods)
    assert drift(Replica, LocalReplica, local) == []
    assert drift(Replica, RemoteReplica, remote) == []


def test_a_drifted_replica_is_named(make_config, clock):
    local, remote = _replicas(make_config, clock)

    class Renamed(RemoteReplica):
        def leaves(self, start: int, stop: int) -> list[bytes]:
            return super().leaves(start, stop)

    class Required(LocalReplica):
        def audit(self, sizes_of_interest=(), chunk: int = 64, strict: bool = False):
            return super().audit(sizes_of_interest, chunk)

        def root(self, size: int | None = None, *, at: int) -> bytes:
            return super().root(size)

    class Missing(RemoteReplica):
        sign = None

    renamed = Renamed(remote.spec, remote.origin, 1.0)
    assert drift(Replica, Renamed, renamed) == [
        f"Renamed.leaves{inspect.signature(Renamed.leaves)} is not "
        f"Replica.leaves{inspect.signature(Replica.leaves)}"]
    # root: a new parameter without a default; audit: one without its annotation (its
    # extra parameters have defaults, which is allowed).
    required = drift(Replica, Required, local)
    assert [p.split("(")[0] for p in required] == ["Required.root", "Required.audit"]
    assert drift(Replica, Missing, Missing(remote.spec, remote.origin, 1.0)) == [
        "Missing has no method sign"]
