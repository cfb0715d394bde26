"""Configuration: the documented example, secrets, clear errors, and `mailworker config check`."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mailworker import cli
from mailworker import config as config_mod
from mailworker import db as db_mod
from mailworker import models
from mailworker.config import SCHEMA, SECRETS, write_secret_file
from mailworker.errors import ConfigError, SecretError

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "mailworker.example.toml"
IMAP_SECRET = "imap-s3cret-value"
SMTP_SECRET = "smtp-s3cret-value"
PSEUDONYM_SECRET = "pseudonym-key-material-0123456789"


@pytest.fixture(autouse=True)
def _outside_systemd(monkeypatch):
    # As a staff command sees it; tests that play the service set the variable themselves.
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


# --- the documented example ---------------------------------------------------------------

def test_example_loads_without_reading_secrets():
    cfg = config_mod.load(EXAMPLE)
    assert cfg.inbox.type == "imap" and cfg.inbox.security == "tls"
    assert cfg.outgoing.transport == "smtp" and cfg.outgoing.security == "tls"
    assert cfg.general.state_dir == "/var/lib/mailworker"
    assert cfg.tz.key == "Asia/Seoul"
    for section, name in [("inbox", "password"), ("outgoing", "password"),
                          ("ledger", "pseudonym_key"), ("ledger", "release_key")]:
        assert cfg.has_secret(section, name)
        assert cfg.secret_source(section, name).startswith(
            "file /etc/mailworker/credentials/")


def test_example_documents_every_schema_key():
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    missing = [f"[{section}] {key}" for section, keys in SCHEMA.items() for key in keys
               if key not in raw.get(section, {})]
    assert missing == [], "add these keys to config/mailworker.example.toml: " + ", ".join(missing)
    assert set(raw) == set(SCHEMA)


def test_example_documents_every_secret():
    text = EXAMPLE.read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    for section, name in SECRETS:
        # Given as a *_file, or (optional ones like the PostgreSQL password) shown in a comment.
        assert (f"{name}_file" in raw.get(section, {})
                or f"#     {name}_file = " in text), (section, name)
        assert name not in raw.get(section, {})


def test_example_comments_every_key():
    # Each key line is preceded (within its group) by a comment that explains it.
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line or line.startswith(("#", "[")):
            continue
        j = i - 1
        while j >= 0 and lines[j] and not lines[j].startswith(("#", "[")):
            j -= 1
        assert j >= 0 and lines[j].startswith("#"), f"line {i + 1} has no comment: {line}"


# --- secrets ------------------------------------------------------------------------------

def _secret(tmp_path, name="imap-password", data=b"s3cret\n", mode=0o600) -> Path:
    path = tmp_path / name
    write_secret_file(path, data)
    path.chmod(mode)
    return path


def test_secret_file_0600_is_read_and_newline_stripped(make_config, tmp_path):
    path = _secret(tmp_path)
    cfg = make_config({"inbox": {"password_file": str(path)}})
    assert cfg.secret("inbox", "password") == b"s3cret"


def test_group_readable_secret_file_is_refused_with_chmod_hint(make_config, tmp_path):
    path = _secret(tmp_path, mode=0o644)
    cfg = make_config({"inbox": {"password_file": str(path)}})
    with pytest.raises(SecretError) as err:
        cfg.secret("inbox", "password")
    assert f"chmod 600 {path}" in str(err.value)
    assert "0644" in str(err.value) and "[inbox] password_file" in str(err.value)
    assert "s3cret" not in str(err.value)


def test_missing_and_empty_secret_files_are_named(make_config, tmp_path):
    cfg = make_config({"inbox": {"password_file": str(tmp_path / "nope")}})
    with pytest.raises(SecretError, match="secret file not found"):
        cfg.secret("inbox", "password")
    empty = _secret(tmp_path, "empty", data=b"\n")
    cfg = make_config({"inbox": {"password_file": str(empty)}})
    with pytest.raises(SecretError, match="secret file is empty"):
        cfg.secret("inbox", "password")


def test_relative_secret_file_is_taken_from_the_config_folder(make_config, tmp_path):
    _secret(tmp_path, "keys/pseudonym.key", data=b"k" * 32)
    cfg = make_config({"ledger": {"pseudonym_key_file": "keys/pseudonym.key"}})
    assert cfg.secret("ledger", "pseudonym_key") == b"k" * 32


def test_systemd_credential_copy_is_preferred(make_config, tmp_path, monkeypatch):
    # The service: systemd put a private copy in $CREDENTIALS_DIRECTORY, named like the file.
    configured = _secret(tmp_path, "etc/imap-password", b"file value\n")
    credentials = tmp_path / "run-credentials"
    copy = _secret(credentials, "imap-password", b"copy value\n", mode=0o400)
    cfg = make_config({"inbox": {"password_file": str(configured)}})
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert cfg.secret("inbox", "password") == b"copy value"
    assert cfg.secret_source("inbox", "password") == f"file {copy} (systemd credential)"
    # systemd may grant the service user read access by an ACL: the mask shows as group
    # bits (0440). That copy is still private; a world-readable one is not.
    copy.chmod(0o440)
    assert cfg.secret("inbox", "password") == b"copy value"
    copy.chmod(0o444)
    with pytest.raises(SecretError, match=f"{copy}: secret file is readable by others"):
        cfg.secret("inbox", "password")
    # Errors name the key and the file actually tried: here the copy.
    copy.chmod(0o600)
    copy.write_bytes(b"\n")
    with pytest.raises(SecretError) as err:
        cfg.secret("inbox", "password")
    assert str(err.value).startswith(f"{copy}: secret file is empty")
    assert "[inbox] password_file" in str(err.value)


def test_configured_file_is_read_without_a_credential_copy(make_config, tmp_path, monkeypatch):
    configured = _secret(tmp_path, "etc/smtp-password", b"file value\n")
    cfg = make_config({"outgoing": {"password_file": str(configured)}})
    # A staff command (no $CREDENTIALS_DIRECTORY) reads the configured file itself ...
    assert cfg.secret("outgoing", "password") == b"file value"
    assert cfg.secret_source("outgoing", "password") == f"file {configured}"
    # ... and so does the service for a secret the unit does not load.
    credentials = tmp_path / "run-credentials"
    _secret(credentials, "imap-password", b"other\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert cfg.secret("outgoing", "password") == b"file value"
    assert cfg.secret_source("outgoing", "password") == f"file {configured}"
    # Neither exists: the error names the configured file and the key.
    missing = make_config({"ledger": {"release_key_file": str(tmp_path / "etc/release-key")}})
    with pytest.raises(SecretError) as err:
        missing.secret("ledger", "release_key")
    assert str(err.value).startswith(f"{tmp_path / 'etc/release-key'}: secret file not found")
    assert "[ledger] release_key_file" in str(err.value)
    # The fallback keeps the configured file's own checks (no copy, no exemption).
    configured.chmod(0o640)
    with pytest.raises(SecretError, match=f"chmod 600 {configured}"):
        cfg.secret("outgoing", "password")


def test_secret_from_environment(make_config, monkeypatch):
    monkeypatch.setenv("MW_TEST_SMTP_PASSWORD", "from-env")
    cfg = make_config({"outgoing": {"password_env": "MW_TEST_SMTP_PASSWORD"}})
    assert cfg.secret_text("outgoing", "password") == "from-env"


def test_unset_environment_variable_is_named(make_config, monkeypatch):
    monkeypatch.delenv("MW_TEST_UNSET_VARIABLE", raising=False)
    cfg = make_config({"outgoing": {"password_env": "MW_TEST_UNSET_VARIABLE"}})
    with pytest.raises(SecretError, match=r"\[outgoing\] password_env names the environment "
                                          r"variable MW_TEST_UNSET_VARIABLE, which is not set"):
        cfg.secret("outgoing", "password")


def test_secret_not_configured_says_how(make_config):
    cfg = make_config({})
    with pytest.raises(SecretError, match=r"\[ledger\] needs release_key_file .* or "
                                          r"release_key_env"):
        cfg.secret("ledger", "release_key")


def test_both_file_and_env_are_refused(make_config, tmp_path):
    with pytest.raises(ConfigError, match="give either password_file or password_env, not both"):
        make_config({"inbox": {"password_file": str(_secret(tmp_path)),
                               "password_env": "X"}})


def test_inline_password_is_refused(make_config):
    with pytest.raises(ConfigError) as err:
        make_config({"inbox": {"password": "hunter2"}})
    assert "[inbox] password must not be written in the file" in str(err.value)
    assert "password_file" in str(err.value)
    assert "hunter2" not in str(err.value)


# --- clear errors for wrong keys and values -------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ({"inbx": {"type": "imap"}}, r"unknown section \[inbx\]; known sections: .*inbox"),
    ({"inbox": {"hots": "x"}}, r"\[inbox\] unknown key 'hots'; known keys: .*host"),
    ({"inbox": {"port": "993"}}, r"\[inbox\] port must be a whole number, got '993'"),
    ({"inbox": {"use_idle": "yes"}}, r"\[inbox\] use_idle must be true or false"),
    ({"inbox": {"batch_size": True}}, r"\[inbox\] batch_size must be a whole number"),
    ({"inbox": {"security": "ssl"}}, r"\[inbox\] security = 'ssl' is not one of 'tls'"),
    ({"general": {"timezone": "Asia/Busan"}},
     r"\[general\] timezone 'Asia/Busan' is not a known time zone"),
    ({"schedule": {"digest_time": "9시"}}, r"\[schedule\] digest_time must be HH:MM, got '9시'"),
    ({"schedule": {"digest_time": "24:00"}}, r"digest_time must be HH:MM"),
    ({"database": {"url": "mysql://x/y"}}, r"\[database\] url must start with sqlite:///"),
    ({"inbox": {"type": "imap"}}, r"\[inbox\] type = \"imap\" needs host"),
    ({"staff": {"addresses": ["secretariat"]}}, r"\[staff\] addresses has 'secretariat'"),
])
def test_wrong_values_name_the_file_and_key(make_config, tmp_path, raw, expected):
    with pytest.raises(ConfigError, match=expected) as err:
        make_config(raw)
    assert str(tmp_path / "mailworker.toml") in str(err.value)


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[inbox]\ntype = "imap"\nhost = imap.example.org\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        config_mod.load(path)
    assert str(path) in str(err.value) and "line 3" in str(err.value)


def test_missing_config_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found .*example.toml"):
        config_mod.load(tmp_path / "nope.toml")


# --- mailworker config check --------------------------------------------------------------

def run(argv, capsys) -> tuple[int, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def good_config(tmp_path, monkeypatch):
    """A maildir/file-transport setup with its secrets in place; returns (path, raw)."""
    monkeypatch.setenv("MW_TEST_PSEUDONYM_KEY", PSEUDONYM_SECRET)
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "Maildir" / sub).mkdir(parents=True)
    (tmp_path / "state").mkdir()
    raw = {"general": {"state_dir": "state"},
           "inbox": {"type": "maildir", "path": "Maildir"},
           "database": {"url": "sqlite:///state/mailworker.db"},
           "ledger": {"pseudonym_key_env": "MW_TEST_PSEUDONYM_KEY",
                      "release_key_file": str(_secret(tmp_path, "release.key", b"r" * 32))},
           "staff": {"addresses": ["secretariat@seoul.go.kr"]}}
    return raw


def write_config(tmp_path, raw) -> Path:
    from tests.conftest import _to_toml
    path = tmp_path / "mailworker.toml"
    path.write_text(_to_toml(raw), encoding="utf-8")
    return path


def test_config_check_ok(tmp_path, good_config, capsys):
    code, out = run(["--config", str(write_config(tmp_path, good_config)), "config", "check"],
                    capsys)
    assert code == 0, out
    assert out.rstrip().endswith("configuration OK")
    assert "new SQLite database, created on first run" in out
    assert not (tmp_path / "state" / "mailworker.db").exists()   # a check changes nothing
    assert PSEUDONYM_SECRET not in out


def test_config_check_lists_every_problem(tmp_path, good_config, capsys, monkeypatch):
    loose = _secret(tmp_path, "imap-password", IMAP_SECRET.encode(), mode=0o640)
    monkeypatch.delenv("MW_TEST_SMTP_UNSET", raising=False)
    good_config["inbox"] = {"type": "imap", "host": "imap.example.org", "username": "g",
                            "password_file": str(loose)}
    good_config["outgoing"] = {"transport": "smtp", "host": "smtp.example.org",
                               "username": "g", "password_env": "MW_TEST_SMTP_UNSET"}
    good_config["ledger"]["release_key_file"] = str(_secret(tmp_path, "empty.key", b"\n"))
    good_config["database"]["url"] = "postgresql://mw:inline-pw@db.example.org/mw"
    code, out = run(["--config", str(write_config(tmp_path, good_config)), "config", "check"],
                    capsys)
    assert code == 2, out
    problems = [line for line in out.splitlines() if line.lstrip().startswith("PROBLEM")]
    text = "\n".join(problems)
    assert f"chmod 600 {loose}" in text and "[inbox] password" in text
    assert "MW_TEST_SMTP_UNSET, which is not set" in text
    assert "[ledger] release_key" in text and "secret file is empty" in text
    assert "[database] url contains a password" in text
    assert "problem(s)" in out.splitlines()[-1]
    for secret in (IMAP_SECRET, "inline-pw", PSEUDONYM_SECRET):
        assert secret not in out


def test_config_check_reports_a_broken_file(tmp_path, capsys):
    path = tmp_path / "mailworker.toml"
    path.write_text("[inbox\n", encoding="utf-8")
    code, out = run(["--config", str(path), "config", "check"], capsys)
    assert code == 2
    assert "PROBLEM" in out and str(path) in out and "line 1" in out


def test_config_check_reports_missing_required_secrets(tmp_path, capsys):
    path = write_config(tmp_path, {"inbox": {"type": "imap", "host": "imap.example.org",
                                             "username": "g"}})
    code, out = run(["--config", str(path), "config", "check"], capsys)
    assert code == 2
    assert "PROBLEM  [inbox] password: not configured; add password_file" in out
    # The worker creates the embedded pseudonym key itself: worth knowing, not a problem.
    assert "WARNING  [ledger] pseudonym_key: not configured" in out
    assert "mailworker ledger init" in out


def test_config_check_accepts_the_embedded_pseudonym_key(tmp_path, good_config, capsys):
    del good_config["ledger"]["pseudonym_key_env"]
    write_secret_file(tmp_path / "state-ledger" / "pseudonym.key", b"p" * 32)
    good_config["ledger"]["directory"] = "state-ledger"
    code, out = run(["--config", str(write_config(tmp_path, good_config)), "config", "check"],
                    capsys)
    assert code == 0, out
    assert "readable from the embedded file" in out


def test_config_check_refuses_a_newer_database(tmp_path, good_config, capsys, clock):
    db_path = tmp_path / "state" / "mailworker.db"
    database = db_mod.open_database(f"sqlite:///{db_path}", clock=clock)
    models.SchemaVersion.create(version=99, applied_at=clock.now().replace(tzinfo=None))
    database.close()
    code, out = run(["--config", str(write_config(tmp_path, good_config)), "config", "check"],
                    capsys)
    assert code == 2
    assert "schema version 99 is newer than this mailworker knows" in out


def test_config_check_opens_postgres(pg, tmp_path, good_config, capsys):
    good_config["database"] = {"url": pg.new_database("config_check")}
    code, out = run(["--config", str(write_config(tmp_path, good_config)), "config", "check"],
                    capsys)
    assert code == 0, out
    assert "opens; schema version 0, upgraded to" in out


def test_config_check_unreachable_postgres(tmp_path, good_config, capsys):
    from tests.servers.ports import free_port
    good_config["database"] = {"url": f"postgresql://mw@127.0.0.1:{free_port()}/mw"}
    code, out = run(["--config", str(write_config(tmp_path, good_config)), "config", "check",
                     "--timeout", "2"], capsys)
    assert code == 2
    assert "[database] cannot open postgresql://mw@127.0.0.1" in out


def test_config_check_does_not_connect_without_the_flag(tmp_path, good_config, capsys,
                                                        monkeypatch):
    from tests.servers.ports import free_port
    monkeypatch.setenv("MW_TEST_IMAP_PW", IMAP_SECRET)
    good_config["inbox"] = {"type": "imap", "host": "127.0.0.1", "port": free_port(),
                            "security": "plain", "username": "g",
                            "password_env": "MW_TEST_IMAP_PW"}
    code, out = run(["--config", str(write_config(tmp_path, good_config)), "config", "check"],
                    capsys)
    assert code == 0, out      # nothing listens there, and nothing tried to connect


def test_config_check_connect_to_real_servers(tmp_path, good_config, capsys, monkeypatch,
                                              dovecot, smtp_factory):
    # aiosmtpd offers AUTH only after STARTTLS, so the login is tried over starttls.
    smtp = smtp_factory(security="starttls", auth=("relay-user", SMTP_SECRET))
    monkeypatch.setenv("MW_TEST_SMTP_PW", SMTP_SECRET)
    good_config["inbox"] = dovecot.inbox_config()
    good_config["outgoing"] = smtp.outgoing_config(password_env="MW_TEST_SMTP_PW")
    path = write_config(tmp_path, good_config)
    code, out = run(["--config", str(path), "config", "check", "--connect"], capsys)
    assert code == 0, out
    assert f"IMAP 127.0.0.1:{dovecot.port} (plain): login OK, INBOX holds 0 message(s)" in out
    assert f"SMTP 127.0.0.1:{smtp.port} (starttls): connected, login OK" in out
    assert smtp.logins == ["relay-user"]
    assert SMTP_SECRET not in out and dovecot.password not in out

    # Wrong passwords: each host is reported on its own line.
    monkeypatch.setenv("MW_TEST_SMTP_PW", "wrong")
    monkeypatch.setenv("MW_TEST_IMAP_PASSWORD", "wrong")
    # (aiosmtpd stops answering after the last refused AUTH mechanism: a short timeout.)
    code, out = run(["--config", str(path), "config", "check", "--connect", "--timeout", "2"],
                    capsys)
    assert code == 2
    problems = [line for line in out.splitlines() if "PROBLEM" in line]
    assert any(f"IMAP 127.0.0.1:{dovecot.port}" in p and "login as" in p for p in problems), out
    assert any(f"SMTP 127.0.0.1:{smtp.port}" in p and "login as relay-user" in p
               for p in problems), out


def test_config_check_connect_reports_unreachable_and_untrusted_hosts(
        tmp_path, good_config, capsys, monkeypatch, smtp_factory):
    from tests.servers.ports import free_port
    smtp = smtp_factory(security="tls")
    monkeypatch.setenv("MW_TEST_IMAP_PW", IMAP_SECRET)
    dead = free_port()
    good_config["inbox"] = {"type": "imap", "host": "127.0.0.1", "port": dead,
                            "security": "tls", "username": "g",
                            "password_env": "MW_TEST_IMAP_PW"}
    # No ca_file: the relay's self-signed certificate must not be trusted.
    good_config["outgoing"] = {"transport": "smtp", "host": smtp.host, "port": smtp.port,
                               "security": "tls", "timeout_seconds": 5}
    code, out = run(["--config", str(write_config(tmp_path, good_config)), "config", "check",
                     "--connect", "--timeout", "3"], capsys)
    assert code == 2
    lines = out.splitlines()
    assert any(f"IMAP 127.0.0.1:{dead} (tls): connect failed" in line for line in lines), out
    assert any(f"SMTP 127.0.0.1:{smtp.port} (tls): connect failed" in line
               and "CERTIFICATE_VERIFY_FAILED" in line for line in lines), out


def _example_in(tmp_path) -> tuple[Path, Path]:
    """The example configuration with its folders moved under tmp_path: returns the
    configuration and the credentials folder (standing for /etc/mailworker/credentials)."""
    credentials, state = tmp_path / "etc-credentials", tmp_path / "state"
    for name in ("imap-password", "smtp-password", "pseudonym-key", "release-key",
                 "staff-action-key"):
        write_secret_file(credentials / name, f"value of {name}\n".encode())
    text = (EXAMPLE.read_text(encoding="utf-8")
            .replace("/etc/mailworker/credentials/", f"{credentials}/")
            .replace("/var/lib/mailworker", str(state)))
    path = tmp_path / "mailworker.toml"
    path.write_text(text, encoding="utf-8")
    return path, credentials


def test_example_passes_config_check_as_a_staff_command(tmp_path, capsys):
    # `sudo -u mailworker mailworker --config ... config check`: no $CREDENTIALS_DIRECTORY,
    # the secrets are read from the files the configuration names.
    path, credentials = _example_in(tmp_path)
    code, out = run(["--config", str(path), "config", "check"], capsys)
    assert code == 0, out
    assert out.splitlines()[-1].startswith("configuration OK")
    assert f"[inbox] password: readable from file {credentials}/imap-password" in out
    assert "value of" not in out


def test_example_passes_config_check_inside_the_service(tmp_path, capsys, monkeypatch):
    # ExecStartPre: systemd's copies in $CREDENTIALS_DIRECTORY (0440: an ACL for the user)
    # are read, even when the configured files are out of reach.
    path, credentials = _example_in(tmp_path)
    copies = tmp_path / "run-credentials"
    for name in ("imap-password", "smtp-password", "pseudonym-key", "release-key"):
        write_secret_file(copies / name, f"copy of {name}\n".encode())
        (copies / name).chmod(0o440)
        (credentials / name).unlink()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(copies))
    code, out = run(["--config", str(path), "config", "check"], capsys)
    assert code == 0, out
    assert (f"[ledger] release_key: readable from file {copies}/release-key "
            "(systemd credential)") in out
    assert "copy of" not in out


def test_unused_empty_secret_is_not_a_problem(tmp_path, capsys):
    # A relay without login: [outgoing] username is empty and smtp-password an empty file
    # (the unit's LoadCredential= line still loads it).
    path, credentials = _example_in(tmp_path)
    (credentials / "smtp-password").write_bytes(b"")
    text = path.read_text(encoding="utf-8").replace(
        'username = "governance@example.org"\n# The password (LoadCredential=smtp-password',
        'username = ""\n# The password (LoadCredential=smtp-password')
    assert text != path.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    code, out = run(["--config", str(path), "config", "check"], capsys)
    assert code == 0, out
    assert ("[outgoing] password: configured (file " f"{credentials}/smtp-password) but not "
            "used: [outgoing] username is empty") in out
    # Once a username is set, the same empty file is a problem.
    path.write_text(text.replace('username = ""\n# The password (LoadCredential=smtp',
                                 'username = "relay"\n# The password (LoadCredential=smtp'),
                    encoding="utf-8")
    code, out = run(["--config", str(path), "config", "check"], capsys)
    assert code == 2
    assert "PROBLEM  [outgoing] password:" in out and "secret file is empty" in out


# --- what a newcomer meets in config check ------------------------------------------------

def test_config_check_warns_of_a_missing_state_dir(tmp_path, good_config, capsys):
    good_config["general"]["state_dir"] = "not-yet"
    code, out = run(["--config", str(write_config(tmp_path, good_config)), "config", "check"],
                    capsys)
    assert code == 0, out
    line = next(x for x in out.splitlines() if "state_dir" in x)
    assert line.lstrip().startswith("WARNING") and "does not exist yet" in line
    assert f"install -d -m 0700 -o mailworker -g mailworker {tmp_path / 'not-yet'}" in line
    assert "usable" not in line
    assert "configuration OK (1 warning(s))" in out


def test_config_check_names_example_placeholders(tmp_path, good_config, capsys):
    good_config["ingest"] = {"trusted_authserv_id": "mx.example.org"}
    good_config["outgoing"] = {"transport": "smtp", "host": "relay.seoul.go.kr",
                               "username": "", "from_address": "governance@example.org"}
    good_config["staff"] = {"addresses": ["secretariat@example.org", "kim@seoul.go.kr"]}
    code, out = run(["--config", str(write_config(tmp_path, good_config)), "config", "check"],
                    capsys)
    warnings = [x for x in out.splitlines() if x.lstrip().startswith("WARNING")]
    text = "\n".join(warnings)
    assert 'trusted_authserv_id = "mx.example.org" is the example\'s placeholder' in text
    assert "NOBODY gets credit" in text
    assert 'from_address = "governance@example.org"' in text
    assert "secretariat@example.org" in text and "kim@seoul.go.kr" not in text
    assert code == 0


def test_config_check_is_quiet_about_real_values(tmp_path, good_config, capsys):
    good_config["ingest"] = {"trusted_authserv_id": "mx.seoul.go.kr"}
    good_config["staff"] = {"addresses": ["kim@seoul.go.kr"]}
    code, out = run(["--config", str(write_config(tmp_path, good_config)), "config", "check"],
                    capsys)
    assert code == 0 and "placeholder" not in out, out


def test_postgres_url_without_its_driver_says_what_to_install(tmp_path, good_config):
    """A fresh interpreter in which psycopg2 cannot be imported (as on a machine where
    only the base package was installed)."""
    import subprocess
    import sys
    good_config["database"]["url"] = "postgresql://mw@127.0.0.1:1/mw"
    path = write_config(tmp_path, good_config)
    code = ("import sys; sys.modules['psycopg2'] = None; from mailworker.cli import main; "
            f"sys.exit(main(['--config', {str(path)!r}, 'config', 'check']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "Traceback" not in out and "ImproperlyConfigured" not in out
    line = next(x for x in out.splitlines() if "[database]" in x)
    assert line.lstrip().startswith("PROBLEM")
    assert "pip install 'mailworker[postgres]'" in line


def test_config_may_follow_the_command(tmp_path, good_config, capsys):
    path = str(write_config(tmp_path, good_config))
    code, out = run(["config", "check", "--config", path], capsys)
    assert code == 0 and f"Checking {path}" in out, out
    code, out = run(["status", "--config", path], capsys)
    assert code == 0 and f"configuration: {path}" in out, out
    # Before the command it still works, and after it wins when both are given.
    code, out = run(["--config", "/nonexistent.toml", "status", "-c", path], capsys)
    assert code == 0, out


def test_printed_hints_carry_the_config_and_work_when_pasted(tmp_path, good_config, capsys):
    """`triage list` (and every other hint) names the configuration it was run with."""
    import shlex
    import subprocess
    import sys
    path = write_config(tmp_path, good_config)
    code, out = run(["--config", str(path), "members", "list"], capsys)
    assert code == 0
    hint = next(line for line in out.splitlines() if "members import" in line)
    assert f"--config {path} members import FILE.csv" in hint
    code, out = run(["config", "check", "--config", str(path)], capsys)
    # the hint's own command runs when pasted (here: `members list` with the same config)
    line = hint.split(": ", 1)[1].replace("members import FILE.csv", "members list")
    argv = shlex.split(line)
    assert argv[0] in ("mailworker", "python") or argv[0].endswith("mailworker")
    done = subprocess.run([sys.executable, "-m", "mailworker", *argv[argv.index("--config"):]],
                          capture_output=True, text=True, timeout=60,
                          env={**__import__("os").environ,
                               "MW_TEST_PSEUDONYM_KEY": PSEUDONYM_SECRET})
    assert done.returncode == 0, done.stderr
