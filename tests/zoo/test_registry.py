"""The zoo's registry: every architecture builds, runs at its documented input and gives its
documented output; names and arguments are checked."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from checkerscope import zoo
from checkerscope.zoo.registry import DOMAINS, ROLES

NAMES = list(zoo.ARCHITECTURES)


def test_the_zoo_holds_the_architectures_the_issue_asks_for() -> None:
    generators = [a for a in zoo.ARCHITECTURES.values() if a.role == "generator"]
    assert len(generators) >= 10
    for name in ("dcgan", "pix2pix_unet", "cyclegan_resnet", "srgan", "esrgan", "edsr"):
        assert zoo.ARCHITECTURES[name].domain == "image"
    for name in ("ldm_decoder", "unet", "melgan", "hifigan_v1", "demucs", "patchgan"):
        assert name in zoo.ARCHITECTURES
    assert {a.domain for a in generators} == set(DOMAINS)


@pytest.mark.parametrize("name", NAMES)
def test_each_architecture_runs_at_its_documented_shapes(name: str) -> None:
    entry = zoo.architecture(name)
    assert entry.domain in DOMAINS and entry.role in ROLES
    assert entry.paper and entry.reference and entry.upsampler
    torch.manual_seed(0)
    model = zoo.build(name)
    assert isinstance(model, nn.Module)
    x = torch.randn(2, *entry.input_shape)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, *entry.output_shape)
    assert torch.isfinite(y).all()
    model.eval()
    with torch.no_grad():
        assert model(x[:1]).shape == (1, *entry.output_shape)


@pytest.mark.parametrize("name", ["melgan", "melgan_discriminator", "hifigan_v1"])
def test_weight_normalised_models_compute_the_plain_function_at_init(name: str) -> None:
    """Weight normalisation starts at g = ||v||: with the same draws, the normalised and the
    plain model compute the same outputs (the survey audits the normalised ones, as built)."""
    entry = zoo.architecture(name)
    assert not entry.survey_kwargs
    torch.manual_seed(3)
    default = entry.factory()
    torch.manual_seed(3)
    surveyed = entry.factory(weight_norm=False)
    assert sorted(default.state_dict()) != sorted(surveyed.state_dict())
    x = torch.randn(2, *entry.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(default(x), surveyed(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_inputs_raise_value_errors_naming_the_shape(name: str) -> None:
    entry = zoo.architecture(name)
    model = zoo.build(name)
    wrong_channels = torch.randn(2, entry.input_shape[0] + 1, *entry.input_shape[1:])
    with pytest.raises(ValueError, match=r"has \d+ channels \(shape \(2, "):
        model(wrong_channels)
    with pytest.raises(ValueError, match=r"must have shape \(N, C, "):
        model(torch.randn(*entry.input_shape))  # no batch axis


def test_sizes_the_models_cannot_take_are_named() -> None:
    with pytest.raises(ValueError, match=r"^x must have a height and width divisible by 128, "):
        zoo.build("pix2pix_unet")(torch.randn(2, 3, 96, 96))
    with pytest.raises(ValueError, match=r"^x must be \(N, 3, 64, 64\) images, got shape "):
        zoo.build("dcgan_discriminator")(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"^mix must be at least \d+ samples long"):
        zoo.build("demucs")(torch.randn(1, 2, 100))


def test_build_passes_arguments_to_the_class() -> None:
    small = zoo.build("dcgan", ngf=4)
    assert small.main[0].out_channels == 32
    assert zoo.build("dcgan").main[0].out_channels == 128


def test_entries_check_their_domain_and_role() -> None:
    entry = zoo.architecture("dcgan")
    with pytest.raises(ValueError, match=r"^domain must be one of 'image', 'audio', got 'video'$"):
        dataclasses.replace(entry, domain="video")
    with pytest.raises(ValueError, match=r"^role must be one of 'generator', 'discriminator', "):
        dataclasses.replace(entry, role="critic")
    with pytest.raises(ValueError, match=r"^sample_rate must be given for audio and only for "):
        dataclasses.replace(entry, sample_rate=16000)
    with pytest.raises(ValueError, match=r"got None for domain 'audio'$"):
        dataclasses.replace(zoo.architecture("melgan"), sample_rate=None)


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match=r"name must be one of the zoo's architectures \(dcgan, "):
        zoo.build("stylegan9")
    with pytest.raises(ValueError, match=r"got 3$"):
        zoo.architecture(3)  # type: ignore[arg-type]
