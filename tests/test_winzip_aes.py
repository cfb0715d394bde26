"""Our WinZip AES-256 zip writer, checked with Debian's 7zz and with pyzipper."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import zlib

import pytest

from mailworker.outbound import winzip_aes
from mailworker.outbound.winzip_aes import DEFLATED, STORED, ZipTooLarge, ZipWriter
from tests.conftest import skip_unless

SEVEN_ZIP = shutil.which("7zz")
STAMP = (2026, 11, 25, 10, 0, 0)


def seven(*args, cwd=None):
    skip_unless(SEVEN_ZIP is not None, "Debian's 7zz (package 7zip) is not installed")
    return subprocess.run([SEVEN_ZIP, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def write_zip(path, password, entries):
    with open(path, "wb") as fh:
        zf = ZipWriter(fh, password)
        for add in entries:
            add(zf)
        zf.close()


def test_encrypted_entries_over_several_chunks_open_in_7zz(tmp_path, monkeypatch):
    monkeypatch.setattr(winzip_aes, "CHUNK", 64 * 1024)      # many chunks through the thread
    big = os.urandom(700_000) + b"resource table " * 20_000
    deflated = zlib.compress(big, 6, -15)
    random_part = os.urandom(300_001)                        # odd length: a partial block
    path = tmp_path / "p.zip"
    write_zip(path, b"ABCD-EFGH-JKMN-PQRS", [
        lambda z: z.add_bytes("manifest.json", b'{"a": 1}', STAMP),
        lambda z: z.add_stream("설치.exe", [deflated[:1000], deflated[1000:]], len(deflated),
                               zlib.crc32(big), len(big), DEFLATED, STAMP),
        lambda z: z.add_stream("raw.bin", [random_part], len(random_part),
                               zlib.crc32(random_part), len(random_part), STORED, STAMP)])
    tested = seven("t", "-pABCD-EFGH-JKMN-PQRS", str(path))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    out = tmp_path / "out"
    done = seven("x", "-pABCD-EFGH-JKMN-PQRS", f"-o{out}", str(path))
    assert done.returncode == 0, done.stdout
    assert (out / "설치.exe").read_bytes() == big
    assert (out / "raw.bin").read_bytes() == random_part
    assert (out / "manifest.json").read_bytes() == b'{"a": 1}'
    listing = seven("l", "-slt", "-pX", str(path)).stdout
    assert "Method = AES-256 Deflate" in listing and "Method = AES-256" in listing
    assert seven("t", "-pWRONG-PASSWORD", str(path)).returncode == 2


def test_pyzipper_reads_it_too(tmp_path):
    try:
        import pyzipper
    except ImportError:
        pyzipper = None
    skip_unless(pyzipper is not None, "pyzipper is not installed (the bench extra)")
    data = os.urandom(50_000)
    path = tmp_path / "p.zip"
    write_zip(path, b"secret", [lambda z: z.add_bytes("a.bin", data, STAMP, deflate=False)])
    with pyzipper.AESZipFile(path) as zf:
        zf.setpassword(b"secret")
        assert zf.read("a.bin") == data


def test_a_changed_byte_is_caught_by_the_mac(tmp_path):
    data = os.urandom(20_000)
    path = tmp_path / "p.zip"
    write_zip(path, b"secret", [lambda z: z.add_bytes("a.bin", data, STAMP, deflate=False)])
    raw = bytearray(path.read_bytes())
    raw[30 + len("a.bin") + 11 + 18 + 5000] ^= 0x01     # inside the ciphertext
    path.write_bytes(bytes(raw))
    tested = seven("t", "-psecret", str(path))
    assert tested.returncode != 0


def test_plain_zip_without_a_password(tmp_path):
    path = tmp_path / "plain.zip"
    write_zip(path, None, [lambda z: z.add_bytes("README.txt", "안내\r\n".encode(), STAMP)])
    import zipfile
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert zf.read("README.txt").decode() == "안내\r\n"


def test_a_wrong_announced_size_and_a_huge_entry_are_refused():
    zf = ZipWriter(io.BytesIO(), b"pw")
    with pytest.raises(ValueError, match="announced"):
        zf.add_stream("a", [b"abc"], 5, 0, 3, STORED, STAMP)
    with pytest.raises(ZipTooLarge, match="4 GB"):
        ZipWriter(io.BytesIO(), b"pw").add_stream("big", [], 5 << 30, 0, 5 << 30, STORED,
                                                  STAMP)


def test_a_failing_write_surfaces_and_nothing_hangs(monkeypatch):
    """Disk full half-way through the encrypted stream: the error reaches the caller."""
    monkeypatch.setattr(winzip_aes, "CHUNK", 4096)

    class DiskFull(io.BytesIO):
        def write(self, data):
            if self.tell() > 20_000:
                raise OSError(28, "No space left on device")
            return super().write(data)
    zf = ZipWriter(DiskFull(), b"pw")
    data = os.urandom(200_000)
    with pytest.raises(OSError, match="No space left"):
        zf.add_stream("a.bin", [data], len(data), zlib.crc32(data), len(data), STORED, STAMP)


def test_the_writer_knows_the_hash_of_what_it_wrote(tmp_path):
    import hashlib
    path = tmp_path / "p.zip"
    with open(path, "wb") as fh:
        zf = ZipWriter(fh, b"pw")
        zf.add_bytes("a.bin", os.urandom(300_000), STAMP, deflate=False)
        zf.close()
    assert zf.sha256.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert zf.offset == path.stat().st_size
