"""MelGAN's generator and multi-scale discriminator (1-D, transposed-convolution upsampling).

Kumar et al. (2019), "MelGAN: Generative Adversarial Networks for Conditional Waveform
Synthesis", NeurIPS; reference: descriptinc/melgan-neurips ``mel2wav/modules.py``
(``Generator``, ``ResnetBlock``, ``NLayerDiscriminator``, ``Discriminator``) and
``scripts/train.py`` (defaults).

Both wrap every convolution in weight normalisation (``weight_norm=True``, the default here);
at initialization it leaves the weights as drawn (``g = ||v||``), so ``weight_norm=False``
computes the same function at random init. The reference's ``weights_init`` (N(0, 0.02)) runs
after weight normalisation and so writes into a recomputed tensor: the weights it trains from
are PyTorch's default ones, which is what these models draw (jik876/hifi-gan issue #145
describes the same for HiFi-GAN).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.zoo.weightnorm import conv1d, conv_transpose1d


class MelGANResnetBlock(nn.Module):
    """shortcut(x) + (LeakyReLU, reflection pad d, 3-tap conv dilated d, LeakyReLU, 1x1)(x),
    with a 1x1 ``shortcut`` conv.

    Example:
        >>> MelGANResnetBlock(8, dilation=3)(torch.randn(2, 8, 40)).shape
        torch.Size([2, 8, 40])
    """

    def __init__(self, dim: int, dilation: int = 1, weight_norm: bool = True) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.ReflectionPad1d(dilation),
            conv1d(weight_norm, dim, dim, kernel_size=3, dilation=dilation),
            nn.LeakyReLU(0.2),
            conv1d(weight_norm, dim, dim, kernel_size=1),
        )
        self.shortcut = conv1d(weight_norm, dim, dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


class MelGANGenerator(nn.Module):
    """MelGAN's generator: a mel spectrogram (N, n_mels, T) to a waveform (N, 1, 256 T).

    Reflection pad 3 and a 7-tap conv to ``16 ngf`` channels; for each ratio r in (8, 8, 2,
    2): LeakyReLU(0.2), ``ConvTranspose1d(C, C/2, kernel_size=2r, stride=r, padding=r//2 +
    r%2, output_padding=r%2)``, then ``n_residual_layers`` :class:`MelGANResnetBlock` with
    dilations 1, 3, 9; LeakyReLU, reflection pad 3, a 7-tap conv to 1 channel, tanh. Kumar et
    al. (2019); descriptinc/melgan-neurips ``mel2wav/modules.py`` (``Generator``). Sizes here:
    ``ngf=8`` (reference 32).

    Example:
        >>> MelGANGenerator(ngf=2, n_residual_layers=1)(torch.randn(2, 80, 4)).shape
        torch.Size([2, 1, 1024])
    """

    def __init__(
        self,
        n_mels: int = 80,
        ngf: int = 8,
        n_residual_layers: int = 3,
        ratios: Sequence[int] = (8, 8, 2, 2),
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        v.positive_int("n_mels", n_mels)
        v.positive_int("ngf", ngf)
        v.nonnegative_int("n_residual_layers", n_residual_layers)
        self.ratios = tuple(v.positive_int("ratios", r) for r in ratios)
        mult = 2 ** len(self.ratios)
        layers: list[nn.Module] = [
            nn.ReflectionPad1d(3),
            conv1d(weight_norm, n_mels, mult * ngf, kernel_size=7),
        ]
        for r in self.ratios:
            c = mult * ngf
            layers += [
                nn.LeakyReLU(0.2),
                conv_transpose1d(
                    weight_norm,
                    c,
                    c // 2,
                    2 * r,
                    stride=r,
                    padding=r // 2 + r % 2,
                    output_padding=r % 2,
                ),
            ]
            layers += [
                MelGANResnetBlock(c // 2, 3**j, weight_norm) for j in range(n_residual_layers)
            ]
            mult //= 2
        layers += [
            nn.LeakyReLU(0.2),
            nn.ReflectionPad1d(3),
            conv1d(weight_norm, ngf, 1, kernel_size=7),
            nn.Tanh(),
        ]
        self.n_mels = n_mels
        self.model = nn.Sequential(*layers)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        v.check_input("mel", mel, dims=1, channels=self.n_mels)
        return self.model(mel)


class MelGANScaleDiscriminator(nn.Module):
    """One scale of MelGAN's discriminator: a waveform (N, 1, L) to its layers' feature maps.

    Reflection pad 7 and a 15-tap conv (``ndf``); ``n_layers`` grouped strided convs
    (``kernel_size=10 s + 1``, ``stride=s``, ``padding=5 s``, ``groups=C_in // 4``, channels
    times s up to ``max_channels``); a 5-tap conv (channels doubled, capped); a 3-tap conv
    to 1 channel; LeakyReLU(0.2) between. The reference builds the 5-tap conv from the
    previous layer's input channels, which only equals the channels it receives once they
    have reached the cap (true for its defaults); here it takes the channels it receives.

    Example:
        >>> d = MelGANScaleDiscriminator(ndf=4, n_layers=2, max_channels=32)
        >>> [tuple(f.shape[1:]) for f in d.features(torch.randn(2, 1, 256))]
        [(4, 256), (16, 64), (32, 16), (32, 16), (1, 16)]
    """

    def __init__(
        self,
        ndf: int = 16,
        n_layers: int = 4,
        downsampling_factor: int = 4,
        max_channels: int = 1024,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        s = downsampling_factor
        layers: list[nn.Module] = [
            nn.Sequential(
                nn.ReflectionPad1d(7),
                conv1d(weight_norm, 1, ndf, kernel_size=15),
                nn.LeakyReLU(0.2, True),
            )
        ]
        nf = ndf
        for _ in range(n_layers):
            prev, nf = nf, min(nf * s, max_channels)
            if prev % 4 or nf % (prev // 4):
                raise ValueError(
                    f"channels {prev} -> {nf} cannot be grouped by {prev} // 4: choose ndf "
                    f"(got {ndf}) and max_channels (got {max_channels}) as multiples of 4"
                )
            conv = conv1d(
                weight_norm,
                prev,
                nf,
                kernel_size=10 * s + 1,
                stride=s,
                padding=5 * s,
                groups=prev // 4,
            )
            layers.append(nn.Sequential(conv, nn.LeakyReLU(0.2, True)))
        prev, nf = nf, min(nf * 2, max_channels)
        layers.append(
            nn.Sequential(
                conv1d(weight_norm, prev, nf, kernel_size=5, padding=2), nn.LeakyReLU(0.2, True)
            )
        )
        layers.append(conv1d(weight_norm, nf, 1, kernel_size=3, padding=1))
        self.layers = nn.ModuleList(layers)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's output, the last being the logits (for the feature-matching loss)."""
        out = []
        for layer in self.layers:
            x = layer(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[-1]


class MelGANDiscriminator(nn.Module):
    """MelGAN's multi-scale discriminator: a waveform (N, 1, L) to the logits of its
    ``num_D`` scales, flattened and concatenated, (N, sum of L / 256 over scales) for the
    defaults.

    Scale k sees the waveform average-pooled k times by ``AvgPool1d(4, stride=2, padding=1,
    count_include_pad=False)``. The reference returns every layer's features per scale
    (:meth:`features`); ``forward`` returns the logits the adversarial loss reads, so that
    an audit can take the gradient of their sum. Kumar et al. (2019);
    descriptinc/melgan-neurips ``mel2wav/modules.py`` (``Discriminator``). Sizes here:
    ``ndf=16`` as the reference, ``max_channels=256`` (reference 1024).

    Example:
        >>> MelGANDiscriminator(max_channels=64)(torch.randn(2, 1, 1024)).shape
        torch.Size([2, 7])
    """

    def __init__(
        self,
        num_D: int = 3,
        ndf: int = 16,
        n_layers: int = 4,
        downsampling_factor: int = 4,
        max_channels: int = 256,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        v.positive_int("num_D", num_D)
        for name, value in (("ndf", ndf), ("n_layers", n_layers), ("max_channels", max_channels)):
            v.positive_int(name, value)
        v.positive_int("downsampling_factor", downsampling_factor)
        self.scales = nn.ModuleList(
            MelGANScaleDiscriminator(ndf, n_layers, downsampling_factor, max_channels, weight_norm)
            for _ in range(num_D)
        )
        self.downsample = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    def features(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per scale, every layer's output, as the reference's ``forward`` returns them."""
        out = []
        for i, scale in enumerate(self.scales):
            if i:
                x = self.downsample(x)
            out.append(scale.features(x))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("x", x, dims=1, channels=1)
        return torch.cat([f[-1].flatten(1) for f in self.features(x)], dim=1)
