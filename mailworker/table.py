"""Plain-text tables that line up with Korean (double-width) characters."""
from __future__ import annotations

import unicodedata

GAP = 2   # spaces between columns


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def clip(text: str, limit: int) -> str:
    out, w = "", 0
    for c in text:
        cw = 2 if unicodedata.east_asian_width(c) in "WF" else 1
        if w + cw > limit - (1 if len(text) > len(out) + 1 else 0):
            return out + "…"
        out, w = out + c, w + cw
    return out


def render(headers: list[str], rows: list[list], limits: dict[int, int] | None = None) -> str:
    limits = limits or {}
    cells = [[clip(str(v), limits[i]) if i in limits else str(v) for i, v in enumerate(r)]
             for r in rows]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values):
        return (" " * GAP).join(v + " " * (widths[i] - width(v))
                                for i, v in enumerate(values)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def fit_limits(headers: list[str], rows: list[list], columns: int, shrinkable: list[int],
               minimum: int = 12) -> dict[int, int]:
    """Limits for ``render`` so the table fits ``columns`` display cells: only the
    ``shrinkable`` columns are cut, the widest first, none below ``minimum``. A table
    that fits already gets no limits (nothing is cut)."""
    natural = [max([width(h)] + [width(str(r[i])) for r in rows])
               for i, h in enumerate(headers)]
    fixed = sum(w for i, w in enumerate(natural) if i not in shrinkable)
    room = columns - fixed - GAP * (len(headers) - 1)

    def used(cap: int) -> int:
        return sum(min(natural[i], cap) for i in shrinkable)

    cap = max((natural[i] for i in shrinkable), default=0)
    if used(cap) <= room:
        return {}
    while cap > minimum and used(cap) > room:
        cap -= 1
    return {i: cap for i in shrinkable if natural[i] > cap}
