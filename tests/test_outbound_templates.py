"""Templates, MIME composition and the digest chart: Korean must come out right."""
from __future__ import annotations

import datetime as dt
import struct
import zlib

import pytest

from mailworker.outbound.chart import bar_chart_png
from mailworker.outbound.compose import Deferred, prepare
from mailworker.outbound.templates import (LANGUAGES, TEMPLATE_NAMES, Renderer,
                                           TemplateError, templates_dir)
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


def test_chart_png_is_a_valid_image():
    values = [0, 1, 3, 2, 5, 0, 0, 4, 6, 2, 1, 0, 3, 3, 2, 8, 1, 0, 0, 2,
              3, 4, 5, 1, 0, 2, 3, 1, 0, 7]
    png = bar_chart_png(values, [f"11/{d:02d}" for d in range(1, 31)],
                        [d % 7 in (0, 6) for d in range(30)], width=600, height=180)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind = png[pos + 4:pos + 8]
        data = png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        chunks[kind] = data
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (width, height, depth, color) == (600, 180, 8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (1 + width * 3)
    # Read the bars back: contiguous columns of bar colour, their heights in proportion.
    stride = 1 + width * 3
    bar_colours = {(51, 102, 204), (120, 150, 215)}
    column_heights = []
    for x in range(width):
        column_heights.append(sum(
            1 for y in range(height)
            if tuple(raw[y * stride + 1 + x * 3:y * stride + 4 + x * 3]) in bar_colours))
    bars, previous = [], 0
    for h in column_heights:
        if h and not previous:
            bars.append(h)
        previous = h
    nonzero = [v for v in values if v]
    assert len(bars) == len(nonzero)
    tallest = max(bars)
    for v, h in zip(nonzero, bars):
        assert abs(h - tallest * v / max(values)) <= 1
    with pytest.raises(ValueError):
        bar_chart_png([])
