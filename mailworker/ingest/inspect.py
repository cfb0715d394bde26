"""`mailworker inspect [--json] FILE...`: how would these .eml files be classified?

Reads files only; never opens the database. A Maildir folder (one with cur/ and new/, such
as the demo's ``var/demo/Maildir/.Processed``) stands for the messages in it, any other
folder for the *.eml files in it, and a file for itself, whatever its name (a message file
inside a Maildir has no .eml ending). Staff use the plain table; scripts use --json (one
object per file per line).
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from .classify import classify
from .parse import ParsedMail, parse_message

COLUMNS = ("FILE", "KIND", "FROM", "SUBJECT", "REASON")
WIDTHS = {"FILE": 28, "KIND": 11, "FROM": 30, "SUBJECT": 36, "REASON": 0}   # 0: no limit


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if _is_maildir(path):
            found = sorted((p for sub in ("new", "cur") for p in (path / sub).iterdir()
                            if p.is_file() and not p.name.startswith(".")),
                           key=lambda p: p.name)
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".eml")
        else:
            files.append(path)
            continue
        files.extend(found or [path])     # an empty folder is reported, not skipped
    return files


def _record(path: Path, mail: ParsedMail) -> dict:
    verdict = classify(mail)
    return {
        "file": str(path),
        "kind": verdict.kind,
        "reason": verdict.reason,
        "rsvp": verdict.rsvp,
        "subject": mail.subject,
        "from": mail.from_addr,
        "from_name": mail.from_name,
        "message_id": mail.message_id,
        "date": mail.date.isoformat() if mail.date else None,
        "sha256": mail.sha256,
        "size": mail.size,
        "attachments": [{"name": a.name, "size": a.size, "sha256": a.sha256,
                         "content_type": a.content_type} for a in mail.attachments],
        "defects": mail.defects,
        # why this mail could never earn credit, whatever its kind (None: one plain sender)
        "sender_problem": mail.from_problem,
    }


def _inspect_one(path: Path) -> dict:
    if path.is_dir():
        what = "messages in the Maildir" if _is_maildir(path) else ".eml files in"
        return {"file": str(path), "error": f"no {what} {path}"}
    try:
        raw = path.read_bytes()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return {"file": str(path), "error": f"cannot read {path}: {why}"}
    return _record(path, parse_message(raw))


# --- the plain table: Korean characters take two columns in a terminal --------------------

def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int) -> str:
    # Control characters (a terminal escape in a subject, say) are shown, not obeyed.
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in " ".join(text.split()))
    if width == 0:
        return text
    if _width(text) > width:
        out, used = [], 0
        for ch in text:
            w = _width(ch)
            if used + w > width - 1:
                break
            out.append(ch)
            used += w
        text = "".join(out) + "…"
    return text + " " * (width - _width(text))


def _row(values: dict[str, str]) -> str:
    return "  ".join(_fit(values[c], WIDTHS[c]) for c in COLUMNS).rstrip()


def _plain_cells(record: dict) -> dict[str, str]:
    if "error" in record:
        return {"FILE": record["file"], "KIND": "error", "FROM": "", "SUBJECT": "",
                "REASON": record["error"]}
    reason = record["reason"]
    if record["attachments"]:
        reason += f" [{len(record['attachments'])} attachment(s)]"
    return {"FILE": Path(record["file"]).name, "KIND": record["kind"],
            "FROM": record["from"] or "(no sender)", "SUBJECT": record["subject"] or "(no subject)",
            "REASON": reason}


def run_inspect(paths: list[str], as_json: bool, out) -> int:
    """Classify .eml files without a database. Exit status 1 if any path was unreadable."""
    records = [_inspect_one(path) for path in _expand(paths)]
    if as_json:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        out.write(_row({c: c for c in COLUMNS}) + "\n")
        for record in records:
            out.write(_row(_plain_cells(record)) + "\n")
        kinds: dict[str, int] = {}
        for record in records:
            key = "error" if "error" in record else record["kind"]
            kinds[key] = kinds.get(key, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        out.write(f"\n{len(records)} file(s): {summary or 'none'}\n")
    return 1 if any("error" in r for r in records) else 0
