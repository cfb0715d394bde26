"""CPython's own email test corpus: every message parses and gets a kind, nothing raises."""
from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from mailworker.ingest.classify import classify
from mailworker.ingest.parse import parse_message
from mailworker.models import KINDS
from tests.conftest import skip_unless

CORPUS = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"


def test_cpython_email_corpus_parses_and_classifies():
    files = sorted(CORPUS.glob("msg_*.txt")) if CORPUS.is_dir() else []
    skip_unless(bool(files), f"CPython's email test corpus is not installed at {CORPUS} "
                             "(Debian ships it in libpython3-testsuite; pyenv builds include it)")
    kinds = {}
    for path in files:
        mail = parse_message(path.read_bytes())
        verdict = classify(mail)
        assert verdict.kind in KINDS, path.name
        assert verdict.reason, path.name
        assert len(mail.sha256) == 64
        kinds[verdict.kind] = kinds.get(verdict.kind, 0) + 1
    assert sum(kinds.values()) == len(files) >= 40


@pytest.mark.parametrize("name, expected", [
    ("msg_16.txt", "bounce"),        # a multipart/report delivery status notification
])
def test_known_corpus_messages(name, expected):
    path = CORPUS / name
    skip_unless(path.exists(), f"{path} is not installed")
    assert classify(parse_message(path.read_bytes())).kind == expected
