"""CSV files people open in Excel: UTF-8 with a BOM, and no cell that runs as a formula.

Every CSV the project writes goes through ``write_csv`` (or ``safe_row``), so a name such as
``=HYPERLINK(...)`` or ``+cmd`` that came from mail or from a roster stays text in
the spreadsheet (OWASP "CSV injection": a cell that begins with ``= + - @``, a tab or a
carriage return gets a leading apostrophe).
"""
from __future__ import annotations

import csv
import io
from typing import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> object:
    """The value as a spreadsheet will show it, never as a formula. Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable) -> list:
    return [safe_cell(v) for v in row]


def csv_text(header: list[str], rows: Iterable[Iterable]) -> str:
    """The whole file as text, BOM first (without it Excel shows Korean as mojibake)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(safe_row(header))
    writer.writerows(safe_row(r) for r in rows)
    return "\ufeff" + buf.getvalue()


def write_csv(out, header: list[str], rows: Iterable[Iterable]) -> None:
    """Write to a text stream; through its binary buffer when it has one (stdout), so the
    BOM and Korean reach a file unchanged whatever the terminal's encoding."""
    data = csv_text(header, rows)
    binary = getattr(out, "buffer", None)
    if binary is not None:
        out.flush()
        binary.write(data.encode("utf-8"))
        binary.flush()
    else:
        out.write(data)
