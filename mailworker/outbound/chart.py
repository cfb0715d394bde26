"""A small bar chart as a PNG, drawn with the standard library only (zlib + struct).

The digest needs one picture: contributions per day over the last 30 days. A plotting
library would be a large dependency for that, so this draws bars, a baseline, light grid
lines and digit labels (a 3x5 pixel font) straight into an RGB buffer.
"""
from __future__ import annotations

import struct
import zlib

BACKGROUND = (255, 255, 255)
BAR = (51, 102, 204)
BAR_WEEKEND = (120, 150, 215)
AXIS = (80, 90, 110)
GRID = (225, 229, 236)
LABEL = (80, 90, 110)

# 3x5 digits, rows top to bottom, bits left to right.
_DIGITS = {
    "0": ("111", "101", "101", "101", "111"), "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"), "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"), "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"), "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"), "9": ("111", "101", "111", "001", "111"),
    "/": ("001", "001", "010", "100", "100"), "-": ("000", "000", "111", "000", "000"),
}


class Canvas:
    def __init__(self, width: int, height: int, background=BACKGROUND):
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color) -> None:
        """Fill [x0, x1) x [y0, y1), clipped to the canvas."""
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x0 >= x1 or y0 >= y1:
            return
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start:start + len(row)] = row

    def text(self, x: int, y: int, text: str, color=LABEL, scale: int = 2) -> None:
        for ch in text:
            glyph = _DIGITS.get(ch)
            if glyph is not None:
                for gy, bits in enumerate(glyph):
                    for gx, bit in enumerate(bits):
                        if bit == "1":
                            self.rect(x + gx * scale, y + gy * scale,
                                      x + (gx + 1) * scale, y + (gy + 1) * scale, color)
            x += 4 * scale

    def png(self) -> bytes:
        raw = bytearray()
        stride = self.width * 3
        for y in range(self.height):
            raw.append(0)  # filter: none
            raw += self.pixels[y * stride:(y + 1) * stride]
        return b"".join([
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)),
            _chunk(b"IDAT", zlib.compress(bytes(raw), 9)),
            _chunk(b"IEND", b""),
        ])


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * 4 * scale - scale


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def bar_chart_png(values: list[int], labels: list[str] | None = None,
                  weekend: list[bool] | None = None, width: int = 600,
                  height: int = 180) -> bytes:
    """Bars for ``values`` (non-negative). ``labels`` (digits, '/' and '-') are drawn under
    every fifth bar and the last one; ``weekend`` bars are drawn lighter."""
    if not values:
        raise ValueError("bar_chart_png needs at least one value")
    if any(v < 0 for v in values):
        raise ValueError("bar_chart_png draws non-negative values only")
    canvas = Canvas(width, height)
    top_value = max(values)
    scale_max = max(1, top_value)
    max_label = str(scale_max)
    left = text_width(max_label) + 10
    right, top, bottom = 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    # Grid at the top value and half of it, with the numbers on the left.
    for fraction in (0.5, 1.0):
        y = top + plot_h - round(plot_h * fraction)
        canvas.rect(left, y, width - right, y + 1, GRID)
        # Half of an odd maximum is not a whole count: leave that line unlabelled.
        label = (str(scale_max) if fraction == 1.0
                 else str(scale_max // 2) if scale_max % 2 == 0 else "")
        if label:
            canvas.text(left - 6 - text_width(label), y - 5, label)
    canvas.text(left - 6 - text_width("0"), top + plot_h - 10, "0")
    n = len(values)
    slot = plot_w / n
    bar_w = max(1, int(slot * 0.7))
    for i, v in enumerate(values):
        x0 = left + int(i * slot + (slot - bar_w) / 2)
        h = round(plot_h * v / scale_max)
        color = BAR_WEEKEND if weekend and weekend[i] else BAR
        if h:
            canvas.rect(x0, top + plot_h - h, x0 + bar_w, top + plot_h, color)
        if labels and (i % 5 == 0 or i == n - 1):
            lab = labels[i]
            lx = x0 + bar_w // 2 - text_width(lab) // 2
            lx = min(max(0, lx), width - text_width(lab))
            canvas.text(lx, top + plot_h + 8, lab)
    canvas.rect(left, top + plot_h, width - right, top + plot_h + 1, AXIS)
    return canvas.png()
