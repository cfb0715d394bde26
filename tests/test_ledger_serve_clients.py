"""`ledger serve` against hostile clients, with raw sockets on loopback: a half-sent
request, lying lengths, no token; each costs at most its own connection."""
from __future__ import annotations

import json
import signal
import socket
import time

import pytest

from tests.test_ledger_serve import Cluster

TOKEN = "test-replica-token-1234"
READ_TIMEOUT = 2        # [ledger] timeout_seconds of the served replica


@pytest.fixture
def replica(tmp_path):
    c = Cluster(tmp_path)
    path = c.config("replica-1")
    path.write_text(path.read_text().replace("timeout_seconds = 5",
                                             f"timeout_seconds = {READ_TIMEOUT}"))
    c.start("replica-1")
    try:
        yield c
    finally:
        c.stop_all()


def _connect(c) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", c.ports["replica-1"]), timeout=10)
    return s


def _exchange(c, raw: bytes) -> tuple[int, dict, float]:
    """Send ``raw``, read the whole answer; (status, JSON body, seconds taken)."""
    start = time.monotonic()
    with _connect(c) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body or b"{}"), time.monotonic() - start


def _get(path: str, token: str | None = TOKEN) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n".encode()


def _post(length_header: str, body: bytes = b"{}") -> bytes:
    return (f"POST /sign HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: {length_header}\r\n\r\n"
            ).encode() + body


def test_a_half_sent_request_does_not_hold_up_others(replica):
    held = [_connect(replica) for _ in range(3)]
    try:
        held[0].sendall(b"GET /inf")                              # half a request line
        held[1].sendall(_post("100", b'{"checkpoint": '))          # half a body
        held[2].sendall(b"POST /sign HTTP/1.1\r\nContent-Length: -1\r\n")  # half the headers
        for _ in range(3):
            status, body, took = _exchange(replica, _get("/info"))
            assert status == 200 and body["name"] == "replica-1"
            assert took < READ_TIMEOUT          # served while the others still hang
        # The server gives up on each slow client after its read timeout.
        for s in held:
            s.settimeout(READ_TIMEOUT + 5)
            start = time.monotonic()
            while s.recv(65536):
                pass
            assert time.monotonic() - start < READ_TIMEOUT + 5
    finally:
        for s in held:
            s.close()


@pytest.mark.parametrize("length, status, says", [
    ("-1", 400, "Content-Length must be a whole number"),
    ("abc", 400, "Content-Length must be a whole number"),
    ("1e3", 400, "Content-Length must be a whole number"),
    ("99999999999", 413, "request too large"),
])
def test_bad_lengths_are_answered_not_waited_for(replica, length, status, says):
    got, body, took = _exchange(replica, _post(length))
    assert got == status and says in body["error"]
    assert took < READ_TIMEOUT
    # The server is still there and nothing was printed as a traceback.
    assert _exchange(replica, _get("/info"))[0] == 200


def test_no_length_and_short_bodies_are_400(replica):
    raw = (f"POST /sign HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           f"Authorization: Bearer {TOKEN}\r\n\r\n").encode()
    got, body, _ = _exchange(replica, raw)
    assert got == 400 and "needs a Content-Length" in body["error"]
    with _connect(replica) as s:            # says 50 bytes, sends 2, stops writing
        s.sendall(_post("50", b"{}"))
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert b" 400 " in data.split(b"\r\n", 1)[0] and b"ended after 2 of 50" in data


def test_reads_need_the_token_too(replica):
    got, body, _ = _exchange(replica, _get("/info", token=None))
    assert got == 401 and "bearer token" in body["error"]
    got, _, _ = _exchange(replica, _get("/leaves?start=0&end=0", token="wrong-token-xxxx"))
    assert got == 401
    assert _exchange(replica, _get("/info"))[0] == 200


def test_no_traceback_after_hostile_clients(replica):
    for raw in (_post("abc"), _post("-1"), b"\x16\x03\x01garbage\r\n\r\n", _get("/nowhere")):
        _exchange_or_closed(replica, raw)
    proc = replica.procs.pop("replica-1")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err


def _exchange_or_closed(c, raw: bytes) -> None:
    with _connect(c) as s:
        s.sendall(raw)
        while s.recv(65536):
            pass


def test_connections_beyond_the_limit_are_told_503(replica):
    from mailworker.ledger.server import MAX_CONNECTIONS
    held = []
    try:
        for _ in range(MAX_CONNECTIONS):
            s = _connect(replica)
            s.sendall(b"GET /in")
            held.append(s)
        got, body, took = _exchange(replica, _get("/info"))
        assert got == 503 and "too many connections" in body["error"] and took < READ_TIMEOUT
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + READ_TIMEOUT + 5      # slots come back after the timeout
    while time.monotonic() < deadline:
        if _exchange(replica, _get("/info"))[0] == 200:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the server did not take connections again")
