"""The fast IMAP path (imapclient's private names) and the public one agree, on Dovecot."""
from __future__ import annotations

import sqlite3

import pytest

from mailworker.db import open_from_config
from mailworker.ingest import imap_wire
from mailworker.ingest.imap_source import ImapSource, from_config
from mailworker.ingest.pipeline import Ingestor
from tests.mailfactory import PROPOSAL_KO, REVIEW_EN, make_mail, unique_review
from tests.roster import load_roster

KEY = b"k" * 32


def _source(cfg, fast: bool) -> ImapSource:
    base = from_config(cfg)
    return ImapSource(base.host, base.port, base.security, base.username, base._password,
                      base.mailbox, base.folders, use_idle=False, fast_wire=fast)


def test_both_paths_list_and_fetch_the_same(dovecot, make_config, tmp_path):
    cfg = make_config({"inbox": dovecot.inbox_config()})
    dovecot.append([unique_review(i) for i in range(12)]
                   + [make_mail(subject="제안", body=PROPOSAL_KO), make_mail(body=REVIEW_EN)])
    with dovecot.client() as other:
        other.select_folder("INBOX")
        other.add_flags([5], [b"\\Deleted"])          # marked by another client
    answers = {}
    for fast in (True, False):
        source = _source(cfg, fast)
        source.open()
        try:
            assert source.wire.fast is fast
            keys = list(source.waiting())
            bodies = {f.key: f.data for f in source.fetch(keys, 10_000_000, {})}
            answers[fast] = (keys, bodies)
        finally:
            source.close()
    assert answers[True] == answers[False]
    keys, bodies = answers[True]
    assert "5" not in keys and len(keys) == 13
    assert all(b.startswith(b"From:") or b"\nFrom:" in b for b in bodies.values())


@pytest.mark.parametrize("fast", [True, False])
def test_a_whole_pass_files_every_message_on_either_path(dovecot, make_config, clock, tmp_path,
                                                         fast):
    cfg = make_config({"inbox": dovecot.inbox_config(),
                       "general": {"state_dir": str(tmp_path / "state")},
                       "ledger": {"directory": str(tmp_path / "ledger")},
                       "ingest": {"daily_credit_cap": 100}})
    open_from_config(cfg, clock)
    load_roster(clock)
    dovecot.append([unique_review(i) for i in range(20)])
    source = _source(cfg, fast)
    source.open()
    try:
        result = Ingestor(cfg, clock, source, KEY).run_pass()
        assert source.waiting() == []                 # everything filed
    finally:
        source.close()
    assert result.seen == 20
    db = sqlite3.connect(str(cfg.base_dir / "var" / "mailworker.db"))   # the default url
    assert db.execute("SELECT COUNT(*) FROM hour_credit").fetchone()[0] == 20


def test_an_untested_imapclient_takes_the_public_path(dovecot, make_config, monkeypatch):
    cfg = make_config({"inbox": dovecot.inbox_config()})
    monkeypatch.setattr(imap_wire.imapclient, "__version__", "99.0.0")
    source = from_config(cfg)
    source.open()
    try:
        assert source.wire.fast is False
        assert imap_wire.fast_path_usable(source.client) is False
        with pytest.raises(ValueError, match="private names"):
            imap_wire.ImapWire(source.client, fast=True)
    finally:
        source.close()


def test_a_client_without_the_private_names_takes_the_public_path(dovecot, make_config):
    cfg = make_config({"inbox": dovecot.inbox_config()})
    source = from_config(cfg)
    source.open()
    try:
        assert imap_wire.fast_path_usable(source.client)

        class Bare:                                    # what a future imapclient may offer
            _imap = object()
        assert imap_wire.fast_path_usable(Bare()) is False
    finally:
        source.close()
