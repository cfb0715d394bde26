"""Helpers shared by the tests/test_outbound_*.py files."""
from __future__ import annotations

import pytest

import email
import email.policy
from email.message import EmailMessage

from mailworker.config import write_secret_file
from mailworker.members import add_member

MEMBERS = [
    ("김민지", "kim.minji@example.net", "student", "ko"),
    ("Daniel Park", "daniel.park@example.com", "developer", "en"),
    ("이서연", "seoyeon.lee@example.org", "citizen", "ko"),
    ("최준호", "junho.choi@example.co.kr", "business", "ko"),
]

ACK_CONTEXT = {
    "display_name": "김민지", "kind": "review", "subject": "S-지갑 앱 로그인 오류 <긴급>",
    "hours": 1, "total_hours": 3, "half_year": "2026년 하반기",
    "received_local": "2026-11-25 10:03", "msg_sha256": "ab" * 32,
    "in_reply_to": "CAF1234@mail.example.net", "language": "ko",
}


def add_members(clock, members=MEMBERS) -> dict:
    return {mail: add_member(name, mail, cat, clock, language=lang)
            for name, mail, cat, lang in members}


def outbound_config(make_config, tmp_path, outgoing: dict | None = None, **sections):
    """A config rooted in tmp_path; SMTP password and release key from 0600 files."""
    write_secret_file(tmp_path / "smtp-password", b"s3cret-pw")
    write_secret_file(tmp_path / "release.key", b"release-key-for-tests-0123456789")
    write_secret_file(tmp_path / "pseudonym.key", b"pseudonym-key-for-tests-abcdef")
    raw = {
        "general": {"state_dir": "var"},
        "outgoing": {"directory": "var/sent-mail", "from_address": "governance@seoul.example",
                     "password_file": str(tmp_path / "smtp-password"),
                     **(outgoing or {})},
        "ledger": {"release_key_file": str(tmp_path / "release.key"),
                   "pseudonym_key_file": str(tmp_path / "pseudonym.key")},
        "staff": {"addresses": ["staff1@seoul.example", "staff2@seoul.example"]},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return make_config(raw)


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def bodies(msg: EmailMessage) -> tuple[str, str]:
    """(text, html) of a received mail, decoded; line ends as in Python text."""
    return tuple(msg.get_body((kind,)).get_content().replace("\r\n", "\n")
                 for kind in ("plain", "html"))


def open_db(cfg, clock):
    from mailworker.db import open_from_config
    return open_from_config(cfg, clock)


@pytest.fixture
def env(make_config, tmp_path, clock):
    """A configured outbound world: (cfg, members by address) on a fresh database."""
    cfg = outbound_config(make_config, tmp_path)
    db = open_db(cfg, clock)
    members = add_members(clock)
    yield cfg, members
    db.close()
