"""CSV cells that would run as formulas in Excel are written as text (OWASP rule)."""
from __future__ import annotations

import csv
import io

import pytest

from mailworker.csvfile import csv_text, safe_cell, write_csv


@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0",
                                   "-2+3", "@SUM(1+1)", "\tx", "\rx"])
def test_formula_cells_get_an_apostrophe(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["김민준", "minjun@example.com", "", 3, None, "a=b"])
def test_plain_cells_are_unchanged(value):
    assert safe_cell(value) == value


def test_whole_file_has_bom_and_escaped_cells():
    text = csv_text(["name", "hours"], [["=1+1", 2], ["김민준", 1]])
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows == [["name", "hours"], ["'=1+1", "2"], ["김민준", "1"]]


def test_write_csv_to_a_text_stream():
    out = io.StringIO()
    write_csv(out, ["a"], [["@x"]])
    assert out.getvalue() == "\ufeffa\r\n'@x\r\n"
