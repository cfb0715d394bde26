"""Per-member encrypted installer packages.

A release is built once (``build_release``): the installer is copied to
``<state_dir>/releases/<version>/`` with its SHA-256, and deflated once into
``installer.deflate`` (unless it does not shrink, as with most installers, which are
already compressed: then it is stored). Each member's package is then a WinZip AES-256
zip (AE-2, written by ``winzip_aes``, opened by 7-Zip and Bandizip) holding the installer, a
``manifest.json`` with the member's pseudonymous fingerprint (a leaked copy can be traced
to its member without the manifest naming anyone) and a short README. Writing a package
only encrypts the already-deflated stream with the member's key: deflating 50 MB again
for every member would cost about a second and a half each, for the same bytes.

The password is per member and per release: HMAC-SHA256 of the release secret
(``[ledger] release_key_file`` / ``release_key_env``) over version and member UUID,
shown as 16 Crockford base-32 characters in four groups (80 bits). It is never stored:
the sender derives it when the password mail goes out, staff re-derive it with
``mailworker release password``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import shutil
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from ..clock import Clock, naive_utc
from ..private import open_private, private_dir
from ..errors import MailworkerError
from ..events import canonical_json, package_leaf, utc_stamp
from ..models import LedgerEvent, Outbox
from .winzip_aes import DEFLATED, STORED, ZipTooLarge, ZipWriter

CHUNK = 1 << 20
PASSWORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"   # Crockford: no I, L, O, U
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
# Deflate only pays when it saves at least this share of the bytes.
MIN_SAVING = 0.03


class ReleaseError(MailworkerError):
    """A release cannot be built, found or sent as asked."""


@dataclass(frozen=True)
class Release:
    version: str
    directory: Path
    installer_name: str
    installer_sha256: str
    installer_size: int
    installer_crc32: int
    method: str               # "deflate" or "stored"
    stream_name: str          # file under directory holding the bytes to encrypt
    stream_size: int
    built_at: str

    @property
    def stream_path(self) -> Path:
        return self.directory / self.stream_name

    @property
    def packages_dir(self) -> Path:
        return self.directory / "packages"

    @property
    def zip_method(self) -> int:
        return DEFLATED if self.method == "deflate" else STORED


def human_size(n: int) -> str:
    """Sizes as people read them: 48.1 MB, 150 KB."""
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{max(1, round(n / 1000))} KB"


def check_version(version: str) -> str:
    if not _VERSION.match(version or ""):
        raise ReleaseError(f"release version {version!r} is not usable: use letters, digits, "
                           "'.', '-', '_' or '+' (e.g. 1.2.0-beta1), at most 64 characters")
    return version


def release_dir(cfg, version: str) -> Path:
    return Path(cfg.general.state_dir) / "releases" / check_version(version)


# --- passwords ---------------------------------------------------------------------------

def password_from_key(release_key: bytes, version: str, member_uuid: str) -> str:
    digest = hmac.new(release_key, f"mailworker package password v1\0{version}\0{member_uuid}"
                      .encode("utf-8"), hashlib.sha256).digest()
    bits = int.from_bytes(digest[:10], "big")          # 80 bits
    chars = [PASSWORD_ALPHABET[(bits >> (5 * i)) & 31] for i in reversed(range(16))]
    return "-".join("".join(chars[i:i + 4]) for i in range(0, 16, 4))


def member_password(cfg, version: str, member_uuid: str) -> str:
    """The member's package password for ``version``. Never log or store it."""
    return password_from_key(cfg.secret("ledger", "release_key"), version, member_uuid)


# --- building a release --------------------------------------------------------------------

def build_release(cfg, clock: Clock, installer: Path, version: str) -> tuple[Release, bool]:
    """Copy and prepare ``installer`` as ``version``; return (release, newly_built).

    Building the same installer again is a no-op; a different installer under a version
    that exists is refused (members would get two different files under one name).
    """
    directory = release_dir(cfg, version)
    installer = Path(installer)
    if not installer.is_file():
        raise ReleaseError(f"{installer}: installer file not found")
    sha = _sha256_file(installer)
    if (directory / "release.json").exists():
        existing = load_release(cfg, version)
        if existing.installer_sha256 != sha:
            raise ReleaseError(
                f"release {version} already exists in {directory} with another installer "
                f"({existing.installer_name}, SHA-256 {existing.installer_sha256[:16]}…); "
                "choose a new version number")
        return existing, False
    private_dir(directory)
    name = installer.name
    copy = directory / name
    tmp = directory / f".{name}.tmp"
    shutil.copyfile(installer, tmp)
    os.replace(tmp, copy)
    crc, size, deflated = _crc_and_deflate(copy, directory / ".installer.deflate.tmp")
    if deflated <= size * (1 - MIN_SAVING):
        os.replace(directory / ".installer.deflate.tmp", directory / "installer.deflate")
        method, stream, stream_size = "deflate", "installer.deflate", deflated
    else:
        (directory / ".installer.deflate.tmp").unlink()
        method, stream, stream_size = "stored", name, size
    release = Release(version=version, directory=directory, installer_name=name,
                      installer_sha256=sha, installer_size=size, installer_crc32=crc,
                      method=method, stream_name=stream, stream_size=stream_size,
                      built_at=utc_stamp(clock.now()))
    meta = asdict(release)
    meta.pop("directory")
    tmp_meta = directory / ".release.json.tmp"
    tmp_meta.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp_meta, directory / "release.json")
    return release, True


def load_release(cfg, version: str) -> Release:
    directory = release_dir(cfg, version)
    meta_path = directory / "release.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReleaseError(f"release {version} is not built yet ({meta_path} missing): run "
                           f"mailworker release build --installer FILE --version {version}"
                           ) from None
    except (OSError, ValueError) as exc:
        raise ReleaseError(f"{meta_path}: cannot read the release description: {exc}") from None
    release = Release(directory=directory, **meta)
    if not release.stream_path.is_file():
        raise ReleaseError(f"release {version}: {release.stream_path} is missing; build the "
                           "release again under a new version")
    return release


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _crc_and_deflate(source: Path, target: Path) -> tuple[int, int, int]:
    """CRC-32 and size of ``source``; its raw deflate stream written to ``target``."""
    crc, size, out_size = 0, 0, 0
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    with open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            out = comp.compress(chunk)
            out_size += len(out)
            dst.write(out)
        out = comp.flush()
        out_size += len(out)
        dst.write(out)
    return crc, size, out_size


# --- one member's package ----------------------------------------------------------------

@dataclass(frozen=True)
class Package:
    path: Path
    sha256: str
    size: int


_stream_cache: dict[tuple, bytes] = {}


def _release_stream(release: Release) -> bytes:
    """The release's deflated (or stored) installer bytes, read once for all the members'
    packages of a send (one release at a time is kept)."""
    path = release.stream_path
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    data = _stream_cache.get(key)
    if data is None:
        _stream_cache.clear()
        data = _stream_cache[key] = path.read_bytes()
    if len(data) != release.stream_size:
        raise ReleaseError(f"release {release.version}: {path} holds {len(data)} bytes, the "
                           f"release description says {release.stream_size}; build the "
                           "release again under a new version")
    return data


def build_member_package(release: Release, out_path: Path, fingerprint: str,
                         password: str | None, issued: dt.datetime,
                         group_name: str) -> Package:
    """Write one member's zip (AES-256 when ``password`` is given, else plain for S/MIME)."""
    private_dir(out_path.parent)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    manifest = {"version": release.version, "installer": release.installer_name,
                "installer_sha256": release.installer_sha256,
                "installer_size": release.installer_size,
                "member_fingerprint": fingerprint, "issued_at": utc_stamp(issued),
                "issued_by": group_name}
    readme = _readme(release, fingerprint, group_name)
    stamp = naive_utc(issued).timetuple()[:6]
    stream = _release_stream(release)
    try:
        with open_private(tmp, "wb") as fh:
            zf = ZipWriter(fh, password.encode("ascii") if password is not None else None)
            zf.add_bytes("manifest.json", json.dumps(manifest, indent=2,
                                                     ensure_ascii=False).encode(), stamp)
            zf.add_bytes("README.txt", readme.encode("utf-8-sig"), stamp)
            zf.add_stream(release.installer_name, [stream], len(stream),
                          release.installer_crc32, release.installer_size,
                          release.zip_method, stamp)
            zf.close()
    except ZipTooLarge as exc:
        raise ReleaseError(f"release {release.version}: {exc}") from None
    os.replace(tmp, out_path)
    return Package(out_path, zf.sha256.hexdigest(), zf.offset)


def _readme(release: Release, fingerprint: str, group_name: str) -> str:
    return (f"{group_name}\r\n"
            f"시험운영 설치 파일 / Trial installer {release.version}\r\n\r\n"
            f"설치 파일 / Installer: {release.installer_name}\r\n"
            f"SHA-256: {release.installer_sha256}\r\n\r\n"
            "이 파일은 받는 단원 한 분을 위해 만들어졌습니다. 다른 사람에게 전달하지 마세요.\r\n"
            "This copy was made for one member only. Please do not pass it on.\r\n"
            f"({fingerprint[:16]})\r\n")


# --- after sending ---------------------------------------------------------------------

def record_sent_package(row: Outbox, stored_now: dt.datetime) -> None:
    """Queue the ledger event for a package mail that just went out (idempotent)."""
    ctx = row.context
    leaf = package_leaf(ctx["package_sha256"], ctx["installer_sha256"], ctx["version"],
                        stored_now, ctx["member_fingerprint"])
    (LedgerEvent.insert(event_type="package", payload=canonical_json(leaf).decode("utf-8"),
                        dedup_key=f"package:{ctx['version']}:{ctx['member_fingerprint']}",
                        created_at=stored_now)
     .on_conflict_ignore().execute())
