"""config/mailworker.service passes `systemd-analyze verify` with no warning about its own keys,
and agrees with the example configuration about where the secrets are."""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from mailworker.config import SECRETS
from tests.conftest import skip_unless

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "config" / "mailworker.service"
EXAMPLE = ROOT / "config" / "mailworker.example.toml"
ANALYZE = shutil.which("systemd-analyze")
CREDENTIALS = "/etc/mailworker/credentials/"


def installed_mailworker() -> str:
    # The console script of this interpreter: `verify` checks that ExecStart's binary exists.
    candidate = Path(sys.executable).parent / "mailworker"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("mailworker")
    assert found, "the mailworker console script is not installed (pip install -e .)"
    return found


def unit_lines() -> list[str]:
    return UNIT.read_text(encoding="utf-8").splitlines()


def directives() -> dict[str, list[str]]:
    """key -> values in [Service]/[Unit]/[Install] (repeatable keys keep every value)."""
    out: dict[str, list[str]] = {}
    for line in unit_lines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "mailworker.service"
    path.write_text(unit_text, encoding="utf-8")
    return subprocess.run([ANALYZE, "verify", str(path)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path,
                          env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})


def own_complaints(result: subprocess.CompletedProcess) -> list[str]:
    # verify also comments on other units of the host; only ours count.
    text = result.stdout + result.stderr
    return [line for line in text.splitlines() if "mailworker.service" in line]


def test_unit_verifies_without_warnings(tmp_path):
    skip_unless(ANALYZE is not None, "systemd-analyze not installed (apt-get install systemd)")
    text = UNIT.read_text(encoding="utf-8").replace("/usr/local/bin/mailworker",
                                                    installed_mailworker())
    result = verify(text, tmp_path)
    assert own_complaints(result) == [], result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr


def test_verify_would_catch_a_misspelt_key(tmp_path):
    # Proves the test above reads the output that matters.
    skip_unless(ANALYZE is not None, "systemd-analyze not installed (apt-get install systemd)")
    text = UNIT.read_text(encoding="utf-8").replace("/usr/local/bin/mailworker",
                                                    installed_mailworker())
    text = text.replace("ProtectSystem=strict", "ProtectSystm=strict")
    complaints = own_complaints(verify(text, tmp_path))
    assert any("Unknown key 'ProtectSystm'" in line for line in complaints), complaints


def test_unit_has_the_required_settings():
    d = directives()
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] == ["120"]
    assert d["Restart"] == ["on-failure"]
    assert "RestartSec" in d
    assert d["ExecStart"] == [
        "/usr/local/bin/mailworker --config /etc/mailworker/mailworker.toml run"]
    assert d["ExecStartPre"] == [
        "/usr/local/bin/mailworker --config /etc/mailworker/mailworker.toml config check"]
    # A fixed user, so staff commands (`sudo -u mailworker ...`) run as the service does.
    assert "DynamicUser" not in d
    assert d["User"] == ["mailworker"] and d["Group"] == ["mailworker"]
    assert d["StateDirectory"] == ["mailworker"]
    assert d["ConfigurationDirectory"] == ["mailworker"]
    for key, value in [("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("PrivateTmp", "yes"), ("NoNewPrivileges", "yes"),
                       ("PrivateDevices", "yes"), ("ProtectKernelTunables", "yes"),
                       ("ProtectKernelModules", "yes"), ("ProtectKernelLogs", "yes"),
                       ("ProtectControlGroups", "yes"), ("CapabilityBoundingSet", ""),
                       ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX")]:
        assert d.get(key) == [value], key
    assert "@system-service" in d["SystemCallFilter"]


def test_credentials_match_the_example_configuration():
    d = directives()
    credentials = {v.split(":", 1)[0]: v.split(":", 1)[1] for v in d["LoadCredential"]}
    assert set(credentials) == {"imap-password", "smtp-password", "pseudonym-key",
                                "release-key", "staff-action-key"}
    assert all(src.startswith("/etc/mailworker/credentials/") for src in credentials.values())

    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    files = {raw[section][f"{name}_file"] for section, name in SECRETS
             if f"{name}_file" in raw.get(section, {})}
    # Every secret the example reads is one the unit loads, from the same file, and the
    # other way round; the credential's name is the file's name (mailworker finds the
    # service's copy in $CREDENTIALS_DIRECTORY by that name).
    assert files == set(credentials.values())
    assert all(src == CREDENTIALS + name for name, src in credentials.items())
    # The state directory of the unit is the one the example configuration uses.
    assert raw["general"]["state_dir"] == "/var/lib/mailworker"
    assert raw["database"]["url"].startswith("sqlite:////var/lib/mailworker/")


def test_header_documents_the_setup_commands():
    header = "\n".join(line for line in unit_lines() if line.startswith("#"))
    for command in ("useradd --system --user-group",
                    "install -d -m 0700 -o mailworker -g mailworker /etc/mailworker/credentials",
                    "install -m 0600 -o mailworker -g mailworker /dev/stdin imap-password",
                    "install -d -m 0700 -o mailworker -g mailworker /var/lib/mailworker",
                    "sudo -u mailworker mailworker --config /etc/mailworker/mailworker.toml"):
        assert command in header, command
    assert "DynamicUser" not in header


def test_unit_parses_as_ini_sections():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    assert parser.sections() == ["Unit", "Service", "Install"]
    assert parser["Install"]["WantedBy"] == "multi-user.target"

