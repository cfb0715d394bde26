"""A private Dovecot IMAP server on 127.0.0.1 for the tests (real server, no mocks).

See ../shared/recipes/test-servers.md. One server per test (start takes ~50 ms), so tests can
restart it, wipe the mailbox (new UIDVALIDITY) or stop it without affecting each other.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.conftest import skip_unless
from tests.servers.ports import free_port, wait_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "group@example.org"
PASSWORD = "imap-test-secret"

CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_max_userip_connections = 50
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/mail/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
{extra}
"""


def process_alive(pid: int) -> bool:
    """True while the process runs; a zombie waiting for init to reap it counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class Dovecot:
    def __init__(self, base: Path, extra_conf: str = ""):
        self.dir = base
        self.port = free_port()
        self.user = USER
        self.password = PASSWORD
        self.extra_conf = extra_conf
        base.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "state", "mail"):
            (base / sub).mkdir(exist_ok=True)
        (base / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        self.write_conf()
        os.chmod(base, 0o755)

    def write_conf(self) -> None:
        (self.dir / "dovecot.conf").write_text(
            CONF.format(d=self.dir, port=self.port, extra=self.extra_conf))

    @property
    def maildir(self) -> Path:
        return self.dir / "mail" / USER / "Maildir"

    def start(self) -> None:
        subprocess.run(["chown", "-R", "nobody", str(self.dir / "mail")], check=True)
        subprocess.run([DOVECOT, "-c", str(self.dir / "dovecot.conf")], check=True)
        wait_port(self.port)
        # The master writes its pid file a moment after it listens; stop() needs it.
        deadline = time.monotonic() + 10
        while self.pid() is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def pid(self) -> int | None:
        try:
            return int((self.dir / "run" / "master.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def stop(self) -> None:
        """Kill Dovecot and all its processes at once (a graceful stop takes 2-7 s here).

        Dovecot runs in its own session, so its process group is the master's pid. An
        abrupt stop is also the harsher test for the worker's reconnect logic."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.01)
        (self.dir / "run" / "master.pid").unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> IMAPClient:
        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        c.login(self.user, self.password)
        return c

    def append(self, messages: list[bytes], folder: str = "INBOX") -> None:
        with self.client() as c:
            for i in range(0, len(messages), 200):
                c.multiappend(folder, messages[i:i + 200]) if c.has_capability("MULTIAPPEND") \
                    else [c.append(folder, m) for m in messages[i:i + 200]]

    def count(self, folder: str) -> int:
        with self.client() as c:
            if not c.folder_exists(folder):
                return 0
            return c.folder_status(folder, ["MESSAGES"])[b"MESSAGES"]

    def recreate_inbox(self) -> None:
        """Delete the INBOX's UID list and index: the next SELECT has a new UIDVALIDITY.

        dovecot-uidvalidity is kept: Dovecot uses it to make the new value differ."""
        self.stop()
        inbox = self.maildir
        for name in ("dovecot-uidlist", "dovecot.index", "dovecot.index.cache",
                     "dovecot.index.log"):
            (inbox / name).unlink(missing_ok=True)
        self.start()

    def inbox_config(self) -> dict:
        """The [inbox] section for a mailworker config pointing at this server."""
        return {"type": "imap", "host": "127.0.0.1", "port": self.port, "security": "plain",
                "username": self.user, "password_env": "MW_TEST_IMAP_PASSWORD",
                "timeout_seconds": 10, "poll_seconds": 1, "reconnect_max_seconds": 2}


def server_dir(prefix: str = "mw-dovecot-") -> Path:
    """A fresh folder Dovecot's unprivileged processes can enter (pytest's tmp is 0700)."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(d, 0o755)
    return d


@pytest.fixture
def dovecot(monkeypatch):
    skip_unless(Path(DOVECOT).exists(), "dovecot not installed (apt-get install dovecot-imapd)")
    base = server_dir()
    server = Dovecot(base / "d")
    server.start()
    monkeypatch.setenv("MW_TEST_IMAP_PASSWORD", server.password)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)
