"""systemd readiness and watchdog notifications (the sd_notify protocol, standard library only).

With ``Type=notify`` systemd passes ``NOTIFY_SOCKET``: an AF_UNIX datagram socket given as
a path or, when it starts with ``@``, as an abstract name. Without that variable (run from a
shell, in tests, in the demo) every call is a no-op that returns False, so callers never
need to ask whether they run under systemd.
"""
from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def _socket_address(value: str) -> str | None:
    if value.startswith("@"):
        return "\0" + value[1:]      # abstract namespace
    if value.startswith("/"):
        return value
    return None                      # e.g. vsock:... (VMs); not used for a local service


def notify(state: str) -> bool:
    """Send ``state`` (lines like ``READY=1``) to systemd; True when it was sent."""
    value = os.environ.get("NOTIFY_SOCKET")
    if not value:
        return False
    address = _socket_address(value)
    if address is None:
        log.warning("NOTIFY_SOCKET=%r is not a unix socket address; notifications are off",
                    value)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:
        # A lost notification must not stop the worker; systemd's own timeouts will show it.
        log.warning("cannot notify systemd via %s: %s", value, exc)
        return False
    return True


def ready(status_text: str | None = None) -> bool:
    """Start-up finished: systemd now counts the service as started."""
    return notify("READY=1" + (f"\nSTATUS={_one_line(status_text)}" if status_text else ""))


def watchdog() -> bool:
    """Still alive; send at least every ``watchdog_interval() / 2`` seconds."""
    return notify("WATCHDOG=1")


def stopping(status_text: str | None = None) -> bool:
    """Shutting down on purpose (after SIGTERM), so a slow stop is not taken for a hang."""
    return notify("STOPPING=1" + (f"\nSTATUS={_one_line(status_text)}" if status_text else ""))


def status(text: str) -> bool:
    """Free-form status line shown by ``systemctl status``."""
    return notify(f"STATUS={_one_line(text)}")


def watchdog_interval() -> float | None:
    """Seconds within which systemd expects ``watchdog()``, or None when no watchdog is set
    for this process (``WATCHDOG_PID`` names another process, or no ``WATCHDOG_USEC``)."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            log.warning("ignoring WATCHDOG_PID=%r: not a process id", pid)
            return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a whole number of microseconds", usec)
        return None
    if value <= 0:
        return None
    return value / 1_000_000


def _one_line(text: str) -> str:
    # A newline would start a new KEY=VALUE assignment in the datagram.
    return " ".join(str(text).split())
