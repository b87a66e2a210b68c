"""checkerscope.functional.window: the window of an upsampler's output that gives a transposed
convolution's size, and the checks on a requested output size."""

from __future__ import annotations

import re

import pytest
import torch

from checkerscope.functional.window import (
    crop_window,
    output_extra,
    pad_for_window,
    resized_window,
)


def test_window_pad_and_crop_cover_the_window_exactly() -> None:
    # offset -1, extra +2 at scale 2 on a length-5 input: one pixel of replication each side,
    # and the window [-1, 11) of the unpadded output is [1, 13) of the padded one.
    x = torch.arange(5.0).reshape(1, 1, 5)
    padded = pad_for_window(x, 2, (-1,), (2,))
    assert padded.flatten().tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    y = torch.arange(14.0).reshape(1, 1, 14)  # stands in for the resize-conv of ``padded``
    assert crop_window(y, x, 2, (-1,), (2,)).flatten().tolist() == list(range(1, 13))
    assert pad_for_window(x, 2, (0,), (0,)) is x


@pytest.mark.parametrize("offset", [-3, -1, 0, 2])
@pytest.mark.parametrize("extra", [-2, 0, 1, 4])
def test_resized_window_is_the_window_of_the_infinitely_extended_signal(offset, extra) -> None:
    """Nearest upsampling by 3 of a signal extended by its edge values on both sides, far
    enough, then positions [offset, offset + 3 L + extra): the same numbers."""
    x = torch.tensor([[[1.0, 5.0, 2.0, 7.0]]])

    def up(t: torch.Tensor) -> torch.Tensor:
        return t.repeat_interleave(3, dim=-1)

    far = torch.nn.functional.pad(x, (4, 4), mode="replicate")
    expected = up(far)[..., 12 + offset : 12 + offset + 12 + extra]
    assert torch.equal(resized_window(up, x, 3, (offset,), (extra,)), expected)


def test_output_extra_reads_spatial_or_full_sizes_and_names_what_is_wrong() -> None:
    x = torch.zeros(2, 3, 4, 5)
    assert output_extra((8, 11), x, 2, (0, 0), (1, 1)) == (0, 1)
    assert output_extra(torch.Size([2, 3, 9, 10]), x, 2, (0, 0), (1, 1)) == (1, 0)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "output_size must lie between (8, 10) and (9, 11) for an input of spatial size "
            "(4, 5), got (7, 10)"
        ),
    ):
        output_extra((7, 10), x, 2, (0, 0), (1, 1))
    with pytest.raises(
        ValueError, match=re.escape("output_size must be a sequence of 2 spatial sizes, got 8")
    ):
        output_extra(8, x, 2, (0, 0), (1, 1))
    with pytest.raises(ValueError, match=re.escape("got (8.0, 10)")):
        output_extra((8.0, 10), x, 2, (0, 0), (1, 1))
