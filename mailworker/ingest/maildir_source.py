"""A local Maildir as the mailbox (stdlib ``mailbox``): the embedded default.

Folders are Maildir++ sub-folders (``.Processed``, ``.Quarantine``, ``.Triage``), the
layout Dovecot uses, so a Maildir delivered by a local MTA and read by Dovecot can be
processed either way. Filing is an atomic rename, so a crash never loses or doubles a file.
"""
from __future__ import annotations

import mailbox
import os
import threading
from pathlib import Path

from ..errors import SourceError
from .sources import Fetched, header_block


class MaildirSource:
    uidvalidity = None

    def __init__(self, path: str | os.PathLike, folders: dict[str, str]):
        self.path = Path(path)
        self.name = f"maildir:{self.path}"
        self.folders = folders
        self._box: mailbox.Maildir | None = None

    def open(self) -> None:
        try:
            try:
                self._box = self._open_box()
            except FileExistsError:
                # Someone else (a delivering MTA, a staff tool) made it at the same moment.
                self._box = self._open_box()
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot open the Maildir inbox "
                              f"([inbox] path): {exc.strerror}") from None

    def _open_box(self) -> mailbox.Maildir:
        box = mailbox.Maildir(str(self.path), factory=None, create=True)
        existing = set(box.list_folders())
        for folder in self.folders.values():
            if folder not in existing:
                box.add_folder(folder)
        return box

    def close(self) -> None:
        self._box = None

    def _files(self) -> list[tuple[float, str, Path]]:
        found = []
        for sub in ("new", "cur"):
            try:
                entries = list(os.scandir(self.path / sub))
            except FileNotFoundError:
                continue
            for e in entries:
                if e.name.startswith(".") or not e.is_file():
                    continue
                try:
                    st = e.stat()
                except FileNotFoundError:
                    continue  # filed or removed meanwhile
                found.append((st.st_mtime, e.name, Path(e.path)))
        found.sort()
        return found

    def waiting(self) -> list[str]:
        return [name for _, name, _ in self._files()]

    def _path(self, key: str) -> Path | None:
        for sub in ("new", "cur"):
            p = self.path / sub / key
            if p.exists():
                return p
        return None

    def large(self, keys: list[str], threshold: int) -> dict[str, int]:
        out = {}
        for key in keys:
            p = self._path(key)
            if p is not None:
                try:
                    size = p.stat().st_size
                except FileNotFoundError:
                    continue  # moved away by someone else since listed
                if size > threshold:
                    out[key] = size
        return out

    def fetch(self, keys: list[str], max_bytes: int, large: dict[str, int]) -> list[Fetched]:
        out = []
        for key in keys:
            p = self._path(key)
            if p is None:
                continue  # moved away by someone else since listed
            try:
                size = p.stat().st_size
                if size > max_bytes:
                    with open(p, "rb") as fh:
                        head = fh.read(256 * 1024)
                    out.append(Fetched(key, size, header_block(head), headers_only=True))
                else:
                    data = p.read_bytes()
                    out.append(Fetched(key, len(data), data))
            except FileNotFoundError:
                continue  # moved away by someone else between the look and the read
        return out

    def filer(self) -> "MaildirSource":
        """Filing is a rename of other files than those being read: this same object can
        do it from another thread."""
        return self

    def file(self, moves: dict[str, list[str]]) -> None:
        for role, keys in moves.items():
            target = self.path / ("." + self.folders[role]) / "cur"
            target.mkdir(parents=True, exist_ok=True)
            for key in keys:
                src = self._path(key)
                if src is None:
                    continue
                name = key if ":2," in key else key + ":2,S"
                os.replace(src, target / name)

    def wait_for_mail(self, timeout: float, stop: threading.Event) -> None:
        stop.wait(timeout)
