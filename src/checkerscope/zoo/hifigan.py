"""HiFi-GAN's generator, configuration V1 (1-D, transposed-convolution upsampling and
multi-receptive-field residual blocks).

Kong, Kim & Bae (2020), "HiFi-GAN: Generative Adversarial Networks for Efficient and High
Fidelity Speech Synthesis", NeurIPS; reference: jik876/hifi-gan ``models.py`` (``Generator``,
``ResBlock1``), ``config_v1.json`` and ``utils.py`` (``get_padding``, ``init_weights``).

Every convolution is weight-normalised (``weight_norm=True``); see
:mod:`checkerscope.zoo.melgan` for why PyTorch's default initialization is the one the
reference trains from although it calls ``init_weights`` (N(0, 0.01)): jik876/hifi-gan
issue #145.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v
from checkerscope.zoo.weightnorm import conv1d, conv_transpose1d

LRELU_SLOPE = 0.1


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """The padding that keeps a stride-1 dilated convolution's length (``get_padding``).

    Example:
        >>> same_padding(7, 3)
        9
    """
    return (kernel_size * dilation - dilation) // 2


class HiFiGANResBlock(nn.Module):
    """ResBlock1: for each dilation d, x += conv_1(lrelu(conv_d(lrelu(x)))), same length.

    Example:
        >>> HiFiGANResBlock(4, 7, (1, 3, 5))(torch.randn(2, 4, 50)).shape
        torch.Size([2, 4, 50])
    """

    def __init__(
        self, channels: int, kernel_size: int, dilations: Sequence[int], weight_norm: bool = True
    ) -> None:
        super().__init__()
        k = kernel_size
        self.convs1 = nn.ModuleList(
            conv1d(weight_norm, channels, channels, k, 1, dilation=d, padding=same_padding(k, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            conv1d(weight_norm, channels, channels, k, 1, padding=same_padding(k))
            for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class HiFiGANGenerator(nn.Module):
    """HiFi-GAN's generator: a mel spectrogram (N, n_mels, T) to a waveform (N, 1, 256 T).

    ``conv_pre`` (7 taps, ``initial_channel``); per stage i with rate u and kernel k from
    ``upsample_rates`` (8, 8, 2, 2) and ``upsample_kernel_sizes`` (16, 16, 4, 4):
    LeakyReLU(0.1), ``ConvTranspose1d(C, C/2, k, u, padding=(k-u)//2)``, then the mean of
    :class:`HiFiGANResBlock` with kernels (3, 7, 11), dilations (1, 3, 5) each; LeakyReLU
    (slope 0.01, torch's default, as the reference), ``conv_post`` (7 taps, 1 channel),
    tanh. Kong et al. (2020); jik876/hifi-gan ``models.py`` (``Generator``) with
    ``config_v1.json``. Sizes here: ``initial_channel=64`` (V1: 512).

    Example:
        >>> HiFiGANGenerator(initial_channel=16)(torch.randn(2, 80, 4)).shape
        torch.Size([2, 1, 1024])
    """

    def __init__(
        self,
        n_mels: int = 80,
        initial_channel: int = 64,
        upsample_rates: Sequence[int] = (8, 8, 2, 2),
        upsample_kernel_sizes: Sequence[int] = (16, 16, 4, 4),
        resblock_kernel_sizes: Sequence[int] = (3, 7, 11),
        resblock_dilations: Sequence[Sequence[int]] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        v.positive_int("n_mels", n_mels)
        ch = v.positive_int("initial_channel", initial_channel)
        if len(upsample_rates) != len(upsample_kernel_sizes):
            raise ValueError(
                f"upsample_rates and upsample_kernel_sizes must have the same length, got "
                f"{tuple(upsample_rates)} and {tuple(upsample_kernel_sizes)}"
            )
        if ch % 2 ** len(upsample_rates):
            raise ValueError(
                f"initial_channel must be divisible by {2 ** len(upsample_rates)} (halved at "
                f"each of {len(upsample_rates)} stages), got {initial_channel}"
            )
        self.conv_pre = conv1d(weight_norm, n_mels, ch, 7, 1, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for u, k in zip(upsample_rates, upsample_kernel_sizes, strict=True):
            self.ups.append(conv_transpose1d(weight_norm, ch, ch // 2, k, u, padding=(k - u) // 2))
            ch //= 2
            self.resblocks.append(
                nn.ModuleList(
                    HiFiGANResBlock(ch, rk, d, weight_norm)
                    for rk, d in zip(resblock_kernel_sizes, resblock_dilations, strict=True)
                )
            )
        self.conv_post = conv1d(weight_norm, ch, 1, 7, 1, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        v.check_input("mel", mel, dims=1, channels=self.conv_pre.in_channels)
        x = self.conv_pre(mel)
        for up, blocks in zip(self.ups, self.resblocks, strict=True):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            x = sum(block(x) for block in blocks) / len(blocks)  # type: ignore[assignment]
        return torch.tanh(self.conv_post(F.leaky_relu(x)))
