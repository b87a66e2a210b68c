"""DCGAN's generator and discriminator as pytorch/examples builds them for 64 x 64 images.

Radford, Metz & Chintala (2016), "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", ICLR; reference: pytorch/examples ``dcgan/main.py``.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.zoo.initialization import normal_init, reset_children


class DCGANGenerator(nn.Module):
    """DCGAN's generator: a latent (N, nz, 1, 1) to an image (N, nc, 64, 64) in [-1, 1].

    ``ConvTranspose2d(nz, 8 ngf, 4, 1, 0)`` paints a 4x4 map from the latent (stride 1: not
    an upsampler), then four ``ConvTranspose2d(k=4, s=2, p=1)`` double it to 64x64, each but
    the last followed by BatchNorm and ReLU, the last by tanh; no biases. Weights as the
    reference's ``weights_init``: N(0, 0.02), batch-norm scales N(1, 0.02).
    Radford et al. (2016); pytorch/examples ``dcgan/main.py`` (``Generator``). Widths here:
    ``ngf=16`` (reference 64). Unlike :class:`checkerscope.models.DCGANGenerator`, whose
    upsampler is chosen by name, this one is the reference's as it is.

    Example:
        >>> DCGANGenerator(nz=100, ngf=8)(torch.randn(2, 100, 1, 1)).shape
        torch.Size([2, 3, 64, 64])
    """

    def __init__(self, nz: int = 100, ngf: int = 16, nc: int = 3) -> None:
        super().__init__()
        v.positive_int("nz", nz)
        v.positive_int("ngf", ngf)
        v.positive_int("nc", nc)
        widths = [ngf * 8, ngf * 4, ngf * 2, ngf]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in itertools.pairwise(widths):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.nz = nz
        self.main = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every weight as the reference does (``weights_init``)."""
        reset_children(self)
        normal_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        v.check_input("z", z, dims=2, channels=self.nz)
        return self.main(z)


class DCGANDiscriminator(nn.Module):
    """DCGAN's discriminator: an image (N, nc, 64, 64) to a probability (N, 1).

    Four ``Conv2d(k=4, s=2, p=1)`` halve 64x64 to 4x4 (LeakyReLU 0.2, BatchNorm after all but
    the first), then ``Conv2d(8 ndf, 1, 4, 1, 0)`` and a sigmoid; no biases; init as the
    generator's. Its strided convolutions are what puts a checkerboard into the gradient it
    sends back to a generator (Odena et al. 2016). Radford et al. (2016); pytorch/examples
    ``dcgan/main.py`` (``Discriminator``). Widths here: ``ndf=16`` (reference 64).

    Example:
        >>> DCGANDiscriminator(ndf=8)(torch.randn(2, 3, 64, 64)).shape
        torch.Size([2, 1])
    """

    def __init__(self, ndf: int = 16, nc: int = 3) -> None:
        super().__init__()
        v.positive_int("ndf", ndf)
        v.positive_int("nc", nc)
        widths = [ndf, ndf * 2, ndf * 4, ndf * 8]
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in itertools.pairwise(widths):
            layers += [
                nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.LeakyReLU(0.2, True),
            ]
        layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.nc = nc
        self.main = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every weight as the reference does (``weights_init``)."""
        reset_children(self)
        normal_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("x", x, dims=2, channels=self.nc)
        if x.shape[2:] != (64, 64):
            raise ValueError(f"x must be (N, {self.nc}, 64, 64) images, got shape {tuple(x.shape)}")
        return self.main(x).view(-1, 1)
