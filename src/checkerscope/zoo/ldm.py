"""The decoder of the latent-diffusion (Stable Diffusion) KL autoencoder: nearest upsampling
followed by a 3x3 convolution at each level.

Rombach, Blattmann, Lorenz, Esser & Ommer (2022), "High-Resolution Image Synthesis with Latent
Diffusion Models", CVPR; reference: CompVis/latent-diffusion
``ldm/modules/diffusionmodules/model.py`` (``Decoder``, ``ResnetBlock``, ``AttnBlock``,
``Upsample``, ``Normalize``), ``ldm/models/autoencoder.py`` (``AutoencoderKL.decode``) and
``models/first_stage_models/kl-f8/config.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v


def _group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(groups, channels, eps=1e-6, affine=True)


class LDMResnetBlock(nn.Module):
    """GroupNorm, swish, 3x3 conv, GroupNorm, swish, 3x3 conv; plus the input (through a 1x1
    conv where the channels change).

    Example:
        >>> LDMResnetBlock(8, 16, groups=4)(torch.randn(2, 8, 6, 6)).shape
        torch.Size([2, 16, 6, 6])
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int) -> None:
        super().__init__()
        self.norm1 = _group_norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = _group_norm(out_channels, groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.shortcut(x) + h


class LDMAttnBlock(nn.Module):
    """Single-head self-attention over the pixels of a map, with a residual connection.

    Example:
        >>> LDMAttnBlock(8, groups=4)(torch.randn(2, 8, 4, 4)).shape
        torch.Size([2, 8, 4, 4])
    """

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = _group_norm(channels, groups)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(channels, channels, 1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        q, k, v_ = (f(y).flatten(2).transpose(1, 2) for f in (self.q, self.k, self.v))
        attended = F.scaled_dot_product_attention(q, k, v_)  # softmax(q k^T / sqrt(c)) v
        return x + self.proj_out(attended.transpose(1, 2).reshape(b, c, h, w))


class LDMUpsample(nn.Sequential):
    """``Upsample(scale_factor=2, mode='nearest')`` followed by ``Conv2d(C, C, 3, 1, 1)``.

    Example:
        >>> LDMUpsample(4)(torch.randn(1, 4, 5, 5)).shape
        torch.Size([1, 4, 10, 10])
    """

    def __init__(self, channels: int) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(channels, channels, 3, 1, 1)
        )


class LDMDecoder(nn.Module):
    """The KL autoencoder's decoding path: a latent (N, embed_dim, h, w) to an image
    (N, out_ch, 2**(L-1) h, 2**(L-1) w), L = ``len(ch_mult)``.

    ``post_quant_conv`` (1x1, as ``AutoencoderKL.decode``), ``conv_in`` (3x3); a middle of
    :class:`LDMResnetBlock`, :class:`LDMAttnBlock`, :class:`LDMResnetBlock`; per level from the
    deepest, ``num_res_blocks + 1`` resnet blocks (attention at ``attn_resolutions``, none in
    kl-f8) and, except at the last level, :class:`LDMUpsample`; GroupNorm, swish, ``conv_out``.
    GroupNorm has eps 1e-6; PyTorch's default init. Rombach et al. (2022);
    CompVis/latent-diffusion ``ldm/modules/diffusionmodules/model.py`` (``Decoder``). Sizes
    here: kl-f8's ``ch_mult=(1, 2, 4, 4)``, ``z_channels=4``, with ``ch=32`` (128),
    ``num_res_blocks=1`` (2) and ``groups=8`` (32: the same 4 channels per group at ``ch``).

    Example:
        >>> LDMDecoder(ch=8, ch_mult=(1, 2), groups=4)(torch.randn(2, 4, 4, 4)).shape
        torch.Size([2, 3, 8, 8])
    """

    def __init__(
        self,
        ch: int = 32,
        out_ch: int = 3,
        ch_mult: Sequence[int] = (1, 2, 4, 4),
        num_res_blocks: int = 1,
        z_channels: int = 4,
        embed_dim: int = 4,
        groups: int = 8,
        attn_resolutions: Sequence[int] = (),
        resolution: int = 64,
    ) -> None:
        super().__init__()
        for name, value in (("ch", ch), ("out_ch", out_ch), ("z_channels", z_channels)):
            v.positive_int(name, value)
        v.positive_int("embed_dim", embed_dim)
        v.nonnegative_int("num_res_blocks", num_res_blocks)
        mults = [v.positive_int("ch_mult", m) for m in ch_mult]
        if not mults:
            raise ValueError(f"ch_mult must hold at least one multiplier, got {ch_mult!r}")
        widths = [ch * m for m in mults]
        if any(w % v.positive_int("groups", groups) for w in widths):
            raise ValueError(f"groups must divide every width {widths}, got {groups}")
        block_in = widths[-1]
        res = resolution // 2 ** (len(mults) - 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, z_channels, 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, 1, 1)
        self.mid = nn.Sequential(
            LDMResnetBlock(block_in, block_in, groups),
            LDMAttnBlock(block_in, groups),
            LDMResnetBlock(block_in, block_in, groups),
        )
        levels: list[nn.Module] = []
        for level in reversed(range(len(mults))):
            layers: list[nn.Module] = []
            for _ in range(num_res_blocks + 1):
                layers.append(LDMResnetBlock(block_in, widths[level], groups))
                block_in = widths[level]
                if res in attn_resolutions:
                    layers.append(LDMAttnBlock(block_in, groups))
            if level != 0:
                layers.append(LDMUpsample(block_in))
                res *= 2
            levels.append(nn.Sequential(*layers))
        self.up = nn.Sequential(*levels)
        self.norm_out = _group_norm(block_in, groups)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        v.check_input("z", z, dims=2, channels=self.post_quant_conv.in_channels)
        h = self.up(self.mid(self.conv_in(self.post_quant_conv(z))))
        return self.conv_out(F.silu(self.norm_out(h)))
