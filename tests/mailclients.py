"""Mail as clients write it when a staff member clicks a digest's ``mailto:`` link.

A client percent-decodes the link's subject and body (RFC 6068), lets the user type, and
sends: Outlook in ks_c_5601-1987 with its own headers (Thread-Index, ...) and the
subject split into several encoded words, Gmail in UTF-8 (here with the digest quoted
below, as when the link's mail is a reply), Naver as HTML only.
"""
from __future__ import annotations

import base64
import itertools
import quopri
import re
from html import escape
from urllib.parse import unquote, urlsplit

_n = itertools.count(1)
DATE = "Wed, 25 Nov 2026 10:30:00 +0900"


def mailto_fields(href: str) -> tuple[str, str, str]:
    """(to, subject, body) of a mailto: URL, decoded as RFC 6068 says ('+' is a plus)."""
    parts = urlsplit(href)
    assert parts.scheme == "mailto", href
    fields = {}
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        fields[name.lower()] = unquote(value, encoding="utf-8", errors="strict")
    return unquote(parts.path), fields.get("subject", ""), fields.get("body", "")


def typed(body: str, reason: str) -> str:
    """The prepared body with the reason typed after the label on its first line."""
    first, _, rest = body.replace("\r\n", "\n").partition("\n")
    return f"{first.rstrip()} {reason}\n{rest}" if reason else body.replace("\r\n", "\n")


def _encoded_words(text: str, charset: str, chars_per_word: int) -> str:
    """RFC 2047 B-words of a few characters each, folded: an ASCII token is split
    across words (whole characters per word, as Outlook does)."""
    codec = "cp949" if charset.lower().startswith("ks_c") else charset
    words = []
    for i in range(0, len(text), chars_per_word):
        chunk = text[i:i + chars_per_word].encode(codec)
        words.append(f"=?{charset}?B?{base64.b64encode(chunk).decode()}?=")
    return "\r\n ".join(words)


def _auth(auth: str | None) -> str:
    return f"Authentication-Results: {auth}\r\n" if auth else ""


def outlook(sender: str, to: str, subject: str, body: str, auth: str | None,
            name: str = "박사무관") -> bytes:
    n = next(_n)
    plain = base64.encodebytes(body.replace("\n", "\r\n").encode("cp949")).decode()
    html_body = "".join(f"<p class=\"MsoNormal\">{escape(line) or '&nbsp;'}<o:p></o:p></p>\r\n"
                        for line in body.split("\n"))
    html = quopri.encodestring(
        f"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; "
        f"charset=ks_c_5601-1987\"></head><body lang=\"KO\"><div class=\"WordSection1\">"
        f"{html_body}</div></body></html>".encode("cp949")).decode()
    boundary = f"_000_SL2P216MB{n:04d}KORP216PRODOUTLOOKCOM_"
    return (
        f"From: =?ks_c_5601-1987?B?{base64.b64encode(name.encode('cp949')).decode()}?= "
        f"<{sender}>\r\nTo: \"{to}\" <{to}>\r\n"
        f"Subject: {_encoded_words(subject, 'ks_c_5601-1987', 9)}\r\n"
        f"Thread-Topic: {_encoded_words(subject, 'ks_c_5601-1987', 9)}\r\n"
        f"Thread-Index: AQHbQ2x7c3Rhe{n:03d}ZmZpY2VBQUE=\r\n"
        f"Date: {DATE}\r\n"
        f"Message-ID: <SL2P216MB{n:04d}A1B2C3D4E5@SL2P216MB{n:04d}.KORP216.PROD.OUTLOOK.COM>\r\n"
        f"Accept-Language: ko-KR, en-US\r\nContent-Language: ko-KR\r\n"
        f"X-MS-Has-Attach:\r\nX-MS-TNEF-Correlator:\r\n{_auth(auth)}"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; charset=\"ks_c_5601-1987\"\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{plain}\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=\"ks_c_5601-1987\"\r\n"
        f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{html}\r\n"
        f"--{boundary}--\r\n").encode("ascii")


def gmail(sender: str, to: str, subject: str, body: str, auth: str | None,
          quoted: str = "", name: str = "김주무관") -> bytes:
    """Gmail's shape; ``quoted`` (e.g. the digest's text) goes below an attribution line."""
    n = next(_n)
    text = body.replace("\n", "\r\n")
    if quoted:
        text += ("\r\n2026년 11월 25일 (수) 오전 9:00, 서울 블록체인 거버넌스 사무국 "
                 "<governance@seoul.example>님이 작성:\r\n\r\n"
                 + "".join(f"> {line}\r\n" for line in quoted.splitlines()))
    html = ("<div dir=\"ltr\">" + "<br>".join(escape(x) for x in body.split("\n")) + "</div>"
            + (f"<br><div class=\"gmail_quote\"><blockquote class=\"gmail_quote\">"
               f"{escape(quoted)}</blockquote></div>" if quoted else ""))
    boundary = f"0000000000009a3f1c0627{n:04d}"
    b64 = lambda s: base64.encodebytes(s.encode("utf-8")).decode()  # noqa: E731
    return (
        f"MIME-Version: 1.0\r\n{_auth(auth)}"
        f"From: =?UTF-8?B?{base64.b64encode(name.encode()).decode()}?= <{sender}>\r\n"
        f"Date: {DATE}\r\n"
        f"Message-ID: <CAGmail{n:04d}+x=Yq@mail.gmail.com>\r\n"
        f"Subject: =?UTF-8?B?{base64.b64encode(subject.encode()).decode()}?=\r\n"
        f"To: {to}\r\n"
        f"Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{b64(text)}\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{b64(html)}\r\n"
        f"--{boundary}--\r\n").encode("ascii")


def naver(sender: str, to: str, subject: str, body: str, auth: str | None,
          name: str = "이주무관") -> bytes:
    """Naver mail: an HTML-only body, one <div> per line."""
    n = next(_n)
    html = ("<div style=\"font-family:'나눔고딕',NanumGothic;font-size:10pt;\">"
            + "".join(f"<div>{escape(line) or '<br>'}</div>" for line in body.split("\n"))
            + "</div>")
    return (
        f"{_auth(auth)}From: =?UTF-8?B?{base64.b64encode(name.encode()).decode()}?= "
        f"<{sender}>\r\nTo: <{to}>\r\n"
        f"Subject: {_encoded_words(subject, 'UTF-8', 20)}\r\n"
        f"Date: {DATE}\r\nMessage-ID: <{n}.naver.{n * 7919}@cweb{n:03d}.nm.nfra.io>\r\n"
        f"X-Mailer: NAVER Mail\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.encodebytes(html.encode('utf-8')).decode()}\r\n").encode("ascii")


def edit_token(subject: str, body: str) -> tuple[str, str]:
    """The same link with the item number changed by hand (the signature no longer fits)."""
    def bump(m):
        n, digits = int(m.group(2), 36) + 1, ""
        while n:
            n, r = divmod(n, 36)
            digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[r] + digits
        return f"{m.group(1)}{digits}{m.group(3)}"
    pattern = re.compile(r"(MW1-[A-Z]{2}-)([0-9A-Z]+)(-)")
    return pattern.sub(bump, subject), pattern.sub(bump, body)
