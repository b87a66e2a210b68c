"""The architectures of the zoo by name: how to build each, the input it takes, the output it
gives, how it resamples, and where it comes from (:data:`ARCHITECTURES`, :func:`build`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import nn

from checkerscope import checks as v
from checkerscope.zoo.cyclegan import CycleGANResnetGenerator
from checkerscope.zoo.dcgan import DCGANDiscriminator, DCGANGenerator
from checkerscope.zoo.demucs import Demucs
from checkerscope.zoo.edsr import EDSR
from checkerscope.zoo.esrgan import RRDBNet
from checkerscope.zoo.hifigan import HiFiGANGenerator
from checkerscope.zoo.ldm import LDMDecoder
from checkerscope.zoo.melgan import MelGANDiscriminator, MelGANGenerator
from checkerscope.zoo.pix2pix import PatchGANDiscriminator, Pix2PixUNet
from checkerscope.zoo.srgan import SRGANGenerator
from checkerscope.zoo.unet import MilesialUNet

DOMAINS = ("image", "audio")
ROLES = ("generator", "discriminator")
LJSPEECH_RATE = 22050
"""Hz: LJSpeech, on which MelGAN and HiFi-GAN V1 were trained (their configs' sampling rate)."""
MUSDB_RATE = 44100
"""Hz: MusDB, on which Demucs was trained."""


@dataclass(frozen=True)
class Architecture:
    """One architecture of the zoo.

    * ``factory``: builds it (keyword arguments as its class takes them); ``input_shape`` and
      ``output_shape``: its input and output at the factory's defaults, without the batch axis.
    * ``domain``: "image" or "audio"; ``role``: "generator" (its outputs are audited) or
      "discriminator" (the gradient it sends back to its input is).
    * ``upsampler``: how it resamples, in words (for a discriminator, how it downsamples).
    * ``paper``, ``reference``: the publication, and the repository and file it was checked
      against.
    * ``survey_kwargs``: what :func:`checkerscope.zoo.survey` passes to ``factory``, and
      ``note``: why, where that is not nothing.
    * ``sample_rate``: for audio, the rate (Hz) of the waveform it makes or reads, that of its
      reference's training data; None for images.
    """

    name: str
    factory: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    domain: str
    role: str
    upsampler: str
    paper: str
    reference: str
    survey_kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    note: str = ""
    sample_rate: int | None = None

    def __post_init__(self) -> None:
        v.one_of("domain", self.domain, DOMAINS)
        v.one_of("role", self.role, ROLES)
        if (self.sample_rate is not None) != (self.domain == "audio"):
            raise ValueError(
                f"sample_rate must be given for audio and only for audio, got "
                f"{self.sample_rate!r} for domain {self.domain!r}"
            )


_ENTRIES = (
    Architecture(
        "dcgan",
        DCGANGenerator,
        (100, 1, 1),
        (3, 64, 64),
        "image",
        "generator",
        "4 x ConvTranspose2d k4 s2 p1 (BatchNorm, ReLU; tanh)",
        "Radford, Metz & Chintala, ICLR 2016",
        "pytorch/examples dcgan/main.py",
    ),
    Architecture(
        "dcgan_discriminator",
        DCGANDiscriminator,
        (3, 64, 64),
        (1,),
        "image",
        "discriminator",
        "4 x Conv2d k4 s2 p1 (BatchNorm, LeakyReLU 0.2)",
        "Radford, Metz & Chintala, ICLR 2016",
        "pytorch/examples dcgan/main.py",
    ),
    Architecture(
        "pix2pix_unet",
        Pix2PixUNet,
        (3, 128, 128),
        (3, 128, 128),
        "image",
        "generator",
        "7 x ConvTranspose2d k4 s2 p1 (ReLU before, BatchNorm after), skip concatenation",
        "Isola, Zhu, Zhou & Efros, CVPR 2017",
        "junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py",
    ),
    Architecture(
        "patchgan",
        PatchGANDiscriminator,
        (3, 64, 64),
        (1, 6, 6),
        "image",
        "discriminator",
        "3 x Conv2d k4 s2 p1, then k4 s1 (BatchNorm, LeakyReLU 0.2)",
        "Isola, Zhu, Zhou & Efros, CVPR 2017",
        "junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py",
    ),
    Architecture(
        "cyclegan_resnet",
        CycleGANResnetGenerator,
        (3, 64, 64),
        (3, 64, 64),
        "image",
        "generator",
        "2 x ConvTranspose2d k3 s2 p1 output_padding 1 (InstanceNorm, ReLU)",
        "Zhu, Park, Isola & Efros, ICCV 2017",
        "junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py",
    ),
    Architecture(
        "srgan",
        SRGANGenerator,
        (3, 16, 16),
        (3, 64, 64),
        "image",
        "generator",
        "2 x (Conv2d k3 -> PixelShuffle(2) -> PReLU)",
        "Ledig et al., CVPR 2017",
        "leftthomas/SRGAN model.py",
    ),
    Architecture(
        "esrgan",
        RRDBNet,
        (3, 16, 16),
        (3, 64, 64),
        "image",
        "generator",
        "2 x (nearest x2 -> Conv2d k3 -> LeakyReLU 0.2)",
        "Wang et al., ECCV workshops 2018",
        "xinntao/ESRGAN RRDBNet_arch.py; XPixelGroup/BasicSR basicsr/archs/rrdbnet_arch.py",
    ),
    Architecture(
        "edsr",
        EDSR,
        (3, 16, 16),
        (3, 64, 64),
        "image",
        "generator",
        "2 x (Conv2d k3 -> PixelShuffle(2)), no activation",
        "Lim, Son, Kim, Nah & Lee, CVPR workshops 2017",
        "sanghyun-son/EDSR-PyTorch src/model/edsr.py, src/model/common.py",
    ),
    Architecture(
        "ldm_decoder",
        LDMDecoder,
        (4, 8, 8),
        (3, 64, 64),
        "image",
        "generator",
        "3 x (nearest x2 -> Conv2d k3), GroupNorm + swish ResNet blocks",
        "Rombach, Blattmann, Lorenz, Esser & Ommer, CVPR 2022",
        "CompVis/latent-diffusion ldm/modules/diffusionmodules/model.py (kl-f8)",
    ),
    Architecture(
        "unet",
        MilesialUNet,
        (3, 64, 64),
        (2, 64, 64),
        "image",
        "generator",
        "4 x ConvTranspose2d k2 s2 (then 2 x Conv2d k3, BatchNorm, ReLU)",
        "Ronneberger, Fischer & Brox, MICCAI 2015",
        "milesial/Pytorch-UNet unet/unet_parts.py, unet/unet_model.py",
    ),
    Architecture(
        "melgan",
        MelGANGenerator,
        (80, 32),
        (1, 8192),
        "audio",
        "generator",
        "ConvTranspose1d k16 s8, k16 s8, k4 s2, k4 s2 (LeakyReLU 0.2 before)",
        "Kumar et al., NeurIPS 2019",
        "descriptinc/melgan-neurips mel2wav/modules.py",
        sample_rate=LJSPEECH_RATE,
    ),
    Architecture(
        "melgan_discriminator",
        MelGANDiscriminator,
        (1, 8192),
        (56,),
        "audio",
        "discriminator",
        "3 scales of 4 x grouped Conv1d k41 s4 p20 (LeakyReLU 0.2); AvgPool1d k4 s2 between",
        "Kumar et al., NeurIPS 2019",
        "descriptinc/melgan-neurips mel2wav/modules.py",
        sample_rate=LJSPEECH_RATE,
    ),
    Architecture(
        "hifigan_v1",
        HiFiGANGenerator,
        (80, 32),
        (1, 8192),
        "audio",
        "generator",
        "ConvTranspose1d k16 s8 p4, k16 s8 p4, k4 s2 p1, k4 s2 p1 (LeakyReLU 0.1 before)",
        "Kong, Kim & Bae, NeurIPS 2020",
        "jik876/hifi-gan models.py, config_v1.json",
        sample_rate=LJSPEECH_RATE,
    ),
    Architecture(
        "demucs",
        Demucs,
        (2, 8618),
        (8, 8278),
        "audio",
        "generator",
        "4 x ConvTranspose1d k8 s4 (ReLU after), windowed-sinc x2 resampling around the net",
        "Défossez, Usunier, Bottou & Bach, arXiv:1911.13254 (2019)",
        "facebookresearch/demucs demucs/model.py (v2)",
        sample_rate=MUSDB_RATE,
    ),
)

ARCHITECTURES: Mapping[str, Architecture] = MappingProxyType({a.name: a for a in _ENTRIES})
"""Every architecture of the zoo, by name, in the order of the survey."""


def architecture(name: str) -> Architecture:
    """The :class:`Architecture` called ``name``, or a ValueError listing the names.

    Example:
        >>> architecture("srgan").output_shape
        (3, 64, 64)
    """
    if not isinstance(name, str) or name not in ARCHITECTURES:
        names = ", ".join(ARCHITECTURES)
        raise ValueError(f"name must be one of the zoo's architectures ({names}), got {name!r}")
    return ARCHITECTURES[name]


def build(name: str, **kwargs: Any) -> nn.Module:
    """A fresh, randomly initialized ``name`` (see :data:`ARCHITECTURES`); keyword arguments
    go to its class (widths, depths, ...).

    Example:
        >>> import torch
        >>> build("edsr", n_feats=8)(torch.randn(1, 3, 16, 16)).shape
        torch.Size([1, 3, 64, 64])
    """
    return architecture(name).factory(**kwargs)
