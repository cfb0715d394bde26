"""`-v` and DEBUG logging show no member's name, address or subject, and no secret: a real
IMAP pass (Dovecot) and a real SMTP drain (aiosmtpd) with every logger at DEBUG."""
from __future__ import annotations

import logging

from mailworker.cli import main
from tests.conftest import _to_toml
from tests.mailfactory import REVIEW_EN, make_mail
from tests.roster import MEMBERS

SUBJECTS = ["전자증명서 앱 오류 상세", "Wallet history crash report", "Hello from outside"]
SECRETS = ["s3cret-pw"]


def test_verbose_run_logs_no_personal_data(dovecot, smtp_factory, tmp_path, capsys, caplog,
                                           monkeypatch):
    server = smtp_factory("plain")
    (tmp_path / "smtp-password").write_text("s3cret-pw")
    (tmp_path / "smtp-password").chmod(0o600)
    cfg_path = tmp_path / "mailworker.toml"
    cfg_path.write_text(_to_toml({
        "inbox": dovecot.inbox_config(),
        "general": {"state_dir": str(tmp_path / "state")},
        "ledger": {"directory": str(tmp_path / "ledger")},
        "outgoing": server.outgoing_config(from_address="governance@seoul.example"),
        "staff": {"addresses": ["staff1@seoul.example"]},
    }), encoding="utf-8")
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email,category,aliases\n" + "".join(
        f"{n},{e},{c},{';'.join(a)}\n" for n, e, c, a in MEMBERS), encoding="utf-8-sig")
    assert main(["--config", str(cfg_path), "members", "import", str(roster)]) == 0
    dovecot.append([
        make_mail(subject=SUBJECTS[0]),
        make_mail(sender="daniel.park@example.com", sender_name="Daniel Park",
                  subject=SUBJECTS[1], body=REVIEW_EN),
        make_mail(sender="stranger.person@outside.example", sender_name="Stranger Person",
                  subject=SUBJECTS[2], body=REVIEW_EN),
    ])
    caplog.set_level(logging.DEBUG)         # the worst case: everything asked for
    capsys.readouterr()
    assert main(["-v", "--config", str(cfg_path), "run", "--once"]) == 0
    out = capsys.readouterr()
    assert len(server.messages) == 3        # two acks and one reply went out
    assert any(r.levelno == logging.DEBUG for r in caplog.records)   # DEBUG was on
    # aiosmtpd's own "mail.log" is the test's server talking, not mailworker.
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in ours)
    logged += out.err
    private = [x for n, e, _, aliases in MEMBERS for x in (n, e, *aliases)]
    private += ["stranger.person@outside.example", "Stranger Person", *SUBJECTS, *SECRETS,
                dovecot.password]
    private += [e.split("@")[0] for _, e, _, _ in MEMBERS]
    leaks = sorted({p for p in private if p in logged})
    assert not leaks, f"logs show {leaks}"
    for lib in ("peewee", "imapclient", "aiosmtplib", "mailparser"):
        assert not any(r.name.startswith(lib) and r.levelno < logging.INFO
                       for r in caplog.records), lib


def test_a_servers_reply_quoting_the_address_is_logged_without_it(smtp_factory, make_config,
                                                                  tmp_path, clock, caplog):
    from mailworker.models import Outbox
    from mailworker.outbound.sender import drain_outbox
    from tests.outbound_support import add_members, open_db, outbound_config
    from tests.test_outbound_smtp import queue_ack
    server = smtp_factory("plain", reject="550 5.1.1 <kim.minji@example.net>: mailbox unknown")
    cfg = outbound_config(make_config, tmp_path, server.outgoing_config())
    db = open_db(cfg, clock)
    try:
        members = add_members(clock)
        row = queue_ack(cfg, clock, members["kim.minji@example.net"])
        caplog.set_level(logging.DEBUG, logger="mailworker")
        assert drain_outbox(cfg, clock).failed == 1
        assert "kim.minji@example.net" in Outbox.get_by_id(row.id).last_error   # for staff
    finally:
        db.close()
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("mailworker"))
    assert "mailbox unknown" in ours and "[address]" in ours
    assert "kim.minji" not in ours
