"""Checkpoints in the C2SP ``tlog-checkpoint`` / ``signed-note`` format.

A checkpoint body is three lines::

    <origin>
    <tree size>
    <base64 root hash>

and a signed note is the body, a blank line, then one line per signature::

    — <key name> <base64(4-byte key id || Ed25519 signature over the body)>

The ledger's checkpoint is valid only with at least ``quorum`` good signatures from
distinct known replica keys. Signature lines from unknown keys are ignored (as the spec
asks); a line that claims a known key but does not verify makes the note invalid.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from .errors import CheckpointError
from .keys import Signer, Verifier
from .merkle import HASH_SIZE

DASH = "\u2014 "
MAX_SIGNATURES = 100


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    def summary(self) -> str:
        return f"size {self.size}, root {self.root.hex()[:16]}..."


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: bytes
    signature: bytes

    def text(self) -> str:
        return f"{DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}"


@dataclass(frozen=True)
class OpenedNote:
    checkpoint: Checkpoint
    signers: list[str]           # names whose signature verified
    note: str


def parse_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("checkpoint text must be origin, size and root hash lines, "
                              "each ending in a newline")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin:
        raise CheckpointError("checkpoint has an empty origin line")
    if not size_text.isdigit() or (len(size_text) > 1 and size_text[0] == "0"):
        raise CheckpointError(f"checkpoint tree size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise CheckpointError("checkpoint root hash line is not base64") from None
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
    return Checkpoint(origin, int(size_text), root)


def sign(checkpoint: Checkpoint, signer: Signer) -> str:
    """One signature line (without newline) by ``signer`` over the checkpoint body."""
    sig = signer.sign(checkpoint.body().encode("utf-8"))
    return SignatureLine(signer.name, signer.verifier.key_id, sig).text()


def assemble(checkpoint: Checkpoint, lines: list[str]) -> str:
    """The signed note: body, blank line, signature lines sorted by key name."""
    unique = sorted(set(lines), key=lambda ln: ln.split(" ", 2)[1] if " " in ln else ln)
    return checkpoint.body() + "\n" + "".join(line + "\n" for line in unique)


def split_note(note: str) -> tuple[str, list[SignatureLine]]:
    if not isinstance(note, str):
        raise CheckpointError("the checkpoint is not text")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise CheckpointError("the checkpoint contains control characters")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise CheckpointError("the checkpoint has no signatures (no blank line after the "
                              "text)")
    body, sigs = note[:cut + 1], note[cut + 2:]
    if not sigs.endswith("\n"):
        raise CheckpointError("the checkpoint's last signature line does not end in a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"the checkpoint has more than {MAX_SIGNATURES} signatures")
    out = []
    for line in lines:
        if not line.startswith(DASH):
            raise CheckpointError(f"signature line {line[:30]!r} does not start with an em "
                                  "dash and a space")
        rest = line[len(DASH):]
        name, _, b64 = rest.partition(" ")
        if not name or not b64 or " " in b64:
            raise CheckpointError(f"signature line {line[:40]!r} is not '— name signature'")
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise CheckpointError(f"the signature of {name} is not base64") from None
        if len(raw) < 5:
            raise CheckpointError(f"the signature of {name} is too short")
        out.append(SignatureLine(name, raw[:4], raw[4:]))
    return body, out


def open_note(note: str, verifiers: list[Verifier], quorum: int,
              origin: str | None = None) -> OpenedNote:
    """Parse and verify a signed checkpoint; raise CheckpointError saying plainly why it
    is not acceptable."""
    body, lines = split_note(note)
    cp = parse_body(body)
    if origin is not None and cp.origin != origin:
        raise CheckpointError(f"the checkpoint is for {cp.origin!r}, not for this ledger "
                              f"({origin!r})")
    known = {(v.name, v.key_id): v for v in verifiers}
    good: list[str] = []
    unknown: list[str] = []
    message = body.encode("utf-8")
    for line in lines:
        v = known.get((line.name, line.key_id))
        if v is None:
            unknown.append(line.name)
            continue
        if v.name in good:
            continue
        if not v.verify(line.signature, message):
            raise CheckpointError(
                f"the signature of {line.name} does not verify: the checkpoint text was "
                "changed after signing, or the signature is forged")
        good.append(v.name)
    if len(good) < quorum:
        detail = f"good signatures from: {', '.join(good) or 'nobody'}"
        if unknown:
            detail += (f"; signatures by keys not among the trusted ones: "
                       f"{', '.join(sorted(set(unknown)))} (wrong or old public keys?)")
        raise CheckpointError(f"the checkpoint has {len(good)} good signature(s), it needs "
                              f"{quorum} ({detail})")
    return OpenedNote(cp, good, note)


def signatures_by(note: str) -> list[SignatureLine]:
    return split_note(note)[1]
