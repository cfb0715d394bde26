"""Hostile mail for fuzzing the ingest path: ordinary mails, mutated by a seeded generator.

Each case starts from a real-looking mail (a member's review, a stranger's mail, a mail
of the test corpus) and gets one to three mutations of the kinds attackers and broken
mailers produce: spoofed or doubled senders, control characters and line breaks in
header values, non-text codec names as charsets, UTF-7 with lone surrogates, huge runs
of encoded words, forged Authentication-Results, bodies of zero-width characters or
emoji, broken MIME, and plain byte damage. The same seed gives the same mails.
"""
from __future__ import annotations

import base64
import random
from pathlib import Path

from tests.mailfactory import PROPOSAL_KO, REVIEW_EN, REVIEW_KO, make_mail
from tests.roster import MEMBERS

CORPUS = Path(__file__).parent / "data" / "mail"
MEMBER_ADDRESSES = [email for _, email, _, _ in MEMBERS]
NON_TEXT_CODECS = ["base64", "zlib", "hex", "rot13", "uu", "bz2", "punycode", "idna",
                   "quopri", "unicode_escape", "undefined", "x-unknown", "utf-7"]
CONTROLS = ["\x00", "\x01", "\x07", "\x1b", "\x1c", "\x7f", "\x85", "\u2028", "\r", "\n",
            "\r\n", "\t"]
OURS = "mx.seoul.example.org"


def _header_block_end(raw: bytes) -> int:
    i = raw.find(b"\n\n")
    j = raw.find(b"\r\n\r\n")
    candidates = [x for x in (i, j) if x >= 0]
    return min(candidates) if candidates else len(raw)


def add_headers(raw: bytes, *lines: str | bytes) -> bytes:
    """Put header lines at the top of a mail (as a receiving server would)."""
    head = b"".join((line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass"))
                    + b"\r\n" for line in lines)
    return head + raw


def replace_header(raw: bytes, name: str, value: str | bytes) -> bytes:
    """Replace the first header ``name`` (or add it) with a raw value."""
    data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    end = _header_block_end(raw)
    head, rest = raw[:end], raw[end:]
    lines = head.split(b"\n")
    key = name.lower().encode() + b":"
    for n, line in enumerate(lines):
        if line.lower().startswith(key):
            lines[n] = name.encode() + b": " + data + (b"\r" if line.endswith(b"\r") else b"")
            # drop its folded continuation lines
            k = n + 1
            while k < len(lines) and lines[k][:1] in (b" ", b"\t"):
                del lines[k]
            return b"\n".join(lines) + rest
    return name.encode() + b": " + data + b"\r\n" + raw


def _ctl(rng: random.Random) -> str:
    return "".join(rng.choice(CONTROLS) for _ in range(rng.randint(1, 3)))


def _encoded_words(rng: random.Random, count: int) -> str:
    word = base64.b64encode("한국 ".encode()).decode()
    charset = rng.choice(["utf-8", "ks_c_5601-1987", "utf-8", rng.choice(NON_TEXT_CODECS)])
    return " ".join(f"=?{charset}?b?{word}?=" if i % 3 else f"=?{charset}?q?a_b=0D=0A?="
                    for i in range(count))


# -- mutations: each takes (rng, raw, limits) and returns new bytes ---------------------------
def m_spoofed_from(rng, raw, limits):
    member = rng.choice(MEMBER_ADDRESSES)
    value = rng.choice([
        f"{member} <attacker@evil.example>",
        f'"{member}" <attacker@evil.example>',
        f"{member}, attacker@evil.example",
        f"attacker@evil.example, {member}",
        f"group: {member}, attacker@evil.example;",
        f"<{member}> <attacker@evil.example>",
        f'"unclosed <{member}>',
        f"attacker@evil.example ({member})",
        "",
        "@",
        "<>",
    ])
    raw = replace_header(raw, "From", value)
    if rng.random() < 0.3:
        raw = add_headers(raw, "From: attacker@evil.example")
    return raw


def m_second_from(rng, raw, limits):
    return raw.replace(b"\r\n\r\n", b"\r\nFrom: attacker@evil.example\r\n\r\n", 1)


def m_controls_in_headers(rng, raw, limits):
    name = rng.choice(["Message-ID", "Subject", "References", "In-Reply-To", "From"])
    if name == "From":
        value = f"Kim{_ctl(rng)}Injected: x <{rng.choice(MEMBER_ADDRESSES)}>"
    elif name == "Subject" and rng.random() < 0.5:
        value = "=?utf-8?q?hello=0D=0ABcc:_victim@example.org=00?="
    else:
        value = f"<poison{_ctl(rng)}id@evil.example>"
    return replace_header(raw, name, value)


def m_non_text_charset(rng, raw, limits):
    codec = rng.choice(NON_TEXT_CODECS)
    if rng.random() < 0.5:
        word = base64.b64encode(b"x+2ADY-y").decode()
        raw = replace_header(raw, "Subject", f"=?{codec}?b?{word}?=")
    return replace_header(raw, "Content-Type", f"text/plain; charset={codec}")


def m_utf7_surrogates(rng, raw, limits):
    body = b"+2ADYAA- lone surrogates +3AA- and +2D3cAA-"
    return add_headers(b"", "From: " + rng.choice(MEMBER_ADDRESSES),
                       "Subject: =?utf-7?q?+2ADYAA-?= =?utf-7?b?KzJBRFlBQS0=?=",
                       "Content-Type: text/plain; charset=utf-7",
                       "") + body


def m_many_encoded_words(rng, raw, limits):
    count = rng.randint(50, limits.get("words", 3000))
    return replace_header(raw, rng.choice(["Subject", "From", "References"]),
                          _encoded_words(rng, count))


def m_forged_auth(rng, raw, limits):
    domain = rng.choice(["evil.example", "example.net", "co.kr"])
    ours = f"{OURS}; dkim=pass header.d={domain}; spf=pass smtp.mailfrom=a@{domain}; dmarc=none"
    theirs = "mx.evil.example; dkim=pass; spf=pass; dmarc=pass"
    order = rng.choice([(ours,), (theirs, ours), (ours, theirs), (f"{OURS}; dmarc=fail",)])
    return add_headers(raw, *[f"Authentication-Results: {v}" for v in order])


def m_farming_body(rng, raw, limits):
    body = rng.choice([
        "\u200b" * 25 + "hello",
        "a" * 20,
        "\U0001F600" * 25,
        REVIEW_KO + ".",
        REVIEW_KO.replace(" ", " \u200b"),
        "ㅋ" * 40,
        "spam " * 30,
        "\u202e" + REVIEW_EN,
        "\ufeff" * 1000 + PROPOSAL_KO,
    ])
    return make_mail(sender=rng.choice(MEMBER_ADDRESSES), subject="[품평] 앱", body=body)


def m_broken_mime(rng, raw, limits):
    choice = rng.randrange(5)
    if choice == 0:
        return replace_header(raw, "Content-Type", 'multipart/mixed; boundary="zz"')
    if choice == 1:
        depth = rng.randint(5, 60)
        head = "".join(f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n'
                       for i in range(depth))
        return add_headers(b"", "From: " + rng.choice(MEMBER_ADDRESSES),
                           'Content-Type: multipart/mixed; boundary="b0"', "") + head.encode()
    if choice == 2:
        return replace_header(raw, "Content-Transfer-Encoding",
                              rng.choice(["base64", "quoted-printable", "x-uuencode", "7bit\x00"]))
    if choice == 3:
        return replace_header(raw, "Content-Type",
                              "text/plain; charset*0*=utf-8''%ED%95; charset*1=\"x\x01\"")
    return replace_header(raw, "Date", rng.choice(["Feb 31 2026", "0", "Tue, 99 Zzz 99999 "
                                                   "99:99:99 +9999", "\x00"]))


def m_byte_damage(rng, raw, limits):
    data = bytearray(raw)
    for _ in range(rng.randint(1, 20)):
        if not data:
            break
        i = rng.randrange(len(data))
        op = rng.randrange(3)
        if op == 0:
            data[i] = rng.randrange(256)
        elif op == 1:
            del data[i:i + rng.randint(1, 50)]
        else:
            data[i:i] = rng.randbytes(rng.randint(1, 20))
    return bytes(data)


def m_truncate(rng, raw, limits):
    return raw[:rng.randrange(len(raw) + 1)]


MUTATIONS = [m_spoofed_from, m_second_from, m_controls_in_headers, m_non_text_charset,
             m_utf7_surrogates, m_many_encoded_words, m_forged_auth, m_farming_body,
             m_broken_mime, m_byte_damage, m_truncate]


def _vouched(raw: bytes, sender: str) -> bytes:
    """As our receiving server would mark a member's genuine mail."""
    domain = sender.rsplit("@", 1)[1]
    return add_headers(raw, f"Authentication-Results: {OURS}; dkim=pass header.d={domain}; "
                            f"spf=pass smtp.mailfrom={sender}; dmarc=pass header.from={domain}")


def seeds(rng: random.Random, i: int) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        sender = rng.choice(MEMBER_ADDRESSES)
        words = " ".join(rng.choice(REVIEW_KO.split() + REVIEW_EN.split()) for _ in range(40))
        return _vouched(make_mail(sender=sender, subject=f"[품평] 오류 {i}",
                                  body=f"{words}\n{i}"), sender)
    if kind == 1:
        return make_mail(sender="stranger@example.com", subject=f"hello {i}", body=REVIEW_EN)
    if kind == 2:
        return make_mail(sender=rng.choice(MEMBER_ADDRESSES), subject="[제안]",
                         body=PROPOSAL_KO + f" {i}")
    files = sorted(CORPUS.glob("*.eml"))
    return files[rng.randrange(len(files))].read_bytes()


def hostile_mails(count: int, seed: int = 10, **limits) -> list[bytes]:
    """``count`` mutated mails; ``limits``: words = most encoded words in one header."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        raw = seeds(rng, i)
        for mutation in rng.sample(MUTATIONS, rng.randint(1, 3)):
            raw = mutation(rng, raw, limits)
        out.append(raw)
    return out
