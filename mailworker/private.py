"""Files and folders only the service user may read, whatever the umask.

Outside systemd (``UMask=0077`` in the unit) a shell's usual umask 022 would leave the
database (names, addresses), its -wal/-shm files, the ledger replicas, sent mail and
member packages readable by every local user. Everything the worker creates with such
data goes through here: folders 0700, files 0600. Existing folders and files are left as
they are (an operator may have widened a folder on purpose).
"""
from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike) -> Path:
    """``path`` and its missing parents created 0700; existing folders unchanged."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue        # made meanwhile by another process
        os.chmod(folder, DIR_MODE)      # mkdir's mode passes through the umask
    return path


def private_file(path: str | os.PathLike) -> Path:
    """Create ``path`` empty and 0600 if it is missing. SQLite gives its -wal, -shm and
    journal files the mode of the database file, so creating the database this way
    first keeps those private too."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path
    os.close(fd)
    os.chmod(path, FILE_MODE)
    return path


def open_private(path: str | os.PathLike, mode: str = "wb", **kwargs):
    """``open(path, mode)`` for writing a new file, created (or truncated) 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, mode, **kwargs)
