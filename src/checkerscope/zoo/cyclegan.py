"""CycleGAN's ResNet generator (after Johnson et al.'s style-transfer network).

Zhu, Park, Isola & Efros (2017), "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", ICCV; reference: junyanz/pytorch-CycleGAN-and-pix2pix
``models/networks.py`` (``ResnetGenerator``, ``ResnetBlock``).
"""

from __future__ import annotations

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.zoo.initialization import normal_init, reset_children
from checkerscope.zoo.pix2pix import NORMS, check_image, norm_layer


class ResnetBlock(nn.Module):
    """x + (reflection pad 1, 3x3 conv, norm, ReLU, reflection pad 1, 3x3 conv, norm)(x).

    Example:
        >>> ResnetBlock(8, "instance")(torch.randn(1, 8, 6, 6)).shape
        torch.Size([1, 8, 6, 6])
    """

    def __init__(self, dim: int, norm: str) -> None:
        super().__init__()
        bias = norm == "instance"
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),
            norm_layer(norm, dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),
            norm_layer(norm, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class CycleGANResnetGenerator(nn.Module):
    """CycleGAN's generator: (N, input_nc, H, W) -> (N, output_nc, H, W), H, W divisible by 4.

    Reflection pad 3 and a 7x7 conv (ngf), two ``Conv2d(k=3, s=2, p=1)`` down (2 ngf, 4 ngf),
    ``n_blocks`` :class:`ResnetBlock`, two ``ConvTranspose2d(k=3, s=2, p=1,
    output_padding=1)`` up (each with norm and ReLU), reflection pad 3, a 7x7 conv and tanh.
    Instance norm without affine parameters (so convolutions carry biases); weights N(0,
    0.02), biases 0. Zhu et al. (2017); junyanz/pytorch-CycleGAN-and-pix2pix
    ``models/networks.py`` (``ResnetGenerator``). Defaults here: ``resnet_6blocks`` (the
    paper's 128 x 128 network; 256 x 256 uses 9) with ``ngf=8`` (reference 64).

    Example:
        >>> CycleGANResnetGenerator(ngf=4, n_blocks=2)(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 8,
        n_blocks: int = 6,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        v.positive_int("input_nc", input_nc)
        v.positive_int("output_nc", output_nc)
        v.positive_int("ngf", ngf)
        v.nonnegative_int("n_blocks", n_blocks)
        bias = v.one_of("norm", norm, NORMS) == "instance"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, 7, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias),
                norm_layer(norm, ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(4 * ngf, norm) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, 1, bias=bias),
                norm_layer(norm, ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.input_nc = input_nc
        self.model = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every weight as the reference does (``init_weights``, 'normal', 0.02)."""
        reset_children(self)
        normal_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image("x", x, self.input_nc, 4)
        return self.model(x)
