"""Which replicas the ledger has, where they keep their data and keys.

With ``[ledger] replicas`` empty (the default) the ledger is *embedded*: four SQLite
replicas ``replica-1`` .. ``replica-4`` under ``[ledger] directory``, each with its key
file ``replica-N.key`` next to it. Otherwise each ``[[ledger.replicas]]`` table names one::

    [[ledger.replicas]]
    name = "replica-2"
    url = "postgresql://ledger@db2.example.org/ledger2"   # or sqlite:///path, http://host:port
    password_file = "/etc/mailworker/credentials/replica-2-db"   # optional
    key_file = "/etc/mailworker/replica-2.key"                   # only where it signs
    public_key = "replica-2+1a2b3c4d+AQ..."                      # or base64 of the key
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..config import read_secret_file, secret_file_path
from ..db import redact_url
from ..errors import ConfigError, SecretError
from ..private import private_dir
from .keys import (PSEUDONYM_FILE, Verifier, create_secret_file, generate_signer,
                   ledger_directory, parse_public_key, read_signer, skey_text,
                   valid_key_name)
from .errors import KeyFileError

EMBEDDED_NAMES = ("replica-1", "replica-2", "replica-3", "replica-4")
REPLICA_KEYS = ("name", "url", "key_file", "public_key", "password_file", "password_env")


@dataclass(frozen=True)
class ReplicaSpec:
    name: str
    url: str                    # as configured (sqlite:///abs path for embedded)
    kind: str                   # sqlite | postgresql | http
    path: Path | None           # the SQLite file
    key_file: Path | None
    public_key: Verifier | None  # from the configuration
    password_file: Path | None
    password_env: str | None
    embedded: bool
    where: str                  # for messages: "[[ledger.replicas]] entry 2 (replica-2)"

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    def password(self) -> str | None:
        named_by = f"{self.where} password_file"
        if self.password_file is not None:
            path, systemd_copy = secret_file_path(self.password_file)
            return read_secret_file(path, named_by, systemd_copy).decode("utf-8")
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise SecretError(f"{self.where}: password_env names the environment variable "
                                  f"{self.password_env}, which is not set")
            return value
        return None


def replica_specs(cfg) -> list[ReplicaSpec]:
    """The configured replicas, validated; the embedded four when none are configured."""
    raw = cfg.ledger.replicas
    quorum = cfg.ledger.quorum
    if not raw:
        directory = Path(cfg.ledger.directory)
        specs = [ReplicaSpec(name, f"sqlite:///{directory / (name + '.db')}", "sqlite",
                             directory / f"{name}.db", directory / f"{name}.key", None,
                             None, None, True, f"embedded replica {name}")
                 for name in EMBEDDED_NAMES]
    else:
        specs = [_spec(cfg, i, entry) for i, entry in enumerate(raw, 1)]
        seen_names: dict[str, int] = {}
        seen_paths: dict[Path, int] = {}
        for i, spec in enumerate(specs, 1):
            if spec.name in seen_names:
                raise ConfigError(f"{cfg.where}: [[ledger.replicas]] entries "
                                  f"{seen_names[spec.name]} and {i} both use the name "
                                  f"{spec.name!r}; every replica needs its own name")
            seen_names[spec.name] = i
            if spec.path is not None:
                key = spec.path.resolve()
                if key in seen_paths:
                    raise ConfigError(f"{cfg.where}: [[ledger.replicas]] entries "
                                      f"{seen_paths[key]} and {i} use the same SQLite file "
                                      f"{spec.path}; every replica needs its own store")
                seen_paths[key] = i
    if quorum > len(specs):
        raise ConfigError(f"{cfg.where}: [ledger] quorum = {quorum} but only {len(specs)} "
                          "replica(s) are configured")
    if 2 * quorum <= len(specs):
        raise ConfigError(f"{cfg.where}: [ledger] quorum = {quorum} is not a majority of the "
                          f"{len(specs)} replicas; two disjoint groups could then sign "
                          f"different histories (use at least {len(specs) // 2 + 1})")
    return specs


def _spec(cfg, i: int, entry) -> ReplicaSpec:
    where = f"{cfg.where}: [[ledger.replicas]] entry {i}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table with name, url, key_file, public_key")
    for k in entry:
        if k not in REPLICA_KEYS:
            raise ConfigError(f"{where}: unknown key {k!r}; known keys: "
                              + ", ".join(REPLICA_KEYS))
    for k, v in entry.items():
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{where}: {k} must be a non-empty string")
    name = entry.get("name")
    if name is None:
        raise ConfigError(f"{where}: needs name = \"replica-N\"")
    if not valid_key_name(name):
        raise ConfigError(f"{where}: name {name!r} must not contain spaces or '+'")
    where = f"{where} ({name})"
    url = entry.get("url")
    if url is None:
        raise ConfigError(f"{where}: needs url = \"sqlite:///path\" or "
                          "\"postgresql://user@host/db\" or \"http://host:port\"")
    path = None
    if url.startswith("sqlite:///"):
        kind = "sqlite"
        path = cfg.resolve(url[len("sqlite:///"):])
        url = f"sqlite:///{path}"
    elif url.startswith(("postgresql://", "postgres://")):
        kind = "postgresql"
        if redact_url(url) != url:
            raise ConfigError(f"{where}: url contains a password; put it in password_file "
                              "(a 0600 file) or password_env instead")
    elif url.startswith(("http://", "https://")):
        kind = "http"
    else:
        raise ConfigError(f"{where}: url {url.split(':')[0]!r} is not sqlite:///, "
                          "postgresql:// or http(s)://")
    if "password_file" in entry and "password_env" in entry:
        raise ConfigError(f"{where}: give password_file or password_env, not both")
    key_file = cfg.resolve(entry["key_file"]) if "key_file" in entry else None
    public = None
    if "public_key" in entry:
        try:
            public = parse_public_key(entry["public_key"], name, f"{where} public_key")
        except KeyFileError as exc:
            raise ConfigError(str(exc)) from None
    if public is None and key_file is None:
        raise ConfigError(f"{where}: needs public_key (to check its signatures) or key_file")
    return ReplicaSpec(name, url, kind, path, key_file, public,
                       cfg.resolve(entry["password_file"]) if "password_file" in entry
                       else None, entry.get("password_env"), False, where)


def verifier_for(spec: ReplicaSpec) -> Verifier | None:
    """The replica's public key: from the configuration, else from its key file."""
    if spec.public_key is not None:
        return spec.public_key
    if spec.key_file is not None and spec.key_file.exists():
        return read_signer(spec.key_file, spec.name, f"{spec.where} key_file").verifier
    return None


def verifiers(cfg, specs: list[ReplicaSpec] | None = None) -> list[Verifier]:
    """Every replica's public key that can be known from the configuration."""
    out = []
    for spec in specs or replica_specs(cfg):
        v = verifier_for(spec)
        if v is not None:
            out.append(v)
    return out


def signer_for(spec: ReplicaSpec):
    """The replica's signing key, if this host holds it; checked against public_key."""
    if spec.key_file is None:
        return None
    if not spec.key_file.exists():
        raise KeyFileError(f"{spec.where}: key file {spec.key_file} does not exist "
                           "(run `mailworker ledger init` to create the embedded keys)")
    signer = read_signer(spec.key_file, spec.name, f"{spec.where} key_file")
    if spec.public_key is not None and spec.public_key.public != signer.verifier.public:
        raise KeyFileError(f"{spec.where}: key_file {spec.key_file} does not belong to the "
                           "configured public_key")
    return signer


def ensure_embedded_keys(cfg) -> list[Path]:
    """Create missing embedded key files (0600): the pseudonym key when no secret is
    configured, and the signing key of every replica whose key file lives in the ledger
    directory. Existing files are never touched. Returns the files created."""
    created: list[Path] = []
    directory = ledger_directory(cfg)
    if not cfg.has_secret("ledger", "pseudonym_key"):
        path = directory / PSEUDONYM_FILE
        if not path.exists():
            # 32 random bytes, stored as hex text so it can also be passed by environment.
            create_secret_file(path, secrets.token_hex(32).encode("ascii"))
            created.append(path)
    for spec in replica_specs(cfg):
        if spec.key_file is None or spec.key_file.exists():
            continue
        if not spec.embedded and spec.key_file.parent.resolve() != directory.resolve():
            continue        # a production key lives where its operator put it
        path = spec.key_file
        private_dir(path.parent)
        create_secret_file(path, (skey_text(generate_signer(spec.name)) + "\n").encode("ascii"))
        created.append(path)
    return created
