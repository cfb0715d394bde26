"""One configuration schema, read from one TOML file.

Every key is declared in ``SCHEMA`` with its type, default and a one-line meaning; an
unknown key or a wrong type is reported with the file and the dotted key, never a
traceback. Secrets are never inline: a secret ``NAME`` is given as ``NAME_file`` (a
file with mode 0600, e.g. a systemd credential) or ``NAME_env`` (an environment
variable's name). Relative paths are taken relative to the configuration file.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError, SecretError

@dataclass(frozen=True)
class Key:
    type: type | tuple
    default: Any
    meaning: str
    choices: tuple = ()
    path: bool = False  # resolve relative to the config file


# section -> key -> Key. Secrets are declared by name in SECRETS, not here.
SCHEMA: dict[str, dict[str, Key]] = {
    "general": {
        "timezone": Key(str, "Asia/Seoul", "zone for 'which day' and times shown to people"),
        "state_dir": Key(str, "var", "where the worker keeps its files", path=True),
        "log_level": Key(str, "INFO", "DEBUG, INFO, WARNING or ERROR",
                         ("DEBUG", "INFO", "WARNING", "ERROR")),
        "group_name": Key(str, "서울 블록체인 거버넌스", "name shown in mails"),
    },
    "inbox": {
        "type": Key(str, "maildir", "where mail comes from", ("maildir", "imap")),
        "path": Key(str, "var/Maildir", "Maildir folder (type = maildir)", path=True),
        "host": Key(str, "", "IMAP server host name (type = imap)"),
        "port": Key(int, 993, "IMAP port: 993 for tls, 143 for starttls/plain"),
        "security": Key(str, "tls", "tls (IMAPS), starttls, or plain (tests only)",
                        ("tls", "starttls", "plain")),
        "ca_file": Key(str, "", "extra CA bundle to verify the server (optional)", path=True),
        "username": Key(str, "", "IMAP login name"),
        "mailbox": Key(str, "INBOX", "folder the members' mail arrives in"),
        "processed_folder": Key(str, "Processed", "where handled mail is moved"),
        "quarantine_folder": Key(str, "Quarantine", "where unreadable or oversize mail is moved"),
        "triage_folder": Key(str, "Triage", "where mail waiting for staff is moved"),
        "batch_size": Key(int, 500, "messages fetched per round trip"),
        "move_every": Key(int, 1000, "move handled mail out of the inbox this many at a time"),
        "use_idle": Key(bool, True, "wait with IMAP IDLE when the server offers it"),
        "idle_renew_seconds": Key(int, 540, "re-issue IDLE this often (at most 600)"),
        "poll_seconds": Key(int, 60, "poll interval when IDLE is off or missing"),
        "timeout_seconds": Key(int, 60, "network timeout for one IMAP command"),
        "reconnect_max_seconds": Key(int, 300, "longest wait between reconnect attempts"),
    },
    "outgoing": {
        "transport": Key(str, "file", "file (write .eml files) or smtp", ("file", "smtp")),
        "directory": Key(str, "var/sent-mail", "folder for the file transport", path=True),
        "host": Key(str, "", "SMTP relay host (transport = smtp)"),
        "port": Key(int, 465, "465 for tls, 587 for starttls"),
        "security": Key(str, "tls", "tls, starttls, or plain (tests only)",
                        ("tls", "starttls", "plain")),
        "ca_file": Key(str, "", "extra CA bundle to verify the relay (optional)", path=True),
        "username": Key(str, "", "SMTP login name (empty: no AUTH)"),
        "from_address": Key(str, "governance@example.org", "From: address of every mail"),
        "from_name": Key(str, "서울 블록체인 거버넌스 사무국", "From: display name"),
        "rate_per_minute": Key(int, 60, "at most this many mails a minute"),
        "max_attempts": Key(int, 8, "give up on a temporary failure after this many tries"),
        "retry_base_seconds": Key(int, 60, "first retry delay; doubles each time, with jitter"),
        "timeout_seconds": Key(int, 60, "network timeout for one SMTP exchange"),
        "receipt_wait_seconds": Key(int, 1800, "an acknowledgement waits this long for its "
                                    "ledger receipt, then goes without it"),
        "templates_dir": Key(str, "", "mail templates folder (empty: the templates/ that "
                             "comes with mailworker)", path=True),
    },
    "database": {
        "url": Key(str, "sqlite:///var/mailworker.db",
                   "sqlite:///PATH or postgresql://user@host/db"),
    },
    "ledger": {
        "directory": Key(str, "var/ledger", "where the embedded replicas and keys live", path=True),
        "origin": Key(str, "seoul.go.kr/blockchain-governance/mailworker",
                      "checkpoint origin line"),
        "quorum": Key(int, 3, "signatures a checkpoint needs"),
        "replicas": Key(list, [], "replica tables: name, url, key_file, public_key"),
        "batch_size": Key(int, 10000, "events per append batch (one commit per replica)"),
        "timeout_seconds": Key(int, 10, "network timeout for a replica served over HTTP"),
        "audit_every": Key(str, "1d", "how often the service fully audits every replica: "
                           "e.g. 30m, 6h, 1d; \"off\" never"),
    },
    "schedule": {
        "digest_time": Key(str, "09:00", "local time of the daily staff digest (HH:MM)"),
        "ledger_seconds": Key(int, 30, "how often pending ledger events are appended"),
        "outbox_seconds": Key(int, 15, "how often the outbox is drained"),
        "digest_catch_up_days": Key(int, 7, "after downtime, send missed digests of at most "
                                    "this many past days"),
    },
    "staff": {
        "addresses": Key(list, [], "who receives the daily digest"),
        "language": Key(str, "ko", "language of the staff digest: ko or en", ("ko", "en")),
        "action_address": Key(str, "", "where the digest's action links send their mail: the "
                              "group inbox (empty: [outgoing] from_address)"),
        "action_valid_days": Key(int, 7, "how long a digest's action link stays valid"),
    },
    "limits": {
        "max_message_bytes": Key(int, 25_000_000, "never download a larger message"),
    },
    "ingest": {
        "trusted_authserv_id": Key(str, "", "authserv-id whose Authentication-Results we trust"),
        "internal_authserv_ids": Key(list, [], "authserv-ids of our own relays that add "
                                     "Authentication-Results above the trusted one"),
        "analysis_seconds": Key((int, float), 5, "a message whose reading takes longer is "
                                "quarantined"),
        "min_body_chars": Key(int, 20, "shorter new text earns no credit"),
        "daily_credit_cap": Key(int, 5, "at most this many credited hours per member per day"),
        "reply_to_non_members": Key(bool, True, "send non-members a polite reply (once a day)"),
    },
    "group": {
        "rsvp_reminder_days": Key(int, 3, "remind members who have not answered a meeting "
                                  "notice this many days before the meeting (0: never)"),
        "allowance_krw": Key(int, 20000, "attendance allowance per member and meeting, KRW"),
        "budget_krw": Key(int, 4000000, "allowance budget per year, KRW"),
        "registration_warn_days": Key(int, 60, "the digest warns about credited activity "
                                      "older than this that no hour export holds yet"),
        "awards_digest_days": Key(int, 14, "the digest shows the half-year ranking in the "
                                  "last this many days of each half"),
        "awards_top": Key(int, 10, "how many of the ranking the digest shows"),
        "term_start": Key(str, "2019-01-01", "first day of the members' term (YYYY-MM-DD)"),
        "term_end": Key(str, "2020-12-31", "last day of the term; members earn no hours after"),
        "term_notice_days": Key(int, 30, "members get the term-end notice this many days "
                                "before the end"),
        "offer_days": Key(int, 7, "a vacancy offer waits this many days for the reply"),
        "applicant_retention_days": Key(int, 30, "applicants not appointed are deleted this "
                                        "many days after their round closed"),
        "member_retention_days": Key(int, 365, "former members' names and addresses are "
                                     "deleted this many days after the term ends (hours stay, "
                                     "under the pseudonym)"),
    },
}

# Secrets: (section, name). Give NAME_file or NAME_env in that section.
SECRETS = {
    ("inbox", "password"),
    ("outgoing", "password"),
    ("ledger", "pseudonym_key"),
    ("ledger", "release_key"),
    ("ledger", "replica_token"),   # bearer token between the appender and served replicas
    ("database", "password"),      # PostgreSQL password (never in the URL)
    ("staff", "action_key"),       # HMAC key of the digest's action tokens
}


class Section:
    """Read-only attribute view of one section's values."""

    def __init__(self, name: str, values: dict[str, Any]):
        self._name = name
        self._values = values

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"[{self._name}] has no key {key!r}") from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


class Config:
    def __init__(self, path: Path | None, data: dict[str, dict[str, Any]],
                 secret_sources: dict[tuple[str, str], tuple[str, str]]):
        self.path = path
        self.base_dir = path.parent if path else Path.cwd()
        self._sections = {name: Section(name, values) for name, values in data.items()}
        self._secret_sources = secret_sources

    def __getattr__(self, name: str) -> Section:
        try:
            return self.__dict__["_sections"][name]
        except KeyError:
            raise AttributeError(name) from None

    @functools.cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.general.timezone)

    @property
    def where(self) -> str:
        return str(self.path) if self.path else "(built-in defaults)"

    def resolve(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def has_secret(self, section: str, name: str) -> bool:
        return (section, name) in self._secret_sources

    def secret(self, section: str, name: str) -> bytes:
        """The secret's bytes (trailing newline stripped). Never log the result."""
        source = self._secret_sources.get((section, name))
        if source is None:
            raise SecretError(
                f"{self.where}: [{section}] needs {name}_file (a 0600 file) or {name}_env "
                f"(an environment variable) for the secret '{name}'")
        kind, where = source
        if kind == "env":
            value = os.environ.get(where)
            if value is None:
                raise SecretError(
                    f"{self.where}: [{section}] {name}_env names the environment variable "
                    f"{where}, which is not set")
            return value.encode("utf-8").rstrip(b"\r\n")
        path, private = secret_file_path(Path(where))
        return read_secret_file(path, f"[{section}] {name}_file in {self.where}",
                                systemd_credential=private)

    def secret_text(self, section: str, name: str) -> str:
        return self.secret(section, name).decode("utf-8")

    def secret_source(self, section: str, name: str) -> str:
        """Where a secret comes from, for messages ('file /run/...'); never its value."""
        kind, where = self._secret_sources[(section, name)]
        if kind == "env":
            return f"environment variable {where}"
        path, private = secret_file_path(Path(where))
        return f"file {path}" + (" (systemd credential)" if private else "")


def secret_file_path(configured: Path) -> tuple[Path, bool]:
    """The file to read for a configured secret file, and whether it is a systemd credential.

    Under systemd (LoadCredential=), $CREDENTIALS_DIRECTORY holds the service's private
    copies, named like the files under /etc/mailworker/credentials/ that the configuration
    names: the copy is read when it exists. Staff commands (`sudo -u mailworker mailworker
    ...`) have no such directory and read the configured file itself, so both see one
    configuration."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if directory:
        copy = Path(directory) / configured.name
        try:
            found = copy.is_file()
        except OSError:     # an unreadable directory holds no copy we can use
            found = False
        if found:
            return copy, True
    return configured, False


def read_secret_file(path: Path, named_by: str, systemd_credential: bool = False) -> bytes:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SecretError(f"{path}: secret file not found ({named_by})") from None
    except OSError as exc:
        raise SecretError(f"{path}: cannot read secret file ({named_by}): {exc.strerror}") from None
    # A systemd credential is private to the service even when its mode shows group bits:
    # systemd may grant the service user read access with an ACL, whose mask shows there.
    if st.st_mode & (0o007 if systemd_credential else 0o077):
        raise SecretError(
            f"{path}: secret file is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run: chmod 600 {path}   ({named_by})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecretError(f"{path}: cannot read secret file ({named_by}): {exc.strerror}") from None
    data = data.rstrip(b"\r\n")
    if not data:
        raise SecretError(f"{path}: secret file is empty ({named_by})")
    return data


def write_secret_file(path: Path, data: bytes) -> None:
    """Create a 0600 secret file (used by `demo` and key generation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _type_name(t) -> str:
    return {str: "a string", int: "a whole number", bool: "true or false",
            list: "a list", (int, float): "a number"}.get(t, str(t))


def build(raw: dict[str, Any], path: Path | None) -> Config:
    where = str(path) if path else "(built-in defaults)"
    base = path.parent if path else Path.cwd()
    data: dict[str, dict[str, Any]] = {}
    secrets: dict[tuple[str, str], tuple[str, str]] = {}
    for section in raw:
        if section not in SCHEMA:
            raise ConfigError(f"{where}: unknown section [{section}]; known sections: "
                              + ", ".join(sorted(SCHEMA)))
        if not isinstance(raw[section], dict):
            raise ConfigError(f"{where}: {section} must be a [section] table")
    for section, keys in SCHEMA.items():
        given = dict(raw.get(section, {}))
        values: dict[str, Any] = {}
        for sname in [n for (s, n) in SECRETS if s == section]:
            for suffix in ("file", "env"):
                k = f"{sname}_{suffix}"
                if k in given:
                    v = given.pop(k)
                    if not isinstance(v, str) or not v:
                        raise ConfigError(f"{where}: [{section}] {k} must be a non-empty string")
                    if (section, sname) in secrets:
                        raise ConfigError(f"{where}: [{section}] give either {sname}_file or "
                                          f"{sname}_env, not both")
                    if suffix == "file":
                        p = Path(v).expanduser()
                        v = str(p if p.is_absolute() else base / p)
                    secrets[(section, sname)] = (suffix, v)
            if sname in given:
                raise ConfigError(
                    f"{where}: [{section}] {sname} must not be written in the file; "
                    f"use {sname}_file = \"/path/to/0600-file\" or {sname}_env = \"VARIABLE\"")
        for k, v in given.items():
            if k not in keys:
                raise ConfigError(f"{where}: [{section}] unknown key {k!r}; known keys: "
                                  + ", ".join(sorted(keys)))
            spec = keys[k]
            ok = isinstance(v, spec.type) and not (spec.type is int and isinstance(v, bool))
            if not ok:
                raise ConfigError(f"{where}: [{section}] {k} must be {_type_name(spec.type)}, "
                                  f"got {v!r}")
            if spec.choices and v not in spec.choices:
                raise ConfigError(f"{where}: [{section}] {k} = {v!r} is not one of "
                                  + ", ".join(repr(c) for c in spec.choices))
            values[k] = v
        for k, spec in keys.items():
            if k not in values:
                values[k] = list(spec.default) if isinstance(spec.default, list) else spec.default
            if spec.path and values[k]:
                p = Path(values[k]).expanduser()
                values[k] = str(p if p.is_absolute() else base / p)
        data[section] = values
    _check_semantics(data, where)
    return Config(path, data, secrets)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> int | None:
    """Seconds in a duration like "30m", "6h", "1d" (at least a minute); None if it is not
    one (or is "off")."""
    text = (text or "").strip().lower()
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not number.isdigit() or not number.isascii():
        return None
    seconds = int(number) * _UNITS[unit]
    return seconds if seconds >= 60 else None


def _check_semantics(data: dict[str, dict[str, Any]], where: str) -> None:
    try:
        ZoneInfo(data["general"]["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: [general] timezone {data['general']['timezone']!r} "
                          f"is not a known time zone (e.g. \"Asia/Seoul\")") from None
    inbox = data["inbox"]
    if inbox["type"] == "imap" and not inbox["host"]:
        raise ConfigError(f"{where}: [inbox] type = \"imap\" needs host = \"imap.example.org\"")
    if inbox["type"] == "imap" and not inbox["username"]:
        raise ConfigError(f"{where}: [inbox] type = \"imap\" needs username")
    if not 0 < inbox["idle_renew_seconds"] <= 600:
        raise ConfigError(f"{where}: [inbox] idle_renew_seconds must be 1..600 "
                          "(RFC 2177 asks clients to renew IDLE within 29 minutes; "
                          "many servers cut it at 10)")
    if inbox["batch_size"] < 1:
        raise ConfigError(f"{where}: [inbox] batch_size must be at least 1")
    if inbox["move_every"] < 1:
        raise ConfigError(f"{where}: [inbox] move_every must be at least 1")
    if data["outgoing"]["transport"] == "smtp" and not data["outgoing"]["host"]:
        raise ConfigError(f"{where}: [outgoing] transport = \"smtp\" needs host")
    hhmm = data["schedule"]["digest_time"]
    parts = hhmm.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or not (
            0 <= int(parts[0]) < 24 and 0 <= int(parts[1]) < 60):
        raise ConfigError(f"{where}: [schedule] digest_time must be HH:MM, got {hhmm!r}")
    if data["limits"]["max_message_bytes"] < 1024:
        raise ConfigError(f"{where}: [limits] max_message_bytes is too small (< 1024)")
    url = data["database"]["url"]
    if not (url.startswith("sqlite:///") or url.startswith(("postgresql://", "postgres://"))):
        raise ConfigError(f"{where}: [database] url must start with sqlite:/// or "
                          f"postgresql://, got {url.split(':')[0]!r}")
    _check_group(data["group"], where)
    q = data["ledger"]["quorum"]
    if not 1 <= q <= 4:
        raise ConfigError(f"{where}: [ledger] quorum must be between 1 and 4")
    if parse_every(data["ledger"]["audit_every"]) is None \
            and data["ledger"]["audit_every"].strip().lower() != "off":
        raise ConfigError(f"{where}: [ledger] audit_every must be a duration such as \"6h\" "
                          f"or \"1d\" (s, m, h, d), or \"off\"; got "
                          f"{data['ledger']['audit_every']!r}")
    if not 1 <= data["staff"]["action_valid_days"] <= 90:
        raise ConfigError(f"{where}: [staff] action_valid_days must be 1..90")
    action_address = data["staff"]["action_address"]
    if action_address and "@" not in action_address:
        raise ConfigError(f"{where}: [staff] action_address {action_address!r} is not an "
                          "e-mail address")
    group = data["group"]
    for key in ("rsvp_reminder_days", "allowance_krw", "budget_krw", "registration_warn_days",
                "awards_digest_days", "awards_top"):
        if group[key] < 0:
            raise ConfigError(f"{where}: [group] {key} must not be negative")
    for addr in data["staff"]["addresses"]:
        if not isinstance(addr, str) or "@" not in addr:
            raise ConfigError(f"{where}: [staff] addresses has {addr!r}, not an e-mail address")
    for authserv_id in data["ingest"]["internal_authserv_ids"]:
        if not isinstance(authserv_id, str) or not authserv_id.strip() or " " in authserv_id:
            raise ConfigError(f"{where}: [ingest] internal_authserv_ids has {authserv_id!r}, "
                              "not an authserv-id (a host name such as \"relay.example.org\")")
    if not data["ingest"]["analysis_seconds"] > 0:
        raise ConfigError(f"{where}: [ingest] analysis_seconds must be more than 0")


def _check_group(group: dict[str, Any], where: str) -> None:
    days = {}
    for key in ("term_start", "term_end"):
        try:
            days[key] = dt.date.fromisoformat(group[key])
        except ValueError:
            raise ConfigError(f"{where}: [group] {key} must be a date like \"2019-01-01\", "
                              f"got {group[key]!r}") from None
    if days["term_end"] <= days["term_start"]:
        raise ConfigError(f"{where}: [group] term_end ({group['term_end']}) must come after "
                          f"term_start ({group['term_start']})")
    for key in ("term_notice_days", "offer_days", "applicant_retention_days",
                "member_retention_days"):
        if group[key] < 1:
            raise ConfigError(f"{where}: [group] {key} must be at least 1")


def load(path: str | os.PathLike) -> Config:
    p = Path(path).expanduser().resolve()
    try:
        raw_bytes = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: configuration file not found "
                          "(copy config/mailworker.example.toml and edit it)") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read configuration file: {exc.strerror}") from None
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: configuration file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return build(raw, p)


def find_config_path(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("MAILWORKER_CONFIG")
    if env:
        return Path(env)
    for candidate in (Path("mailworker.toml"), Path("/etc/mailworker/mailworker.toml")):
        if candidate.exists():
            return candidate
    raise ConfigError("no configuration found: pass --config FILE, set MAILWORKER_CONFIG, "
                      "or run `mailworker demo` to try it on embedded defaults")
