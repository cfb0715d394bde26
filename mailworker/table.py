"""Plain-text tables that line up with Korean (double-width) characters."""
from __future__ import annotations

import unicodedata


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
        return "  ".join(v + " " * (widths[i] - width(v)) for i, v in enumerate(values)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)
