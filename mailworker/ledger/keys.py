"""Keys: each replica's Ed25519 signing key, the verifier keys, and the pseudonym key.

Key files use the text formats of Go's ``golang.org/x/mod/sumdb/note`` (and C2SP
signed-note), so other tools can read them:

- signing key file (0600):  ``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>``
- verifier key:             ``<name>+<key id hex>+<base64(0x01 || public key)>``

where key id = first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key). In the
configuration ``public_key`` may be the verifier key or just the base64 public key.

The pseudonym key (HMAC key for member pseudonyms on ledger leaves) comes from the
configured secret ``[ledger] pseudonym_key_file``/``_env``; when neither is set, from
``<ledger directory>/pseudonym.key``, which ``ensure_embedded_keys`` creates. Ingest and
the ledger both read it through ``pseudonym_key(cfg)`` so they can never disagree.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..config import read_secret_file
from ..errors import SecretError
from ..private import private_dir
from .errors import KeyFileError

ED25519 = 0x01
PSEUDONYM_FILE = "pseudonym.key"


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public).digest()[:4]


def valid_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


@dataclass(frozen=True)
class Verifier:
    """A replica's public key, as used to check checkpoint signatures."""
    name: str
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public)

    def vkey(self) -> str:
        return (f"{self.name}+{self.key_id.hex()}+"
                f"{base64.b64encode(bytes([ED25519]) + self.public).decode()}")

    def b64(self) -> str:
        return base64.b64encode(self.public).decode()

    def verify(self, signature: bytes, message: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
            return True
        except InvalidSignature:
            return False


@dataclass(frozen=True)
class Signer:
    name: str
    private: Ed25519PrivateKey

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.private.public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw))

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def generate_signer(name: str) -> Signer:
    return Signer(name, Ed25519PrivateKey.generate())


def skey_text(signer: Signer) -> str:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
    seed = signer.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return (f"PRIVATE+KEY+{signer.name}+{signer.verifier.key_id.hex()}+"
            f"{base64.b64encode(bytes([ED25519]) + seed).decode()}")


def read_signer(path: Path, expected_name: str, named_by: str) -> Signer:
    """Load a signing key file (must be 0600) and check it is the named replica's key."""
    try:
        text = read_secret_file(path, named_by).decode("ascii").strip()
    except UnicodeDecodeError:
        raise KeyFileError(f"{path}: not a mailworker signing key file ({named_by})") from None
    except SecretError as exc:
        raise KeyFileError(str(exc)) from None
    parts = text.split("+", 4)     # base64 may itself contain "+"
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise KeyFileError(f"{path}: not a signing key (expected a line "
                           f"PRIVATE+KEY+name+keyid+key; {named_by})")
    name, kid, b64 = parts[2], parts[3], parts[4]
    try:
        raw = base64.b64decode(b64, validate=True)
    except binascii.Error:
        raise KeyFileError(f"{path}: the key part is not base64 ({named_by})") from None
    if len(raw) != 33 or raw[0] != ED25519:
        raise KeyFileError(f"{path}: not an Ed25519 key ({named_by})")
    signer = Signer(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if signer.verifier.key_id.hex() != kid:
        raise KeyFileError(f"{path}: key id {kid} does not match the key ({named_by})")
    if name != expected_name:
        raise KeyFileError(f"{path}: this is the key of {name!r}, not of {expected_name!r} "
                           f"({named_by})")
    return signer


def parse_public_key(text: str, name: str, where: str) -> Verifier:
    """A verifier from ``name+keyid+base64(01||key)`` or plain base64 of the 32-byte key."""
    text = text.strip()
    if "+" in text:
        parts = text.split("+", 2)
        if len(parts) != 3:
            raise KeyFileError(f"{where}: public key {text[:40]!r} is neither a verifier key "
                               "(name+keyid+key) nor a base64 public key")
        vname, kid, b64 = parts
        if vname != name:
            raise KeyFileError(f"{where}: the verifier key is for {vname!r}, not {name!r}")
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise KeyFileError(f"{where}: the verifier key's key part is not base64") from None
        if len(raw) != 33 or raw[0] != ED25519:
            raise KeyFileError(f"{where}: the verifier key is not an Ed25519 key")
        v = Verifier(name, raw[1:])
        if v.key_id.hex() != kid:
            raise KeyFileError(f"{where}: key id {kid} does not match the verifier key")
        return v
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise KeyFileError(f"{where}: public key is not base64") from None
    if len(raw) != 32:
        raise KeyFileError(f"{where}: an Ed25519 public key is 32 bytes, this one is "
                           f"{len(raw)}")
    return Verifier(name, raw)


def read_keys_file(path: Path) -> list[Verifier]:
    """Verifier keys for offline checks: one per line, ``name+keyid+key`` or
    ``name base64key`` (blank lines and # comments are ignored)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the keys file: {exc.strerror}") from None
    out = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path} line {n}"
        if " " in line:
            name, _, key = line.partition(" ")
            out.append(parse_public_key(key, name.strip(), where))
        else:
            name = line.split("+", 1)[0]
            out.append(parse_public_key(line, name, where))
    if not out:
        raise KeyFileError(f"{path}: no keys in the file")
    return out


# --- the pseudonym key and embedded keys -------------------------------------------------

def ledger_directory(cfg) -> Path:
    return Path(cfg.ledger.directory)


def pseudonym_key(cfg) -> bytes:
    """The HMAC key for member pseudonyms. Never log the result."""
    if cfg.has_secret("ledger", "pseudonym_key"):
        return cfg.secret("ledger", "pseudonym_key")
    path = ledger_directory(cfg) / PSEUDONYM_FILE
    if not path.exists():
        raise SecretError(f"{cfg.where}: no pseudonym key: set [ledger] pseudonym_key_file or "
                          f"pseudonym_key_env, or run `mailworker ledger init` to create "
                          f"{path}")
    return read_secret_file(path, f"the embedded pseudonym key of {cfg.where}")


def create_secret_file(path: Path, data: bytes) -> None:
    """Create a 0600 file only if it does not exist (two processes may race here)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o600)
