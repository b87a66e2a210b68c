from __future__ import annotations

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings

from checkerscope.analysis.kid import (
    KID_WIDTHS,
    kernel_inception_distance,
    kid_features,
    kid_from_features,
    mmd2_unbiased,
    mmd2_unbiased_reference,
    polynomial_kernel,
)
from checkerscope.features import PooledFeatures, RandomMultiScaleCNN


@settings(max_examples=30, deadline=None)
@given(
    m=st.integers(2, 9),
    n=st.integers(2, 9),
    d=st.integers(1, 6),
    shift=st.floats(-2, 2),
    seed=st.integers(0, 2**16),
)
def test_mmd2_matches_loop_reference(m: int, n: int, d: int, shift: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    fx = torch.randn(m, d, generator=g)
    fy = torch.randn(n, d, generator=g) + shift
    fast = float(mmd2_unbiased(fx, fy))
    assert fast == pytest.approx(mmd2_unbiased_reference(fx, fy), rel=1e-9, abs=1e-9)


def test_polynomial_kernel_entry_by_entry() -> None:
    a, b = torch.randn(3, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    k = polynomial_kernel(a, b)
    for i in range(3):
        for j in range(4):
            assert float(k[i, j]) == pytest.approx((float(a[i] @ b[j]) / 5 + 1) ** 3)


def test_unbiased_under_the_null_and_positive_under_a_shift() -> None:
    # Averaged over many draws from one distribution, the unbiased estimate is ~0, while the
    # biased (V-statistic) estimate, which keeps the diagonal, stays clearly positive.
    g = torch.Generator().manual_seed(0)
    unbiased, biased = [], []
    for _ in range(300):
        fx, fy = torch.randn(10, 4, generator=g).double(), torch.randn(10, 4, generator=g).double()
        unbiased.append(float(mmd2_unbiased(fx, fy)))
        kxx, kyy, kxy = (polynomial_kernel(p, q) for p, q in ((fx, fx), (fy, fy), (fx, fy)))
        biased.append(float(kxx.mean() + kyy.mean() - 2 * kxy.mean()))
    mean_u = sum(unbiased) / len(unbiased)
    sd_u = (sum((u - mean_u) ** 2 for u in unbiased) / len(unbiased)) ** 0.5
    assert abs(mean_u) < 3 * sd_u / len(unbiased) ** 0.5
    assert sum(biased) / len(biased) > 10 * sd_u / len(unbiased) ** 0.5
    shifted = mmd2_unbiased(torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g) + 1)
    assert float(shifted) > 0.5


def test_kid_with_one_full_subset_is_the_plain_estimate() -> None:
    fx, fy = torch.randn(30, 6), torch.randn(30, 6) + 0.5
    k = kid_from_features(fx, fy, subsets=1, subset_size=1000)
    assert k.subset_size == 30 and k.std == 0.0
    assert k.mean == pytest.approx(float(mmd2_unbiased(fx, fy)), rel=1e-12)


def test_kid_subsets_are_seeded() -> None:
    fx, fy = torch.randn(80, 6), torch.randn(90, 6) + 0.3
    a = kid_from_features(fx, fy, subsets=7, subset_size=20, seed=3)
    b = kid_from_features(fx, fy, subsets=7, subset_size=20, seed=3)
    c = kid_from_features(fx, fy, subsets=7, subset_size=20, seed=4)
    assert a == b and a != c and a.subset_size == 20 and a.std > 0


def test_kid_features_are_fixed_by_the_seed() -> None:
    x = torch.rand(3, 3, 20, 20) * 2 - 1
    assert torch.equal(kid_features(seed=5)(x), kid_features(seed=5)(x))
    assert not torch.equal(kid_features(seed=5)(x), kid_features(seed=6)(x))
    assert PooledFeatures(RandomMultiScaleCNN(widths=(4, 8)))(x).shape == (3, 12)
    assert all(not p.requires_grad for p in kid_features().parameters())


def test_kid_features_are_the_pooled_random_network_on_minus_one_one() -> None:
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    net = RandomMultiScaleCNN(3, KID_WIDTHS, seed=0, value_range=(-1.0, 1.0))
    means = torch.cat([f.mean(dim=(-2, -1)) for f in net.features(x)], dim=1)
    assert torch.equal(kid_features()(x), means)


def test_kid_features_keep_their_values() -> None:
    # Values of the network the GAN experiment's KID used before it shared
    # RandomMultiScaleCNN (FixedFeatures(in_channels=3, seed=0)): a change in the draw
    # order, the value mapping or the pooling would move every KID number.
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    f = kid_features(in_channels=3, seed=0)(x)
    assert f.shape == (2, 480) and int(f[0].count_nonzero()) == 354
    picks = [float(f[0, i]) for i in (0, 40, 100, 300)]
    assert picks == pytest.approx([0.31425631, 0.15230060, 0.41042894, 0.18235299], rel=1e-5)
    assert f.double().sum(dim=1).tolist() == pytest.approx([80.87109, 77.38978], rel=1e-5)


def test_tiny_images_do_not_break_the_pyramid() -> None:
    assert kid_features()(torch.zeros(2, 3, 3, 3)).shape == (2, 480)


def test_kid_sees_a_checkerboard() -> None:
    g = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(128, 3, 4, 4, generator=g), size=16)
    a, b = smooth[:64] * 2 - 1, smooth[64:] * 2 - 1
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 0.3 - 0.15
    same = kernel_inception_distance(a, b, subsets=10, subset_size=64)
    artifacts = kernel_inception_distance(a, b + checker, subsets=10, subset_size=64)
    assert artifacts.mean > same.mean + 5 * max(same.std, 1e-6)


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="fx must be a \\(N, D\\) tensor"):
        mmd2_unbiased(torch.zeros(1, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="same feature dimension, got 3 and 4"):
        mmd2_unbiased(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="subsets must be a positive integer, got 0"):
        kid_from_features(torch.zeros(5, 3), torch.zeros(5, 3), subsets=0)
    with pytest.raises(ValueError, match="value_range must be"):
        kid_features(value_range=(1.0, 0.0))
    with pytest.raises(ValueError, match="y has 1 channels"):
        kernel_inception_distance(torch.zeros(4, 3, 8, 8), torch.zeros(4, 1, 8, 8))
