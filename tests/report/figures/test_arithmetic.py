"""Figures of the arithmetic experiment: numbers stay readable on their colour maps."""

from __future__ import annotations

import math

from matplotlib import colormaps

from checkerscope.report.figures.arithmetic import ratio_maps
from checkerscope.report.figures.palette import ink


def test_ink_is_white_on_dark_and_black_on_light_colours() -> None:
    reds = colormaps["Reds"]
    assert ink(reds(0.0)) == "black" and ink(reds(1.0)) == "white"
    assert ink((0.0, 0.0, 0.0)) == "white" and ink((1.0, 1.0, 1.0)) == "black"


def test_ratio_maps_print_every_cell_in_a_readable_ink() -> None:
    ks, ss = [2, 3, 4], [2, 3]
    r1 = {(2, 2): 1.0, (3, 2): 2.0, (4, 2): 1.0, (2, 3): math.inf, (3, 3): 1.0, (4, 3): 2.0}
    r2 = {k: v * v for k, v in r1.items()}
    fig = ratio_maps(ks, ss, r1, r2)
    left, right = fig.axes[:2]
    texts = {t.get_text(): t.get_color() for t in right.texts}
    assert texts["1"] == "black" and texts["gap"] == "black"
    assert texts["4"] == "white"  # the darkest red of the 2-D map
    assert len(left.texts) == len(right.texts) == len(ks) * len(ss)
