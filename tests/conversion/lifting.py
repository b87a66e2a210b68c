"""Shared by the conversion tests: deconvolutions that ARE resize-convolutions (the lift of a
resize-conv kernel), impulse inputs, and small model helpers."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from checkerscope.analysis.layers import is_transposed_conv
from checkerscope.conversion import ResizeConvAdapter
from checkerscope.nn import ResizeConvNd

DECONV = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def resize_part(m: nn.Module) -> ResizeConvNd:
    """The resize-conv of a replacement: an adapter's, or the layer itself."""
    return m.resize if isinstance(m, ResizeConvAdapter) else m


def lift_1d(w: np.ndarray, s: int) -> np.ndarray:
    """The deconvolution kernel (length s + k - 1) equal to nearest-resize by s then conv with w.

    Nearest upsampling turns one input pixel into a box of s ones; the convolution (a
    cross-correlation) then paints that box with the reversed kernel.
    """
    return np.convolve(np.ones(s), w[::-1])


def lifted_deconv(w: torch.Tensor, s: int, p: int, op: int) -> nn.Module:
    """ConvTranspose (C_in, C_out) with the separable lift of ``w`` (C_out, C_in, *k) as kernel."""
    dims = w.dim() - 2
    k = w.shape[2]
    lift = torch.from_numpy(np.stack([lift_1d(np.eye(k)[j], s) for j in range(k)], axis=1))
    kernel = w.permute(1, 0, *range(2, dims + 2))  # (C_in, C_out, k, ...)
    for axis in range(dims):
        kernel = torch.movedim(torch.tensordot(kernel, lift, dims=([2 + axis], [1])), -1, 2 + axis)
    deconv = DECONV[dims](
        w.shape[1], w.shape[0], s + k - 1, s, p, output_padding=op, dtype=torch.float64
    )
    with torch.no_grad():
        deconv.weight.copy_(kernel)
    return deconv


def interior_input(c: int, sizes: tuple[int, ...], margin: int) -> torch.Tensor:
    """Random input that is zero within ``margin`` pixels of every border, so that no padding
    rule (zeros, reflect, replicate) can change either layer's output."""
    x = torch.zeros(2, c, *sizes, dtype=torch.float64)
    inner = (slice(None), slice(None), *(slice(margin, n - margin) for n in sizes))
    x[inner] = torch.randn_like(x[inner])
    return x


def delta_batch(c: int, size: int, dims: int) -> torch.Tensor:
    """(c, c, *size) float64: item i is a unit impulse at the centre of input channel i."""
    x = torch.zeros(c, c, *(size,) * dims, dtype=torch.float64)
    for i in range(c):
        x[(i, i, *(size // 2,) * dims)] = 1.0
    return x


def deconvs(model: nn.Module) -> list[str]:
    """Names of the transposed convolutions left in ``model``."""
    return [n for n, m in model.named_modules() if is_transposed_conv(m)]


class Nested(nn.Module):
    """Deconvolutions in a Sequential, a ModuleList, a ModuleDict, an attribute, and one
    layer reached from two parents."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(nn.ConvTranspose2d(4, 4, 4, 2, 1), nn.ReLU())
        self.blocks = nn.ModuleList([nn.ConvTranspose2d(4, 4, 4, 2, 0)])
        self.heads = nn.ModuleDict({"up": nn.ConvTranspose2d(4, 4, 3, 2, 1, output_padding=1)})
        self.last = nn.ConvTranspose2d(4, 2, 2, 2)
        self.tied = self.seq[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tied(self.seq(x))
        return self.last(self.heads["up"](self.blocks[0](x)))


class UNetWithOutputSize(nn.Module):
    """A U-Net that sizes its upsampling to the skip connection, as U-Nets do for odd inputs:
    ``self.up(x, output_size=skip.shape[-2:])``. Its encoder halves by a max pool (floor) and a
    strided convolution, and each decoder stage takes the size of the map it merges with."""

    def __init__(self, kernel_size: int = 2, padding: int = 0) -> None:
        super().__init__()
        self.enc = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.mid = nn.Conv2d(8, 16, 3, padding=1)
        self.down = nn.Conv2d(16, 16, 3, stride=2, padding=1)
        self.up_inner = nn.ConvTranspose2d(16, 16, 3, 2, 1, output_padding=1)  # 2L - 1 .. 2L
        self.up = nn.ConvTranspose2d(16, 8, kernel_size, 2, padding)  # 2L .. 2L + 1
        self.head = nn.Conv2d(16, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.enc(x))
        b = torch.relu(self.mid(self.pool(a)))
        c = torch.relu(self.down(b))
        b = b + self.up_inner(c, output_size=b.shape[-2:])
        y = self.up(b, output_size=a.shape[-2:])
        return self.head(torch.cat([y, a], dim=1))
