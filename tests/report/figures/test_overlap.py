from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from checkerscope.analysis import operator_matrix, overlap
from checkerscope.nn import ResizeConv1d
from checkerscope.report.figures.overlap import operator_matrix_figure, overlap_figure


def test_overlap_figure_draws_bars_and_map(tmp_path):
    counts_1d, counts_2d = overlap((3, 2), 6), overlap((3, 2), (6, 6))
    fig = overlap_figure(counts_1d, counts_2d, "k3 s2")
    assert isinstance(fig, Figure)
    bars, image = fig.axes[0], fig.axes[1]
    assert [p.get_height() for p in bars.patches] == counts_1d.tolist()
    assert (image.images[0].get_array() == counts_2d.numpy()).all()
    fig.savefig(tmp_path / "overlap.png")
    assert (tmp_path / "overlap.png").stat().st_size > 0


def test_operator_matrix_figure_shows_both_matrices():
    a = operator_matrix(torch.nn.ConvTranspose1d(1, 1, 3, 2), 4)
    b = operator_matrix(ResizeConv1d(1, 1, 3), 4)
    fig = operator_matrix_figure(a, b, ("deconvolution", "resize-convolution"))
    assert [ax.get_title() for ax in fig.axes] == ["deconvolution", "resize-convolution"]
    assert fig.axes[0].images[0].get_array().shape == tuple(a.shape)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="counts_1d must be 1-D and counts_2d 2-D"):
        overlap_figure(torch.ones(3, 3), torch.ones(3, 3))
    with pytest.raises(ValueError, match="titles must hold two strings"):
        operator_matrix_figure(torch.eye(2), torch.eye(2), ("one",))
