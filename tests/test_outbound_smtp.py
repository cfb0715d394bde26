"""The sender against real aiosmtpd servers on 127.0.0.1 (no mocks)."""
from __future__ import annotations

import datetime as dt
import random

import pytest

from mailworker.errors import SecretError
from mailworker.models import Outbox
from mailworker.outbound.sender import drain_outbox, retry_delay
from mailworker.outbound.templates import Renderer
from mailworker.outbound.transport import TransportConfigError
from mailworker.outbox import domain_of, enqueue
from tests.outbound_support import (ACK_CONTEXT, add_members, bodies, open_db,
                                    outbound_config, parse)
from tests.servers.smtp import free_port


@pytest.fixture
def world(make_config, tmp_path, clock):
    """Build config + database for a server: world(server, **outgoing_overrides)."""
    opened = []

    def make(server=None, **outgoing):
        section = server.outgoing_config(**outgoing) if server else dict(outgoing)
        cfg = outbound_config(make_config, tmp_path, section)
        opened.append(open_db(cfg, clock))
        members = add_members(clock)
        return cfg, members

    yield make
    for db in opened:
        db.close()


def queue_ack(cfg, clock, member, n: int = 0, **extra) -> Outbox:
    sha = f"{n:02d}" * 32
    context = {**ACK_CONTEXT, "display_name": member.display_name,
               "msg_sha256": sha, "language": member.language, **extra}
    return enqueue(f"ack:{sha}", "ack", member.primary_address, context, clock,
                   member=member, domain=domain_of(cfg))


def test_starttls_auth_delivers_korean_mail(smtp_factory, world, clock):
    server = smtp_factory("starttls", auth=("mailworker", "s3cret-pw"))
    cfg, members = world(server)
    minji = members["kim.minji@example.net"]
    row = queue_ack(cfg, clock, minji)
    enqueue("nonmember:someone@example.com:2026-11-25", "non_member_reply",
            "someone@example.com", {"subject": "블록체인 문의드립니다",
                                    "received_local": "2026-11-25 10:03",
                                    "in_reply_to": None}, clock, domain=domain_of(cfg))
    result = drain_outbox(cfg, clock)
    assert (result.sent, result.failed, result.retried, result.waiting) == (2, 0, 0, 0)
    assert server.logins == ["mailworker"]            # one connection for the pass
    assert len(server.messages) == 2
    got = server.messages[0]
    assert got.mail_from == "governance@seoul.example"
    assert got.rcpt_tos == ["kim.minji@example.net"]
    msg = got.message
    expected = Renderer(cfg).render("ack", {**row.context, "receipt_attached": False})
    assert msg["Subject"] == expected.subject == "[품평 접수 완료] S-지갑 앱 로그인 오류 <긴급>"
    assert msg["Message-ID"] == row.message_id
    text, html = bodies(msg)
    assert text.strip() == expected.text.strip()
    assert "김민지 님, 안녕하세요." in text
    assert "누적 봉사시간: 3시간" in text
    assert "&lt;긴급&gt;" in html
    other = server.messages[1].message
    assert other["Subject"] == "[안내] 블록체인 문의드립니다"
    assert "거버넌스 단원 전용 접수 창구" in bodies(other)[0]
    row = Outbox.get_by_id(row.id)
    assert row.status == "sent" and row.attempts == 1
    assert row.sent_at == clock.now().replace(tzinfo=None)


def test_implicit_tls(smtp_factory, world, clock):
    server = smtp_factory("tls")
    cfg, members = world(server)
    queue_ack(cfg, clock, members["daniel.park@example.com"])
    assert drain_outbox(cfg, clock).sent == 1
    msg = server.messages[0].message
    assert msg["Subject"].startswith("[Review received]")
    assert "Dear Daniel Park," in bodies(msg)[0]


def test_temporary_failure_then_success_with_backoff(smtp_factory, world, clock):
    server = smtp_factory("plain", script=["451 4.3.0 Try again later"])
    cfg, members = world(server, retry_base_seconds=60)
    row = queue_ack(cfg, clock, members["kim.minji@example.net"])
    first = drain_outbox(cfg, clock, rng=random.Random(7))
    assert (first.sent, first.retried, first.waiting) == (0, 1, 1)
    row = Outbox.get_by_id(row.id)
    assert row.status == "pending" and row.attempts == 1
    assert "451 4.3.0 Try again later" in row.last_error
    wait = (row.not_before - clock.now().replace(tzinfo=None)).total_seconds()
    assert 30 <= wait <= 60                         # base 60 s, equal jitter: [30, 60]
    assert drain_outbox(cfg, clock).sent == 0       # not due yet: nothing is tried
    assert server.handler.data_commands == 1
    clock.advance(seconds=61)
    second = drain_outbox(cfg, clock)
    assert second.sent == 1
    assert Outbox.get_by_id(row.id).attempts == 2
    assert len(server.messages) == 1


def test_backoff_doubles_with_jitter_and_gives_up(smtp_factory, world, clock):
    rng = random.Random(1)
    for attempt in range(1, 8):
        d = retry_delay(attempt, 60, rng)
        assert 60 * 2 ** (attempt - 1) / 2 <= d <= 60 * 2 ** (attempt - 1)
    server = smtp_factory("plain", script=["451 4.7.1 Greylisted"] * 10)
    cfg, members = world(server, max_attempts=3, retry_base_seconds=10)
    row = queue_ack(cfg, clock, members["kim.minji@example.net"])
    for _ in range(3):
        drain_outbox(cfg, clock)
        clock.advance(seconds=3600)
    row = Outbox.get_by_id(row.id)
    assert row.status == "failed"
    assert row.attempts == 3
    assert "gave up after 3 tries" in row.last_error and "451 4.7.1 Greylisted" in row.last_error
    assert server.messages == []


def test_permanent_failure_keeps_the_servers_reply(smtp_factory, world, clock):
    server = smtp_factory("plain", reject="550 5.1.1 <kim.minji@example.net>: mailbox unknown")
    cfg, members = world(server)
    row = queue_ack(cfg, clock, members["kim.minji@example.net"])
    result = drain_outbox(cfg, clock)
    assert (result.sent, result.failed, result.retried) == (0, 1, 0)
    row = Outbox.get_by_id(row.id)
    assert row.status == "failed" and row.attempts == 1
    assert "550 5.1.1 <kim.minji@example.net>: mailbox unknown" in row.last_error
    clock.advance(days=1)
    assert drain_outbox(cfg, clock).sent == 0
    assert server.handler.data_commands == 1


def test_oversize_mail_is_refused_before_sending(smtp_factory, world, clock, tmp_path):
    server = smtp_factory("plain", data_size_limit=50_000)
    cfg, members = world(server)
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x00\x01" * 40_000)
    member = members["kim.minji@example.net"]
    row = enqueue("big:1", "trial_notice", member.primary_address,
                  {"display_name": member.display_name, "service_name": "S-지갑",
                   "period": "12월"}, clock, member=member, domain=domain_of(cfg),
                  attachments=[{"kind": "file", "path": str(big), "filename": "big.bin"}])
    small = queue_ack(cfg, clock, members["daniel.park@example.com"])
    result = drain_outbox(cfg, clock)
    assert (result.sent, result.failed) == (1, 1)
    row = Outbox.get_by_id(row.id)
    assert row.status == "failed" and row.attempts == 0
    assert "accepts at most 50 KB (50,000 bytes, its SIZE limit)" in row.last_error
    assert "nothing was sent" in row.last_error
    assert server.handler.data_commands == 1        # only the small mail went to DATA
    assert Outbox.get_by_id(small.id).status == "sent"


def test_rate_limit_per_minute(smtp_factory, world, clock):
    server = smtp_factory("plain")
    cfg, members = world(server, rate_per_minute=3)
    member = members["kim.minji@example.net"]
    for n in range(5):
        queue_ack(cfg, clock, member, n)
    first = drain_outbox(cfg, clock)
    assert first.sent == 3 and first.rate_limited and first.waiting == 2
    assert first.next_slot == clock.now() + dt.timedelta(seconds=60)
    assert "rate limit 3/min" in first.message
    clock.advance(seconds=30)
    assert drain_outbox(cfg, clock).sent == 0       # still inside the same minute
    clock.advance(seconds=31)
    second = drain_outbox(cfg, clock)
    assert second.sent == 2 and not second.rate_limited and second.waiting == 0
    assert len(server.messages) == 5


def test_unreachable_server_retries_every_due_row(world, clock):
    cfg, members = world(None, transport="smtp", host="127.0.0.1", port=free_port(),
                         security="plain", timeout_seconds=3)
    rows = [queue_ack(cfg, clock, members["kim.minji@example.net"], n) for n in range(3)]
    result = drain_outbox(cfg, clock)
    assert (result.sent, result.retried, result.failed) == (0, 3, 0)
    for row in rows:
        row = Outbox.get_by_id(row.id)
        assert row.attempts == 1 and row.status == "pending"
        assert "cannot reach SMTP server 127.0.0.1" in row.last_error


def test_wrong_password_is_a_configuration_error(smtp_factory, world, clock, tmp_path):
    server = smtp_factory("starttls", auth=("mailworker", "another-password"))
    cfg, members = world(server)
    row = queue_ack(cfg, clock, members["kim.minji@example.net"])
    with pytest.raises(TransportConfigError, match="refused the login for 'mailworker'") as exc:
        drain_outbox(cfg, clock)
    assert "s3cret-pw" not in str(exc.value)
    assert str(tmp_path / "smtp-password") in str(exc.value)
    row = Outbox.get_by_id(row.id)
    assert row.status == "pending" and row.attempts == 0 and row.last_error == ""


def test_untrusted_certificate_is_a_configuration_error(smtp_factory, world, clock):
    server = smtp_factory("starttls")
    cfg, members = world(server, ca_file="")
    queue_ack(cfg, clock, members["kim.minji@example.net"])
    with pytest.raises(TransportConfigError, match="not trusted.*ca_file"):
        drain_outbox(cfg, clock)
    assert server.messages == []


def test_missing_password_secret_names_the_file(smtp_factory, world, clock, tmp_path):
    server = smtp_factory("starttls", auth=("mailworker", "s3cret-pw"))
    cfg, members = world(server)
    (tmp_path / "smtp-password").unlink()
    queue_ack(cfg, clock, members["kim.minji@example.net"])
    with pytest.raises(SecretError, match="smtp-password"):
        drain_outbox(cfg, clock)


def test_after_row_follows_its_predecessor(smtp_factory, world, clock):
    server = smtp_factory("plain", script=["451 4.3.0 busy"])
    cfg, members = world(server)
    member = members["kim.minji@example.net"]
    first = queue_ack(cfg, clock, member, 1)
    follower = enqueue("follow:1", "triage_notice", member.primary_address,
                       {"display_name": member.display_name, "subject": "두 번째",
                        "received_local": "2026-11-25 10:03", "in_reply_to": None},
                       clock, member=member, after=first, domain=domain_of(cfg))
    result = drain_outbox(cfg, clock)
    assert result.sent == 0 and result.retried == 1
    assert Outbox.get_by_id(follower.id).attempts == 0   # not tried before the first
    clock.advance(hours=1)
    assert drain_outbox(cfg, clock).sent == 2
    ids = [m.message_id for m in server.messages]
    assert ids == [first.message_id, follower.message_id]
    # A cancelled predecessor cancels its follower instead of leaving it waiting.
    second = queue_ack(cfg, clock, member, 2)
    third = enqueue("follow:2", "triage_notice", member.primary_address,
                    {"display_name": member.display_name, "subject": "세 번째",
                     "received_local": "2026-11-25 10:03", "in_reply_to": None},
                    clock, member=member, after=second, domain=domain_of(cfg))
    Outbox.update(status="cancelled").where(Outbox.id == second.id).execute()
    drain_outbox(cfg, clock)
    third = Outbox.get_by_id(third.id)
    assert third.status == "cancelled" and f"#{second.id}" in third.last_error


def test_file_transport_writes_one_eml_per_row(world, clock):
    cfg, members = world(None)
    row = queue_ack(cfg, clock, members["kim.minji@example.net"])
    assert drain_outbox(cfg, clock).sent == 1
    files = list((cfg.resolve(cfg.outgoing.directory)).glob("*.eml"))
    assert len(files) == 1
    assert files[0].name.startswith(row.message_id.strip("<>").split("@")[0])
    msg = parse(files[0].read_bytes())
    assert msg["Subject"] == "[품평 접수 완료] S-지갑 앱 로그인 오류 <긴급>"
    # Sending the same row again (as after a crash) overwrites the same file.
    (Outbox.update(status="pending", not_before=clock.now().replace(tzinfo=None))
     .where(Outbox.id == row.id).execute())
    assert drain_outbox(cfg, clock).sent == 1
    assert len(list(cfg.resolve(cfg.outgoing.directory).glob("*.eml"))) == 1


def test_a_row_whose_tries_never_finished_is_given_up(world, clock):
    cfg, members = world(None, max_attempts=3)
    row = queue_ack(cfg, clock, members["kim.minji@example.net"])
    # Three workers died while sending it: each claim counted, none finished.
    Outbox.update(attempts=3).where(Outbox.id == row.id).execute()
    result = drain_outbox(cfg, clock)
    assert (result.sent, result.failed) == (0, 1)
    row = Outbox.get_by_id(row.id)
    assert row.status == "failed" and "did not finish" in row.last_error
