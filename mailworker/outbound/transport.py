"""The one seam mail leaves through: a folder of .eml files, or an SMTP relay.

Both have the same four calls: ``open()``, ``size_limit()``, ``send(...)``, ``close()``.
``send`` raises ``SendFailure`` for a problem with this message or this connection
(temporary: try again later; permanent: the server said no) and ``TransportConfigError``
(a ``MailworkerError``) for a problem only a person can fix (wrong password, untrusted
certificate, server without STARTTLS): then no row is touched.

SMTP uses aiosmtplib with verified TLS: implicit TLS (``security = "tls"``, port 465) or
STARTTLS (``"starttls"``, port 587); plain text only when the configuration says
``"plain"`` (tests on loopback). aiosmtplib does not check the server's SIZE before
sending, so ``size_limit()`` reports it and the sender checks.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosmtplib

from ..errors import ConfigError, MailworkerError
from ..private import open_private, private_dir

log = logging.getLogger(__name__)


class TransportConfigError(MailworkerError):
    """The outgoing mail settings are wrong; a person must fix them."""


@dataclass
class SendFailure(Exception):
    reply: str                 # what the server said, or what went wrong on the way
    temporary: bool = True     # 4xx / network trouble: try again later
    code: int | None = None
    connection: bool = False   # the connection is gone; stop this pass

    def __str__(self) -> str:
        return self.reply


class Transport(Protocol):
    description: str
    rate_limited: bool

    def open(self) -> None: ...
    def size_limit(self) -> int | None: ...
    def send(self, envelope_from: str, recipients: list[str], data: bytes,
             message_id: str) -> list[str]: ...
    def close(self) -> None: ...


class FileTransport:
    """Writes each mail to ``<directory>/<message-id>.eml``; a resend overwrites it."""

    rate_limited = False

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.description = f"folder {self.directory}"

    def open(self) -> None:
        try:
            private_dir(self.directory)
        except OSError as exc:
            raise ConfigError(f"[outgoing] directory {self.directory}: cannot create it: "
                              f"{exc.strerror}") from None

    def size_limit(self) -> int | None:
        return None

    def send(self, envelope_from: str, recipients: list[str], data: bytes,
             message_id: str) -> list[str]:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", message_id.strip("<>")) + ".eml"
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        try:
            with open_private(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            raise SendFailure(f"cannot write {final}: {exc.strerror}") from None
        return []

    def close(self) -> None:
        return None


class SmtpTransport:
    """aiosmtplib behind a synchronous face: one event loop per drain pass."""

    rate_limited = True

    def __init__(self, cfg):
        out = cfg.outgoing
        self.cfg = cfg
        self.host, self.port, self.security = out.host, out.port, out.security
        self.username = out.username
        self.timeout = out.timeout_seconds
        self.ca_file = out.ca_file
        self.description = f"SMTP server {self.host}:{self.port} ({self.security})"
        self._runner: asyncio.Runner | None = None
        self._smtp: aiosmtplib.SMTP | None = None

    # -- connection ------------------------------------------------------------------
    def _tls_context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise TransportConfigError(f"[outgoing] ca_file {self.ca_file}: cannot load "
                                       f"it: {exc}") from None

    def open(self) -> None:
        # Read the password first: a missing secret is a configuration error, not a retry.
        password = (self.cfg.secret_text("outgoing", "password") if self.username else None)
        self._runner = asyncio.Runner()
        try:
            self._runner.run(self._connect(password))
        except BaseException:
            self.close()
            raise

    async def _connect(self, password: str | None) -> None:
        kwargs = dict(hostname=self.host, port=self.port, timeout=self.timeout,
                      local_hostname=self.cfg.outgoing.from_address.rsplit("@", 1)[-1])
        if self.security == "tls":
            kwargs.update(use_tls=True, tls_context=self._tls_context())
        elif self.security == "starttls":
            kwargs.update(use_tls=False, start_tls=False, tls_context=self._tls_context())
        else:
            kwargs.update(use_tls=False, start_tls=False)
        smtp = aiosmtplib.SMTP(**kwargs)
        where = f"{self.host}:{self.port}"
        try:
            await smtp.connect()
            await smtp.ehlo()
            if self.security == "starttls":
                if not smtp.supports_extension("starttls"):
                    raise TransportConfigError(
                        f"SMTP server {where} does not offer STARTTLS; set [outgoing] "
                        "security = \"tls\" (port 465) if it uses implicit TLS")
                await smtp.starttls(tls_context=self._tls_context())
                await smtp.ehlo()   # the extensions (AUTH, SIZE) may differ under TLS
            if self.username:
                if not smtp.supports_extension("auth"):
                    raise TransportConfigError(
                        f"SMTP server {where} does not offer AUTH, but [outgoing] username "
                        f"is set; leave username empty if the relay needs no login")
                await _login(smtp, self.username, password)
        except ssl.SSLCertVerificationError as exc:
            await _quietly_close(smtp)
            raise TransportConfigError(
                f"SMTP server {where}: its TLS certificate is not trusted "
                f"({exc.verify_message}); if it uses a private CA, set [outgoing] ca_file"
            ) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            await _quietly_close(smtp)
            if 400 <= exc.code < 500:
                raise SendFailure(f"{where} could not log in now: {exc.code} {exc.message}",
                                  code=exc.code, connection=True) from None
            raise TransportConfigError(
                f"SMTP server {where} refused the login for {self.username!r}: "
                f"{exc.code} {exc.message}; check [outgoing] username and the password "
                f"({self.cfg.secret_source('outgoing', 'password')})") from None
        except aiosmtplib.SMTPResponseException as exc:
            # A relay that turns us away at the door (busy, greylisting) is tried again.
            await _quietly_close(smtp)
            raise SendFailure(f"{where} refused the connection: {exc.code} {exc.message}",
                              code=exc.code, connection=True) from None
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            await _quietly_close(smtp)
            raise SendFailure(f"cannot reach SMTP server {where}: {_describe(exc)}",
                              connection=True) from None
        except TransportConfigError:
            await _quietly_close(smtp)
            raise
        self._smtp = smtp

    def size_limit(self) -> int | None:
        raw = (self._smtp.esmtp_extensions.get("size", "") if self._smtp else "").strip()
        return int(raw) if raw.isdigit() and int(raw) > 0 else None

    # -- sending -----------------------------------------------------------------------
    def send(self, envelope_from: str, recipients: list[str], data: bytes,
             message_id: str) -> list[str]:
        """Send; return notes on recipients the server refused while accepting others."""
        if self._smtp is None or self._runner is None:
            raise SendFailure("not connected", connection=True)
        return self._runner.run(self._send(envelope_from, recipients, data))

    async def _send(self, envelope_from, recipients, data) -> list[str]:
        where = f"{self.host}:{self.port}"
        try:
            errors, _ = await self._smtp.sendmail(envelope_from, recipients, data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            reply = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise SendFailure(f"{where} refused every recipient: {reply}",
                              temporary=all(400 <= c < 500 for c in codes),
                              code=codes[0] if codes else None) from None
        except aiosmtplib.SMTPServerDisconnected as exc:
            self._smtp = None
            raise SendFailure(f"{where} closed the connection: {_describe(exc)}",
                              connection=True) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailure(f"{where} answered {exc.code} {exc.message}",
                              temporary=400 <= exc.code < 500, code=exc.code) from None
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            self._smtp = None
            raise SendFailure(f"lost the connection to {where}: {_describe(exc)}",
                              connection=True) from None
        return [f"{addr}: {resp.code} {resp.message}" for addr, resp in errors.items()]

    def close(self) -> None:
        if self._runner is None:
            return
        try:
            if self._smtp is not None:
                self._runner.run(_quietly_close(self._smtp, polite=True))
        finally:
            self._smtp = None
            self._runner.close()
            self._runner = None


async def _login(smtp: aiosmtplib.SMTP, username: str, password: str) -> None:
    """AUTH with one mechanism (PLAIN first; we only log in over TLS).

    aiosmtplib's ``login`` tries every mechanism after a refusal, and some servers then
    wait for input that never comes: a wrong password would look like a timeout.
    """
    offered = smtp.server_auth_methods
    for mechanism in ("plain", "login", "cram-md5"):
        if mechanism in offered:
            await getattr(smtp, f"auth_{mechanism.replace('-', '')}")(username, password)
            return
    raise TransportConfigError(
        f"SMTP server {smtp.hostname}:{smtp.port} offers no login mechanism mailworker "
        f"knows (it offers: {', '.join(offered) or 'none'})")


async def _quietly_close(smtp: aiosmtplib.SMTP, polite: bool = False) -> None:
    """Say QUIT if we can; a connection that is already broken just gets closed."""
    if polite and smtp.is_connected:
        try:
            await smtp.quit()
            return
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            # The mail is already handled; only the goodbye failed.
            log.debug("QUIT to %s failed: %s", smtp.hostname, _describe(exc))
    smtp.close()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def make_transport(cfg) -> Transport:
    if cfg.outgoing.transport == "smtp":
        return SmtpTransport(cfg)
    return FileTransport(Path(cfg.outgoing.directory))
