"""checkerscope.conversion.projection: the least-squares projection satisfies the optimality
condition computed by autograd through the two real modules, and the residual's closed form
equals the brute-force one, at the optimum and off it."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

import checkerscope
from checkerscope.conversion import convert, projection_residual

from .lifting import DECONV, delta_batch, lift_1d, lifted_deconv, resize_part

PROJECTION_CASES = [
    # dims, k, s, p, op, d, k_new, mode
    (2, 4, 2, 1, 0, 1, 3, "nearest"),  # DCGAN
    (2, 4, 2, 1, 0, 1, None, "nearest"),
    (2, 2, 2, 0, 0, 1, 3, "bilinear"),  # U-Net
    (2, 4, 2, 0, 0, 1, 3, "nearest"),  # adapter, extra = +2
    (2, 3, 2, 1, 0, 1, 4, "nearest"),  # adapter, extra = -1
    (1, 8, 4, 2, 0, 1, 5, "nearest"),  # audio x4
    (1, 3, 3, 0, 2, 2, 3, "bilinear"),  # dilated, output_padding
    (3, 4, 2, 1, 0, 1, 3, "nearest"),
]


@pytest.mark.parametrize(("dims", "k", "s", "p", "op", "d", "k_new", "mode"), PROJECTION_CASES)
def test_projection_is_the_least_squares_optimum(dims, k, s, p, op, d, k_new, mode) -> None:
    """Brute force through the real modules: the squared distance between the two layers'
    responses to an interior impulse in each input channel has zero gradient at the projected
    weights, and its square root relative to the deconvolution's response is the residual."""
    torch.manual_seed(dims * k * s)
    deconv = DECONV[dims](3, 2, k, s, p, output_padding=op, dilation=d, bias=False)
    deconv = deconv.double()
    new = convert(deconv, mode=mode, init="project", kernel_size=k_new)
    x = delta_batch(3, 2 * (k * d + 5) // s + 9, dims)
    old = deconv(x).detach()
    loss = ((new(x) - old) ** 2).sum()
    (grad,) = torch.autograd.grad(loss, resize_part(new).weight)
    assert grad.abs().max() < 1e-9 * old.abs().max()
    brute = (loss.sqrt() / old.norm()).item()
    assert new.projection_residual == pytest.approx(brute, rel=1e-9)
    assert 0 < new.projection_residual < 1


@pytest.mark.parametrize(("dims", "k", "s", "p", "op", "d", "k_new", "mode"), PROJECTION_CASES)
def test_projection_beats_a_fresh_layer(dims, k, s, p, op, d, k_new, mode) -> None:
    torch.manual_seed(7)
    deconv = DECONV[dims](4, 3, k, s, p, output_padding=op, dilation=d)
    fresh, report = convert(deconv, mode=mode, kernel_size=k_new, return_report=True)
    projected = convert(deconv, mode=mode, kernel_size=k_new, init="project")
    r_fresh = projection_residual(deconv, fresh)
    assert report.converted[0].residual == r_fresh
    assert 0 < projected.projection_residual < 1 < r_fresh
    # the residual of any weights is the brute-force one (checks the closed form off-optimum)
    deconv, fresh = deconv.double(), fresh.double()
    x = delta_batch(4, 2 * (k * d + 5) // s + 9, dims)
    old = deconv(x) - deconv.bias.reshape(1, -1, *(1,) * dims)  # biases are not operators
    new = fresh(x) - resize_part(fresh).bias.reshape(1, -1, *(1,) * dims)
    brute = ((new - old).norm() / old.norm()).item()
    assert r_fresh == pytest.approx(brute, rel=1e-9)


def test_projected_layer_tracks_a_near_resize_conv_deconvolution() -> None:
    """A deconvolution that is a resize-conv plus 1% noise: projection recovers the resize-conv
    to within the noise, and on a smooth input the two outputs agree closely."""
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(6, 5, 3, 3, generator=gen, dtype=torch.float64)
    deconv = lifted_deconv(w, 2, 1, 0)
    noise = torch.randn(deconv.weight.shape, generator=gen, dtype=torch.float64)
    noise *= 0.01 * deconv.weight.norm() / noise.norm()
    with torch.no_grad():
        deconv.weight.add_(noise)
    new = convert(deconv, init="project")
    assert 0 < new.projection_residual < 0.01
    # least squares cannot move w further than the noise over the lift's smallest gain
    lift = np.stack([lift_1d(np.eye(3)[j], 2) for j in range(3)], axis=1)
    gain = np.linalg.svd(lift, compute_uv=False).min() ** 2  # separable: 2-D gain squared
    assert (new.weight - w).norm() <= noise.norm() / gain
    t = torch.linspace(0, 1, 24, dtype=torch.float64)
    smooth = torch.stack(
        [torch.outer(torch.sin(3 * t + c), torch.cos(2 * t - c)) for c in range(5)]
    )
    y_old, y_new = deconv(smooth[None]), new(smooth[None])
    inner = (..., slice(2, -2), slice(2, -2))  # borders differ: reflect vs implicit zeros
    assert (y_new - y_old)[inner].norm() / y_old[inner].norm() < 0.02


def test_mismatched_replacement() -> None:
    deconv = nn.ConvTranspose2d(2, 2, 4, 2, 1)
    with pytest.raises(ValueError, match=re.escape("scale_factor=3 does not match")):
        projection_residual(deconv, checkerscope.nn.ResizeConv2d(2, 2, scale_factor=3))
    with pytest.raises(ValueError, match=re.escape("differs from the deconvolution's")):
        projection_residual(nn.ConvTranspose2d(2, 2, 3, 2, 1), checkerscope.nn.ResizeConv2d(2, 2))
    with pytest.raises(ValueError, match="replacement must be a ResizeConv1d/2d/3d"):
        projection_residual(deconv, nn.Conv2d(2, 2, 3))


def test_an_all_zero_deconvolution_has_an_infinite_residual_unless_matched() -> None:
    deconv = nn.ConvTranspose2d(2, 2, 4, 2, 1)
    nn.init.zeros_(deconv.weight)
    assert convert(deconv, init="project").projection_residual == 0
    assert projection_residual(deconv, convert(deconv)) == float("inf")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_projection_on_cuda_matches_cpu() -> None:
    torch.manual_seed(0)
    deconv = nn.ConvTranspose2d(4, 3, 4, 2, 0)
    on_cpu = convert(deconv, init="project")
    on_gpu = convert(deconv.cuda(), init="project")
    assert resize_part(on_gpu).weight.device.type == "cuda"
    assert on_gpu.projection_residual == pytest.approx(on_cpu.projection_residual, rel=1e-9)
    torch.testing.assert_close(resize_part(on_gpu).weight.cpu(), resize_part(on_cpu).weight)
    x = torch.randn(1, 4, 6, 6)
    torch.testing.assert_close(on_gpu(x.cuda()).cpu(), on_cpu(x), rtol=1e-4, atol=1e-5)
