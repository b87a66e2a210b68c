"""Small reference architectures whose resamplers are chosen by name.

Each model takes the kind of its upsampler (or downsampler) as a string for
:func:`checkerscope.nn.upsampler` (``"deconv"``, ``"resize_conv"``, ``"bilinear_resize_conv"``,
``"subpixel"``, ``"subpixel_icnr"``, ...) or :func:`checkerscope.nn.downsampler`
(``"strided_conv"``, ``"antialiased"``), so that two models differ only in how they resample.
They are what the tests, the audit tool and the experiments build; they are kept small.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.nn import downsampler, upsampler


def _stages(name: str, image_size: int) -> int:
    """Number of x2 stages between 4x4 and ``image_size`` (a power of two >= 8)."""
    n = v.positive_int(name, image_size)
    stages = int(math.log2(n)) - 2 if n >= 8 else 0
    if stages < 1 or 4 * 2**stages != n:
        raise ValueError(f"{name} must be a power of two >= 8 (e.g. 32 or 64), got {image_size!r}")
    return stages


class DCGANGenerator(nn.Module):
    """DCGAN generator (Radford et al. 2016) with a configurable upsampler.

    A latent (N, nz) or (N, nz, 1, 1) is projected to a 4x4 map by a ``Linear`` layer (the
    same operator as DCGAN's stride-1 ``ConvTranspose2d(nz, C, 4, 1, 0)`` on a 1x1 input, but
    not an upsampler), then doubled by ``upsample`` layers with BatchNorm and ReLU between
    them, up to (N, nc, image_size, image_size) with tanh. Channels go from
    ``ngf * 2**(stages - 1)`` at 4x4 down to ``ngf``, as in DCGAN.

    Example:
        >>> DCGANGenerator(nz=16, ngf=8, image_size=32)(torch.randn(2, 16)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(
        self,
        nz: int = 64,
        ngf: int = 64,
        nc: int = 3,
        image_size: int = 64,
        upsample: str = "deconv",
    ) -> None:
        super().__init__()
        self.nz = v.positive_int("nz", nz)
        v.positive_int("ngf", ngf)
        v.positive_int("nc", nc)
        stages = _stages("image_size", image_size)
        self.upsample = upsample
        width = ngf * 2 ** (stages - 1)
        self.project = nn.Sequential(
            nn.Linear(nz, width * 16, bias=False),
            nn.Unflatten(1, (width, 4, 4)),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        for _ in range(stages - 1):
            layers += [upsampler(upsample, width, width // 2), nn.BatchNorm2d(width // 2)]
            layers.append(nn.ReLU(inplace=True))
            width //= 2
        layers += [upsampler(upsample, width, nc), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 4 and z.shape[2:] == (1, 1):
            z = z.flatten(1)
        if z.dim() != 2 or z.shape[1] != self.nz:
            raise ValueError(
                f"z must have shape (N, {self.nz}) or (N, {self.nz}, 1, 1), got {tuple(z.shape)}"
            )
        return self.main(self.project(z))


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """A small U-Net (Ronneberger et al. 2015): strided-conv encoder, upsampling decoder, skips.

    Level i (0 < i <= depth) halves the size with ``downsample`` and doubles the channels
    (``base * 2**i``); the decoder mirrors it with ``upsample`` (halving channels), concatenates
    the encoder's map of the same size and applies a 3x3 conv block. Shapes: (N, in_channels,
    H, W) -> (N, out_channels, H, W) with H and W divisible by ``2**depth``.

    Example:
        >>> UNet(base=8, depth=2, upsample="resize_conv")(torch.randn(1, 3, 32, 32)).shape
        torch.Size([1, 3, 32, 32])
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        base: int = 16,
        depth: int = 3,
        upsample: str = "deconv",
        downsample: str = "strided_conv",
    ) -> None:
        super().__init__()
        v.positive_int("in_channels", in_channels)
        v.positive_int("out_channels", out_channels)
        v.positive_int("base", base)
        self.depth = v.positive_int("depth", depth)
        widths = [base * 2**i for i in range(depth + 1)]
        self.stem = _conv_block(in_channels, base)
        self.down = nn.ModuleList(
            nn.Sequential(
                downsampler(downsample, widths[i], widths[i + 1]),
                _conv_block(widths[i + 1], widths[i + 1]),
            )
            for i in range(depth)
        )
        self.up = nn.ModuleList(upsampler(upsample, widths[i + 1], widths[i]) for i in range(depth))
        self.merge = nn.ModuleList(_conv_block(2 * widths[i], widths[i]) for i in range(depth))
        self.head = nn.Conv2d(base, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multiple = 2**self.depth
        if x.dim() != 4 or x.shape[2] % multiple or x.shape[3] % multiple:
            raise ValueError(
                f"input must have shape (N, C, H, W) with H and W divisible by {multiple}, "
                f"got {tuple(x.shape)}"
            )
        skips = [self.stem(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for i in reversed(range(self.depth)):
            y = self.merge[i](torch.cat([self.up[i](y), skips[i]], dim=1))
        return self.head(y)


class AudioUpsampler1d(nn.Module):
    """A 1-D upsampler by 8 for waveforms: three x2 ``upsample`` stages (dims=1) with ReLU.

    Shapes: (N, in_channels, L) -> (N, 1, 8 L), tanh output. The 1-D counterpart of a
    generator's upsampling path, where checkerboards are audible as a tone at the sample
    rate over the stride (the article's closing question).

    Example:
        >>> AudioUpsampler1d(4, channels=16)(torch.randn(2, 4, 50)).shape
        torch.Size([2, 1, 400])
    """

    def __init__(self, in_channels: int = 16, channels: int = 64, upsample: str = "deconv") -> None:
        super().__init__()
        v.positive_int("in_channels", in_channels)
        v.positive_int("channels", channels)
        layers: list[nn.Module] = [nn.Conv1d(in_channels, channels, 3, padding=1), nn.ReLU()]
        for _ in range(3):
            layers += [upsampler(upsample, channels, channels, dims=1), nn.ReLU()]
        layers += [nn.Conv1d(channels, 1, 3, padding=1), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class StridedDiscriminator(nn.Module):
    """DCGAN discriminator with a configurable downsampler.

    ``downsample`` layers halve (N, nc, image_size, image_size) down to 4x4 (channels ``ndf``
    doubling each time, BatchNorm after the first, LeakyReLU 0.2), then a 4x4 convolution
    gives one logit per image. Shapes: -> (N,). The strided convolutions are what sends a
    checkerboard back into the generator's gradient (Odena et al. 2016, "artifacts in
    gradients"); ``"antialiased"`` blurs before subsampling to avoid it. ``kernel_size``: that
    of every downsampling convolution (the downsampler's default, 3, when None; DCGAN's is 4).

    Example:
        >>> D = StridedDiscriminator(ndf=8, image_size=32, kernel_size=4)  # DCGAN's k4 s2
        >>> D(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2])
    """

    def __init__(
        self,
        nc: int = 3,
        ndf: int = 64,
        image_size: int = 64,
        downsample: str = "strided_conv",
        kernel_size: int | None = None,
    ) -> None:
        super().__init__()
        v.positive_int("nc", nc)
        v.positive_int("ndf", ndf)
        stages = _stages("image_size", image_size)
        kw = {} if kernel_size is None else {"kernel_size": kernel_size}
        layers: list[nn.Module] = [downsampler(downsample, nc, ndf, **kw), nn.LeakyReLU(0.2)]
        width = ndf
        for _ in range(stages - 1):
            layers += [downsampler(downsample, width, 2 * width, **kw), nn.BatchNorm2d(2 * width)]
            layers.append(nn.LeakyReLU(0.2))
            width *= 2
        layers.append(nn.Conv2d(width, 1, 4))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()


class StridedClassifier(nn.Module):
    """A small CNN classifier: a 3x3 stem, ``stages`` x2 ``downsample`` stages, global pooling.

    Shapes: (N, in_channels, H, W) -> (N, num_classes) logits, channels ``width * 2**i``.
    Its input gradient shows the checkerboard that strided convolutions put there.

    Example:
        >>> StridedClassifier(width=8)(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        width: int = 32,
        stages: int = 3,
        downsample: str = "strided_conv",
    ) -> None:
        super().__init__()
        v.positive_int("in_channels", in_channels)
        v.positive_int("num_classes", num_classes)
        v.positive_int("width", width)
        v.positive_int("stages", stages)
        layers: list[nn.Module] = [_conv_block(in_channels, width)]
        for i in range(stages):
            w = width * 2**i
            layers += [downsampler(downsample, w, 2 * w), nn.BatchNorm2d(2 * w), nn.ReLU()]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width * 2**stages, num_classes)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)
