"""The test run sees only the project's own virtualenv, not packages installed on the host."""
from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import skip_unless


def test_the_suite_runs_in_an_isolated_virtualenv():
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    skip_unless(sys.prefix != sys.base_prefix and cfg.is_file(),
                "not run from the project's .venv (scripts/test makes it)")
    settings = {k.strip(): v.strip() for k, v in (line.split("=", 1) for line in
                cfg.read_text().splitlines() if "=" in line)}
    assert settings["include-system-site-packages"] == "false"
    assert not any(p.endswith(("site-packages", "dist-packages")) and not p.startswith(sys.prefix)
                   for p in sys.path), sys.path
