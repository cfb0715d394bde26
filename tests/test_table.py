"""Plain-text tables: Korean counts double, and a table is cut only as far as it must be."""
from __future__ import annotations

from mailworker.table import fit_limits, render, width


ROWS = [[1, "김민준", "서울시 블록체인 지갑 앱 로그인이 안 됩니다", "review", "x" * 80],
        [2, "Daniel Kang", "Certificate app crashes", "review", "short reason"]]
HEADERS = ["#", "from", "subject", "kind", "reason"]


def test_a_table_that_fits_is_not_cut():
    assert fit_limits(HEADERS, ROWS, 400, shrinkable=[1, 2, 4]) == {}


def test_a_narrow_terminal_cuts_the_widest_shrinkable_columns_first():
    limits = fit_limits(HEADERS, ROWS, 100, shrinkable=[1, 2, 4])
    text = render(HEADERS, ROWS, limits)
    assert max(width(line) for line in text.splitlines()) <= 100
    assert 1 not in limits                       # the names were narrow enough
    assert "김민준" in text and "review" in text  # fixed and short columns stay whole
    assert "…" in text


def test_cutting_stops_at_the_minimum_width():
    limits = fit_limits(HEADERS, ROWS, 20, shrinkable=[2, 4], minimum=12)
    assert set(limits.values()) == {12}
    text = render(HEADERS, ROWS, limits)
    assert "서울시 블록…" in text          # 11 cells of Korean and a space, then the mark
    assert "x" * 12 not in text
