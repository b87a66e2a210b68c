"""The latent-diffusion KL decoder: nearest x2 -> 3x3 conv upsampling, GroupNorm eps 1e-6."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.zoo.ldm import LDMAttnBlock, LDMDecoder, LDMResnetBlock, LDMUpsample

from .structure import geometry, of_type


def test_upsamples_three_times_by_nearest_then_conv() -> None:
    dec = LDMDecoder()
    ups = of_type(dec, LDMUpsample)
    assert len(ups) == 3
    for up in ups:
        resize, conv = up
        assert (resize.scale_factor, resize.mode) == (2.0, "nearest")
        assert geometry(conv)[:3] == ((3, 3), (1, 1), (1, 1))
        assert conv.in_channels == conv.out_channels
    assert not of_type(dec, (nn.ConvTranspose2d, nn.PixelShuffle))
    norms = of_type(dec, nn.GroupNorm)
    assert {(m.num_groups, m.eps) for m in norms} == {(8, 1e-6)}
    assert len(of_type(dec, LDMResnetBlock)) == 2 + 4 * 2 and len(of_type(dec, LDMAttnBlock)) == 1
    assert dec.post_quant_conv.kernel_size == (1, 1)


def test_attention_is_the_references_softmax_of_scaled_dot_products() -> None:
    torch.manual_seed(0)
    attn = LDMAttnBlock(8, groups=4)
    x = torch.randn(2, 8, 3, 5)
    h = attn.norm(x)
    q, k, v = (f(h).flatten(2) for f in (attn.q, attn.k, attn.v))  # (b, c, hw)
    w = F.softmax(torch.bmm(q.transpose(1, 2), k) * 8**-0.5, dim=2)  # (b, hw_q, hw_k)
    expected = x + attn.proj_out(torch.bmm(v, w.transpose(1, 2)).reshape(2, 8, 3, 5))
    torch.testing.assert_close(attn(x), expected)


def test_bad_groups_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^groups must divide every width \[12, 24\], got 8$"):
        LDMDecoder(ch=12, ch_mult=(1, 2))
