"""ESRGAN's generator (RRDBNet): residual-in-residual dense blocks, then nearest upsampling
followed by a convolution, twice.

Wang et al. (2018), "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCV
workshops; references: xinntao/ESRGAN ``RRDBNet_arch.py`` and XPixelGroup/BasicSR
``basicsr/archs/rrdbnet_arch.py`` (the training code, with the blocks' initialization).
"""

from __future__ import annotations

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.zoo.initialization import scaled_kaiming_init


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs (LeakyReLU 0.2 between), output x + 0.2 * conv5.

    Conv i sees the input and the ``growth`` channels of each conv before it. Weights:
    Kaiming-normal times 0.1, biases 0 (BasicSR's ``default_init_weights(..., 0.1)``).

    Example:
        >>> ResidualDenseBlock(8, 4)(torch.randn(2, 8, 5, 5)).shape
        torch.Size([2, 8, 5, 5])
    """

    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(channels + i * growth, growth if i < 4 else channels, 3, 1, 1)
            for i in range(5)
        )
        self.lrelu = nn.LeakyReLU(0.2, True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal weights times 0.1, biases 0, as the reference initializes them."""
        scaled_kaiming_init(list(self.convs), 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.convs[:-1]:
            features.append(self.lrelu(conv(torch.cat(features, 1))))
        return x + 0.2 * self.convs[-1](torch.cat(features, 1))


class RRDB(nn.Module):
    """Three :class:`ResidualDenseBlock` in a row, output x + 0.2 * their result.

    Example:
        >>> RRDB(8, 4)(torch.randn(2, 8, 5, 5)).shape
        torch.Size([2, 8, 5, 5])
    """

    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ResidualDenseBlock(channels, growth) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class RRDBNet(nn.Module):
    """ESRGAN's generator: a low-resolution image (N, in_nc, H, W) to (N, out_nc, 4 H, 4 W).

    ``conv_first`` (3x3, ``nf``); ``nb`` :class:`RRDB` and ``trunk_conv``, added to
    ``conv_first``'s output; twice ``Upsample(scale_factor=2, mode='nearest')`` -> 3x3 conv ->
    LeakyReLU(0.2); a 3x3 conv with LeakyReLU and ``conv_last``. The reference calls
    ``F.interpolate``; an ``nn.Upsample`` computes the same and lets an audit see it. Wang et
    al. (2018); xinntao/ESRGAN ``RRDBNet_arch.py``, XPixelGroup/BasicSR
    ``basicsr/archs/rrdbnet_arch.py``. Sizes here: ``nf=16``, ``gc=8``, ``nb=2`` (reference
    64, 32, 23).

    Example:
        >>> RRDBNet(nf=8, gc=4, nb=1)(torch.randn(2, 3, 8, 8)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(self, in_nc: int = 3, out_nc: int = 3, nf: int = 16, nb: int = 2, gc: int = 8):
        super().__init__()
        for name, value in (("in_nc", in_nc), ("out_nc", out_nc), ("nf", nf), ("gc", gc)):
            v.positive_int(name, value)
        v.nonnegative_int("nb", nb)
        self.conv_first = nn.Conv2d(in_nc, nf, 3, 1, 1)
        self.trunk = nn.Sequential(*(RRDB(nf, gc) for _ in range(nb)))
        self.trunk_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upsample = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(nf, nf, 3, 1, 1),
            nn.LeakyReLU(0.2, True),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(nf, nf, 3, 1, 1),
            nn.LeakyReLU(0.2, True),
        )
        self.hr_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, True)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("x", x, dims=2, channels=self.conv_first.in_channels)
        feature = self.conv_first(x)
        feature = feature + self.trunk_conv(self.trunk(feature))
        return self.conv_last(self.lrelu(self.hr_conv(self.upsample(feature))))
