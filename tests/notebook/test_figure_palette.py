"""The Python figures use the page's colours and widths: read from the page's own sources."""

import re
from pathlib import Path

from propscope import palette

JS = Path(__file__).resolve().parents[2] / "static" / "js"


def _rgb(name: str) -> tuple[int, ...]:
    text = (JS / "colors.js").read_text()
    match = re.search(rf"export const {name} = \[(\d+), (\d+), (\d+)\]", text)
    return tuple(int(v) for v in match.groups())


def test_sign_colours_equal_the_page_colours():
    assert palette.NEG == _rgb("NEG")
    assert palette.POS == _rgb("POS")
    text = (JS / "colors.js").read_text()
    assert f'BACKWARD = "{palette.BACKWARD}"' in text
    classes = re.search(r"CLASS_COLORS = \[(.*?)\]", text).group(1)
    assert tuple(c.strip().strip('"') for c in classes.split(",")) == palette.CLASS_COLORS


def test_link_width_and_alpha_rule_equal_the_network_view():
    text = (JS / "network_view.js").read_text()
    assert "const maxWidth = L.presenter ? 12 : " + f"{palette.LINK_MAX_WIDTH:g};" in text
    rule = f"g.lineWidth = v ? {palette.LINK_MIN_WIDTH} + (maxWidth - {palette.LINK_MIN_WIDTH}) * t"
    assert rule in text
    assert f"signColor(val, scales[k], {palette.LINK_ALPHA_FLOOR})" in text


def test_sign_color_blends_alpha_with_magnitude():
    assert palette.sign_color(-2.0, 2.0, 0.22) == "rgba(214, 96, 0, 1.000)"
    assert palette.sign_color(0.5, 2.0, 0.2) == "rgba(0, 100, 178, 0.400)"
    assert palette.sign_color(float("nan"), 1.0) == palette.NONFINITE


def test_link_width_spans_the_page_range():
    assert palette.link_width(0.0, 1.0) == palette.LINK_MIN_WIDTH
    assert palette.link_width(-3.0, 3.0) == palette.LINK_MAX_WIDTH
    assert palette.link_width(1.0, 2.0) == (0.6 + 8.0) / 2
