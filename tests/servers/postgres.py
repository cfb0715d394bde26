"""A private PostgreSQL 15 on 127.0.0.1 for the tests (real server, no mocks).

One server per test session (initdb takes about a second); each test asks for its own
database with ``pg.new_database(name) -> url``. PostgreSQL refuses to run as root, so when
the tests run as root the cluster belongs to the ``postgres`` system user (or ``nobody``)
and every server command goes through ``runuser``. The data lives in a private temp dir
(pytest's own temp root is 0700 root, which the server user could not enter).

Authentication: the superuser ``mailworker`` is trusted on loopback; the role
``pg.password_user`` must give ``pg.password`` (scram-sha-256), for tests of password secrets.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import skip_unless
from tests.servers.ports import free_port

PG_BIN = Path(os.environ.get("MW_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "mailworker"
PASSWORD_USER = "mw_password_user"
PASSWORD = "pg-test-secret"

HBA = f"""\
# written by tests/servers/postgres.py
local all all trust
host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
"""


def _server_user() -> str | None:
    """The account the server runs as: None means 'this user' (not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


class PostgresServer:
    def __init__(self, base: Path):
        self.dir = base
        self.data = base / "data"
        self.sockets = base / "sockets"
        self.log = base / "postgres.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = SUPERUSER
        self.password_user = PASSWORD_USER
        self.password = PASSWORD
        self.run_as = _server_user()
        self._names: set[str] = set()

    # --- server life ------------------------------------------------------------------

    def _cmd(self, args: list[str]) -> list[str]:
        return (["runuser", "-u", self.run_as, "--"] + args) if self.run_as else args

    def _run(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(self._cmd(args), capture_output=True, text=True, timeout=timeout)

    def init(self) -> None:
        os.chmod(self.dir, 0o755)
        for d in (self.data, self.sockets):
            d.mkdir(mode=0o700)
        self.log.touch()
        if self.run_as:
            info = pwd.getpwnam(self.run_as)
            for p in (self.data, self.sockets, self.log):
                os.chown(p, info.pw_uid, info.pw_gid)
        done = self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                          "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr.strip()}")
        (self.data / "pg_hba.conf").write_text(HBA)
        with open(self.data / "postgresql.conf", "a") as fh:
            # Test speed over durability: the cluster is thrown away at the end.
            fh.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                     f"unix_socket_directories = '{self.sockets}'\n"
                     "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                     "max_connections = 100\nshared_buffers = 32MB\n")

    def start(self) -> None:
        done = self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                          "-w", "-t", "60", "start"], timeout=90)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed ({done.returncode}): "
                               f"{done.stdout.strip()} {done.stderr.strip()}\n"
                               f"log {self.log}:\n{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                  timeout=60)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- databases --------------------------------------------------------------------

    def url(self, name: str = "postgres", user: str | None = None) -> str:
        return f"postgresql://{user or self.user}@{self.host}:{self.port}/{name}"

    def connect(self, name: str = "postgres"):
        import psycopg2
        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=name)
        conn.autocommit = True
        return conn

    def new_database(self, name: str) -> str:
        """Create a fresh, empty database and return its URL. A name already used in this
        session gets a numeric suffix, so each call really is a new database."""
        base = re.sub(r"[^a-z0-9_]", "_", name.lower())[:40] or "db"
        actual, n = base, 1
        while actual in self._names:
            n += 1
            actual = f"{base}_{n}"
        self._names.add(actual)
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{actual}"')
        finally:
            conn.close()
        return self.url(actual)

    def ensure_password_user(self) -> str:
        """Create the password-protected role once; return its user name."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_USER,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD %s", (PASSWORD,))
        finally:
            conn.close()
        return PASSWORD_USER

    def grant_database(self, dbname: str, role: str) -> None:
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(f'ALTER DATABASE "{dbname}" OWNER TO {role}')
                cur.execute(f"ALTER SCHEMA public OWNER TO {role}")
        finally:
            conn.close()


@pytest.fixture(scope="session")
def pg():
    have = (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists()
    skip_unless(have, f"PostgreSQL server binaries not found in {PG_BIN} "
                      "(apt-get install postgresql)")
    try:
        import psycopg2
    except ImportError:
        psycopg2 = None
    skip_unless(psycopg2 is not None, "psycopg2 is not installed (pip install -e '.[test]')")
    base = Path(tempfile.mkdtemp(prefix="mw-pg-"))
    server = PostgresServer(base)
    try:
        server.init()
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
        # On CI this fails the tests that need it; elsewhere it skips them with the reason.
        skip_unless(False, f"cannot start a private PostgreSQL: {exc}")
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
