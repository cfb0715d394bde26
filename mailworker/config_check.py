"""`mailworker config check`: is this configuration ready to run?

Reads every configured secret (never showing it), opens the database without changing it,
looks at the folders, and only with ``connect=True`` talks to the IMAP and SMTP servers.
Each finding is ``ok``, ``warning`` (works, but someone should know) or ``problem`` (the
worker would fail).
"""
from __future__ import annotations

import asyncio
import imaplib
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import peewee as pw

from . import db as db_mod
from .config import SECRETS, Config, read_secret_file
from .errors import DatabaseError, SecretError

OK, WARNING, PROBLEM = "ok", "warning", "problem"


@dataclass
class Finding:
    level: str
    text: str


def check_config(cfg: Config, connect: bool = False, timeout: float = 10.0) -> list[Finding]:
    found: list[Finding] = []
    found += check_secrets(cfg)
    found += check_database(cfg, timeout)
    found += check_places(cfg)
    if connect:
        found.append(probe_imap(cfg, timeout) if cfg.inbox.type == "imap"
                     else Finding(OK, "--connect: the inbox is a Maildir; no IMAP server to try"))
        found.append(probe_smtp(cfg, timeout) if cfg.outgoing.transport == "smtp"
                     else Finding(OK, "--connect: outgoing mail goes to files; no SMTP server "
                                      "to try"))
    return found


# --- secrets ------------------------------------------------------------------------------

def _secret_need(cfg: Config, section: str, name: str) -> tuple[str, str]:
    """(required / optional / unused, why unused) for this configuration."""
    if (section, name) == ("inbox", "password"):
        return (("required", "") if cfg.inbox.type == "imap"
                else ("unused", "[inbox] type is \"maildir\""))
    if (section, name) == ("outgoing", "password"):
        if cfg.outgoing.transport != "smtp":
            return "unused", "[outgoing] transport is \"file\""
        if not cfg.outgoing.username:
            return "unused", "[outgoing] username is empty: the relay takes mail without login"
        return "required", ""
    if (section, name) == ("database", "password"):
        return (("optional", "") if not cfg.database.url.startswith("sqlite")
                else ("unused", "the database is SQLite"))
    if (section, name) == ("ledger", "pseudonym_key"):
        return "required", ""
    return "optional", ""


def check_secrets(cfg: Config) -> list[Finding]:
    found = []
    for section, name in sorted(SECRETS):
        need, unused_because = _secret_need(cfg, section, name)
        label = f"[{section}] {name}"
        if cfg.has_secret(section, name) and need == "unused":
            # Not read: an empty placeholder (e.g. for a LoadCredential= line) is fine here.
            found.append(Finding(OK, f"{label}: configured ({cfg.secret_source(section, name)})"
                                     f" but not used: {unused_because}"))
        elif cfg.has_secret(section, name):
            try:
                cfg.secret(section, name)
            except SecretError as exc:
                found.append(Finding(PROBLEM, f"{label}: {exc}"))
                continue
            found.append(Finding(OK, f"{label}: readable from {cfg.secret_source(section, name)}"))
        elif (section, name) == ("ledger", "pseudonym_key"):
            found.append(_embedded_pseudonym_key(cfg))
        elif (section, name) == ("staff", "action_key"):
            found.append(_embedded_action_key(cfg))
        elif need == "required":
            found.append(Finding(PROBLEM, f"{label}: not configured; add {name}_file = "
                                          f"\"/path/to/0600-file\" or {name}_env = \"VARIABLE\" "
                                          f"to [{section}] in {cfg.where}"))
        elif (section, name) == ("ledger", "release_key"):
            found.append(Finding(WARNING, f"{label}: not configured; `mailworker release` "
                                          "cannot make installer packages without it"))
    if any(f.level == PROBLEM and "/run/credentials/" in f.text and "not found" in f.text
           for f in found):
        found.append(Finding(WARNING, "files under /run/credentials/ exist only inside the "
                                      "running service; name the files under "
                                      "/etc/mailworker/credentials/ in the configuration "
                                      "instead (the service then reads its private copies, "
                                      "staff commands the files themselves)"))
    url = urlsplit(cfg.database.url)
    if url.password:
        found.append(Finding(PROBLEM, "[database] url contains a password; remove it from the "
                                      "URL and use password_file (a 0600 file) instead"))
    for i, replica in enumerate(cfg.ledger.replicas, 1):
        key_file = replica.get("key_file") if isinstance(replica, dict) else None
        if isinstance(key_file, str) and key_file:
            who = f"[[ledger.replicas]] #{i} key_file"
            try:
                read_secret_file(cfg.resolve(key_file), f"{who} in {cfg.where}")
                found.append(Finding(OK, f"{who}: readable ({cfg.resolve(key_file)})"))
            except SecretError as exc:
                found.append(Finding(PROBLEM, f"{who}: {exc}"))
    return found


def _embedded_pseudonym_key(cfg: Config) -> Finding:
    # `mailworker ledger init` (and the worker at start) writes this file when no
    # pseudonym_key_file/_env is set.
    path = cfg.resolve(cfg.ledger.directory) / "pseudonym.key"
    if not path.exists():
        return Finding(WARNING, f"[ledger] pseudonym_key: not configured and {path} does not "
                                "exist yet; `mailworker ledger init` or the first `mailworker "
                                "run` creates it (keep a copy: a new key breaks the link to "
                                "earlier pseudonyms)")
    try:
        read_secret_file(path, "the embedded pseudonym key")
    except SecretError as exc:
        return Finding(PROBLEM, f"[ledger] pseudonym_key: {exc}")
    return Finding(OK, f"[ledger] pseudonym_key: readable from the embedded file {path}")


def _embedded_action_key(cfg: Config) -> Finding:
    from .action_tokens import embedded_key_path
    path = embedded_key_path(cfg)
    if not path.exists():
        return Finding(OK, f"[staff] action_key: not configured; the first digest with action "
                           f"links creates the embedded key {path}")
    try:
        read_secret_file(path, "the embedded staff action key")
    except SecretError as exc:
        return Finding(PROBLEM, f"[staff] action_key: {exc}")
    return Finding(OK, f"[staff] action_key: readable from the embedded file {path}")


# --- database -----------------------------------------------------------------------------

def check_database(cfg: Config, timeout: float) -> list[Finding]:
    url = cfg.database.url
    shown = db_mod.redact_url(url)
    latest = max(db_mod.MIGRATIONS)
    if url.startswith("sqlite:///"):
        path = cfg.resolve(url[len("sqlite:///"):])
        shown = f"sqlite:///{path}"
        if not path.exists():
            problem = _creatable(path.parent)
            if problem:
                return [Finding(PROBLEM, f"[database] url: {path} does not exist and {problem}")]
            return [Finding(OK, f"[database] {shown}: new SQLite database, created on first "
                                f"run")]
        if not path.is_file():
            return [Finding(PROBLEM, f"[database] url: {path} is not a file")]
        connect_url = f"sqlite:///{path}"
    else:
        connect_url = _with_connect_timeout(url, timeout)
    password = None
    if cfg.has_secret("database", "password"):
        try:
            password = cfg.secret_text("database", "password")
        except SecretError:
            return [Finding(PROBLEM, f"[database] {shown}: not tried, the password secret is "
                                     "not readable (see above)")]
    try:
        database = db_mod.make_database(connect_url, cfg.base_dir, password)
        database.connect()
        try:
            have = db_mod.current_version(database)
        finally:
            database.close()
    except DatabaseError as exc:
        return [Finding(PROBLEM, str(exc))]
    except pw.DatabaseError as exc:
        return [Finding(PROBLEM, f"[database] cannot open {shown}: {' '.join(str(exc).split())}")]
    if have > latest:
        return [Finding(PROBLEM, f"[database] {shown}: schema version {have} is newer than this "
                                 f"mailworker knows ({latest}); upgrade mailworker")]
    if have < latest:
        return [Finding(OK, f"[database] {shown}: opens; schema version {have}, upgraded to "
                            f"{latest} automatically on first run")]
    return [Finding(OK, f"[database] {shown}: opens; schema version {have} (current)")]


def _with_connect_timeout(url: str, timeout: float) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("connect_timeout", str(max(1, int(timeout))))
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- folders ------------------------------------------------------------------------------

def _creatable(path: Path) -> str | None:
    """None if ``path`` is (or can be made) a writable folder, else why not."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable by this user"
    return None



def _connection_findings(name: str, section, what: str, advice: str) -> list[Finding]:
    """Warnings shared by the IMAP and SMTP sections: plain text off loopback, missing CA."""
    found = []
    if section.security == "plain" and not _is_loopback(section.host):
        found.append(Finding(WARNING, f"[{name}] security = \"plain\" sends {what} to "
                                      f"{section.host} unencrypted{advice}"))
    if section.ca_file and not Path(section.ca_file).is_file():
        found.append(Finding(PROBLEM, f"[{name}] ca_file {section.ca_file} does not exist"))
    return found

def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Values of config/mailworker.example.toml that only stand for the real ones.
EXAMPLE_DOMAINS = ("example.org", "example.com", "example.net")


def _placeholder(value: str) -> bool:
    value = value.strip().lower().rstrip(".")
    return any(value == d or value.endswith("." + d) or value.endswith("@" + d)
               for d in EXAMPLE_DOMAINS)


def check_placeholders(cfg: Config) -> list[Finding]:
    """The example file's stand-in values, left in place: each is a warning that says what
    goes wrong with it and what to put there."""
    found = []
    candidates = [
        ("inbox", "host", cfg.inbox.host if cfg.inbox.type == "imap" else "",
         "the worker cannot read the group inbox"),
        ("inbox", "username", cfg.inbox.username if cfg.inbox.type == "imap" else "",
         "the login will fail"),
        ("outgoing", "host", cfg.outgoing.host if cfg.outgoing.transport == "smtp" else "",
         "no mail will go out"),
        ("outgoing", "from_address",
         cfg.outgoing.from_address if cfg.outgoing.transport == "smtp" else "",
         "members' replies go to an address nobody reads"),
        ("ingest", "trusted_authserv_id", cfg.ingest.trusted_authserv_id,
         "no mail carries this authserv-id, so NOBODY gets credit; put your receiving "
         "server's id there (see the README, \"Spoofing protection\")"),
    ]
    for section, key, value, harm in candidates:
        if value and _placeholder(value):
            found.append(Finding(WARNING, f"[{section}] {key} = \"{value}\" is the example's "
                                          f"placeholder: {harm}"))
    staff = [a for a in cfg.staff.addresses if _placeholder(a)]
    if staff:
        found.append(Finding(WARNING, f"[staff] addresses holds the example's placeholder "
                                      f"{', '.join(staff)}: the daily digest goes nowhere"))
    return found


def check_places(cfg: Config) -> list[Finding]:
    found = check_placeholders(cfg)
    state = Path(cfg.general.state_dir)
    problem = _creatable(state)
    if problem:
        found.append(Finding(PROBLEM, f"[general] state_dir {state}: {problem}"))
    elif not state.is_dir():
        found.append(Finding(WARNING, f"[general] state_dir {state} does not exist yet: create "
                                      f"it (install -d -m 0700 -o mailworker -g mailworker "
                                      f"{state}); the service's StateDirectory= also creates "
                                      "it at its first start"))
    elif not os.access(state, os.W_OK | os.X_OK):
        found.append(Finding(PROBLEM, f"[general] state_dir {state}: not writable by this "
                                      "user; run the command as the service's user (mw ...)"))
    else:
        found.append(Finding(OK, f"[general] state_dir {state}: usable"))

    inbox = cfg.inbox
    if inbox.type == "maildir":
        path = Path(inbox.path) if inbox.path else None
        if path is None:
            found.append(Finding(PROBLEM, "[inbox] type = \"maildir\" needs path"))
        elif not path.exists():
            found.append(Finding(WARNING, f"[inbox] Maildir {path} does not exist yet; nothing "
                                          "will be read until mail is delivered there"))
        elif not all((path / d).is_dir() for d in ("cur", "new", "tmp")):
            found.append(Finding(PROBLEM, f"[inbox] {path} is not a Maildir (it needs the "
                                          "folders cur, new and tmp)"))
        else:
            found.append(Finding(OK, f"[inbox] Maildir {path}"))
    else:
        found.append(Finding(OK, f"[inbox] IMAP {inbox.username} at {inbox.host}:{inbox.port} "
                                 f"({inbox.security}), folder {inbox.mailbox}"))
        found.extend(_connection_findings("inbox", inbox, "the password",
                                          "; use tls or starttls"))

    out = cfg.outgoing
    if out.transport == "file":
        problem = _creatable(Path(out.directory))
        found.append(Finding(PROBLEM, f"[outgoing] directory {out.directory}: {problem}")
                     if problem else
                     Finding(OK, f"[outgoing] mail is written as files to {out.directory}"))
    else:
        found.append(Finding(OK, f"[outgoing] SMTP relay {out.host}:{out.port} "
                                 f"({out.security})"))
        found.extend(_connection_findings("outgoing", out, "mail and any password", ""))

    templates = cfg.outgoing.templates_dir
    if templates and not Path(templates).is_dir():
        found.append(Finding(PROBLEM, f"[outgoing] templates_dir {templates} is not a folder"))

    if not cfg.staff.addresses:
        found.append(Finding(WARNING, "[staff] addresses is empty: nobody receives the daily "
                                      "digest"))
    return found


# --- live connections (only with --connect) -----------------------------------------------

def _tls_context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file or None)


def _password(cfg: Config, section: str) -> str | None:
    if not cfg.has_secret(section, "password"):
        return None
    try:
        return cfg.secret_text(section, "password")
    except SecretError:
        return None


def probe_imap(cfg: Config, timeout: float) -> Finding:
    from imapclient import IMAPClient

    inbox = cfg.inbox
    where = f"IMAP {inbox.host}:{inbox.port} ({inbox.security})"
    password = _password(cfg, "inbox")
    if password is None:
        return Finding(PROBLEM, f"{where}: not tried, the password secret is not readable")
    context = _tls_context(inbox.ca_file)
    step = "connect"
    try:
        client = IMAPClient(inbox.host, port=inbox.port, ssl=inbox.security == "tls",
                            ssl_context=context, timeout=timeout)
        try:
            if inbox.security == "starttls":
                step = "STARTTLS"
                client.starttls(context)
            step = f"login as {inbox.username}"
            client.login(inbox.username, password)
            step = f"open folder {inbox.mailbox}"
            info = client.select_folder(inbox.mailbox, readonly=True)
            count = info.get(b"EXISTS", 0)
        finally:
            try:
                client.logout()
            except (OSError, imaplib.IMAP4.error):
                client.shutdown()
    except (OSError, imaplib.IMAP4.error) as exc:
        return Finding(PROBLEM, f"{where}: {step} failed: {_brief(exc)}")
    return Finding(OK, f"{where}: login OK, {inbox.mailbox} holds {count} message(s)")


def probe_smtp(cfg: Config, timeout: float) -> Finding:
    import aiosmtplib

    out = cfg.outgoing
    where = f"SMTP {out.host}:{out.port} ({out.security})"
    password = None
    if out.username:
        password = _password(cfg, "outgoing")
        if password is None:
            return Finding(PROBLEM, f"{where}: not tried, the password secret is not readable")
    step = ["connect"]

    async def talk() -> None:
        smtp = aiosmtplib.SMTP(hostname=out.host, port=out.port, timeout=timeout,
                               use_tls=out.security == "tls",
                               start_tls=out.security == "starttls",
                               tls_context=_tls_context(out.ca_file))
        await smtp.connect()
        try:
            if out.username:
                step[0] = f"login as {out.username}"
                await smtp.login(out.username, password)
        finally:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()

    try:
        asyncio.run(talk())
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
        return Finding(PROBLEM, f"{where}: {step[0]} failed: {_brief(exc)}")
    return Finding(OK, f"{where}: connected" + (", login OK" if out.username else ""))


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
