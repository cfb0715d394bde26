"""Templates and MIME composition: Korean must come out right."""
from __future__ import annotations

import datetime as dt

import pytest

from mailworker.outbound.compose import Deferred, prepare
from mailworker.outbound.templates import (LANGUAGES, NOTICE_TEMPLATES, NOTICE_VARIABLES,
                                           TEMPLATE_NAMES, Renderer, TemplateError,
                                           templates_dir)
from mailworker.outbox import enqueue
from tests.outbound_support import ACK_CONTEXT, add_members, bodies, outbound_config, parse

# A complete context for every template, as the stages give them.
SAMPLES = {
    "ack": {**ACK_CONTEXT, "receipt_attached": False},
    "no_credit": {"display_name": "김민지", "kind": "proposal", "subject": "제안: 공유 킥보드",
                  "reason_text": "같은 내용을 두 번 보내셨습니다",
                  "received_local": "2026-11-25 10:03", "in_reply_to": None},
    "triage_notice": {"display_name": "김민지", "subject": "안녕하세요",
                      "received_local": "2026-11-25 10:03", "in_reply_to": "x@y"},
    "non_member_reply": {"subject": "문의", "received_local": "2026-11-25 10:03",
                         "in_reply_to": None},
    "resignation_ack": {"display_name": "김민지", "received_local": "2026-11-25 10:03",
                        "in_reply_to": None},
    "rsvp_ack": {"display_name": "김민지", "answer": "attend",
                 "received_local": "2026-11-25 10:03", "in_reply_to": None},
    "too_large": {"display_name": "김민지", "subject": "시연 영상 <품평>",
                  "received_local": "2026-11-25 10:03", "in_reply_to": "big@mail.example.net",
                  "size_mb": 31.4, "limit_mb": 25},
    "trial_notice": {"display_name": "김민지", "service_name": "S-지갑",
                     "period": "2026-12-01 ~ 2026-12-14"},
    "meeting_notice": {"display_name": "김민지", "meeting_date": "2026년 11월 27일(금) 19:00",
                       "place": "서울시청 3층 회의실"},
    "package": {"display_name": "김민지", "version": "1.2.0", "package_name": "app-1.2.0.zip",
                "installer_name": "app.exe", "installer_sha256": "cd" * 32,
                "package_sha256": "ef" * 32, "size_text": "48.1 MB",
                "password_delivery": "mail", "member_fingerprint": "12" * 32},
    "package_password": {"display_name": "김민지", "version": "1.2.0",
                         "package_name": "app-1.2.0.zip", "password": "ABCD-EFGH-JKMN-PQRS"},
    "question_received": {"display_name": "김민지", "subject": "회의 장소",
                          "received_local": "2026-11-25 10:03", "in_reply_to": None},
    "hours_statement": {"display_name": "김민지", "subject": "내 봉사시간",
                        "received_local": "2026-11-25 10:03", "in_reply_to": None,
                        "rows": [{"date": "2026-11-24", "kind": "review", "subject": "앱 오류",
                                  "hours": 1, "receipt": "ab" * 6}], "rows_omitted": 0,
                        "half_year_hours": 1, "total_hours": 4, "total_count": 4,
                        "half_year_start": "2026-07-01"},
    "receipts_again": {"display_name": "김민지", "subject": "영수증",
                       "received_local": "2026-11-25 10:03", "in_reply_to": None,
                       "receipts_attached": 2, "receipts_pending": 1},
    "help": {"display_name": "김민지", "subject": "도움말", "received_local": "2026-11-25 10:03",
             "in_reply_to": None},
    "triage_reply": {"display_name": "김민지", "subject": "의견", "kind": "triage",
                     "staff_reason": "앱과 관계없는 내용입니다", "received_local": "2026-11-25 10:03",
                     "in_reply_to": None},
}


@pytest.fixture
def ocfg(make_config, tmp_path):
    return outbound_config(make_config, tmp_path)


def test_every_template_exists_in_every_language_with_all_blocks(ocfg):
    renderer = Renderer(ocfg)
    for lang in LANGUAGES:
        for name in TEMPLATE_NAMES:
            path = templates_dir(ocfg) / lang / f"{name}.j2"
            assert path.is_file(), path
            if name in SAMPLES:
                rendered = renderer.render(name, {**SAMPLES[name], "language": lang})
                assert rendered.subject and "\n" not in rendered.subject
                assert rendered.text.strip()
                assert rendered.html.lstrip().startswith("<!DOCTYPE html>")


def test_korean_ack_text_and_html_escape(ocfg):
    rendered = Renderer(ocfg).render("ack", SAMPLES["ack"])
    assert rendered.subject == "[품평 접수 완료] S-지갑 앱 로그인 오류 <긴급>"
    assert "김민지 님, 안녕하세요." in rendered.text
    assert "2026년 하반기 누적 봉사시간: 3시간" in rendered.text
    assert "S-지갑 앱 로그인 오류 <긴급>" in rendered.text          # text is not escaped
    assert "S-지갑 앱 로그인 오류 &lt;긴급&gt;" in rendered.html    # HTML is
    assert "<긴급>" not in rendered.html
    assert "mailworker ledger receipt " + "ab" * 32 in rendered.text


def test_english_variant(ocfg):
    rendered = Renderer(ocfg).render("ack", {**SAMPLES["ack"], "language": "en",
                                             "display_name": "Daniel Park",
                                             "half_year": "2026 H2"})
    assert rendered.subject.startswith("[Review received]")
    assert "Dear Daniel Park," in rendered.text
    assert "Your total for 2026 H2: 3 hours" in rendered.text


def test_too_large_reply_in_korean_and_english(ocfg):
    renderer = Renderer(ocfg)
    ko = renderer.render("too_large", SAMPLES["too_large"])
    assert ko.subject == "[용량 초과] 시연 영상 <품평>"
    assert "김민지 님, 안녕하세요." in ko.text
    assert "메일 크기: 31.4 MB (한도 25 MB)" in ko.text
    assert "25 MB보다 작게" in ko.text and "공유 링크" in ko.text
    assert "시연 영상 &lt;품평&gt;" in ko.html and "<품평>" not in ko.html
    assert "31.4 MB (한도 25 MB)" in ko.html
    en = renderer.render("too_large", {**SAMPLES["too_large"], "language": "en",
                                       "display_name": "Daniel Park"})
    assert en.subject == "[Too large] 시연 영상 <품평>"
    assert "Dear Daniel Park," in en.text
    assert "Size: 31.4 MB (limit 25 MB)" in en.text
    assert "under 25 MB" in en.text and "sharing link" in en.text
    context = dict(SAMPLES["too_large"])
    del context["limit_mb"]
    with pytest.raises(TemplateError, match="limit_mb"):
        renderer.render("too_large", context)


def test_too_large_reply_is_an_auto_reply_to_the_members_mail(ocfg, database, clock):
    members = add_members(clock)
    row = enqueue("toolarge:" + "cd" * 32, "too_large", "kim.minji@example.net",
                  {**SAMPLES["too_large"], "language": "ko"}, clock,
                  member=members["kim.minji@example.net"], domain="seoul.example")
    prepared = prepare(ocfg, row, clock.now(), Renderer(ocfg))
    msg = parse(prepared.data)
    assert msg["Subject"] == "[용량 초과] 시연 영상 <품평>"
    assert msg["In-Reply-To"] == "<big@mail.example.net>"
    assert msg["Auto-Submitted"] == "auto-replied"
    text, _ = bodies(msg)
    assert "메일 크기: 31.4 MB (한도 25 MB)" in text


def test_notice_variables_match_the_templates(ocfg):
    # NOTICE_VARIABLES (shown by `notice send --help`) names what the templates use: the
    # required values render the notice, and none of them can be left out.
    import jinja2.meta
    renderer = Renderer(ocfg)
    assert set(NOTICE_VARIABLES) == set(NOTICE_TEMPLATES)
    for name, (required, optional) in NOTICE_VARIABLES.items():
        for lang in LANGUAGES:
            source = (templates_dir(ocfg) / lang / f"{name}.j2").read_text(encoding="utf-8")
            used = jinja2.meta.find_undeclared_variables(renderer.text_env.parse(source))
            given = {"display_name", "group_name", "from_name", "from_address", "L"}
            assert used - given == set(required) | set(optional), (name, lang)
            values = {v: f"<{v}>" for v in required}
            rendered = renderer.render(name, {**values, "display_name": "김민지",
                                              "language": lang})
            assert all(f"<{v}>" in rendered.text for v in required)
            for missing in required:
                partial = {k: v for k, v in values.items() if k != missing}
                with pytest.raises(TemplateError, match=missing):
                    renderer.render(name, {**partial, "display_name": "김민지",
                                           "language": lang})


def test_missing_value_is_an_error_not_a_blank(ocfg):
    context = dict(SAMPLES["ack"])
    del context["total_hours"]
    with pytest.raises(TemplateError, match="total_hours"):
        Renderer(ocfg).render("ack", context)


def test_missing_templates_folder_is_a_clear_error(make_config, tmp_path):
    cfg = outbound_config(make_config, tmp_path, {"templates_dir": "nowhere"})
    with pytest.raises(TemplateError, match="templates_dir"):
        Renderer(cfg)


def test_composed_mail_headers_and_korean_decoding(ocfg, database, clock):
    members = add_members(clock)
    minji = members["kim.minji@example.net"]
    row = enqueue("ack:" + "ab" * 32, "ack", "kim.minji@example.net", ACK_CONTEXT, clock,
                  member=minji, domain="seoul.example")
    prepared = prepare(ocfg, row, clock.now(), Renderer(ocfg))
    assert not isinstance(prepared, Deferred)
    raw = prepared.data
    assert raw.isascii(), "every header and part is 7-bit: Korean is encoded"
    assert b"=?utf-8?" in raw                      # RFC 2047 encoded-words for Korean
    msg = parse(raw)
    assert msg["Subject"] == "[품평 접수 완료] S-지갑 앱 로그인 오류 <긴급>"
    assert msg["To"].addresses[0].display_name == "김민지"
    assert msg["To"].addresses[0].addr_spec == "kim.minji@example.net"
    assert msg["From"].addresses[0].display_name == "서울 블록체인 거버넌스 사무국"
    assert msg["Message-ID"] == row.message_id
    assert row.message_id.endswith("@seoul.example>")
    assert msg["In-Reply-To"] == "<CAF1234@mail.example.net>"
    assert msg["References"] == "<CAF1234@mail.example.net>"
    assert msg["Auto-Submitted"] == "auto-replied"
    # Date is the injected clock's time, shown in Seoul time.
    assert msg["Date"].datetime == clock.now()
    assert msg["Date"].datetime.utcoffset() == dt.timedelta(hours=9)
    assert msg.get_content_type() == "multipart/alternative"
    text, html = bodies(msg)
    assert "김민지 님, 안녕하세요." in text
    assert "사무국이 접수 번호로 영수증을 보내 드립니다" in text
    assert "<strong>품평</strong>" in html


def test_ack_waits_for_the_ledger_receipt_first(ocfg, database, clock):
    members = add_members(clock)
    row = enqueue("ack:" + "ab" * 32, "ack", "kim.minji@example.net", ACK_CONTEXT, clock,
                  member=members["kim.minji@example.net"], domain="seoul.example",
                  attachments=[{"kind": "ledger_receipt", "msg_sha256": "ab" * 32}])
    result = prepare(ocfg, row, clock.now(), Renderer(ocfg))
    assert isinstance(result, Deferred)
    assert result.until > clock.now()
    assert "receipt" in result.why


@pytest.mark.parametrize("original, quoted", [
    ("[품평] 지갑 앱 로그인 오류", "지갑 앱 로그인 오류"),
    ("Re: [품평] 지갑 앱 로그인 오류", "지갑 앱 로그인 오류"),
    ("RE: 회신: 【정책 제안】 버스 앱", "버스 앱"),
    ("Fwd:[Proposal] (idea) bus app", "bus app"),
    ("[긴급] 지갑 오류", "[긴급] 지갑 오류"),     # not a review/proposal tag: kept
    ("품평: 지갑 오류", "품평: 지갑 오류"),
    ("[품평]", "[품평]"),                         # nothing else: the subject as sent
])
def test_reply_subjects_do_not_repeat_the_members_tag(ocfg, original, quoted):
    renderer = Renderer(ocfg)
    ack = renderer.render("ack", {**SAMPLES["ack"], "subject": original})
    assert ack.subject == f"[품평 접수 완료] {quoted}"
    assert f"제목: {original}" in ack.text            # the body quotes it as sent
    en = renderer.render("ack", {**SAMPLES["ack"], "subject": original, "language": "en"})
    assert en.subject == f"[Review received] {quoted}"
    for name in ("no_credit", "triage_notice"):
        for lang, prefix in (("ko", "[접수 확인]"), ("en", "[Received]")):
            rendered = renderer.render(name, {**SAMPLES[name], "subject": original,
                                              "language": lang})
            assert rendered.subject == f"{prefix} {quoted}"


def test_headers_written_fast_are_what_the_standard_folding_writes(ocfg, database, clock):
    """Our headers are encoded once and MIME headers are written as they are; the bytes
    must equal the email package's full refolding, and Korean must decode exactly."""
    import email.policy
    from email.header import decode_header, make_header

    from mailworker.outbound.compose import POLICY, REFERENCE_POLICY, _body, _headers, _Parts
    members = add_members(clock)
    subjects = ["[일일 요약 2026-11-25] 새 품평 2 · 제안 1 · 분류 대기 1 · 주간 누적 17건 · "
                "봉사시간 합계 14시간", "S-지갑 앱 로그인 오류 <긴급>", "a,b;c " * 20,
                "=?utf-8?q?looks_encoded?= but is not", "x" * 120, "😀 이모지 제목"]
    names = ["김민지", "Park, Daniel", 'O\'Brien "Bob"', "서울 블록체인 거버넌스 사무국 "
             "정책기획팀 담당자 홍길동", "Daniel Park"]
    files = [("receipt-ab.json", b"{}"), ("설치 파일 김민지 님 전용.zip", b"PK"),
             ("a" * 90 + ".zip", b"PK")]
    for i, subject in enumerate(subjects):
        member = members["kim.minji@example.net"]
        member.display_name = names[i % len(names)]
        to = ("kim.minji@example.net" if i % 2 else
              "staff1@seoul.example, staff2@seoul.example, a-rather-long-staff-address"
              "@seoul.example")
        row = enqueue(f"x:{i}", "ack", to, {**ACK_CONTEXT, "in_reply_to": "<a@b>"}, clock,
                      member=member if i % 2 else None, domain="seoul.example")
        parts = _Parts(context={})
        name, data = files[i % len(files)]
        parts.attachments.append((data, "application", "octet-stream", name))
        msg = _body("본문 " + subject, f"<p>{subject}</p>", parts)
        _headers(msg, ocfg, row, subject, [a.strip() for a in to.split(",")], clock.now(),
                 row.context)
        raw = msg.as_bytes(policy=POLICY)
        assert raw == msg.as_bytes(policy=REFERENCE_POLICY)
        assert raw.isascii()
        got = parse(raw)
        assert got["Subject"] == subject and not got.defects
        assert got.get_payload()[1].get_filename() == name
        addresses = got["To"].addresses
        if i % 2:
            # RFC 2047 decoding (the email package's address parser keeps the space
            # between two encoded words, which RFC 2047 says to drop).
            wire = email.message_from_bytes(raw, policy=email.policy.compat32)["To"]
            assert str(make_header(decode_header(wire.split("<")[0].strip()))) == \
                member.display_name or '"' in wire
            assert " ".join(addresses[0].display_name.split()) == member.display_name
        else:
            assert [a.addr_spec for a in addresses] == [a.strip() for a in to.split(",")]
        assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"))


def test_every_template_is_installed_with_the_package():
    """setup.cfg's data_files cover every template file, the shared macros at the top
    level (action buttons, the digest chart) included, each in its own folder under
    share/mailworker: an installed copy renders the same mails."""
    import configparser
    from pathlib import Path, PurePosixPath
    root = Path(__file__).resolve().parent.parent
    setup = configparser.ConfigParser()
    setup.read(root / "setup.cfg", encoding="utf-8")
    covered = set()
    for target, pattern in setup.items("options.data_files"):
        pattern = pattern.strip()
        if not pattern.startswith("templates/"):
            continue
        assert target == f"share/mailworker/{PurePosixPath(pattern).parent}"
        covered |= {p.relative_to(root) for p in root.glob(pattern)}
    assert covered == {p.relative_to(root) for p in (root / "templates").rglob("*.j2")}
