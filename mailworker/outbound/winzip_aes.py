"""A small zip writer for members' packages: WinZip AES-256 (AE-2) entries, or plain ones.

What 7-Zip, Bandizip and Windows' own tools open: each encrypted entry is stored as
compression method 99 with the 0x9901 extra field naming the real method, and its data
is ``salt (16) | password check (2) | AES-256-CTR ciphertext | HMAC-SHA1 (10)``, the keys
from PBKDF2-HMAC-SHA1 (1,000 rounds) of the password and salt, the counter a 128-bit
little-endian number starting at 1 (the WinZip AE specification). AE-2 leaves the CRC
field 0: the HMAC protects the data instead.

An entry's bytes are handed over ready: raw deflate (or stored) bytes with their CRC-32
and uncompressed size, so a release's installer is deflated once and only encrypted per
member. The writer also keeps the SHA-256 of everything it writes (the package's hash
for the ledger), so the file is never read back. While this thread encrypts a piece, a
second one computes the HMAC of the piece before and a third hashes and writes the one
before that: the costs overlap (each lets go of the GIL on large buffers). Pieces are
small enough to stay in the processor's cache between the three.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import queue
import struct
import threading
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from Cryptodome.Cipher import AES
from Cryptodome.Util import Counter

STORED, DEFLATED, AES_METHOD = 0, 8, 99
SALT_BYTES, KEY_BYTES, CHECK_BYTES, MAC_BYTES = 16, 32, 2, 10
PBKDF2_ROUNDS = 1000
CHUNK = 512 << 10
_ZIP32_MAX = 0xFFFFFFFF
_FLAG_ENCRYPTED, _FLAG_UTF8 = 0x0001, 0x0800


class ZipTooLarge(ValueError):
    """An entry or the archive is past what a plain (non-ZIP64) zip can hold."""


@dataclass
class _Written:
    name: bytes
    flags: int
    method: int              # as written in the headers (99 when encrypted)
    dos_time: int
    dos_date: int
    crc: int
    compressed: int
    size: int
    extra: bytes
    offset: int
    external_attr: int


def _dos_stamp(date_time: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    year, month, day, hour, minute, second = date_time
    return (hour << 11 | minute << 5 | second // 2,
            max(0, year - 1980) << 9 | month << 5 | day)


def derive_keys(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    """(AES key, HMAC key, 2-byte password check) for AES-256 (WinZip AE)."""
    material = hashlib.pbkdf2_hmac("sha1", password, salt, PBKDF2_ROUNDS,
                                   2 * KEY_BYTES + CHECK_BYTES)
    return material[:KEY_BYTES], material[KEY_BYTES:2 * KEY_BYTES], material[2 * KEY_BYTES:]


def ctr_cipher(key: bytes):
    """AES-256 in WinZip's counter mode: a little-endian 128-bit counter from 1."""
    return AES.new(key, AES.MODE_CTR,
                   counter=Counter.new(128, initial_value=1, little_endian=True))


class ZipWriter:
    """Write entries one after another, then ``close()`` writes the central directory.

    ``password`` set: every entry is AES-256 encrypted with it; ``None``: plain entries
    (the S/MIME packages, encrypted as a whole mail instead)."""

    def __init__(self, fh: BinaryIO, password: bytes | None):
        self.fh = fh
        self.password = password
        self.entries: list[_Written] = []
        self.offset = 0
        self.sha256 = hashlib.sha256()        # of every byte written, in order

    def add_bytes(self, name: str, data: bytes, date_time, external_attr: int = 0o644 << 16,
                  deflate: bool = True) -> None:
        stream = zlib.compress(data, 6, -15) if deflate else data   # raw deflate, no header
        self.add_stream(name, [stream], len(stream), zlib.crc32(data), len(data),
                        DEFLATED if deflate else STORED, date_time, external_attr)

    def add_stream(self, name: str, chunks, stream_size: int, crc: int, size: int,
                   method: int, date_time, external_attr: int = 0o644 << 16) -> None:
        """An entry whose bytes (``chunks``, ``stream_size`` in all) are already deflated
        or stored as ``method``, with the CRC-32 and size of the original."""
        encrypted = self.password is not None
        overhead = SALT_BYTES + CHECK_BYTES + MAC_BYTES if encrypted else 0
        compressed = stream_size + overhead
        if max(compressed, size, self.offset) >= _ZIP32_MAX:
            raise ZipTooLarge(f"{name}: {max(compressed, size)} bytes is more than a plain "
                              "zip holds (4 GB)")
        raw_name = name.encode("utf-8")
        flags = 0 if raw_name.isascii() else _FLAG_UTF8
        extra = b""
        if encrypted:
            flags |= _FLAG_ENCRYPTED
            # 0x9901: AE-2, vendor "AE", strength 3 (AES-256), the real method
            extra = struct.pack("<HHH2sBH", 0x9901, 7, 2, b"AE", 3, method)
        dos_time, dos_date = _dos_stamp(date_time)
        entry = _Written(raw_name, flags, AES_METHOD if encrypted else method, dos_time,
                         dos_date, 0 if encrypted else crc, compressed, size, extra,
                         self.offset, external_attr)
        header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 51 if encrypted else 20, entry.flags,
                             entry.method, dos_time, dos_date, entry.crc, compressed, size,
                             len(raw_name), len(extra)) + raw_name + extra
        self._write(header)
        if encrypted:
            self._write_encrypted(chunks, stream_size)
        else:
            written = 0
            for chunk in chunks:
                written += len(chunk)
                self._write(chunk)
            if written != stream_size:
                raise ValueError(f"{name}: {written} bytes given, {stream_size} announced")
        self.entries.append(entry)

    def _write(self, data) -> None:
        self.sha256.update(data)
        self.fh.write(data)
        self.offset += len(data)

    def _write_encrypted(self, chunks, stream_size: int) -> None:
        salt = os.urandom(SALT_BYTES)
        key, mac_key, check = derive_keys(self.password, salt)
        self._write(salt + check)
        cipher = ctr_cipher(key)
        mac = hmac.new(mac_key, digestmod=hashlib.sha1)
        to_mac: queue.Queue = queue.Queue(maxsize=8)
        to_file: queue.Queue = queue.Queue(maxsize=8)
        failed: list[BaseException] = []

        def stage(source: queue.Queue, work, sink: queue.Queue | None) -> None:
            while (block := source.get()) is not None:
                if failed:
                    continue                    # drain, so the thread before never blocks
                try:
                    work(block)
                except BaseException as exc:    # handed to the encrypting thread below
                    failed.append(exc)
                    continue
                if sink is not None:
                    sink.put(block)
            if sink is not None:
                sink.put(None)

        def store(block: bytes) -> None:
            self.sha256.update(block)
            self.fh.write(block)

        threads = [threading.Thread(target=stage, args=(to_mac, mac.update, to_file),
                                    name="zip-mac", daemon=True),
                   threading.Thread(target=stage, args=(to_file, store, None),
                                    name="zip-write", daemon=True)]
        for t in threads:
            t.start()
        written = 0
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                for start in range(0, len(view), CHUNK):
                    block = cipher.encrypt(view[start:start + CHUNK])
                    written += len(block)
                    to_mac.put(block)
                    if failed:
                        break
                if failed:
                    break
        finally:
            to_mac.put(None)
            for t in threads:
                t.join()
        if failed:
            raise failed[0]
        if written != stream_size:
            raise ValueError(f"{written} bytes given, {stream_size} announced")
        self.offset += written
        self._write(mac.digest()[:MAC_BYTES])

    def close(self) -> None:
        start = self.offset
        for e in self.entries:
            self._write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x033F,
                                    51 if e.flags & _FLAG_ENCRYPTED else 20, e.flags, e.method,
                                    e.dos_time, e.dos_date, e.crc, e.compressed, e.size,
                                    len(e.name), len(e.extra), 0, 0, 0, e.external_attr,
                                    e.offset) + e.name + e.extra)
        self._write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(self.entries),
                                len(self.entries), self.offset - start, start, 0))
