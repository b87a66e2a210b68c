"""Small stand-ins for sub-pixel super-resolution generators, written the way their papers'
code writes them: SRGAN's (Ledig et al. 2017) upsampling blocks conv -> PixelShuffle -> PReLU
in a Sequential, EDSR's (Lim et al. 2017) Upsampler a Sequential of conv -> PixelShuffle stages,
a model that calls its convolution and shuffle as attributes from ``forward``, and a 1-D
(audio) model whose shuffle is a hand-written module."""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, width: int, batch_norm: bool) -> None:
        super().__init__()
        norm = nn.BatchNorm2d if batch_norm else nn.Identity
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            norm(width),
            nn.PReLU() if batch_norm else nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            norm(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRGANLike(nn.Module):
    """9x9 head, residual blocks with BatchNorm, two x2 sub-pixel blocks, 9x9 tail: x4."""

    def __init__(self, width: int = 16, blocks: int = 2) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, width, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*(ResidualBlock(width, batch_norm=True) for _ in range(blocks)))
        self.upsample = nn.Sequential(
            *(
                layer
                for _ in range(2)
                for layer in (
                    nn.Conv2d(width, width * 4, 3, padding=1),
                    nn.PixelShuffle(2),
                    nn.PReLU(),
                )
            )
        )
        self.tail = nn.Conv2d(width, 3, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        return self.tail(self.upsample(x + self.body(x)))


class EDSRLike(nn.Module):
    """3x3 head, residual blocks without BatchNorm (scaled by 0.1), an Upsampler of two
    conv -> PixelShuffle(2) stages, 3x3 tail: x4."""

    def __init__(self, width: int = 16, blocks: int = 2) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlock(width, batch_norm=False) for _ in range(blocks)))
        self.tail = nn.Sequential(
            nn.Conv2d(width, 4 * width, 3, padding=1),
            nn.PixelShuffle(2),
            nn.Conv2d(width, 4 * width, 3, padding=1),
            nn.PixelShuffle(2),
            nn.Conv2d(width, 3, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        return self.tail(x + 0.1 * self.body(x))


class AttributeCalls(nn.Module):
    """ESPCN-like: the convolution and the shuffle are attributes that forward calls in order."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, width, 5, padding=2)
        self.to_phases = nn.Conv2d(width, 3 * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.to_phases(torch.tanh(self.features(x))))


class PixelShuffle1d(nn.Module):
    """(N, C r, L) -> (N, C, r L): channel c r + i goes to output channel c, position r l + i."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, length = x.shape
        r = self.factor
        return x.view(n, c // r, r, length).permute(0, 1, 3, 2).reshape(n, c // r, length * r)


class AudioSubPixel(nn.Module):
    """A 1-D encoder-decoder for waveforms (after Kuleshov et al. 2017's audio super-resolution):
    a strided-convolution encoder, then two conv -> PixelShuffle1d decoder stages (x4)."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.down = nn.Conv1d(1, width, 9, stride=2, padding=4)
        self.up1 = nn.Conv1d(width, width * 2, 9, padding=4)
        self.shuffle1 = PixelShuffle1d(2)
        self.up2 = nn.Conv1d(width, 2, 9, padding=4)
        self.shuffle2 = PixelShuffle1d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.down(x))
        h = torch.relu(self.shuffle1(self.up1(h)))
        return self.shuffle2(self.up2(h))
