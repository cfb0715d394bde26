"""Shared fixtures. Server fixtures live in tests/servers/ and are loaded as plugins."""
from __future__ import annotations

import datetime as dt
import os

import pytest

from mailworker import config as config_mod
from mailworker import db as db_mod
from mailworker.clock import FixedClock

pytest_plugins = [
    "tests.outbound_support",
    "tests.servers.dovecot",
    "tests.servers.postgres",
    "tests.servers.smtp",
]

ON_CI = os.environ.get("CI") == "true"


def skip_unless(condition: bool, reason: str):
    """Skip off CI with a visible reason; on CI a missing tool is a failure, not a skip."""
    if condition:
        return
    if ON_CI:
        pytest.fail(f"required on CI: {reason}")
    pytest.skip(reason)


def load_benchmark(name: str):
    """A script of benchmarks/ as a module (they are scripts, not a package)."""
    import importlib.util
    import sys
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def clock():
    # 2026-11-25 10:00 in Seoul.
    return FixedClock(dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.timezone.utc))


@pytest.fixture
def make_config(tmp_path):
    """Build a Config from a dict of sections, rooted in tmp_path (written to a TOML file)."""
    def _make(raw: dict | None = None, name: str = "mailworker.toml"):
        raw = raw or {}
        path = tmp_path / name
        path.write_text(_to_toml(raw), encoding="utf-8")
        return config_mod.load(path)
    return _make


@pytest.fixture
def cfg(make_config):
    return make_config({})


@pytest.fixture
def database(cfg, clock):
    d = db_mod.open_from_config(cfg, clock)
    yield d
    d.close()


def _to_toml(raw: dict) -> str:
    lines = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        for k, v in values.items():
            if not isinstance(v, list) or not v or not isinstance(v[0], dict):
                lines.append(f"{k} = {_toml_value(v)}")
        for k, v in values.items():
            if isinstance(v, list) and v and isinstance(v[0], dict):
                for item in v:
                    lines.append(f"[[{section}.{k}]]")
                    lines.extend(f"{ik} = {_toml_value(iv)}" for ik, iv in item.items())
        lines.append("")
    return "\n".join(lines)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)
