"""`mailworker outbox ...` and `mailworker notice send`, through the real CLI."""
from __future__ import annotations

import pytest

from mailworker import cli
from mailworker.models import Outbox
from mailworker.outbox import domain_of, enqueue
from tests.outbound_support import bodies, parse



def run(cfg, clock, *args) -> int:
    return cli.main(["--config", str(cfg.path), *args], clock=clock)


def sent_mails(cfg):
    return [parse(p.read_bytes())
            for p in sorted(cfg.resolve(cfg.outgoing.directory).glob("*.eml"))]


def test_outbox_list_retry_cancel_send(env, clock, capsys):
    cfg, members = env
    minji = members["kim.minji@example.net"]
    context = {"display_name": minji.display_name, "subject": "문의",
               "received_local": "2026-11-25 10:03", "in_reply_to": None}
    failed = enqueue("triage:1", "triage_notice", minji.primary_address, context, clock,
                     member=minji, domain=domain_of(cfg))
    waiting = enqueue("triage:2", "triage_notice", minji.primary_address, context, clock,
                      member=minji, domain=domain_of(cfg))
    Outbox.update(status="failed", attempts=8,
                  last_error="gave up after 8 tries; last: 451 busy").where(
        Outbox.id == failed.id).execute()
    assert run(cfg, clock, "outbox", "list") == 0
    out = capsys.readouterr().out
    assert "failed" in out and "gave up after 8 tries" in out and "pending" in out
    assert run(cfg, clock, "outbox", "cancel", str(waiting.id)) == 0
    assert "cancelled" in capsys.readouterr().out
    assert run(cfg, clock, "outbox", "retry", str(failed.id)) == 0
    assert "will be sent again" in capsys.readouterr().out
    row = Outbox.get_by_id(failed.id)
    assert row.status == "pending" and row.attempts == 0
    assert run(cfg, clock, "outbox", "send") == 0
    assert "sent 1" in capsys.readouterr().out
    assert len(sent_mails(cfg)) == 1
    assert run(cfg, clock, "outbox", "list", "--status", "all") == 0
    out = capsys.readouterr().out
    assert "sent" in out and "cancelled" in out
    assert run(cfg, clock, "outbox", "retry", str(failed.id)) == 2
    assert "already sent" in capsys.readouterr().err
    assert run(cfg, clock, "outbox", "cancel", "999") == 2
    assert "#999 does not exist" in capsys.readouterr().err


def test_notice_dry_run_then_send_once(env, clock, capsys):
    cfg, members = env
    args = ["notice", "send", "--template", "trial_notice", "--var", "service_name=S-지갑",
            "--var", "period=2026-12-01 ~ 2026-12-14"]
    assert run(cfg, clock, *args, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "notice trial_notice to 4 member(s)" in out
    assert "Subject: [시험운영 안내] S-지갑" in out
    assert "시험운영 기간: 2026-12-01 ~ 2026-12-14" in out
    assert "dry run: nothing was queued" in out
    assert Outbox.select().count() == 0
    assert run(cfg, clock, *args) == 0
    assert "queued 4; 0 already" in capsys.readouterr().out
    assert run(cfg, clock, *args) == 0                     # same notice: nothing new
    assert "queued 0; 4 already" in capsys.readouterr().out
    assert run(cfg, clock, "outbox", "send") == 0
    mails = sent_mails(cfg)
    assert len(mails) == 4
    daniel = next(m for m in mails if m["To"].addresses[0].display_name == "Daniel Park")
    assert daniel["Subject"] == "[Trial operation] S-지갑"
    assert "Trial period: 2026-12-01 ~ 2026-12-14" in bodies(daniel)[0]
    assert daniel["Auto-Submitted"] == "auto-generated"


def test_notice_to_a_category_and_clear_errors(env, clock, capsys):
    cfg, members = env
    base = ["notice", "send", "--template", "meeting_notice",
            "--var", "meeting_date=2026년 11월 27일(금) 19:00"]
    assert run(cfg, clock, *base, "--var", "place=시청", "--to", "대학생", "business") == 0
    rows = list(Outbox.select())
    assert {r.to_addr for r in rows} == {"kim.minji@example.net", "junho.choi@example.co.kr"}
    capsys.readouterr()
    assert run(cfg, clock, *base, "--to", "all") == 2
    assert "place" in capsys.readouterr().err
    assert run(cfg, clock, *base, "--var", "place=시청", "--to", "nobody@example.com") == 2
    assert "not 'all', a category" in capsys.readouterr().err
    assert run(cfg, clock, "notice", "send", "--template", "ack", "--to", "all") == 2
    assert "notices are trial_notice, meeting_notice" in capsys.readouterr().err
    assert run(cfg, clock, *base, "--var", "bad name=x") == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_notice_send_help_lists_each_templates_values(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["notice", "send", "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())      # argparse wraps long lines
    assert "repeat --var for each value" in out
    assert "trial_notice: needs service_name, period; optional: details" in out
    assert "meeting_notice: needs meeting_date, place; optional: agenda, reply_by" in out
