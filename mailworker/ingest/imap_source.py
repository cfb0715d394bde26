"""An IMAP folder as the mailbox (imapclient).

TLS by default (IMAPS, or STARTTLS), certificates verified; plain only when the
configuration says ``security = "plain"``. Messages are read with ``BODY.PEEK[]`` so the
server's \\Seen flags are untouched, sizes are read first so a message over the limit is
never downloaded, and filing uses MOVE (or COPY + \\Deleted + UID EXPUNGE; never a bare
EXPUNGE, which could remove mail another client marked deleted).
Every network failure becomes ``SourceUnavailable`` naming the server, so the service can
reconnect with backoff; the password is never logged (imapclient redacts LOGIN).
"""
from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time

from imapclient import DELETED, IMAPClient
from imapclient import exceptions as imap_errors

from ..errors import SourceAuthError, SourceUnavailable
from .imap_wire import ImapWire
from .sources import Fetched, KeyRanges, chunks, folder_names

SIZE_FETCH_UIDS = 2000   # UIDs in one FETCH RFC822.SIZE (about 14 KB of command line)

log = logging.getLogger(__name__)

class ImapSource:
    def __init__(self, host: str, port: int, security: str, username: str, password: str,
                 mailbox: str, folders: dict[str, str], timeout: float = 60,
                 ca_file: str = "", use_idle: bool = True, idle_renew_seconds: int = 540,
                 fast_wire: bool | None = None):
        self.host, self.port, self.security = host, port, security
        self.username = username
        self._password = password
        self.mailbox = mailbox
        self.folders = folders
        self.timeout = timeout
        self.ca_file = ca_file
        self.use_idle = use_idle
        self.idle_renew_seconds = idle_renew_seconds
        self.fast_wire = fast_wire      # None: the fast path where the library allows it
        self.name = f"imap://{host}:{port}/{mailbox}"
        self.uidvalidity: int | None = None
        self._client: IMAPClient | None = None
        self._wire: ImapWire | None = None
        self._known_folders: set[str] = set()
        self._warned_no_uidplus = False

    def __repr__(self) -> str:  # never show the password
        return f"ImapSource({self.name!r}, user={self.username!r})"

    @contextlib.contextmanager
    def _network(self, doing: str):
        try:
            yield
        except imap_errors.LoginError as exc:
            raise SourceAuthError(f"IMAP server {self.host}:{self.port} refused the login of "
                                  f"{self.username!r} ({_text(exc)}); check [inbox] username "
                                  f"and the password secret") from None
        except ssl.SSLCertVerificationError as exc:
            raise SourceUnavailable(f"IMAP server {self.host}:{self.port}: certificate not "
                                    f"trusted ({exc.verify_message}); set [inbox] ca_file if "
                                    f"the server uses a private CA") from None
        except imap_errors.IMAPClientError as exc:
            # A NO/BAD answer or an aborted connection: reconnecting is the cure for both.
            raise SourceUnavailable(f"IMAP server {self.host}:{self.port} failed while "
                                    f"{doing}: {_text(exc)}") from None
        except (OSError, EOFError) as exc:
            raise SourceUnavailable(f"IMAP server {self.host}:{self.port} unreachable while "
                                    f"{doing}: {exc}") from None

    def _ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)

    def open(self) -> None:
        self.close()
        with self._network("connecting"):
            client = IMAPClient(self.host, port=self.port, ssl=self.security == "tls",
                                ssl_context=self._ssl_context() if self.security == "tls"
                                else None, timeout=self.timeout)
            try:
                if self.security == "starttls":
                    client.starttls(self._ssl_context())
                client.login(self.username, self._password)
                info = client.select_folder(self.mailbox)
            except BaseException:
                with contextlib.suppress(*_CLOSE_ERRORS):
                    client.shutdown()
                raise
        self._wire = ImapWire(client, self.fast_wire)
        self._wire.quiet_trace()
        self._client = client
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        self._known_folders = set()
        log.info("connected to %s as %s (UIDVALIDITY %s)", self.name, self.username,
                 self.uidvalidity)

    def close(self) -> None:
        client, self._client = self._client, None
        self._wire = None
        if client is None:
            return
        try:
            client.logout()
        except _CLOSE_ERRORS:
            with contextlib.suppress(*_CLOSE_ERRORS):
                client.shutdown()

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise SourceUnavailable(f"not connected to {self.name}")
        return self._client

    @property
    def wire(self) -> ImapWire:
        self.client     # raises if not connected
        return self._wire

    def waiting(self) -> KeyRanges:
        with self._network("listing the inbox"):
            return self.wire.waiting()

    def large(self, keys: list[str], threshold: int) -> dict[str, int]:
        if not keys:
            return {}
        with self._network("looking for large messages"):
            # The whole mailbox in one search (a list of keys could make a command line
            # longer than the server takes); large mail is rare, so the answer is short.
            wanted = keys if isinstance(keys, KeyRanges) else set(keys)
            hits = [u for u in self.client.search(["LARGER", threshold]) if str(u) in wanted]
            sizes: dict[str, int] = {}
            # in parts: a backlog of mail with attachments must not make one command line
            # longer than the server takes
            for part in chunks(sorted(hits), SIZE_FETCH_UIDS):
                found = self.client.fetch(part, ["RFC822.SIZE"])
                sizes.update((str(uid), d[b"RFC822.SIZE"]) for uid, d in found.items()
                             if b"RFC822.SIZE" in d)
        return sizes

    def fetch(self, keys: list[str], max_bytes: int, large: dict[str, int]) -> list[Fetched]:
        uids = [int(k) for k in keys]
        if not uids:
            return []
        big = [u for u in uids if large.get(str(u), 0) > max_bytes]
        small = [u for u in uids if large.get(str(u), 0) <= max_bytes]
        got: dict[int, Fetched] = {}
        if small:
            with self._network("fetching messages"):
                for uid, data in self._fetch_bodies(small).items():
                    got[uid] = Fetched(str(uid), len(data), data)
        if big:
            with self._network("fetching headers of oversize messages"):
                for uid, d in self.client.fetch(big, ["BODY.PEEK[HEADER]"]).items():
                    if b"BODY[HEADER]" in d:
                        got[uid] = Fetched(str(uid), large[str(uid)], d[b"BODY[HEADER]"],
                                           headers_only=True)
        # A UID missing here was expunged by another client meanwhile: nothing to do.
        return [got[u] for u in uids if u in got]

    def _fetch_bodies(self, uids: list[int]) -> dict[int, bytes]:
        """UID FETCH BODY.PEEK[] of these UIDs: {uid: raw message} (see ``imap_wire``)."""
        return self.wire.fetch_bodies(uids, uid_set(uids))

    def filer(self) -> "ImapSource":
        """A second connection to the same mailbox, for filing on another thread while
        this one fetches (the server works on both at once)."""
        twin = ImapSource(self.host, self.port, self.security, self.username, self._password,
                          self.mailbox, self.folders, timeout=self.timeout,
                          ca_file=self.ca_file, use_idle=False, fast_wire=self.fast_wire)
        twin.open()
        return twin

    def _ensure_folder(self, folder: str) -> None:
        if folder in self._known_folders:
            return
        with self._network(f"creating folder {folder}"):
            if not self.client.folder_exists(folder):
                self.client.create_folder(folder)
                log.info("created folder %s on %s", folder, self.host)
        self._known_folders.add(folder)

    def file(self, moves: dict[str, list[str]]) -> None:
        for role, keys in moves.items():
            if not keys:
                continue
            folder = self.folders[role]
            self._ensure_folder(folder)
            uids = uid_set(int(k) for k in keys)
            with self._network(f"moving messages to {folder}"):
                if self.client.has_capability("MOVE"):
                    self.client.move(uids, folder)
                    self._forget_expunges()
                    continue
                self.client.copy(uids, folder)
                self.client.add_flags(uids, [DELETED], silent=True)
                if self.client.has_capability("UIDPLUS"):
                    self.client.uid_expunge(uids)
                    self._forget_expunges()
                elif not self._warned_no_uidplus:
                    self._warned_no_uidplus = True
                    log.warning("%s offers neither MOVE nor UIDPLUS: filed messages stay in "
                                "%s marked \\Deleted (never expunged by us)", self.host,
                                self.mailbox)

    def _forget_expunges(self) -> None:
        self.wire.forget_expunges()

    def wait_for_mail(self, timeout: float, stop: threading.Event) -> None:
        if not (self.use_idle and self.client.has_capability("IDLE")):
            stop.wait(timeout)
            return
        deadline = time.monotonic() + min(timeout, self.idle_renew_seconds)
        with self._network("waiting for new mail (IDLE)"):
            self.client.idle()
            try:
                while not stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    responses = self.client.idle_check(timeout=min(1.0, left))
                    if any(r[0] == b"BYE" or (len(r) > 1 and r[1] in (b"EXISTS", b"RECENT"))
                           for r in responses if isinstance(r, tuple) and r):
                        if any(r[0] == b"BYE" for r in responses if isinstance(r, tuple)):
                            raise SourceUnavailable(f"IMAP server {self.host}:{self.port} "
                                                    "closed the connection (BYE)")
                        break
            finally:
                if self._client is not None and not self._wire.closed():
                    with contextlib.suppress(*_CLOSE_ERRORS):
                        self.client.idle_done()


_CLOSE_ERRORS = (OSError, EOFError, imap_errors.IMAPClientError)
def uid_set(uids) -> str:
    """A compact IMAP sequence set: 1:4,7,9:10."""
    ordered = sorted(set(uids))
    parts, i = [], 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _text(exc: Exception) -> str:
    msg = exc.args[0] if exc.args else str(exc)
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    return str(msg)


def from_config(cfg) -> ImapSource:
    i = cfg.inbox
    password = cfg.secret_text("inbox", "password")
    if i.security == "plain" and i.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("[inbox] security = \"plain\": the IMAP password to %s travels unencrypted",
                    i.host)
    return ImapSource(i.host, i.port, i.security, i.username, password, i.mailbox,
                      folder_names(cfg), timeout=i.timeout_seconds, ca_file=i.ca_file,
                      use_idle=i.use_idle, idle_renew_seconds=i.idle_renew_seconds)

