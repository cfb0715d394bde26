"""What a text is, for the farming rules: its normal form, fingerprint, size and sketch.

The same contribution is credited once, so two texts that differ only in what a reader
cannot see or does not read as content are one text: the normal form is NFKC, case-folded,
without format characters (Unicode Cf: zero-width spaces and joiners, bidi marks, soft
hyphens ...), with punctuation and every kind of blank folded to one space. Its SHA-256 is
the text's fingerprint; its size counts letters and digits only (25 zero-width characters
and 5 letters are 5 characters).

Near-copies (a word changed, a line added) are found with a MinHash sketch of the text's
word 3-shingles: one hash per shingle spread over ``BINS`` bins (one-permutation hashing,
empty bins filled from their neighbour, Shrivastava & Li 2014), so a sketch costs one CRC
per shingle. Two sketches agree in a bin with probability equal to the Jaccard similarity
of the shingle sets. For look-ups the sketch is cut into ``BANDS`` bands whose hashes are
stored in an indexed table: texts that share a band key are candidates (a 0.9-similar text
shares one with probability above 0.999), and only candidates are compared, so a look-up
costs ``BANDS`` index probes however many texts were credited before.

All of this is pure (no database): it runs in the analysis process.
"""
from __future__ import annotations

import hashlib
import struct
import unicodedata
import zlib
from dataclasses import dataclass

BINS = 128
BANDS = 16
ROWS = BINS // BANDS
SHINGLE_WORDS = 3
NEAR_SIMILARITY = 0.9
TEXT_CHARS = 1_000_000      # characters of a text read at all
NFKC_PIECE = 4096           # characters normalised in one call (see nfkc)
SKETCH_CHARS = 100_000      # the sketch reads this much of the normal form
MIN_DISTINCT_CHARS = 5      # fewer different letters/digits than this: no real words
_EMPTY = 1 << 25            # bin values are below this (a 32-bit hash without its 7 bin bits)
_PACK = struct.Struct(f">{BINS}I")
# What is kept and compared: each bin's low 16 bits (a chance equal bin in 65,536 moves a
# similarity by nothing that matters, and every credited text's row is half the size).
# The band keys are made from the full 32-bit values before that.
_KEPT = struct.Struct(f">{BINS}H")

# What each character becomes (looked up once per character met, so only the few hundred
# a mail uses are ever looked up): kept as a letter or digit, kept (a symbol such as an
# emoji), folded to a blank (punctuation, separators, controls), or dropped (Cf).
_ALNUM, _KEEP, _BLANK, _DROP = 0, 1, 2, 3
_CLASS: dict[str, int] = {}


def _class_of(ch: str) -> int:
    cls = _CLASS.get(ch)
    if cls is None:
        category = unicodedata.category(ch)
        if category == "Cf":
            cls = _DROP
        elif category[0] in "PZC" or ch.isspace():
            cls = _BLANK
        else:
            cls = _ALNUM if ch.isalnum() else _KEEP
        _CLASS[ch] = cls
    return cls


@dataclass(frozen=True)
class TextPrint:
    sha: str                        # SHA-256 hex of the normal form
    chars: int                      # letters and digits
    no_words: str | None            # why the text has no real words (None: it has)
    signature: bytes                # MinHash sketch as kept (BINS big-endian 16-bit values)
    bands: tuple[int, ...]          # one look-up key per band (signed 64-bit)
    # The fingerprint as schema 2 computed it (NFKC, case and blanks only): texts credited
    # before the upgrade are stored under it, and a verbatim resend must still match them.
    legacy_sha: str = ""


def nfkc(text: str) -> str:
    """NFKC in pieces cut after a blank (where it gives what the whole text gives).
    Normalising a long run of combining marks takes time growing with its square (tens of
    thousands of marks: seconds in one call, where no time limit can stop it); a piece is at most
    ``NFKC_PIECE`` characters, so a time limit is checked between pieces."""
    if len(text) <= NFKC_PIECE:
        return unicodedata.normalize("NFKC", text)
    pieces = []
    start = 0
    while start < len(text):
        end = start + NFKC_PIECE
        if end < len(text):
            blank = max(text.rfind(" ", start + 1, end), text.rfind("\n", start + 1, end))
            if blank > start:
                end = blank + 1
        pieces.append(unicodedata.normalize("NFKC", text[start:end]))
        start = end
    return "".join(pieces)


def _fold(text: str) -> tuple[str, str]:
    """(normal form, its letters and digits): NFKC, case-folded, format characters
    dropped, punctuation and blanks folded to one space."""
    folded = nfkc(text).casefold()
    table, letters = {}, {}
    for ch in set(folded):
        cls = _class_of(ch)
        if cls != _ALNUM:
            letters[ord(ch)] = None
            if cls != _KEEP:
                table[ord(ch)] = None if cls == _DROP else " "
    norm = " ".join(folded.translate(table).split()) if table else folded.strip()
    return norm, folded.translate(letters) if letters else folded


def normal_form(text: str) -> str:
    """NFKC, case-folded, format characters dropped, punctuation and blanks folded."""
    return _fold(text)[0]


def _no_words(words: list[str], alnum: str) -> str | None:
    distinct = len(set(alnum))
    if alnum and distinct < MIN_DISTINCT_CHARS:
        return (f"the text has no real words (only {distinct} different letter(s) or "
                "digit(s), repeated)")
    if len(words) >= 4 and len(set(words)) < 3:
        return "the text has no real words (the same word repeated)"
    return None


def sketch(norm: str, words: list[str] | None = None) -> bytes:
    """MinHash sketch of the word 3-shingles of a normal form (see the module docstring)."""
    words = norm.split() if words is None else words
    if len(words) <= SHINGLE_WORDS:
        shingles = [norm]
    else:
        shingles = [" ".join(words[i:i + SHINGLE_WORDS])
                    for i in range(len(words) - SHINGLE_WORDS + 1)]
    mins = [_EMPTY] * BINS
    crc32 = zlib.crc32
    for shingle in set(shingles):
        h = crc32(shingle.encode("utf-8", "surrogatepass"))
        b = h & (BINS - 1)
        v = h >> 7
        if v < mins[b]:
            mins[b] = v
    # Empty bins take the value of the next filled bin, marked with the distance, so two
    # texts agree on an empty bin about as often as on the filled one it borrows from.
    if _EMPTY in mins:
        start = list(mins)
        for i in range(BINS):
            if start[i] == _EMPTY:
                step = 1
                while start[(i + step) % BINS] == _EMPTY:
                    step += 1
                mins[i] = start[(i + step) % BINS] + step * _EMPTY
    return _PACK.pack(*[v & 0xFFFFFFFF for v in mins])


_BAND = struct.Struct(f">{ROWS}I")
BAND_SHIFT = 56     # a band key's top byte is its band's number


def band_keys(signature: bytes) -> tuple[int, ...]:
    """One key per band: the band's number and two checksums of its values (a chance
    equal key of two different bands only makes a candidate, which the compare drops).

    A band takes every ``BANDS``-th bin, not neighbouring ones: an empty bin borrows from
    its neighbour, so neighbouring bins of a short text often hold one shingle between
    them, and bands made of them would match between texts that merely share a phrase."""
    values = _PACK.unpack(signature)
    crc32, adler32, pack = zlib.crc32, zlib.adler32, _BAND.pack
    keys = []
    for band in range(BANDS):
        part = pack(*values[band::BANDS])
        keys.append(band << BAND_SHIFT | crc32(part) << 24 | adler32(part) & 0xFFFFFF)
    return tuple(keys)


def kept_signature(signature: bytes) -> bytes:
    """The sketch as stored and compared: the low 16 bits of each bin."""
    return _KEPT.pack(*[v & 0xFFFF for v in _PACK.unpack(signature)])


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two kept sketches' shingle sets."""
    if len(a) != len(b) or len(a) != _KEPT.size:
        return 0.0
    return sum(x == y for x, y in zip(_KEPT.unpack(a), _KEPT.unpack(b))) / BINS


def text_print(text: str) -> TextPrint | None:
    """Everything the farming rules need to know about a new text (None: no text).
    Only the first ``TEXT_CHARS`` characters are read: no contribution is longer, and
    reading 25 MB of text would take seconds."""
    norm, alnum = _fold(text[:TEXT_CHARS])
    if not norm:
        return None
    # A near-copy shows in its beginning; a 25 MB text would only cost time and memory.
    head = norm if len(norm) <= SKETCH_CHARS else norm[:SKETCH_CHARS]
    words = head.split()
    signature = sketch(head, words)
    legacy = " ".join(nfkc(text).casefold().split())
    return TextPrint(sha=hashlib.sha256(norm.encode("utf-8", "surrogatepass")).hexdigest(),
                     chars=len(alnum), no_words=_no_words(words, alnum),
                     signature=kept_signature(signature), bands=band_keys(signature),
                     legacy_sha=hashlib.sha256(legacy.encode("utf-8", "surrogatepass"))
                     .hexdigest())
