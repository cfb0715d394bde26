"""One vocabulary of subject tags and reply prefixes, read alike by every stage."""
from __future__ import annotations

import pytest

from mailworker.ingest.classify import classify
from mailworker.ingest.parse import parse_message
from mailworker.outbound.templates import untagged
from mailworker.vocabulary import subject_tags, tag_kind, without_reply_prefix


@pytest.mark.parametrize("text, kind", [("품평", "review"), ("기능 개선", "review"),
                                        ("REVIEW", "review"), ("정책제안", "proposal"),
                                        ("해촉", "resignation"), ("안내", None)])
def test_tag_kinds(text, kind):
    assert tag_kind(text) == kind


def test_tags_in_a_subject_in_order_once_each():
    assert subject_tags("【제안】 [기능 개선] (제안) 지갑") == [("제안", "proposal"),
                                                          ("기능 개선", "review")]


@pytest.mark.parametrize("subject", ["Re: 지갑", "RE：지갑", "회신: 전달: 지갑", "Re[2]: 지갑",
                                     "FW: Re: 지갑"])
def test_reply_prefixes(subject):
    assert without_reply_prefix(subject) == "지갑"


@pytest.mark.parametrize("subject, quoted", [
    ("RE: [품평] 지갑 오류", "지갑 오류"), ("[기능 개선] 로그인", "로그인"),
    ("회신: [review] [proposal] app", "app"), ("[안내] 정례회의", "[안내] 정례회의"),
    ("[품평]", "[품평]"), ("지갑 [품평]", "지갑 [품평]")])
def test_a_reply_quotes_the_subject_without_the_members_tag(subject, quoted):
    assert untagged(subject) == quoted


def test_ingest_reads_the_same_tags_as_outbound_strips():
    raw = ("From: kim.minji@example.net\r\nSubject: 회신: [기능 개선] 지갑 앱\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n"
           "지갑 앱에서 송금 버튼을 누르면 화면이 멈춥니다. 두 번 재현했습니다.\r\n").encode()
    mail = parse_message(raw)
    assert untagged(mail.subject) == "지갑 앱"
    assert classify(mail).kind == "review"
