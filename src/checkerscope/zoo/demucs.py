"""Demucs (v2), a waveform-to-waveform U-Net for music source separation: strided 1-D
convolutions down, a bidirectional LSTM, transposed 1-D convolutions up.

Défossez, Usunier, Bottou & Bach (2019), "Music Source Separation in the Waveform Domain",
arXiv:1911.13254; reference: facebookresearch/demucs ``demucs/model.py`` at the v2 release
(``Demucs``, ``BLSTM``, ``rescale_module``; commit a729e1a) and ``demucs/utils.py``
(``center_trim``). Its x2 input resampling is julius' ``resample_frac`` (adefossez/julius
``julius/resample.py``), written here from J. O. Smith's windowed-sinc formula.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v
from checkerscope.zoo.initialization import rescale_init, reset_children

SOURCES = ("drums", "bass", "other", "vocals")
"""The four stems of MusDB that Demucs separates."""


class SincResample1d(nn.Module):
    """Band-limited resampling of signals (N, C, L) -> (N, C, floor(L new / old)).

    Smith's windowed-sinc interpolation: output sample j (time j / new in input blocks of
    ``old`` samples) is ``sum_i x[i] h(i / old - j / new)`` with ``h(t) = c / old * sinc(c t)
    * cos(pi c t / (2 zeros))**2`` on ``|c t| <= zeros``, ``c = rolloff * min(old, new)``,
    zero outside; the signal is zero beyond its ends. Taps are computed once and held as a
    non-persistent buffer (no parameters). Defaults as julius' ``resample_frac``.

    Example:
        >>> up = SincResample1d(1, 2)(torch.sin(0.2 * torch.arange(400.0)).view(1, 1, -1))
        >>> exact = torch.sin(0.1 * torch.arange(200.0, 600.0))
        >>> bool((up[0, 0, 200:600] - exact).abs().max() < 1e-3)
        True
    """

    kernel: torch.Tensor

    def __init__(self, old: int, new: int, zeros: int = 24, rolloff: float = 0.945) -> None:
        super().__init__()
        v.positive_int("old", old)
        v.positive_int("new", new)
        self.zeros = v.positive_int("zeros", zeros)
        if not 0 < rolloff <= 1:
            raise ValueError(f"rolloff must be in (0, 1], got {rolloff!r}")
        g = math.gcd(old, new)
        self.old, self.new = old // g, new // g
        c = rolloff * min(self.old, self.new)
        self.width = math.ceil(zeros * self.old / c)
        taps = torch.arange(-self.width, self.width + self.old, dtype=torch.float64) / self.old
        phases = torch.arange(self.new, dtype=torch.float64)[:, None] / self.new
        t = (c * (taps[None, :] - phases)).clamp(-zeros, zeros)
        h = torch.sinc(t) * torch.cos(math.pi * t / (2 * zeros)) ** 2 * (c / self.old)
        self.register_buffer("kernel", h[:, None, :].float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.old == self.new:
            return x
        n, c, length = x.shape
        y = F.conv1d(
            F.pad(x.reshape(n * c, 1, length), (self.width, self.width + self.old)),
            self.kernel.to(x.dtype),
            stride=self.old,
        )
        return y.transpose(1, 2).reshape(n, c, -1)[..., : self.new * length // self.old]

    def extra_repr(self) -> str:
        return f"old={self.old}, new={self.new}, zeros={self.zeros}"


class BLSTM(nn.Module):
    """A bidirectional LSTM over time with ``dim`` hidden units each way and a linear layer
    back to ``dim`` channels: (N, dim, T) -> (N, dim, T).

    Example:
        >>> BLSTM(8, layers=2)(torch.randn(2, 8, 5)).shape
        torch.Size([2, 8, 5])
    """

    def __init__(self, dim: int, layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, num_layers=layers, bidirectional=True)
        self.linear = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lstm(x.permute(2, 0, 1))[0]
        return self.linear(y).permute(1, 2, 0)


def center_trim(x: torch.Tensor, length: int) -> torch.Tensor:
    """``x`` (..., L) cut to ``length`` samples about its centre (an odd extra one from the
    right), as Demucs trims skip connections.

    Example:
        >>> center_trim(torch.arange(7), 4)
        tensor([1, 2, 3, 4])
    """
    delta = x.shape[-1] - length
    if delta < 0:
        raise ValueError(f"cannot trim a signal of {x.shape[-1]} samples to {length}")
    return x[..., delta // 2 : x.shape[-1] - (delta - delta // 2)]


class Demucs(nn.Module):
    """Demucs v2: a mixture (N, audio_channels, L) to its sources, (N, S * audio_channels, L').

    Input resampled x2 (:class:`SincResample1d`); ``depth`` encoder layers, each
    ``Conv1d(C_in, C, 8, stride 4)``, ReLU, ``Conv1d(C, 2 C, 1)``, GLU (C grows by
    ``growth``); a 2-layer :class:`BLSTM`; ``depth`` decoder layers, each adding the encoder
    output of its level (:func:`center_trim`-med), then ``Conv1d(C, 2 C, 3)`` (no padding),
    GLU, ``ConvTranspose1d(C, C_out, 8, stride 4)``, ReLU except for the last; output
    resampled /2. Convolutions' weights and biases divided by ``sqrt(std(w) / 0.1)``
    (``rescale``). L must be a :meth:`valid_length`; L' < L (the valid 3-tap convs). The
    reference views the output as (N, S, audio_channels, L'); here the sources stay stacked
    on the channel axis, a signal batch. Défossez et al. (2019); facebookresearch/demucs
    ``demucs/model.py`` (v2, ``Demucs``). Sizes here: ``channels=8``, ``depth=4``
    (reference 64 and 6).

    Example:
        >>> net = Demucs(channels=4, depth=2)
        >>> net(torch.randn(1, 2, net.valid_length(1000))).shape
        torch.Size([1, 8, 1006])
    """

    def __init__(
        self,
        sources: int = len(SOURCES),
        audio_channels: int = 2,
        channels: int = 8,
        depth: int = 4,
        lstm_layers: int = 2,
        kernel_size: int = 8,
        stride: int = 4,
        context: int = 3,
        growth: float = 2.0,
        resample: bool = True,
        rescale: float = 0.1,
    ) -> None:
        super().__init__()
        for name, value in (("sources", sources), ("audio_channels", audio_channels)):
            v.positive_int(name, value)
        v.positive_int("channels", channels)
        self.depth = v.positive_int("depth", depth)
        self.kernel_size = v.positive_int("kernel_size", kernel_size)
        self.stride = v.positive_int("stride", stride)
        self.context = v.positive_int("context", context)
        self.resample = resample
        self.rescale = rescale
        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        c_in = audio_channels
        for index in range(depth):
            self.encoder.append(
                nn.Sequential(
                    nn.Conv1d(c_in, channels, kernel_size, stride),
                    nn.ReLU(),
                    nn.Conv1d(channels, 2 * channels, 1),
                    nn.GLU(dim=1),
                )
            )
            c_out = c_in if index > 0 else sources * audio_channels
            decode: list[nn.Module] = [
                nn.Conv1d(channels, 2 * channels, context),
                nn.GLU(dim=1),
                nn.ConvTranspose1d(channels, c_out, kernel_size, stride),
            ]
            if index > 0:
                decode.append(nn.ReLU())
            self.decoder.insert(0, nn.Sequential(*decode))
            c_in, channels = channels, int(growth * channels)
        self.lstm = BLSTM(c_in, lstm_layers) if lstm_layers else None
        self.upsample = SincResample1d(1, 2) if resample else None
        self.downsample = SincResample1d(2, 1) if resample else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every weight as the reference does (default init, then ``rescale``)."""
        reset_children(self)
        if self.rescale:
            rescale_init(self, self.rescale)

    def valid_length(self, length: int) -> int:
        """The input length at which every strided layer divides its input evenly and the
        output holds at least ``length`` samples (the reference pads a mixture to it and trims
        the sources back to the mixture's length with :func:`center_trim`).

        Example:
            >>> Demucs().valid_length(8192)
            8618
        """
        n = 2 * length if self.resample else length
        for _ in range(self.depth):
            n = max(1, math.ceil((n - self.kernel_size) / self.stride) + 1) + self.context - 1
        for _ in range(self.depth):
            n = (n - 1) * self.stride + self.kernel_size
        return math.ceil(n / 2) if self.resample else n

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        v.check_input("mix", mix, dims=1, channels=self.encoder[0][0].in_channels)
        shortest = self.valid_length(1)
        if mix.shape[-1] < shortest:
            raise ValueError(
                f"mix must be at least {shortest} samples long (see valid_length), got "
                f"{mix.shape[-1]}"
            )
        x = self.upsample(mix) if self.upsample is not None else mix
        saved = []
        for encode in self.encoder:
            x = encode(x)
            saved.append(x)
        if self.lstm is not None:
            x = self.lstm(x)
        for decode in self.decoder:
            x = decode(x + center_trim(saved.pop(), x.shape[-1]))
        return self.downsample(x) if self.downsample is not None else x
