"""With umask 022 (a shell outside systemd), what holds names, addresses, mail or secrets
is created 0600 in 0700 folders: after a real pass and send, and after a release."""
from __future__ import annotations

import mailbox
import os
import stat
from pathlib import Path

import pytest

from mailworker.cli import main
from mailworker.config import load as load_config
from mailworker.db import open_from_config
from mailworker.models import Member
from tests.mailfactory import make_mail
from tests.test_service import _write_config


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _assert_private(paths: list[Path], folders: list[Path]) -> None:
    assert paths and folders
    wrong = {str(p): oct(mode(p)) for p in paths if mode(p) != 0o600}
    wrong.update({str(d): oct(mode(d)) for d in folders if mode(d) != 0o700})
    assert not wrong, wrong


def test_a_pass_and_a_send_create_private_files(tmp_path, umask_022, capsys, clock):
    cfg_path = _write_config(tmp_path)
    box = mailbox.Maildir(str(tmp_path / "Maildir"), factory=None, create=True)
    box.add(make_mail())
    assert main(["--config", str(cfg_path), "run", "--once"]) == 0
    var = tmp_path / "var"
    db = var / "mailworker.db"
    sent = sorted((var / "sent-mail").glob("*.eml"))
    replicas = sorted((var / "ledger").glob("*.db"))
    assert len(sent) == 1 and len(replicas) == 4
    _assert_private([db, *sent, *replicas], [var, var / "sent-mail", var / "ledger"])
    # SQLite's -wal and -shm exist while the database is open; they take its mode.
    cfg = load_config(cfg_path)
    database = open_from_config(cfg, clock)
    try:
        Member.update(language="ko").execute()
        side = [var / "mailworker.db-wal", var / "mailworker.db-shm"]
        _assert_private(side, [var])
    finally:
        database.close()
    # Nothing anywhere under var/ is readable by others.
    open_to_others = [str(p) for p in var.rglob("*") if mode(p) & 0o077]
    assert not open_to_others


def test_a_release_creates_private_packages_and_sheet(tmp_path, umask_022, capsys):
    cfg_path = _write_config(tmp_path)
    key = tmp_path / "release.key"
    key.write_bytes(b"release-key-for-tests-0123456789")
    key.chmod(0o600)
    cfg_path.write_text(cfg_path.read_text()
                        + f'[ledger]\nrelease_key_file = "{key}"\n', encoding="utf-8")
    assert main(["--config", str(cfg_path), "ledger", "init"]) == 0
    installer = tmp_path / "Setup.exe"
    installer.write_bytes(os.urandom(20_000))
    assert main(["--config", str(cfg_path), "release", "build", "--installer", str(installer),
                 "--version", "1.0.0"]) == 0
    sheet = tmp_path / "handover" / "passwords.csv"
    assert main(["--config", str(cfg_path), "release", "send", "--version", "1.0.0",
                 "--password-sheet", str(sheet), "--no-progress"]) == 0
    release = tmp_path / "var" / "releases" / "1.0.0"
    zips = sorted((release / "packages").glob("*.zip"))
    assert len(zips) == 4
    _assert_private([*zips, sheet],
                    [tmp_path / "var" / "releases", release, release / "packages",
                     sheet.parent])
