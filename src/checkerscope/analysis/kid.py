"""Kernel Inception Distance (KID) on the features of a fixed network.

Binkowski, Sutherland, Arbel & Gretton (2018), "Demystifying MMD GANs": KID is the unbiased
estimate of the squared maximum mean discrepancy (MMD^2) between two sets of image features
under the cubic polynomial kernel ``k(a, b) = (a . b / d + 1) ** 3``, averaged over random
subsets.

The paper takes features from a pretrained Inception network. No weights can be downloaded
here, so the default extractor is :class:`FixedFeatures`: a small multi-scale CNN whose weights
are drawn once from a fixed seed and never trained. Its numbers are therefore *not* comparable
with published KID values; they compare two sets of images against the same fixed network,
which is what an experiment comparing two generators needs. A user who has trained weights for
the same architecture can load them with :meth:`FixedFeatures.from_file`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v


class FixedFeatures(nn.Module):
    """Fixed random-weight multi-scale CNN: images (N, C, H, W) -> features (N, sum(widths)).

    Each stage is a 3x3 convolution (reflect padding) and a ReLU; stages after the first see
    the previous stage 2x2-average-pooled. The feature vector is the spatial mean of every
    stage's activations, so fine stages see pixel-level texture (checkerboards included) and
    coarse stages see layout and colour. Weights are He-normal draws from
    ``torch.Generator().manual_seed(seed)``, biases are zero; they are buffers, never trained.

    Args:
        in_channels: channels of the images.
        widths: channels of each stage.
        seed: seed of the weight draw; the same seed gives the same network on every machine.
        value_range: (low, high) range of the input images; mapped to [-1, 1] before stage 1.

    Example:
        >>> FixedFeatures()(torch.rand(4, 3, 32, 32) * 2 - 1).shape
        torch.Size([4, 480])
    """

    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        seed: int = 0,
        value_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        super().__init__()
        self.in_channels = v.positive_int("in_channels", in_channels)
        if not widths:
            raise ValueError(
                f"widths must be a non-empty sequence of positive ints, got {widths!r}"
            )
        self.widths = tuple(v.positive_int("widths", w) for w in widths)
        self.seed = v.nonnegative_int("seed", seed)
        low, high = value_range
        if not high > low:
            raise ValueError(
                f"value_range must be (low, high) with high > low, got {value_range!r}"
            )
        self.value_range = (float(low), float(high))
        g = torch.Generator().manual_seed(self.seed)
        channels = self.in_channels
        for i, width in enumerate(self.widths):
            std = math.sqrt(2.0 / (channels * 9))
            weight = torch.randn(width, channels, 3, 3, generator=g) * std
            self.register_buffer(f"weight{i}", weight)
            self.register_buffer(f"bias{i}", torch.zeros(width))
            channels = width

    @classmethod
    def from_file(
        cls, path: str | Path, value_range: tuple[float, float] = (-1.0, 1.0)
    ) -> FixedFeatures:
        """Load weights for this architecture from a ``.safetensors`` file or a torch state dict.

        The widths are read from the weight shapes, so any number and size of stages loads.
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"weights must be an existing file, got {str(path)!r}")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        n = sum(1 for k in state if k.startswith("weight"))
        if n == 0 or any(f"weight{i}" not in state or f"bias{i}" not in state for i in range(n)):
            raise ValueError(
                f"weights file {str(path)!r} must hold weight0, bias0, weight1, ... ; "
                f"got keys {sorted(state)}"
            )
        widths = tuple(int(state[f"weight{i}"].shape[0]) for i in range(n))
        model = cls(int(state["weight0"].shape[1]), widths, 0, value_range)
        model.load_state_dict(state)
        return model

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("input", x, dims=2, channels=self.in_channels)
        low, high = self.value_range
        h = (x.to(self.weight0.dtype) - low) * (2.0 / (high - low)) - 1.0
        features = []
        for i in range(len(self.widths)):
            if i > 0:
                h = F.avg_pool2d(h, 2) if min(h.shape[-2:]) >= 2 else h
            h = F.pad(h, (1, 1, 1, 1), mode="reflect" if min(h.shape[-2:]) > 1 else "replicate")
            h = F.relu(F.conv2d(h, getattr(self, f"weight{i}"), getattr(self, f"bias{i}")))
            features.append(h.mean(dim=(-2, -1)))
        return torch.cat(features, dim=1)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, widths={self.widths}, seed={self.seed}, "
            f"value_range={self.value_range}"
        )


def polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cubic polynomial kernel matrix ``(a b^T / d + 1) ** 3``: (m, d), (n, d) -> (m, n)."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(fx: torch.Tensor, fy: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 between feature sets (m, d) and (n, d) under the cubic kernel, in float64.

    The within-set sums leave out the diagonal (i == j), which is what makes it unbiased; it
    can therefore be slightly negative when the two sets come from the same distribution.

    Example:
        >>> x = torch.randn(50, 8)
        >>> float(mmd2_unbiased(x, x + 3)) > float(mmd2_unbiased(x[:25], x[25:]))
        True
    """
    _check_features(fx, fy)
    fx, fy = fx.double(), fy.double()
    m, n = fx.shape[0], fy.shape[0]
    kxx, kyy, kxy = polynomial_kernel(fx, fx), polynomial_kernel(fy, fy), polynomial_kernel(fx, fy)
    sum_xx = kxx.sum() - kxx.diagonal().sum()
    sum_yy = kyy.sum() - kyy.diagonal().sum()
    return sum_xx / (m * (m - 1)) + sum_yy / (n * (n - 1)) - 2.0 * kxy.sum() / (m * n)


def mmd2_unbiased_reference(fx: torch.Tensor, fy: torch.Tensor) -> float:
    """The same estimate as :func:`mmd2_unbiased`, written as explicit loops over pairs."""
    _check_features(fx, fy)
    xs, ys = fx.double().tolist(), fy.double().tolist()
    d = len(xs[0])

    def k(a: list[float], b: list[float]) -> float:
        return (sum(p * q for p, q in zip(a, b, strict=True)) / d + 1.0) ** 3

    m, n = len(xs), len(ys)
    xx = sum(k(xs[i], xs[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(ys[i], ys[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(a, b) for a in xs for b in ys) / (m * n)
    return xx + yy - 2.0 * xy


@dataclass(frozen=True)
class KID:
    """A KID estimate: mean and standard deviation of MMD^2 over ``subsets`` random subsets."""

    mean: float
    std: float
    subsets: int
    subset_size: int

    @property
    def stderr(self) -> float:
        """Standard error of the mean, treating the subsets as independent (they overlap)."""
        return self.std / math.sqrt(self.subsets)


def kid_from_features(
    fx: torch.Tensor,
    fy: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> KID:
    """KID from feature sets (m, d) and (n, d): MMD^2 averaged over random equal-size subsets.

    As in Binkowski et al. (2018), each subset takes ``min(subset_size, m, n)`` rows of each
    set without replacement; ``seed`` fixes the draw so that the estimate is reproducible.

    Example:
        >>> x, y = torch.randn(200, 16), torch.randn(200, 16) + 1
        >>> kid_from_features(x, y, subsets=10, subset_size=100).mean > 0
        True
    """
    _check_features(fx, fy)
    subsets = v.positive_int("subsets", subsets)
    size = min(v.positive_int("subset_size", subset_size), fx.shape[0], fy.shape[0])
    g = torch.Generator().manual_seed(v.nonnegative_int("seed", seed))
    values = []
    for _ in range(subsets):
        ix = torch.randperm(fx.shape[0], generator=g)[:size].to(fx.device)
        iy = torch.randperm(fy.shape[0], generator=g)[:size].to(fy.device)
        values.append(mmd2_unbiased(fx[ix], fy[iy]))
    stacked = torch.stack(values)
    std = float(stacked.std()) if subsets > 1 else 0.0
    return KID(float(stacked.mean()), std, subsets, size)


def kernel_inception_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    features: nn.Module | None = None,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    batch_size: int = 256,
) -> KID:
    """KID between two image sets (m, C, H, W) and (n, C, H, W) on a fixed feature network.

    ``features`` defaults to ``FixedFeatures(in_channels=C)`` (seed 0, inputs in [-1, 1]).

    Example:
        >>> a, b = torch.rand(64, 3, 16, 16) * 2 - 1, torch.rand(64, 3, 16, 16) * 2 - 1
        >>> k = kernel_inception_distance(a, b, subsets=5, subset_size=32)
        >>> abs(k.mean) < 0.05
        True
    """
    v.check_input("x", x, dims=2, channels=None)
    v.check_input("y", y, dims=2, channels=x.shape[1])
    if features is None:
        features = FixedFeatures(in_channels=x.shape[1]).to(x.device)
    fx = extract_features(features, x, batch_size)
    fy = extract_features(features, y, batch_size)
    return kid_from_features(fx, fy, subsets, subset_size, seed)


@torch.no_grad()
def extract_features(features: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Run ``features`` over ``x`` (N, C, H, W) in batches: -> (N, D)."""
    batch_size = v.positive_int("batch_size", batch_size)
    return torch.cat([features(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def _check_features(fx: torch.Tensor, fy: torch.Tensor) -> None:
    for name, f in (("fx", fx), ("fy", fy)):
        if not isinstance(f, torch.Tensor) or f.dim() != 2 or f.shape[0] < 2:
            shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
            raise ValueError(f"{name} must be a (N, D) tensor of features with N >= 2, got {shape}")
    if fx.shape[1] != fy.shape[1]:
        raise ValueError(
            f"fx and fy must have the same feature dimension, got {fx.shape[1]} and {fy.shape[1]}"
        )
