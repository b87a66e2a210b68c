"""The U-Net as milesial/Pytorch-UNet builds it: max-pool down, 2x2 stride-2 transposed
convolution up (or bilinear upsampling), padded 3x3 convolutions with batch norm.

Ronneberger, Fischer & Brox (2015), "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI ("up-convolution" by a 2x2 transposed convolution); reference:
milesial/Pytorch-UNet ``unet/unet_parts.py`` and ``unet/unet_model.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v


class DoubleConv(nn.Sequential):
    """(3x3 conv without bias, BatchNorm, ReLU) twice; ``mid_channels`` after the first.

    Example:
        >>> DoubleConv(3, 8)(torch.randn(2, 3, 6, 6)).shape
        torch.Size([2, 8, 6, 6])
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None):
        mid = mid_channels or out_channels
        super().__init__(
            nn.Conv2d(in_channels, mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(True),
            nn.Conv2d(mid, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(True),
        )


class UNetUp(nn.Module):
    """Upsample the deeper map, pad it to the skip's size, concatenate [skip, up], DoubleConv.

    ``bilinear=False``: ``ConvTranspose2d(C, C/2, kernel_size=2, stride=2)``;
    ``bilinear=True``: ``Upsample(scale_factor=2, mode='bilinear', align_corners=True)``.

    Example:
        >>> UNetUp(16, 8)(torch.randn(2, 16, 4, 4), torch.randn(2, 8, 8, 8)).shape
        torch.Size([2, 8, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = False) -> None:
        super().__init__()
        self.up: nn.Module
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class MilesialUNet(nn.Module):
    """A U-Net: an image (N, n_channels, H, W) to logits (N, n_classes, H, W).

    ``DoubleConv`` to ``base`` channels, four ``MaxPool2d(2)`` + ``DoubleConv`` levels doubling
    the channels, four :class:`UNetUp` back (transposed 2x2 stride-2 convolutions unless
    ``bilinear``, which halves the bottleneck's channels), a 1x1 conv. PyTorch's default
    init. Ronneberger et al. (2015); milesial/Pytorch-UNet ``unet/unet_model.py`` (``UNet``).
    Sizes here: ``base=8`` (reference 64); ``n_classes=2`` as the repository trains it.

    Example:
        >>> MilesialUNet(base=4)(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 2, 32, 32])
    """

    def __init__(
        self, n_channels: int = 3, n_classes: int = 2, base: int = 8, bilinear: bool = False
    ) -> None:
        super().__init__()
        v.positive_int("n_channels", n_channels)
        v.positive_int("n_classes", n_classes)
        v.positive_int("base", base)
        factor = 2 if bilinear else 1
        w = [base * 2**i for i in range(5)]
        self.inc = DoubleConv(n_channels, w[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(w[i], w[i + 1] // (factor if i == 3 else 1)))
            for i in range(4)
        )
        self.ups = nn.ModuleList(
            UNetUp(w[i], w[i - 1] // (factor if i > 1 else 1), bilinear) for i in (4, 3, 2, 1)
        )
        self.outc = nn.Conv2d(w[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("x", x, dims=2, channels=self.inc[0].in_channels)
        if min(x.shape[2:]) < 16:
            raise ValueError(
                f"x must be at least 16 x 16 (four 2x2 poolings), got {tuple(x.shape)}"
            )
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return self.outc(y)
