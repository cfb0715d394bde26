"""Sending a release: one package mail per member, the password after it, resumable.

``send_release`` first checks that a package mail fits the SMTP server's SIZE limit
(nothing is built or queued when it does not), then, member by member, builds the
package and queues the package mail and (unless a password sheet or S/MIME is used) the
password mail with ``after=`` the package mail, in one transaction per member. The
outbox key ``package:<version>:<member uuid>`` makes a second run skip every member
already queued, so an interrupted run is simply started again. Then it drains the outbox
with a progress bar until this release's mails are out (or waiting for a retry).

Progress bars are for a person at a terminal: the caller turns them off when output is not
one (a log file would get every redraw), and while a bar runs, log lines are written
through tqdm so they do not cut a bar in half. A run with nothing left to do shows no bar.
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ..csvfile import csv_text
from ..private import private_dir
from ..clock import Clock, to_utc
from ..models import CATEGORY_KO, Member, MemberAddress, Outbox, db_proxy
from ..outbox import domain_of, enqueue
from ..pseudonym import pseudonym
from .packages import (Release, ReleaseError, build_member_package, human_size,
                       load_release, member_password, password_from_key)
from .sender import DrainResult, drain_outbox
from .transport import SendFailure, make_transport

log = logging.getLogger(__name__)

# Headers, the text and HTML parts of a package mail, with room to spare.
MAIL_OVERHEAD = 64 * 1024
ZIP_OVERHEAD = 16 * 1024


@dataclass
class SendReport:
    version: str
    members: int = 0
    queued: int = 0
    already: int = 0
    smime: int = 0
    sheet: Path | None = None
    sent: int = 0
    pending: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)


def select_members(addresses: list[str] | None) -> list[Member]:
    """Active members, or the members owning ``addresses`` (all must be known)."""
    if not addresses:
        return list(Member.select().where(Member.status == "active").order_by(Member.id))
    found, unknown = [], []
    for addr in addresses:
        row = MemberAddress.get_or_none(MemberAddress.email == addr.strip().lower())
        if row is None:
            unknown.append(addr)
        elif row.member not in found:
            found.append(row.member)
    if unknown:
        raise ReleaseError("not a member address: " + ", ".join(unknown)
                           + " (see: mailworker members list)")
    inactive = [m for m in found if m.status != "active"]
    if inactive:
        raise ReleaseError("these members are not active: "
                           + ", ".join(f"{m.display_name} ({m.status})" for m in inactive))
    return found


def mail_size_estimate(release: Release, smime: bool) -> int:
    """Bytes of a package mail: base64 makes 57 bytes into a 78-byte line."""
    zip_size = release.stream_size + ZIP_OVERHEAD
    encoded = -(-zip_size // 57) * 78
    if smime:   # encrypted MIME inside, base64 again outside
        encoded = -(-(encoded + MAIL_OVERHEAD) // 57) * 78
    return encoded + MAIL_OVERHEAD


def check_fits(cfg, release: Release, members: list[Member]) -> None:
    """Refuse the whole release when its mail exceeds the SMTP server's SIZE."""
    transport = make_transport(cfg)
    transport.open()
    try:
        limit = transport.size_limit()
    finally:
        transport.close()
    if limit is None:
        return
    worst = max(mail_size_estimate(release, bool(m.certificate)) for m in members)
    if worst > limit:
        raise ReleaseError(
            f"release {release.version} is too big to mail: a package mail would be about "
            f"{human_size(worst)} (installer {human_size(release.installer_size)}, packed "
            f"{human_size(release.stream_size)}, then base64 for mail) but "
            f"{transport.description} accepts at most {human_size(limit)} (SIZE {limit:,}). "
            "Nothing was built or sent. Ask the mail administrator for a higher limit, or "
            "hand the installer over another way.")


def send_release(cfg, clock: Clock, version: str, addresses: list[str] | None = None,
                 password_sheet: Path | None = None, wait: bool = True,
                 progress: bool = True, sleep: Callable[[float], None] = time.sleep
                 ) -> SendReport:
    from ..ledger.keys import pseudonym_key
    release = load_release(cfg, version)
    members = select_members(addresses)
    if not members:
        raise ReleaseError("there are no active members to send to")
    report = SendReport(version, members=len(members))
    release_key = cfg.secret("ledger", "release_key")     # fail early, before any work
    pkey = pseudonym_key(cfg)
    todo = [m for m in members if Outbox.get_or_none(Outbox.key == _key(version, m)) is None]
    report.already = len(members) - len(todo)
    if todo:
        try:
            check_fits(cfg, release, todo)
        except SendFailure as exc:
            raise ReleaseError(f"cannot check the mail size limit: {exc}. Nothing was built "
                               "or sent; try again when the SMTP server answers.") from None
    with logging_redirect_tqdm() if progress else nullcontext():
        if todo:
            _queue_packages(cfg, clock, release, version, todo, bool(password_sheet),
                            release_key, pkey, report, progress)
        if password_sheet is not None:
            report.sheet = write_password_sheet(cfg, version, members, password_sheet)
        if wait:
            _drain_release(cfg, clock, version, progress, sleep)
    _count(report, version)
    return report


def _queue_packages(cfg, clock: Clock, release: Release, version: str, todo: list[Member],
                    sheet: bool, release_key: bytes, pkey: bytes, report: SendReport,
                    progress: bool) -> None:
    """Build each member's package and queue its mail(s), one transaction per member."""
    domain = domain_of(cfg)
    with tqdm(todo, desc=f"packages {version}", unit="member", disable=not progress,
              leave=True) as bar:
        for member in bar:
            address = member.primary_address
            if not address:
                report.notes.append(f"{member.display_name}: no e-mail address; skipped")
                continue
            fingerprint = pseudonym(pkey, member.uuid)
            smime = bool(member.certificate)
            password = None if smime else password_from_key(release_key, version, member.uuid)
            package = build_member_package(
                release, release.packages_dir / f"{fingerprint[:16]}.zip", fingerprint,
                password, clock.now(), cfg.general.group_name)
            delivery = "smime" if smime else ("sheet" if sheet else "mail")
            name = f"{Path(release.installer_name).stem}-{version}.zip"
            context = {"display_name": member.display_name, "version": version,
                       "package_name": name, "installer_name": release.installer_name,
                       "installer_sha256": release.installer_sha256,
                       "package_sha256": package.sha256,
                       "size_text": human_size(package.size),
                       "password_delivery": delivery, "member_fingerprint": fingerprint}
            attachments = [{"kind": "file", "path": str(package.path), "filename": name,
                            "content_type": "application/zip"}]
            if smime:
                attachments.append({"kind": "smime"})
            with db_proxy.atomic():
                row = enqueue(_key(version, member), "package", address, context, clock,
                              member=member, attachments=attachments, domain=domain)
                if delivery == "mail":
                    enqueue(f"pkgpw:{version}:{member.uuid}", "package_password", address,
                            {"display_name": member.display_name, "version": version,
                             "package_name": name}, clock, member=member, after=row,
                            attachments=[{"kind": "package_password", "version": version,
                                          "member_uuid": member.uuid}], domain=domain)
            report.queued += 1
            report.smime += smime


def _key(version: str, member: Member) -> str:
    return f"package:{version}:{member.uuid}"


def _release_rows(version: str):
    return Outbox.select().where(Outbox.key.startswith(f"package:{version}:")
                                 | Outbox.key.startswith(f"pkgpw:{version}:"))


def _drain_release(cfg, clock: Clock, version: str, progress: bool,
                   sleep: Callable[[float], None]) -> None:
    total = _release_rows(version).count()
    done = _release_rows(version).where(Outbox.status != "pending").count()
    if done == total:
        return      # every mail of the release is out already: no bar, no pass
    with tqdm(total=total, initial=done, desc=f"mails {version}", unit="mail",
              disable=not progress) as bar:
        while True:
            result: DrainResult = drain_outbox(cfg, clock)
            now_done = _release_rows(version).where(Outbox.status != "pending").count()
            bar.update(now_done - done)
            done = now_done
            now = to_utc(clock.now())
            due = (_release_rows(version)
                   .where((Outbox.status == "pending")
                          & (Outbox.not_before <= now.replace(tzinfo=None))).count())
            if not due:
                return
            if result.rate_limited and result.next_slot is not None:
                sleep(max(0.5, (result.next_slot - now).total_seconds()))
                continue
            if result.sent == 0:
                return      # nothing moves now; retries are scheduled for later


def _count(report: SendReport, version: str) -> None:
    rows = _release_rows(version).where(Outbox.template == "package")
    report.sent = rows.where(Outbox.status == "sent").count()
    report.pending = rows.where(Outbox.status == "pending").count()
    report.failed = rows.where(Outbox.status == "failed").count()


def write_password_sheet(cfg, version: str, members: list[Member], path: Path) -> Path:
    """CSV (UTF-8 with BOM, for Excel), mode 0600: name, address, category, password."""
    path = Path(path)
    release_key = cfg.secret("ledger", "release_key")
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    rows = []
    for m in members:
        password, note = ((("", "S/MIME: no password")) if m.certificate else
                          (password_from_key(release_key, version, m.uuid), ""))
        rows.append([m.display_name, m.primary_address,
                     CATEGORY_KO.get(m.category, m.category), version, password, note])
    # csv_text: BOM first, and a name such as "=HYPERLINK(...)" stays text in Excel.
    data = csv_text(["name", "email", "category", "version", "password", "note"], rows)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def password_for(cfg, version: str, address: str) -> tuple[Member, str]:
    member = select_members([address])[0]
    return member, member_password(cfg, version, member.uuid)


def release_summary(version: str) -> dict[str, int]:
    rows = _release_rows(version).where(Outbox.template == "package")
    return {s: rows.where(Outbox.status == s).count()
            for s in ("pending", "sent", "failed", "cancelled")}


def register_certificate(address: str, pem_path: Path | None, clock: Clock) -> tuple[Member, str]:
    """Store (or with ``pem_path=None`` remove) a member's S/MIME certificate.

    Returns the member and a note (e.g. that the certificate names another address).
    """
    from cryptography import x509
    member = select_members([address])[0]
    if pem_path is None:
        Member.update(certificate=None).where(Member.id == member.id).execute()
        return member, "certificate removed; packages go as password-protected zip again"
    try:
        pem = Path(pem_path).read_bytes()
        cert = x509.load_pem_x509_certificate(pem)
    except OSError as exc:
        raise ReleaseError(f"{pem_path}: cannot read: {exc.strerror}") from None
    except ValueError:
        raise ReleaseError(f"{pem_path}: not a PEM certificate (-----BEGIN CERTIFICATE-----)"
                           ) from None
    from cryptography.hazmat.primitives.asymmetric import rsa
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise ReleaseError(f"{pem_path}: S/MIME encryption needs an RSA certificate; this one "
                           f"has a {type(cert.public_key()).__name__} key")
    now = to_utc(clock.now())
    if cert.not_valid_after_utc <= now:
        raise ReleaseError(f"{pem_path}: the certificate expired on "
                           f"{cert.not_valid_after_utc:%Y-%m-%d}")
    note = f"valid until {cert.not_valid_after_utc:%Y-%m-%d}"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        emails = [e.lower() for e in san.get_values_for_type(x509.RFC822Name)]
    except x509.ExtensionNotFound:
        emails = []
    own = {a.email for a in member.addresses}
    if emails and not own.intersection(emails):
        note += (f"; note: it is issued to {', '.join(emails)}, not to the member's "
                 f"address(es) {', '.join(sorted(own))}")
    Member.update(certificate=pem.decode("ascii")).where(Member.id == member.id).execute()
    return member, note
