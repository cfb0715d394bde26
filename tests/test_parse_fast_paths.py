"""The parser's shortcuts give exactly what the general way gives.

Parsing, classification and the body fingerprint take shortcuts for the common case (base64
encoded words, bodies without quotes, repeated lines, plain whitespace). Each shortcut is
checked here against the general way (or a plain restatement of the rule) on every mail the
tests know: the sample files, the demo mails, mails built like the benchmarks build them,
and CPython's own email corpus when it is installed.
"""
from __future__ import annotations

import hashlib
import re
import sysconfig
import unicodedata
from pathlib import Path

import pytest

from mailworker.demo_data import demo_messages
from mailworker.ingest import bodytext, classify, mime
from mailworker.ingest.parse import casefolded, parse_message, squash_spaces
from tests import mailfactory

MAIL = Path(__file__).parent / "data" / "mail"
CORPUS = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"


def _mails() -> list[bytes]:
    mails = [p.read_bytes() for p in sorted(MAIL.glob("*.eml"))]
    mails += [raw for _, raw in demo_messages()]
    mails += [mailfactory.unique_review(i, size=size) for i, size in enumerate((0, 1024, 2048))]
    mails += [mailfactory.make_mail(body=body, subject=subject, charset=charset)
              for body, subject, charset in [
                  (mailfactory.PROPOSAL_KO, "Re: [제안] 봉사시간 기록", "utf-8"),
                  (mailfactory.REVIEW_EN, "App crashes -- again", "utf-8"),
                  (mailfactory.REVIEW_KO + "\n\n감사합니다.\n김민지 드림", "앱 오류", "euc-kr")]]
    mails += [p.read_bytes() for p in sorted(CORPUS.glob("msg_*.txt"))] if CORPUS.is_dir() else []
    # Each mail also with the other line ending.
    return mails + [raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for raw in mails]


MAILS = _mails()
PARSED = [parse_message(raw) for raw in MAILS]
TEXTS = sorted({t for m in PARSED for t in (m.text, m.new_text, m.quoted_text) if t} | {
    "", "\n", "a\n\n\nb", "a\n-- \nKim", "본문\n\n감사합니다.\n김민준 드림", "x:\n> y",
    "line -\nnext", "From: a\nSent: b\nTo: c", "테스트 번호 1: 화면", "a\tb\xa0c\u3000d  e\n\nf ",
    "ZWJ\u200dJOINER", "Ab  cD\r\nEF", " leading and trailing ",
} | {"버그 재현 로그 " * 8 + "\n" + ("버그 재현 로그 " * 8 + "\n") * 5 + "끝"})


def test_the_sample_set_is_large_enough():
    assert len(MAILS) >= 80 and len(TEXTS) >= 50


# --- encoded words ----------------------------------------------------------------------

def _encoded_values() -> list[str]:
    values = set()
    for raw in MAILS:
        for _, value in mime.split_header_block(raw).fields:
            value = mime.header_text(value)
            if "=?" in value:
                values.add(value)
    word = "=?utf-8?b?7JWxIOyYpOulmA==?="
    values |= {word, f"Re: {word}", f"{word} 7", f"{word}\t=?UTF-8?B?IOyLoOqzoA==?=",
               f"{word}=?utf-8?b?7JWx?=", "=?ks_c_5601-1987?B?wfW47Q==?= =?euc-kr?b?wfW47Q==?=",
               "=?utf-8?b?7JWxIOyYpOulmA?=", "=?utf-8?b?7J?=", "=?utf-8?b?gA==?=",
               f"{word} =?cp949?B?wfW47Q==?=", "=?x-unknown?b?YWJj?=", "=?utf-8?b?YQ==?= (a=b)"}
    return sorted(values)


@pytest.mark.parametrize("value", _encoded_values())
def test_base64_words_decode_as_mail_parser_would(value):
    general = (mime._decode_words_with_mailparser(value), mime.unknown_word_charsets(value))
    fast = mime._decode_b_words(value)
    if fast is not None:
        assert fast == general
    assert (mime.decode_words(value), mime.decode_header_value(value)) == (general[0], general)


def test_the_usual_subjects_take_the_shortcut():
    assert mime._decode_b_words("=?utf-8?b?7JWxIOyYpOulmCDsi6Dqs6A=?= 7") == ("앱 오류 신고 7", ())
    assert mime._decode_b_words("Re: =?UTF-8?B?6rmA66+8?= =?UTF-8?B?7KeA?=") == ("Re: 김민지", ())
    assert mime._decode_b_words("=?x-unknown?b?YWJj?=") == ("abc", ("x-unknown",))


def test_cached_content_type_parameters_are_copies():
    first = mime.parse_params('text/plain; charset="utf-8"')
    first[1]["charset"] = "changed"
    assert mime.parse_params('text/plain; charset="utf-8"') == ("text/plain", {"charset": "utf-8"})


# --- header block ----------------------------------------------------------------------

def test_header_fields_do_not_depend_on_line_ends():
    for raw in MAILS:
        lf = raw.replace(b"\r\n", b"\n")
        if b"\r" in lf:
            continue
        crlf = mime.split_header_block(lf.replace(b"\n", b"\r\n"))
        plain = mime.split_header_block(lf)
        assert crlf.fields == plain.fields and crlf.defects == plain.defects


# --- quotes and signatures ------------------------------------------------------------

@pytest.mark.parametrize("text", TEXTS)
def test_quote_and_signature_shortcuts(text):
    lines = text.split("\n")
    if not bodytext._may_have_quote(text):
        assert bodytext._find_quotes(lines) == ([False] * len(lines), len(lines))
    if "--" not in text:
        idx = range(len(lines))
        assert (bodytext._signature_start(lines, idx, dashes=False)
                == bodytext._signature_start(lines, idx, dashes=True))


# --- word lists --------------------------------------------------------------------------

def _plain_words(lexicon: classify.Lexicon, text: str) -> list[str]:
    """The rule, restated: leftmost-longest words, ASCII ones only as whole words; the
    other words first, each in the order of its first occurrence."""
    longest_first = sorted(lexicon.weights, key=len, reverse=True)
    ascii_words = [w for w in longest_first if w[0].isascii() and w[0].isalnum()]
    other_words = [w for w in longest_first if w not in ascii_words]
    found = list(dict.fromkeys(re.findall("|".join(map(re.escape, other_words)), text)))
    for m in re.finditer("|".join(map(re.escape, ascii_words)), text):
        start, end = m.span()
        alone = not ((start and text[start - 1].isalnum())
                     or (end < len(text) and text[end].isalnum()))
        if alone and m.group() not in found:
            found.append(m.group())
    return found


@pytest.mark.parametrize("text", TEXTS)
def test_word_scan_reads_each_distinct_line_once_and_finds_the_same(text):
    folded = text.casefold()
    for lexicon in (classify._LEXICON, classify._AUTO_SUBJECT):
        words = _plain_words(lexicon, folded)
        by_list: dict[str, list[str]] = {}
        for word in words:
            for name in lexicon.weights[word]:
                by_list.setdefault(name, []).append(word)
        assert lexicon.scan(folded) == by_list
        assert lexicon.first(folded) == (words[0] if words else None)


def test_words_must_stay_on_one_line():
    with pytest.raises(ValueError, match="spans lines"):
        classify.Lexicon({"review": {"두 줄\n단어": 1}})


# --- fingerprint ---------------------------------------------------------------------

@pytest.mark.parametrize("text", TEXTS)
def test_fingerprint_is_the_plain_rule(text):
    from mailworker.ingest.fingerprint import normal_form, text_print
    assert squash_spaces(text) == " ".join(text.split())
    plain = " ".join("".join(
        "" if unicodedata.category(c) == "Cf" else
        " " if unicodedata.category(c)[0] in "PZC" or c.isspace() else c
        for c in unicodedata.normalize("NFKC", text).casefold()).split())
    assert normal_form(text) == plain
    tp = text_print(text)
    if plain:
        assert tp.sha == hashlib.sha256(plain.encode("utf-8")).hexdigest()
        assert tp.chars == sum(c.isalnum() for c in plain)
    else:
        assert tp is None


def test_casefold_memory_is_never_stale():
    first, second = "ÄBC 가", "".join(["ÄB", "C 가"])      # equal, but two objects
    assert casefolded(first) == casefolded(second) == "äbc 가"
    assert casefolded("XY") == "xy" and casefolded(first) == "äbc 가"


def test_a_charset_label_with_a_nul_byte_is_an_unknown_charset_not_a_crash():
    from mailworker.ingest.analysis import analyze
    from mailworker.ingest.mime import python_codec
    assert python_codec("utf-8\x00x") is None
    raw = (b"From: a@example.org\r\nSubject: x\r\nContent-Type: text/plain; charset=\"utf-8\x00x\"\r\n"
           b"\r\nhello there, this is a review of the wallet app\r\n")
    a = analyze(raw, "")
    assert a.error is None and "parser failed" not in a.kind_reason
