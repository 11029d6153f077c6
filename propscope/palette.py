"""The page's colours and link widths, for figures drawn in Python.

Mirrors static/js/colors.js (sign colours: orange negative, blue positive, Okabe–Ito hues) and
the link rule of static/js/network_view.js (width 0.6 … 8 px in proportion to |value| / the
layer's largest |value|, colour alpha from 0.22 up). tests/notebook/test_palette.py reads both
files and fails if either side changes alone.
"""

from __future__ import annotations

import math

NEG = (214, 96, 0)  # #d66000 orange
POS = (0, 100, 178)  # #0064b2 blue
MID = (236, 236, 236)
FORWARD = "#111111"
BACKWARD = "#c2007a"  # magenta δ / ∂L/∂w
CLASS_COLORS = ("#d66000", "#0064b2", "#009e73", "#cc79a7", "#56b4e9", "#e69f00")
NONFINITE = "rgba(160, 0, 160, 0.9)"
WHITE = (250, 250, 250)  # the light end of the diverging plane scale

LINK_ALPHA_FLOOR = 0.22
LINK_MIN_WIDTH = 0.6
LINK_MAX_WIDTH = 8.0  # 12 in presenter mode on the page


def sign_rgba(value: float, scale: float, alpha_floor: float = 0.25) -> tuple[int, int, int, float]:
    """Signed value → (r, g, b, alpha); |value|/scale in [0, 1] raises alpha from the floor to 1."""
    if not math.isfinite(value):
        return (160, 0, 160, 0.9)
    t = min(1.0, abs(value) / scale) if scale > 0 else 0.0
    r, g, b = NEG if value < 0 else POS
    return (r, g, b, alpha_floor + (1 - alpha_floor) * t)


def sign_color(value: float, scale: float, alpha_floor: float = 0.25) -> str:
    """Signed value → CSS rgba, as colors.js signColor."""
    if not math.isfinite(value):
        return NONFINITE
    r, g, b, alpha = sign_rgba(value, scale, alpha_floor)
    return f"rgba({r}, {g}, {b}, {alpha:.3f})"


def link_width(value: float, scale: float, max_width: float = LINK_MAX_WIDTH) -> float:
    """Line width of one link: thin for ~0, max_width at the layer's largest |value|."""
    t = min(1.0, abs(value) / scale) if scale > 0 and math.isfinite(value) else 0.0
    return LINK_MIN_WIDTH + (max_width - LINK_MIN_WIDTH) * t


def diverging_scale() -> list[list[object]]:
    """Plotly colourscale of the page's plane pictures: orange −1, near-white 0, blue +1."""
    def rgb(c: tuple[int, ...]) -> str:
        return f"rgb({c[0]}, {c[1]}, {c[2]})"

    return [[0.0, rgb(NEG)], [0.5, rgb(WHITE)], [1.0, rgb(POS)]]


def hex_color(rgb: tuple[int, ...]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)
