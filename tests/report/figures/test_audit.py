"""The audit's figures: every kind of sample, and the checks on their arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from checkerscope.report.figures import audit as FA


@pytest.mark.parametrize("shape", [(3, 2, 64), (3, 3, 8, 8), (3, 1, 8, 8), (2, 1, 4, 8, 8)])
def test_samples_figure_draws_signals_images_and_volumes(shape: tuple[int, ...]) -> None:
    fig = FA.samples_figure({"original": torch.randn(shape), "fixed": torch.randn(shape)})
    assert isinstance(fig, Figure)
    panels = 1 if len(shape) == 3 else 2  # spectra share one axis
    assert len(fig.axes) == panels


def test_images_are_stretched_to_their_own_range() -> None:
    batch = torch.stack([torch.zeros(3, 4, 4), torch.full((3, 4, 4), 5.0)])
    batch[0, :, 0, 0], batch[1, :, 0, 0] = 1.0, -5.0
    grid = FA.tile_images(batch, columns=2)
    assert grid.shape == (4, 9, 3)
    left, right = grid[:, :4], grid[:, 5:]
    assert left.min() == right.min() == 0.0 and left.max() == right.max() == 1.0
    assert np.all(grid[:, 4] == 1.0)  # the white gap between tiles


def test_layer_scores_figure_takes_missing_fixed_layers() -> None:
    fig = FA.layer_scores_figure(["a", "b"], [3.0, 12.0], [None, 1.0])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="one entry per layer, got 2, 1 and None"):
        FA.layer_scores_figure(["a", "b"], [1.0])
    with pytest.raises(ValueError, match="samples must all be"):
        FA.samples_figure({"a": torch.zeros(2, 3, 8, 8), "b": torch.zeros(2, 3, 8)})
    with pytest.raises(ValueError, match="at least one entry"):
        FA.samples_figure({})
