"""Real SMTP servers on 127.0.0.1 for the outbound tests (aiosmtpd).

``smtp_factory(...)`` starts a server and returns an ``SmtpServer`` that records every
accepted message. Options: ``security`` ("plain", "starttls" or "tls"), ``auth``
(``(user, password)``: AUTH required, only over TLS), ``data_size_limit`` (advertised as
SIZE and enforced), and ``script``: SMTP replies given to the first DATA commands in order
(e.g. ``["451 4.3.0 try later"]`` then 250), or ``reject`` to refuse every message with a
5xx reply. ``on_message`` is called (in the server thread) after each accepted message;
the SIGKILL test uses it to kill the sending process mid-batch.

The TLS certificate is self-signed, made with ``cryptography`` for 127.0.0.1 and
localhost; clients verify it by pointing ``[outgoing] ca_file`` at ``tls_cert.cert_path``.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
import ssl
import threading
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Callable

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"


@dataclass
class TlsCert:
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert_path), str(self.key_path))
        return ctx


def make_self_signed(directory: Path, common_name: str = "localhost") -> TlsCert:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    # A fixed window around the real present: the TLS stack checks validity with the OS clock.
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ip_address(HOST))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / "smtp-cert.pem"
    key_path = directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return TlsCert(cert_path, key_path)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class RecordingHandler:
    script: list[str] = field(default_factory=list)   # replies for the first DATA commands
    reject: str | None = None                          # reply to every DATA (e.g. "550 ...")
    on_message: Callable[[Received], None] | None = None
    messages: list[Received] = field(default_factory=list)
    data_commands: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_commands += 1
            if self.script:
                reply = self.script.pop(0)
                if not reply.startswith("250"):
                    return reply
            if self.reject:
                return self.reject
            got = Received(envelope.mail_from, list(envelope.rcpt_tos),
                           bytes(envelope.original_content or envelope.content))
            self.messages.append(got)
        if self.on_message is not None:
            self.on_message(got)
        return "250 2.0.0 Message accepted for delivery"


@dataclass
class SmtpServer:
    controller: Controller
    handler: RecordingHandler
    host: str
    port: int
    security: str
    cert: TlsCert | None
    auth: tuple[str, str] | None
    logins: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def outgoing_config(self, **overrides) -> dict:
        """An ``[outgoing]`` section that talks to this server."""
        section = {"transport": "smtp", "host": self.host, "port": self.port,
                   "security": self.security, "timeout_seconds": 10}
        if self.cert is not None:
            section["ca_file"] = str(self.cert.cert_path)
        if self.auth is not None:
            section["username"] = self.auth[0]
        section.update(overrides)
        return section

    def stop(self) -> None:
        self.controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory) -> TlsCert:
    return make_self_signed(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def smtp_factory(tls_cert):
    started: list[SmtpServer] = []

    def start(security: str = "plain", auth: tuple[str, str] | None = None,
              data_size_limit: int | None = None, script: list[str] | None = None,
              reject: str | None = None,
              on_message: Callable[[Received], None] | None = None) -> SmtpServer:
        handler = RecordingHandler(script=list(script or []), reject=reject,
                                   on_message=on_message)
        logins: list[str] = []
        kwargs: dict = {"hostname": HOST, "port": free_port(),
                        "data_size_limit": data_size_limit or 33554432}
        if security == "starttls":
            kwargs.update(tls_context=tls_cert.server_context(), require_starttls=True)
        elif security == "tls":
            kwargs.update(ssl_context=tls_cert.server_context())
        elif security != "plain":
            raise ValueError(security)
        if auth is not None:
            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = (isinstance(auth_data, LoginPassword)
                      and auth_data.login.decode() == auth[0]
                      and auth_data.password.decode() == auth[1])
                if ok:
                    logins.append(auth[0])
                # handled=False: aiosmtpd itself answers 235 or 535.
                return AuthResult(success=ok, handled=False)
            kwargs.update(authenticator=authenticator, auth_required=True,
                          auth_require_tls=True)
        controller = Controller(handler, **kwargs)
        controller.start()
        server = SmtpServer(controller, handler, HOST, kwargs["port"], security,
                            tls_cert if security != "plain" else None, auth, logins)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
