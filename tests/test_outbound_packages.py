"""Per-member encrypted installer packages, opened with Debian's 7zz and with openssl."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import shutil
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from mailworker import cli
from mailworker.ledger.keys import pseudonym_key
from mailworker.models import LedgerEvent, Outbox
from mailworker.outbound.packages import (ReleaseError, build_release, load_release,
                                          member_password)
from mailworker.outbound.release import register_certificate, send_release
from mailworker.pseudonym import pseudonym
from tests.conftest import skip_unless
from tests.outbound_support import add_members, bodies, open_db, outbound_config, parse

VERSION = "1.2.0-beta1"
SEVEN_ZIP = shutil.which("7zz")


@pytest.fixture
def installer(tmp_path):
    path = tmp_path / "S-Wallet-Setup.exe"
    # Mostly incompressible like a real installer, with some compressible resources.
    path.write_bytes(os.urandom(200_000) + b"resource table entry\x00" * 5_000)
    return path



def sent_mails(cfg):
    folder = cfg.resolve(cfg.outgoing.directory)
    return [parse(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def zip_attachment(msg):
    parts = [p for p in msg.iter_attachments() if p.get_content_type() == "application/zip"]
    assert len(parts) == 1
    return parts[0].get_filename(), parts[0].get_content()


def seven_zip(*args, cwd=None):
    skip_unless(SEVEN_ZIP is not None, "Debian's 7zz (package 7zip) is not installed")
    return subprocess.run([SEVEN_ZIP, *args], capture_output=True, text=True, cwd=cwd)


def extract(zip_bytes: bytes, password: str | None, where):
    where.mkdir(parents=True, exist_ok=True)
    archive = where / "package.zip"
    archive.write_bytes(zip_bytes)
    args = ["x", "-y", f"-o{where / 'out'}", str(archive)]
    if password is not None:
        args.insert(1, f"-p{password}")
    return seven_zip(*args), where / "out"


def test_build_release_is_idempotent_and_refuses_a_different_installer(env, installer,
                                                                       clock, tmp_path):
    cfg, _ = env
    release, new = build_release(cfg, clock, installer, VERSION)
    assert new and release.method == "deflate"
    assert release.installer_sha256 == hashlib.sha256(installer.read_bytes()).hexdigest()
    assert release.directory == cfg.resolve("var") / "releases" / VERSION
    again, new = build_release(cfg, clock, installer, VERSION)
    assert not new and again == release == load_release(cfg, VERSION)
    other = tmp_path / "other.exe"
    other.write_bytes(b"different")
    with pytest.raises(ReleaseError, match="already exists .* with another installer"):
        build_release(cfg, clock, other, VERSION)
    with pytest.raises(ReleaseError, match="not usable"):
        build_release(cfg, clock, installer, "../1.0")
    with pytest.raises(ReleaseError, match="not found"):
        build_release(cfg, clock, tmp_path / "missing.exe", "2.0")
    with pytest.raises(ReleaseError, match="not built yet.*release build"):
        load_release(cfg, "9.9")
    stored = tmp_path / "random.bin"
    stored.write_bytes(os.urandom(50_000))
    assert build_release(cfg, clock, stored, "3.0")[0].method == "stored"


def test_packages_open_with_7zz_and_the_password_comes_separately(env, installer, clock,
                                                                  tmp_path):
    cfg, members = env
    build_release(cfg, clock, installer, VERSION)
    report = send_release(cfg, clock, VERSION, progress=False)
    assert (report.queued, report.already, report.sent, report.failed) == (4, 0, 4, 0)
    mails = sent_mails(cfg)
    assert len(mails) == 8                                   # package + password each
    minji = members["kim.minji@example.net"]
    password = member_password(cfg, VERSION, minji.uuid)
    assert len(password) == 19 and password.count("-") == 3
    to_minji = [m for m in mails if m["To"].addresses[0].addr_spec == minji.primary_address]
    package_mail = next(m for m in to_minji if "비밀번호" not in m["Subject"])
    password_mail = next(m for m in to_minji if "비밀번호" in m["Subject"])
    assert package_mail["Subject"] == f"[시험운영] 설치 파일 {VERSION} (김민지 님 전용)"
    assert password not in package_mail.as_string()
    assert password in bodies(password_mail)[0]
    assert list(password_mail.iter_attachments()) == []
    # The password mail waits for the package mail.
    pkg_row = Outbox.get(Outbox.key == f"package:{VERSION}:{minji.uuid}")
    pw_row = Outbox.get(Outbox.key == f"pkgpw:{VERSION}:{minji.uuid}")
    assert pw_row.after_id == pkg_row.id and pkg_row.status == pw_row.status == "sent"
    # The password is never stored: not in the outbox rows, not in the database file.
    for row in Outbox.select():
        assert password not in json.dumps(row.context) + json.dumps(row.attachments)
    assert password.encode() not in cfg.resolve("var/mailworker.db").read_bytes()

    name, data = zip_attachment(package_mail)
    assert name == f"S-Wallet-Setup-{VERSION}.zip"
    done, out = extract(data, password, tmp_path / "right")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "S-Wallet-Setup.exe").read_bytes() == installer.read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["member_fingerprint"] == pseudonym(pseudonym_key(cfg), minji.uuid)
    assert manifest["installer_sha256"] == hashlib.sha256(installer.read_bytes()).hexdigest()
    assert "김민지" not in json.dumps(manifest) and "@" not in json.dumps(manifest)
    wrong, _ = extract(data, "AAAA-BBBB-CCCC-DDDD", tmp_path / "wrong")
    assert wrong.returncode == 2
    listing = seven_zip("l", "-slt", "-pX", str(tmp_path / "right" / "package.zip"))
    assert "Method = AES-256 Deflate" in listing.stdout

    # Each sent package is a ledger event: pseudonym, version, the package's SHA-256.
    events = list(LedgerEvent.select().where(LedgerEvent.event_type == "package"))
    assert len(events) == 4
    fingerprint = manifest["member_fingerprint"]
    event = LedgerEvent.get(LedgerEvent.dedup_key == f"package:{VERSION}:{fingerprint}")
    leaf = json.loads(event.payload)
    assert leaf["package_sha256"] == hashlib.sha256(data).hexdigest()
    assert leaf["version"] == VERSION and leaf["member"] == fingerprint
    for e in events:
        for name_, mail in [(m.display_name, m.primary_address) for m in members.values()]:
            assert name_ not in e.payload and mail not in e.payload


def test_release_send_is_resumable(env, installer, clock):
    cfg, members = env
    build_release(cfg, clock, installer, VERSION)
    first = send_release(cfg, clock, VERSION, ["kim.minji@example.net",
                                               "daniel.park@example.com"], progress=False)
    assert (first.queued, first.already, first.sent) == (2, 0, 2)
    package = cfg.resolve("var") / "releases" / VERSION / "packages"
    built = {p.name: p.stat().st_mtime_ns for p in package.glob("*.zip")}
    assert len(built) == 2
    clock.advance(minutes=5)
    second = send_release(cfg, clock, VERSION, progress=False)
    assert (second.queued, second.already, second.sent) == (2, 2, 4)
    for name, mtime in built.items():
        assert (package / name).stat().st_mtime_ns == mtime     # not rebuilt
    third = send_release(cfg, clock, VERSION, progress=False)
    assert (third.queued, third.already, third.sent) == (0, 4, 4)
    assert len(sent_mails(cfg)) == 8
    with pytest.raises(ReleaseError, match="not a member address: nobody@example.com"):
        send_release(cfg, clock, VERSION, ["nobody@example.com"], progress=False)


def test_password_sheet_instead_of_password_mails(env, installer, clock, tmp_path):
    cfg, members = env
    build_release(cfg, clock, installer, VERSION)
    sheet = tmp_path / "handover" / "passwords.csv"
    report = send_release(cfg, clock, VERSION, password_sheet=sheet, progress=False)
    assert report.sheet == sheet and report.sent == 4
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
    raw = sheet.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")                    # Excel reads Korean right
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert {r["email"] for r in rows} == set(members)
    for r in rows:
        assert r["password"] == member_password(cfg, VERSION, members[r["email"]].uuid)
    assert Outbox.select().where(Outbox.template == "package_password").count() == 0
    mails = sent_mails(cfg)
    assert len(mails) == 4
    minji_mail = next(m for m in mails if m["To"].addresses[0].display_name == "김민지")
    assert "메일이 아닌 다른 방법" in bodies(minji_mail)[0]


def test_release_too_big_for_the_server_is_refused_before_anything(smtp_factory, make_config,
                                                                   tmp_path, clock, installer):
    server = smtp_factory("plain", data_size_limit=150_000)
    cfg = outbound_config(make_config, tmp_path, server.outgoing_config())
    db = open_db(cfg, clock)
    try:
        add_members(clock)
        build_release(cfg, clock, installer, VERSION)
        with pytest.raises(ReleaseError) as exc:
            send_release(cfg, clock, VERSION, progress=False)
        text = str(exc.value)
        assert "too big to mail" in text and "at most 150 KB (SIZE 150,000)" in text
        assert "Nothing was built or sent" in text
        assert Outbox.select().count() == 0
        assert not (cfg.resolve("var") / "releases" / VERSION / "packages").exists()
        assert server.messages == []
    finally:
        db.close()


def test_smtp_release_sends_package_before_password(smtp_factory, make_config, tmp_path,
                                                    clock, installer):
    server = smtp_factory("starttls", auth=("mailworker", "s3cret-pw"))
    cfg = outbound_config(make_config, tmp_path, server.outgoing_config())
    db = open_db(cfg, clock)
    try:
        members = add_members(clock)
        build_release(cfg, clock, installer, VERSION)
        report = send_release(cfg, clock, VERSION, progress=False)
        assert report.sent == 4 and report.failed == 0
        assert len(server.messages) == 8
        for member in members.values():
            subjects = [r.message["Subject"] for r in server.messages
                        if r.rcpt_tos == [member.primary_address]]
            assert len(subjects) == 2
            assert ("비밀번호" in subjects[1] or "Password" in subjects[1]), subjects
    finally:
        db.close()


def make_member_certificate(email_address: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "이서연")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=730))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email_address)]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def test_smime_member_gets_an_encrypted_mail_without_password(env, installer, clock,
                                                              tmp_path):
    cfg, members = env
    seoyeon = members["seoyeon.lee@example.org"]
    cert, key = make_member_certificate("seoyeon.lee@example.org")
    pem = tmp_path / "seoyeon.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    member, note = register_certificate("seoyeon.lee@example.org", pem, clock)
    assert "valid until 2028-01-01" in note
    build_release(cfg, clock, installer, VERSION)
    report = send_release(cfg, clock, VERSION, progress=False)
    assert report.smime == 1 and report.sent == 4
    assert Outbox.get_or_none(Outbox.key == f"pkgpw:{VERSION}:{seoyeon.uuid}") is None
    mail = next(m for m in sent_mails(cfg)
                if m["To"].addresses[0].addr_spec == "seoyeon.lee@example.org")
    assert mail.get_content_type() == "application/pkcs7-mime"
    assert mail.get_param("smime-type") == "enveloped-data"
    assert mail["Subject"] == f"[시험운영] 설치 파일 {VERSION} (이서연 님 전용)"
    der = mail.get_content()
    inner = parse(pkcs7.pkcs7_decrypt_der(der, cert, key, []))
    assert "인증서(S/MIME)로 암호화되어" in bodies(inner)[0]
    name, data = zip_attachment(inner)
    done, out = extract(data, None, tmp_path / "smime")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "S-Wallet-Setup.exe").read_bytes() == installer.read_bytes()
    # openssl, as a member's mail program would, opens the same mail.
    skip_unless(shutil.which("openssl") is not None, "openssl is not installed")
    key_file = tmp_path / "seoyeon.key"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    eml = tmp_path / "smime.eml"
    eml.write_bytes(mail.as_bytes())
    opened = subprocess.run(["openssl", "smime", "-decrypt", "-in", str(eml), "-recip",
                             str(pem), "-inkey", str(key_file)], capture_output=True)
    assert opened.returncode == 0, opened.stderr
    assert parse(opened.stdout.replace(b"\r\n", b"\n"))["Content-Type"].startswith(
        "multipart/mixed")


def test_release_commands(env, installer, clock, tmp_path, capsys):
    cfg, members = env
    base = ["--config", str(cfg.path), "release"]
    assert cli.main(base + ["build", "--installer", str(installer), "--version", VERSION],
                    clock=clock) == 0
    assert f"release {VERSION} built" in capsys.readouterr().out
    assert cli.main(base + ["send", "--version", VERSION, "--no-progress", "--members",
                            "kim.minji@example.net"], clock=clock) == 0
    out = capsys.readouterr().out
    assert "queued 1 package mail(s)" in out and "1 sent" in out
    minji = members["kim.minji@example.net"]
    assert cli.main(base + ["password", "--version", VERSION, "--member",
                            "KIM.MINJI@example.net"], clock=clock) == 0
    assert member_password(cfg, VERSION, minji.uuid) in capsys.readouterr().out
    sheet = tmp_path / "sheet.csv"
    assert cli.main(base + ["password", "--version", VERSION, "--password-sheet", str(sheet)],
                    clock=clock) == 0
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
    assert cli.main(base + ["status", "--version", VERSION], clock=clock) == 0
    assert "sent 1" in capsys.readouterr().out
    assert cli.main(base + ["send", "--version", "0.0.1", "--no-progress"], clock=clock) == 2
    assert "not built yet" in capsys.readouterr().err


def test_release_progress_is_for_terminals_and_a_repeat_says_nothing_to_send(
        env, installer, clock, capsys):
    cfg, members = env
    base = ["--config", str(cfg.path), "release"]
    assert cli.main(base + ["build", "--installer", str(installer), "--version", VERSION],
                    clock=clock) == 0
    capsys.readouterr()
    # Output is not a terminal here: no bar (it would be printed twice into a log).
    assert cli.main(base + ["send", "--version", VERSION], clock=clock) == 0
    first = capsys.readouterr()
    assert f"queued {len(members)} package mail(s)" in first.out
    assert "member/s" not in first.err and "mail/s" not in first.err
    # A repeat has nothing to do and says so, instead of an empty "0member" bar.
    assert cli.main(base + ["send", "--version", VERSION], clock=clock) == 0
    again = capsys.readouterr()
    assert f"nothing to send: every member already has release {VERSION}" in again.out
    assert "0member" not in again.err and "member/s" not in again.err
    assert cli.main(base + ["send", "--version", VERSION, "--members",
                            "kim.minji@example.net"], clock=clock) == 0
    assert "nothing to send: every member named already has" in capsys.readouterr().out


def test_log_lines_are_not_written_into_a_running_bar(env, installer, clock, capsys):
    import logging
    import sys
    cfg, members = env
    build_release(cfg, clock, installer, VERSION)
    handler = logging.StreamHandler(sys.stderr)     # a console handler, as setup_logging
    handler.setFormatter(logging.Formatter("LOG %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        report = send_release(cfg, clock, VERSION, progress=True)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert report.sent == len(members)
    err = capsys.readouterr().err
    assert "mail/s" in err        # the bars ran
    logged = [seg for line in err.split("\n") for seg in line.split("\r")
              if "mailworker.outbound.sender" in seg]
    assert len(logged) >= len(members)
    # Each log line starts a line of its own: none is glued after a bar's text.
    assert all(seg.startswith("LOG ") for seg in logged), logged
