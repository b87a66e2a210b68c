"""SRGAN's generator (SRResNet): residual blocks, then sub-pixel convolution upsampling.

Ledig et al. (2017), "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR (Fig. 4); reference: leftthomas/SRGAN ``model.py``
(``Generator``, ``ResidualBlock``, ``UpsampleBLock``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from checkerscope import checks as v


class SRResidualBlock(nn.Module):
    """x + (3x3 conv, BatchNorm, PReLU, 3x3 conv, BatchNorm)(x), channels kept.

    Example:
        >>> SRResidualBlock(8)(torch.randn(2, 8, 5, 5)).shape
        torch.Size([2, 8, 5, 5])
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.PReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRGANGenerator(nn.Module):
    """SRGAN's generator: a low-resolution image (N, 3, H, W) to (N, 3, s H, s W) in [0, 1].

    A 9x9 conv (``channels``) with PReLU; ``n_blocks`` :class:`SRResidualBlock`; a 3x3 conv
    with BatchNorm added to the first conv's output; log2(s) upsampling blocks, each
    ``Conv2d(C, 4 C, 3, padding=1)`` -> ``PixelShuffle(2)`` -> PReLU (the paper's "k3n256s1,
    PixelShuffler x2"); a 9x9 conv to 3 channels and ``(tanh + 1) / 2``. PyTorch's default
    initialization. Ledig et al. (2017); leftthomas/SRGAN ``model.py`` (``Generator``).
    Sizes here: ``channels=16``, ``n_blocks=4`` (paper 64 and 16), ``scale=4``.

    Example:
        >>> SRGANGenerator(channels=8, n_blocks=1)(torch.randn(2, 3, 8, 8)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(self, channels: int = 16, n_blocks: int = 4, scale: int = 4) -> None:
        super().__init__()
        v.positive_int("channels", channels)
        v.nonnegative_int("n_blocks", n_blocks)
        if v.positive_int("scale", scale) < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of two >= 2, got {scale}")
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(
            *(SRResidualBlock(channels) for _ in range(n_blocks)),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
        )
        up: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            up += [nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2), nn.PReLU()]
        self.tail = nn.Sequential(*up, nn.Conv2d(channels, 3, 9, padding=4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("x", x, dims=2, channels=3)
        head = self.head(x)
        return (torch.tanh(self.tail(head + self.body(head))) + 1) / 2
