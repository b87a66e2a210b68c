"""pix2pix's U-Net generator and PatchGAN discriminator.

Isola, Zhu, Zhou & Efros (2017), "Image-to-Image Translation with Conditional Adversarial
Networks", CVPR; reference: junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``
(``UnetGenerator``, ``UnetSkipConnectionBlock``, ``NLayerDiscriminator``, ``get_norm_layer``,
``init_weights``).
"""

from __future__ import annotations

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.zoo.initialization import normal_init, reset_children

NORMS = ("batch", "instance")
"""The reference's ``--norm``: pix2pix trains with "batch", CycleGAN with "instance"."""


def norm_layer(norm: str, channels: int) -> nn.Module:
    """The reference's ``get_norm_layer``: BatchNorm2d (affine), or InstanceNorm2d without
    affine parameters or running statistics.

    Example:
        >>> layer = norm_layer("instance", 8)
        >>> type(layer).__name__, layer.affine, layer.track_running_stats
        ('InstanceNorm2d', False, False)
    """
    v.one_of("norm", norm, NORMS)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def check_image(name: str, x: torch.Tensor, channels: int, multiple: int) -> None:
    """Check that ``x`` is (N, channels, H, W) with H and W divisible by ``multiple``.

    Example:
        >>> check_image("x", torch.zeros(1, 3, 30, 32), 3, 4)
        Traceback (most recent call last):
        ...
        ValueError: x must have a height and width divisible by 4, got shape (1, 3, 30, 32)
    """
    v.check_input(name, x, dims=2, channels=channels)
    if x.shape[2] % multiple or x.shape[3] % multiple:
        raise ValueError(
            f"{name} must have a height and width divisible by {multiple}, got shape "
            f"{tuple(x.shape)}"
        )


class UNetSkipBlock(nn.Module):
    """One level of pix2pix's U-Net: down, the levels below (``submodule``), up, and the skip.

    Down: LeakyReLU(0.2), ``Conv2d(k=4, s=2, p=1)``, norm (the outermost has only the conv,
    the innermost no norm). Up: ReLU, ``ConvTranspose2d(k=4, s=2, p=1)``, then norm (tanh for
    the outermost), then Dropout(0.5) if ``dropout``. Every level but the outermost returns
    its input concatenated with its output, which doubles the channels the level above
    upsamples. Biases only with instance norm, as in the reference.

    Example:
        >>> UNetSkipBlock(8, 16, innermost=True)(torch.randn(2, 8, 4, 4)).shape
        torch.Size([2, 16, 4, 4])
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        bias = norm == "instance"
        input_nc = outer_nc if input_nc is None else input_nc
        down_conv = nn.Conv2d(input_nc, inner_nc, 4, 2, 1, bias=bias)
        up_in = inner_nc if innermost else 2 * inner_nc
        up_conv = nn.ConvTranspose2d(up_in, outer_nc, 4, 2, 1, bias=bias or outermost)
        layers: list[nn.Module]
        if outermost:
            layers = [down_conv, submodule, nn.ReLU(True), up_conv, nn.Tanh()]  # type: ignore[list-item]
        elif innermost:
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True), up_conv]
            layers.append(norm_layer(norm, outer_nc))
        else:
            layers = [nn.LeakyReLU(0.2, True), down_conv, norm_layer(norm, inner_nc), submodule]  # type: ignore[list-item]
            layers += [nn.ReLU(True), up_conv, norm_layer(norm, outer_nc)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class Pix2PixUNet(nn.Module):
    """pix2pix's U-Net generator: (N, input_nc, S, S) -> (N, output_nc, S, S), S = 2**num_downs.

    ``num_downs`` levels of :class:`UNetSkipBlock`; channels ngf, 2 ngf, 4 ngf, then 8 ngf
    down to a 1x1 bottleneck; the ``num_downs - 5`` levels just above the innermost use
    dropout. Upsampling: ``num_downs`` ``ConvTranspose2d(k=4, s=2, p=1)``. Weights N(0, 0.02),
    biases 0, batch-norm scales N(1, 0.02) (``init_type='normal'``). Isola et al. (2017);
    junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py`` (``UnetGenerator``).
    Defaults here: ``unet_128`` (``num_downs=7``, 128 x 128; the paper's ``unet_256`` has 8)
    with ``ngf=8`` (reference 64), batch norm and dropout as pix2pix trains it.

    Example:
        >>> Pix2PixUNet(num_downs=5, ngf=4)(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        num_downs: int = 7,
        ngf: int = 8,
        norm: str = "batch",
        dropout: bool = True,
    ) -> None:
        super().__init__()
        v.positive_int("input_nc", input_nc)
        v.positive_int("output_nc", output_nc)
        v.positive_int("ngf", ngf)
        v.one_of("norm", norm, NORMS)
        if v.positive_int("num_downs", num_downs) < 5:
            raise ValueError(f"num_downs must be at least 5, got {num_downs}")
        self.input_nc, self.multiple = input_nc, 2**num_downs
        block = UNetSkipBlock(8 * ngf, 8 * ngf, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UNetSkipBlock(8 * ngf, 8 * ngf, submodule=block, norm=norm, dropout=dropout)
        for mult in (4, 2, 1):
            block = UNetSkipBlock(mult * ngf, 2 * mult * ngf, submodule=block, norm=norm)
        self.model = UNetSkipBlock(
            output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every weight as the reference does (``init_weights``, 'normal', 0.02)."""
        reset_children(self)
        normal_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image("x", x, self.input_nc, self.multiple)
        return self.model(x)


class PatchGANDiscriminator(nn.Module):
    """pix2pix's PatchGAN discriminator (70 x 70 receptive field for ``n_layers=3``): an image
    (N, input_nc, H, W) to a map of logits (N, 1, H/8 - 2, W/8 - 2).

    ``Conv2d(k=4, s=2, p=1)`` with LeakyReLU(0.2), ``n_layers - 1`` more with norm (channels
    doubling up to 8 ndf), one ``Conv2d(k=4, s=1, p=1)`` with norm, and ``Conv2d(8 ndf, 1, 4,
    1, 1)``. Its strided layers put a checkerboard into the gradient it sends back. Init as
    the generator's. Isola et al. (2017); junyanz/pytorch-CycleGAN-and-pix2pix
    ``models/networks.py`` (``NLayerDiscriminator``). Widths here: ``ndf=8`` (reference 64);
    ``input_nc=3`` as CycleGAN uses it (pix2pix's conditional D takes input and output, 6).

    Example:
        >>> PatchGANDiscriminator(ndf=4)(torch.randn(2, 3, 64, 64)).shape
        torch.Size([2, 1, 6, 6])
    """

    def __init__(
        self, input_nc: int = 3, ndf: int = 8, n_layers: int = 3, norm: str = "batch"
    ) -> None:
        super().__init__()
        v.positive_int("input_nc", input_nc)
        v.positive_int("ndf", ndf)
        v.positive_int("n_layers", n_layers)
        bias = v.one_of("norm", norm, NORMS) == "instance"
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias),
                norm_layer(norm, ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.input_nc = input_nc
        self.model = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every weight as the reference does (``init_weights``, 'normal', 0.02)."""
        reset_children(self)
        normal_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("x", x, dims=2, channels=self.input_nc)
        return self.model(x)
