"""GANs trained once per run and shared (experiments/trained_gans.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments import trained_gans as T
from checkerscope.experiments.distributed import Dist
from checkerscope.experiments.runner import experiment_seed
from checkerscope.nn import SubPixelConv2d

from .tiny_gan import tiny_context


def test_the_discriminator_is_dcgans_k4_s2() -> None:
    cfg = C.GAN_TRAINING["quick"]
    _, D = T.build_gan(cfg, "deconv", "dcgan", "strided_k4", seed=0)
    strided = [m for m in D.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == 3
    assert all(m.kernel_size == (4, 4) and m.padding == (1, 1) for m in strided)
    _, A = T.build_gan(cfg, "deconv", "dcgan", "antialiased", seed=0)
    assert not [m for m in A.modules() if isinstance(m, nn.Conv2d) and m.stride != (1, 1)]


def test_gans_of_one_seed_start_from_the_same_discriminator() -> None:
    cfg = C.GAN_TRAINING["quick"]
    Ga, Da = T.build_gan(cfg, "deconv", "default", "strided_k4", seed=5)
    _, Db = T.build_gan(cfg, "resize_conv", "default", "strided_k4", seed=5)
    assert all(torch.equal(x, Db.state_dict()[k]) for k, x in Da.state_dict().items())
    Gc, _ = T.build_gan(cfg, "deconv", "default", "strided_k4", seed=6)
    assert not torch.equal(Ga.project[0].weight, Gc.project[0].weight)


def test_dcgan_init_draws_its_distributions_and_keeps_icnr_phases_tied() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(400, 300), nn.BatchNorm2d(500), SubPixelConv2d(64, 16, init="icnr")
    )
    T.dcgan_init(net).requires_grad_(False)
    assert float(net[0].weight.std()) == pytest.approx(0.02, rel=0.05)
    assert float(net[1].weight.mean()) == pytest.approx(1.0, abs=0.005)
    assert float(net[1].weight.std()) == pytest.approx(0.02, rel=0.2)
    w = net[2].conv.weight
    assert float(w.std()) == pytest.approx(0.02, rel=0.05)
    phases = w.view(16, 4, *w.shape[1:])  # pixel_shuffle's order: the phases of a channel
    assert torch.equal(phases, phases[:, :1].expand_as(phases))
    for bias in (net[0].bias, net[1].bias, net[2].conv.bias):
        assert torch.equal(bias, torch.zeros_like(bias))
    plain = T.dcgan_init(SubPixelConv2d(64, 16, init="default")).conv.weight
    assert not torch.equal(plain[0], plain[1])


def test_an_icnr_generator_starts_without_checkerboard_in_both_inits() -> None:
    from checkerscope.analysis.score import checkerboard_score

    cfg = C.GAN_TRAINING["quick"]
    z = torch.randn(32, cfg.nz, generator=torch.Generator().manual_seed(0))
    for init in T.INITS:
        icnr, _ = T.build_gan(cfg, "subpixel_icnr", init, "strided_k4", seed=0)
        plain, _ = T.build_gan(cfg, "subpixel", init, "strided_k4", seed=0)
        clean = float(checkerboard_score(T.generate(icnr, z)).mean())
        assert clean < 3.0 < float(checkerboard_score(T.generate(plain, z)).mean()) - 5.0


def test_the_cache_key_leaves_out_what_only_experiments_choose() -> None:
    cfg = C.GAN_TRAINING["quick"]
    key = T.training_config(cfg)
    assert set(key).isdisjoint(T.EXPERIMENT_FIELDS) and key["steps"] == cfg.steps
    other = C.with_overrides(cfg, {"seeds": 7, "inits": ("dcgan",), "kid_subsets": 3})
    assert T.training_config(other) == key
    assert T.training_config(C.with_overrides(cfg, {"lr": 1e-3})) != key


def test_trained_gan_trains_once_and_every_experiment_loads_the_same_networks(
    tmp_path: Path,
) -> None:
    ctx = tiny_context(tmp_path)
    torch.manual_seed(1)  # the global state must not matter
    first = T.trained_gan(ctx, "deconv", 11, config=ctx.config)
    other = tiny_context(tmp_path, "strided_discriminator")
    torch.manual_seed(2)
    again = T.trained_gan(other, "deconv", 11, config=ctx.config)
    assert len(list((tmp_path / "cache").glob("gan-*.pt"))) == 1
    for a, b in ((first.G, again.G), (first.D, again.D)):
        assert all(torch.equal(x, b.state_dict()[k]) for k, x in a.state_dict().items())
    assert first.history == again.history and first.G.training
    assert first.history["step"] == [2, 4]
    assert set(first.history) >= {"score", "score_p2", "score_p4", "score_p8", "loss_d"}
    # Trained by hand from the same seeds, the same numbers.
    cfg = ctx.config
    G, D = T.build_gan(cfg, "deconv", "dcgan", "strided_k4", 11)
    history = T.train_gan(
        G, D, T.training_crops(ctx, cfg, 11), cfg, seed=11 + 12,
        checkpoint=tmp_path / "by_hand.pt", dist=Dist(),
        evaluate=T.period_evaluator(cfg.periods, T.eval_noise(cfg, 11)),
    )  # fmt: skip
    assert history == first.history
    assert all(torch.equal(x, first.G.state_dict()[k]) for k, x in G.state_dict().items())
    T.trained_gan(ctx, "deconv", 11, init="default", config=ctx.config)
    T.trained_gan(ctx, "resize_conv", 11, config=ctx.config)
    T.trained_gan(ctx, "deconv", 12, config=ctx.config)
    assert len(list((tmp_path / "cache").glob("gan-*.pt"))) == 4


def test_gan_seeds_are_gan_trainings_seeds_whoever_asks(tmp_path: Path) -> None:
    for base in (0, 3):
        ctx = tiny_context(tmp_path, "gan_training", seed=base)
        other = tiny_context(tmp_path, "strided_discriminator", seed=base)
        assert T.gan_seeds(other, 3) == T.gan_seeds(ctx, 3) == ctx.seeds(3)
        assert ctx.seed == experiment_seed(base, "gan_training") != other.seed
    with pytest.raises(ValueError, match="n must be a positive integer"):
        T.gan_seeds(ctx, 0)


def test_bad_arms_are_named() -> None:
    cfg = C.GAN_TRAINING["quick"]
    with pytest.raises(ValueError, match="init must be one of 'dcgan', 'default', got 'xavier'"):
        T.build_gan(cfg, "deconv", "xavier", "strided_k4", 0)
    with pytest.raises(ValueError, match="discriminator must be one of 'strided_k4', 'antial"):
        T.build_gan(cfg, "deconv", "dcgan", "strided_k3", 0)
