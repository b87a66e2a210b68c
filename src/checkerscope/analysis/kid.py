"""Kernel Inception Distance (KID) on the features of a fixed network.

Binkowski, Sutherland, Arbel & Gretton (2018), "Demystifying MMD GANs": KID is the unbiased
estimate of the squared maximum mean discrepancy (MMD^2) between two sets of image features
under the cubic polynomial kernel ``k(a, b) = (a . b / d + 1) ** 3``, averaged over random
subsets.

The paper takes features from a pretrained Inception network. No weights can be downloaded
here, so the default features (:func:`kid_features`) are the spatial means of the stages of
:class:`checkerscope.features.RandomMultiScaleCNN`, a small multi-scale CNN whose weights are
drawn once from a fixed seed and never trained. Its numbers are therefore *not* comparable
with published KID values; they compare two sets of images against the same fixed network,
which is what an experiment comparing two generators needs. A user who has trained weights for
the same architecture can load them with :meth:`RandomMultiScaleCNN.from_file
<checkerscope.features.RandomMultiScaleCNN.from_file>` and pass
``PooledFeatures(network)`` as ``features``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from checkerscope import checks as v
from checkerscope.features import PooledFeatures, RandomMultiScaleCNN

KID_WIDTHS: tuple[int, ...] = (32, 64, 128, 256)
"""Channels of the stages of the default KID network: 480 features per image."""


def kid_features(
    in_channels: int = 3, seed: int = 0, value_range: tuple[float, float] = (-1.0, 1.0)
) -> PooledFeatures:
    """The default KID features: images (N, C, H, W) in ``value_range`` -> (N, 480).

    The spatial mean of each stage of ``RandomMultiScaleCNN(in_channels, KID_WIDTHS, seed,
    value_range)``, concatenated, so fine stages see pixel-level texture (checkerboards
    included) and coarse stages see layout and colour. The same seed gives the same network on
    every machine.

    Example:
        >>> kid_features()(torch.rand(4, 3, 32, 32) * 2 - 1).shape
        torch.Size([4, 480])
    """
    return PooledFeatures(RandomMultiScaleCNN(in_channels, KID_WIDTHS, seed, value_range))


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
    features: Callable[[torch.Tensor], torch.Tensor] | None = None,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    batch_size: int = 256,
) -> KID:
    """KID between two image sets (m, C, H, W) and (n, C, H, W) on a fixed feature network.

    ``features`` maps images to (N, D) vectors; it defaults to ``kid_features(in_channels=C)``
    (seed 0, inputs in [-1, 1]).

    Example:
        >>> a, b = torch.rand(64, 3, 16, 16) * 2 - 1, torch.rand(64, 3, 16, 16) * 2 - 1
        >>> k = kernel_inception_distance(a, b, subsets=5, subset_size=32)
        >>> abs(k.mean) < 0.05
        True
    """
    v.check_input("x", x, dims=2, channels=None)
    v.check_input("y", y, dims=2, channels=x.shape[1])
    if features is None:
        features = kid_features(in_channels=x.shape[1]).to(x.device)
    fx = extract_features(features, x, batch_size)
    fy = extract_features(features, y, batch_size)
    return kid_from_features(fx, fy, subsets, subset_size, seed)


@torch.no_grad()
def extract_features(
    features: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 256
) -> torch.Tensor:
    """Run ``features`` over ``x`` (N, C, H, W) in batches, without gradients: -> (N, D)."""
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
