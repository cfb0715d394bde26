"""`mailworker ledger serve --replica NAME`: one replica as a small HTTP service, so the
four signing keys can live on four machines (protocol in wire.py).

The replica's store and key are local to this host (its ``[[ledger.replicas]]`` entry has
a sqlite:/// or postgresql:// url and a key_file); the other entries only need their
public keys, to check the quorum checkpoints handed to this replica. With a bearer token
(``[ledger] replica_token_file``/``_env``) every request needs it, reads too; without one
the server only listens on a loopback address. Put it behind a TLS proxy to cross a network.

One client costs at most itself: each connection has its own thread (at most
``MAX_CONNECTIONS`` at once, the rest are told 503), every read from the socket gives up
after ``[ledger] timeout_seconds``, and a body must say its length, at most ``MAX_BODY``.
"""
from __future__ import annotations

import hmac
import json
import logging
import signal
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..errors import ConfigError, MailworkerError
from . import checkpoint as cp_mod
from .errors import (CheckpointError, LedgerProblem, ReplicaCorrupt, ReplicaDamaged,
                     ReplicaRefused, ReplicaUnavailable)
from .handle import open_one
from .layout import verifiers
from .merkle import LedgerError
from .wire import MAX_BODY, MAX_LEAVES, b64, unb64

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "::1", "localhost")
MAX_CONNECTIONS = 32
_BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Connection: close\r\n\r\n{\"error\": \"too many connections; try again\"}")


class BadRequest(Exception):
    """The request is malformed; answered with 400 and the message."""


class ReplicaService:
    """What the HTTP handler calls; one request at a time (the store is not shared)."""

    def __init__(self, cfg, name: str):
        self.cfg = cfg
        self.rep = open_one(cfg, name)
        if self.rep.signer is None:
            raise ConfigError(f"{cfg.where}: replica {name} has no key_file on this host; "
                              "serve it where its signing key is")
        self.verifiers = verifiers(cfg)
        self.quorum = cfg.ledger.quorum
        self.token = (cfg.secret_text("ledger", "replica_token")
                      if cfg.has_secret("ledger", "replica_token") else None)
        self.lock = threading.Lock()

    # -- reads ---------------------------------------------------------------------------
    def get(self, path: str, q: dict[str, str]) -> dict:
        rep = self.rep
        if path == "/info":
            last = rep.last_signed()
            cp = rep.checkpoint_note()
            out = {"name": rep.name, "origin": rep.origin, "size": rep.size(),
                   "last_signed": {"size": last.size, "root": b64(last.root),
                                   "signed_at": last.signed_at} if last else None,
                   "checkpoint": {"size": cp[0], "note": cp[1]} if cp else None}
            if "signed_by" in q:
                out["ever_signed_by"] = rep.ever_signed_by(q["signed_by"])
            return out
        if path == "/root":
            return {"root": b64(rep.root(_int(q, "size")))}
        if path == "/leaves":
            start, end = _int(q, "start"), _int(q, "end")
            if not 0 <= start <= end or end - start > MAX_LEAVES or end > rep.size():
                raise BadRequest(f"leaves {start}..{end} are not a range of at most "
                                 f"{MAX_LEAVES} leaves inside the tree")
            return {"leaves": [b64(d) for d in rep.leaves(start, end)]}
        if path == "/edge":
            size = _int(q, "size")
            if size != rep.size():
                raise ReplicaRefused(f"{rep.name}: holds {rep.size()} leaves, not {size}")
            tiles, bundle = rep.edge(size)
            return {"tiles": {str(k): b64(v) for k, v in tiles.items()},
                    "bundle": b64(bundle) if bundle is not None else None}
        if path == "/inclusion":
            return {"proof": [b64(h) for h in
                              rep.inclusion_proof(_int(q, "index"), _int(q, "size"))]}
        if path == "/consistency":
            return {"proof": [b64(h) for h in
                              rep.consistency_proof(_int(q, "old"), _int(q, "new"))]}
        if path == "/audit":
            sizes = [int(s) for s in q.get("sizes", "").split(",") if s.strip().isdigit()]
            report = rep.audit(sizes)
            return {"size": report.size, "recomputed_size": report.recomputed_size,
                    "problems": [{"index": p.index, "kind": p.kind, "message": p.message}
                                 for p in report.problems],
                    "roots": {str(k): b64(v) for k, v in report.roots.items()}}
        raise BadRequest(f"unknown path {path}")

    # -- writes --------------------------------------------------------------------------
    def post(self, path: str, body: dict) -> dict:
        rep = self.rep
        if path == "/append-and-sign":
            cp = cp_mod.parse_body(_str(body, "checkpoint"))
            leaves = [unb64(x) for x in body.get("leaves") or []]
            base = _int(body, "base_size")
            if rep.size() != base:
                raise ReplicaRefused(f"{rep.name}: holds {rep.size()} leaves, the append was "
                                     f"meant for {base}")
            previous = body.get("previous")
            if previous:
                self._check_note(previous[1])
            plan = rep.plan(leaves) if leaves else None
            got = plan.root if plan is not None else rep.root(cp.size)
            if plan is not None and plan.new_size != cp.size or got != cp.root:
                raise ReplicaRefused(f"{rep.name}: after this append its tree would not be "
                                     f"the checkpoint's (size {cp.size}); refusing")
            if body.get("sign") is False:       # catch-up: the caller cosigns the tip after
                if plan is not None:
                    rep.apply(plan)
                return {"size": rep.size()}
            return {"signature": rep.apply_and_sign(plan, cp, _str(body, "signed_at"),
                                                    tuple(previous) if previous else None)}
        if path == "/sign":
            cp = cp_mod.parse_body(_str(body, "checkpoint"))
            return {"signature": rep.sign(cp, _str(body, "signed_at"))}
        if path == "/checkpoint":
            note = _str(body, "note")
            opened = self._check_note(note)
            if opened.checkpoint.size > rep.size() or \
                    rep.root(opened.checkpoint.size) != opened.checkpoint.root:
                raise ReplicaRefused(f"{rep.name}: does not hold the tree of that checkpoint")
            rep.store_checkpoint(opened.checkpoint.size, note)
            return {"stored": opened.checkpoint.size}
        raise BadRequest(f"unknown path {path}")

    def _check_note(self, note: str):
        try:
            return cp_mod.open_note(note, self.verifiers, self.quorum, self.rep.origin)
        except CheckpointError as exc:
            raise ReplicaRefused(f"{self.rep.name}: refuses the checkpoint: {exc}") from None

    def authorized(self, header: str | None) -> bool:
        if self.token is None:
            return True
        want = f"Bearer {self.token}"
        return header is not None and hmac.compare_digest(header.encode(), want.encode())

    def close(self) -> None:
        self.rep.close()


def _int(q: dict, key: str) -> int:
    try:
        value = int(q[key])
    except (KeyError, TypeError, ValueError):
        raise BadRequest(f"{key} must be a whole number") from None
    if value < 0:
        raise BadRequest(f"{key} must not be negative")
    return value


def _str(q: dict, key: str) -> str:
    value = q.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be text")
    return value


def body_length(header: str | None) -> int:
    """The Content-Length of a POST; BadRequest unless it is plain digits."""
    text = (header or "").strip()
    if not text:
        raise BadRequest("a POST needs a Content-Length header")
    if not text.isdigit() or not text.isascii():
        raise BadRequest(f"Content-Length must be a whole number of bytes, not {text[:40]!r}")
    return int(text)


class ReplicaHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` at once."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address, handler, max_connections: int = MAX_CONNECTIONS):
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.settimeout(1)
                request.sendall(_BUSY)
            except OSError:
                pass        # the client is gone; nothing to tell it
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        # One line in our log instead of a traceback on stderr; the client is dropped.
        log.error("ledger serve: request from %s failed", client_address[0], exc_info=True)


def make_handler(service: ReplicaService, read_timeout: float = 10.0):
    class Handler(BaseHTTPRequestHandler):
        server_version = "mailworker-ledger-replica/1"
        timeout = read_timeout      # every socket read (request line, headers, body)

        def log_message(self, fmt, *args):       # requests go to our log, not stderr
            log.debug("%s %s", self.address_string(), fmt % args)

        def _reply(self, code: int, obj: dict) -> None:
            data = json.dumps(obj).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _run(self, fn) -> None:
            try:
                with service.lock:
                    self._reply(200, fn())
            except BadRequest as exc:
                self._reply(400, {"error": str(exc)})
            except ReplicaDamaged as exc:
                self._reply(500, {"error": str(exc), "damaged": True})
            except ReplicaRefused as exc:
                self._reply(409, {"error": str(exc)})
            except ReplicaUnavailable as exc:
                self._reply(503, {"error": str(exc)})
            except ReplicaCorrupt as exc:
                self._reply(500, {"error": str(exc)})
            except (LedgerProblem, LedgerError, MailworkerError) as exc:
                self._reply(400, {"error": str(exc)})

        def _refused(self) -> bool:
            if service.authorized(self.headers.get("Authorization")):
                return False
            self.close_connection = True
            self._reply(401, {"error": "missing or wrong bearer token"})
            return True

        def do_GET(self):
            if self._refused():
                return
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            self._run(lambda: service.get(url.path, q))

        def do_POST(self):
            if self._refused():
                return
            try:
                length = body_length(self.headers.get("Content-Length"))
            except BadRequest as exc:
                self.close_connection = True    # the rest of the stream means nothing
                self._reply(400, {"error": str(exc)})
                return
            if length > MAX_BODY:
                self.close_connection = True
                self._reply(413, {"error": f"request too large: {length} bytes, at most "
                                           f"{MAX_BODY}"})
                return
            raw = self.rfile.read(length)       # each read bounded by the socket timeout
            if len(raw) < length:
                self.close_connection = True
                self._reply(400, {"error": f"the body ended after {len(raw)} of "
                                           f"{length} bytes"})
                return
            try:
                body = json.loads(raw.decode("utf-8") or "{}")
            except (ValueError, UnicodeDecodeError):
                self._reply(400, {"error": "the body is not JSON"})
                return
            if not isinstance(body, dict):
                self._reply(400, {"error": "the body must be a JSON object"})
                return
            path = urllib.parse.urlsplit(self.path).path
            self._run(lambda: service.post(path, body))

    return Handler


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"--listen {listen!r} must be HOST:PORT, e.g. 127.0.0.1:8470")
    return host.strip("[]"), int(port)


def serve(cfg, name: str, listen: str, ctx) -> int:
    host, port = parse_listen(listen)
    service = ReplicaService(cfg, name)
    try:
        if service.token is None and host not in LOOPBACK:
            raise ConfigError(f"{cfg.where}: serving {name} on {host} needs a token: set "
                              "[ledger] replica_token_file (a 0600 file) on both sides")
        try:
            httpd = ReplicaHTTPServer((host, port),
                                      make_handler(service, cfg.ledger.timeout_seconds))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {listen}: {exc.strerror}") from None
        stop = threading.Event()

        def _stop(signum, frame):
            stop.set()
            threading.Thread(target=httpd.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, _stop)
        ctx.print(f"serving {name} on http://{host}:{httpd.server_address[1]}", flush=True)
        try:
            httpd.serve_forever(poll_interval=0.5)
        finally:
            httpd.server_close()
        return 0
    finally:
        service.close()
