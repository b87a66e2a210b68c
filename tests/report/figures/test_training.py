"""Figures of training experiments (report/figures/training.py)."""

from __future__ import annotations

import numpy as np
import torch

from checkerscope.report.figures.palette import COLORS
from checkerscope.report.figures.training import before_after, period_curves, sample_grids


def test_period_curves_draw_one_panel_per_setting_and_period_with_the_seed_mean() -> None:
    curves = {"deconv": [[9.0, 6.0, 5.0], [7.0, 6.0, 3.0]], "resize_conv": [[1.0, 1.0, 1.0]] * 2}
    panels = {row: {p: curves for p in ("2", "4", "8")} for row in ("init=dcgan", "init=default")}
    fig = period_curves([0, 10, 20], panels, data={"2": 1.5, "4": 1.0, "8": 0.5})
    axes = fig.get_axes()
    assert len(axes) == 6
    assert [ax.get_title() for ax in axes[:3]] == [f"init=dcgan: period {p}" for p in "248"]
    thick = [line for line in axes[0].get_lines() if line.get_linewidth() == 2]
    assert [line.get_label() for line in thick] == ["deconv", "resize_conv"]
    assert np.allclose(thick[0].get_ydata(), [8.0, 6.0, 4.0])  # the mean over seeds
    assert thick[0].get_color() == COLORS["deconv"]
    assert any(line.get_label() == "data" for line in axes[0].get_lines())


def test_before_after_joins_each_seeds_pair() -> None:
    fig = before_after({"deconv, init=dcgan": ([1.0, 2.0], [0.1, 0.2])}, "KID", [0.0, 0.01])
    (ax,) = fig.get_axes()
    pairs = [line for line in ax.get_lines() if len(line.get_xdata()) == 2]
    assert [list(line.get_ydata()) for line in pairs[:2]] == [[1.0, 0.1], [2.0, 0.2]]
    assert all(line.get_xdata()[0] < line.get_xdata()[1] for line in pairs[:2])
    assert pairs[0].get_color() == COLORS["deconv"]


def test_sample_grids_wrap_into_rows() -> None:
    images = {f"v{i}": torch.zeros(4, 3, 8, 8) for i in range(7)}
    fig = sample_grids(images, columns=2, per_row=4)
    shown = [ax for ax in fig.get_axes() if ax.get_images()]
    assert len(fig.get_axes()) == 8 and len(shown) == 7
    assert len(sample_grids(images).get_axes()) == 7  # one row by default
