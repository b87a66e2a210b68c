"""EDSR: residual blocks without batch norm, then conv -> PixelShuffle upsampling.

Lim, Son, Kim, Nah & Lee (2017), "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPR workshops; reference: sanghyun-son/EDSR-PyTorch ``src/model/edsr.py``
and ``src/model/common.py`` (``ResBlock``, ``Upsampler``, ``MeanShift``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from checkerscope import checks as v

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)
"""The RGB mean EDSR subtracts from its input and adds back to its output (``MeanShift``)."""


class EDSRResBlock(nn.Module):
    """x + res_scale * (3x3 conv, ReLU, 3x3 conv)(x), with biases and no normalization.

    Example:
        >>> EDSRResBlock(8)(torch.randn(2, 8, 5, 5)).shape
        torch.Size([2, 8, 5, 5])
    """

    def __init__(self, channels: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class EDSR(nn.Module):
    """EDSR: a low-resolution image (N, 3, H, W) to (N, 3, s H, s W).

    The DIV2K mean (times ``rgb_range``) is subtracted; a 3x3 conv (``n_feats``);
    ``n_resblocks`` :class:`EDSRResBlock` and a 3x3 conv, added to the head's output; the
    upsampler, log2(s) times ``Conv2d(C, 4 C, 3, padding=1)`` -> ``PixelShuffle(2)`` (s = 3:
    one ``Conv2d(C, 9 C, 3)`` -> ``PixelShuffle(3)``), no activation; a 3x3 conv to 3
    channels; the mean added back. The mean shift is a fixed buffer here (the reference's
    frozen 1x1 conv), so re-initialization leaves it alone. PyTorch's default init.
    Lim et al. (2017); sanghyun-son/EDSR-PyTorch ``src/model/edsr.py``. Sizes here:
    ``n_resblocks=4``, ``n_feats=16`` (EDSR-baseline 16 and 64; EDSR 32, 256, res_scale
    0.1), ``scale=4``, ``rgb_range=1`` (reference 255 with images in [0, 255]; the audit
    feeds N(0, 1) inputs).

    Example:
        >>> EDSR(n_resblocks=1, n_feats=8, scale=3)(torch.randn(2, 3, 8, 8)).shape
        torch.Size([2, 3, 24, 24])
    """

    mean: torch.Tensor

    def __init__(
        self,
        n_resblocks: int = 4,
        n_feats: int = 16,
        scale: int = 4,
        res_scale: float = 1.0,
        rgb_range: float = 1.0,
    ) -> None:
        super().__init__()
        v.nonnegative_int("n_resblocks", n_resblocks)
        v.positive_int("n_feats", n_feats)
        v.positive_int("scale", scale)
        if scale == 3:
            steps = [3]
        elif scale >= 2 and not scale & (scale - 1):
            steps = [2] * int(math.log2(scale))
        else:
            raise ValueError(f"scale must be 3 or a power of two >= 2, got {scale}")
        mean = torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1) * rgb_range
        self.register_buffer("mean", mean, persistent=False)
        self.head = nn.Conv2d(3, n_feats, 3, padding=1)
        self.body = nn.Sequential(
            *(EDSRResBlock(n_feats, res_scale) for _ in range(n_resblocks)),
            nn.Conv2d(n_feats, n_feats, 3, padding=1),
        )
        up: list[nn.Module] = []
        for s in steps:
            up += [nn.Conv2d(n_feats, s * s * n_feats, 3, padding=1), nn.PixelShuffle(s)]
        self.tail = nn.Sequential(*up, nn.Conv2d(n_feats, 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("x", x, dims=2, channels=3)
        head = self.head(x - self.mean)
        return self.tail(head + self.body(head)) + self.mean
