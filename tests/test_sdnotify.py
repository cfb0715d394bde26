"""sd_notify against a real bound AF_UNIX datagram socket, as systemd would listen."""
from __future__ import annotations

import logging
import os
import socket
import uuid

import pytest

from mailworker import sdnotify


@pytest.fixture
def listener(tmp_path, monkeypatch):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def received(sock) -> str:
    return sock.recv(4096).decode("utf-8")


def test_without_notify_socket_every_call_is_a_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.ready() is False
    assert sdnotify.watchdog() is False
    assert sdnotify.stopping() is False
    assert sdnotify.status("x") is False


def test_ready_watchdog_status_stopping_arrive_in_order(listener):
    assert sdnotify.ready() is True
    assert received(listener) == "READY=1"
    assert sdnotify.watchdog() is True
    assert received(listener) == "WATCHDOG=1"
    assert sdnotify.status("처리 중: 3통\n다음 줄") is True
    assert received(listener) == "STATUS=처리 중: 3통 다음 줄"
    assert sdnotify.stopping("finishing the current message") is True
    assert received(listener) == "STOPPING=1\nSTATUS=finishing the current message"


def test_ready_with_status(listener):
    sdnotify.ready("watching INBOX")
    assert received(listener) == "READY=1\nSTATUS=watching INBOX"


def test_abstract_socket_name(monkeypatch):
    name = f"mailworker-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.ready() is True
        assert received(sock) == "READY=1"


def test_dead_socket_returns_false_and_warns(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    with caplog.at_level(logging.WARNING, logger="mailworker.sdnotify"):
        assert sdnotify.watchdog() is False
    assert "cannot notify systemd" in caplog.text


def test_unsupported_address_is_refused_with_a_warning(monkeypatch, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    with caplog.at_level(logging.WARNING, logger="mailworker.sdnotify"):
        assert sdnotify.ready() is False
    assert "not a unix socket address" in caplog.text


def test_watchdog_interval(monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval() is None

    monkeypatch.setenv("WATCHDOG_USEC", "120000000")
    assert sdnotify.watchdog_interval() == 120.0

    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 120.0

    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_interval() is None      # meant for another process

    monkeypatch.setenv("WATCHDOG_PID", "not-a-pid")
    assert sdnotify.watchdog_interval() is None

    monkeypatch.delenv("WATCHDOG_PID")
    for bad in ("0", "-5", "soon"):
        monkeypatch.setenv("WATCHDOG_USEC", bad)
        assert sdnotify.watchdog_interval() is None
