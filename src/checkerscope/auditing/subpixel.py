"""Sub-pixel pairs as the audit sees them: one layer that it can hook, blame and re-initialize.

A convolution followed by a pixel shuffle is one upsampler, but two modules: the shuffle alone
is all the audit could blame (and none of a hand-written 1-D shuffle). :func:`join_subpixel_pairs`
puts a :class:`JoinedSubPixel` (the convolution, then the shuffle) in the convolution's place and
``nn.Identity`` in the shuffle's, which computes the same function, so the pair is measured as
one layer under the convolution's name. With ``icnr=True`` its ``reset_parameters()`` draws the
convolution by ICNR: the audit re-initializes a pair whose phases are tied (the ICNR fix, or a
model initialized by ICNR) that way.
"""

from __future__ import annotations

import torch
from torch import nn

from checkerscope.conversion import SubPixelPair, find_subpixel_pairs
from checkerscope.functional.subpixel import icnr_
from checkerscope.surgery import replace_modules


class JoinedSubPixel(nn.Module):
    """A convolution and the pixel shuffle that follows it, as one module: ``shuffle(conv(x))``.

    Shapes: (N, C_in, *S) -> (N, C, *(s S)) with C = ``conv.out_channels / s^d``.

    Example:
        >>> conv = nn.Conv2d(4, 3 * 4, 3, padding=1)
        >>> joined = JoinedSubPixel(conv, nn.PixelShuffle(2), 2, icnr=True)
        >>> joined.reset_parameters()
        >>> joined(torch.randn(1, 4, 5, 5)).shape, bool((conv.weight[0] == conv.weight[3]).all())
        (torch.Size([1, 3, 10, 10]), True)
    """

    def __init__(self, conv: nn.Module, shuffle: nn.Module, scale_factor: int, icnr: bool) -> None:
        super().__init__()
        self.conv, self.shuffle = conv, shuffle
        self.scale_factor, self.icnr = scale_factor, icnr
        self.dims = len(conv.kernel_size)

    def reset_parameters(self) -> None:
        """With ``icnr``, draw the convolution by ICNR (after its own reset, which the audit
        calls first); otherwise leave it to the convolution's own ``reset_parameters()``."""
        if self.icnr:
            icnr_(self.conv.weight, self.scale_factor, self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, icnr={self.icnr}"


def phases_tied(pair: SubPixelPair) -> bool:
    """Whether every output channel of ``pair``'s convolution has the same kernel and bias in
    all its phases, as ICNR leaves them (an independent draw never does).

    Example:
        >>> pair = SubPixelPair("0", nn.Conv1d(2, 4, 3), "1", nn.Identity(), 2, 1)
        >>> before = phases_tied(pair)
        >>> _ = icnr_(pair.conv.weight, 2, pair.conv.bias)
        >>> before, phases_tied(pair)
        (False, True)
    """
    phases = pair.scale_factor**pair.dims
    tensors = [t.detach() for t in (pair.conv.weight, pair.conv.bias) if t is not None]
    grouped = [t.unflatten(0, (-1, phases)) for t in tensors]
    return all(torch.equal(g, g[:, :1].expand_as(g)) for g in grouped)


def join_subpixel_pairs(model: nn.Module) -> tuple[nn.Module, list[SubPixelPair], list[str]]:
    """``model`` (changed in place) with every sub-pixel pair that
    :func:`~checkerscope.conversion.find_subpixel_pairs` finds joined into a
    :class:`JoinedSubPixel`; returns the new root, the pairs and the search's notes. A pair
    whose phases are tied (:func:`phases_tied`) is re-initialized by ICNR, so that the audit's
    re-initialization keeps the scheme its weights show.

    Example:
        >>> up = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.PixelShuffle(2))
        >>> joined, pairs, notes = join_subpixel_pairs(up)
        >>> [type(m).__name__ for m in joined], joined[0].icnr, [p.conv_name for p in pairs]
        (['JoinedSubPixel', 'Identity'], False, ['0'])
    """
    pairs, notes = find_subpixel_pairs(model)
    replacements: dict[int, nn.Module] = {}
    for p in pairs:
        replacements[id(p.conv)] = JoinedSubPixel(p.conv, p.shuffle, p.scale_factor, phases_tied(p))
        replacements[id(p.shuffle)] = nn.Identity()
    return replace_modules(model, replacements), pairs, notes
