"""checkerscope.analysis.welch: unit scale, the choice of implementation, windows."""

from __future__ import annotations

import math

import pytest
import torch

from checkerscope.analysis import score as S
from checkerscope.analysis import welch as W


def test_unit_scale_is_a_power_of_two_per_image() -> None:
    x = torch.tensor([[3.0, -5.0], [1e-20, 0.0], [0.0, 0.0], [math.inf, 1.0]])
    scale, finite = W.unit_scale(x)
    assert finite.tolist() == [True, True, True, False]
    for peak, s in zip((5.0, 1e-20, 0.0), scale.tolist(), strict=False):
        assert math.log2(s).is_integer()
        assert peak == 0 or 0.5 <= peak * s < 1
    assert W.unit_scale(torch.tensor([[200, 7]], dtype=torch.uint8))[0].tolist() == [2.0**-8]


def test_auto_takes_numpy_for_cpu_images_without_gradients() -> None:
    x = torch.rand(1, 1, 8, 8)
    assert W.resolve_impl(x) == "numpy"
    assert W.resolve_impl(x.requires_grad_(True)) == "torch"
    assert W.resolve_impl(x, "torch") == "torch"
    with pytest.raises(ValueError, match="impl must be one of 'auto', 'torch', 'numpy'"):
        W.resolve_impl(x, "fused")


def test_the_fast_path_is_the_one_a_single_image_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names both implementations: fails if the NumPy path stops being used where it should."""
    calls = {"numpy": 0, "torch": 0}
    numpy_path, torch_path = W.lattice_energy_numpy, W.lattice_energy

    def numpy_spy(*args, **kw):
        calls["numpy"] += 1
        return numpy_path(*args, **kw)

    def torch_spy(*args, **kw):
        calls["torch"] += 1
        return torch_path(*args, **kw)

    monkeypatch.setattr(W, "lattice_energy_numpy", numpy_spy)
    monkeypatch.setattr(W, "lattice_energy", torch_spy)
    x = torch.rand(1, 300, 200)  # two windows, one image
    fast = S.period_scores(x)
    assert calls == {"numpy": 2, "torch": 0}
    reference = S.period_scores(x, impl="torch")
    assert calls == {"numpy": 2, "torch": 1}
    torch.testing.assert_close(fast, reference, atol=1e-3, rtol=0)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_windows_chunks_and_implementations_agree(dtype: torch.dtype) -> None:
    """Several images of several windows, converted a chunk at a time: NumPy window by window
    and torch in chunks give the same energies."""
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 300, 530, generator=gen, dtype=torch.float64) * 255
    x[1, :, ::2, ::2] += 20
    x = x.to(dtype)
    periods, sides = (2, 4, 8), (256, 256)
    fast = W.welch_energy(x, periods, sides, "numpy", S.luma)
    batched = W.welch_energy(x, periods, sides, "torch", S.luma)
    for f, b in zip(fast, batched, strict=True):
        assert f.shape == (3, 3, 3)
        torch.testing.assert_close(f.double(), b.double(), rtol=2e-4, atol=0)
