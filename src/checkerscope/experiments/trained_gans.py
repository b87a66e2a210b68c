"""GANs trained once per run and shared by the experiments: the loop, the models, the cache.

:func:`trained_gan` is how every experiment gets a trained DCGAN (``gan_training``,
``strided_discriminator``, and the distillation and gradient experiments that reuse their
networks): the generator upsamples with ``variant`` (a :func:`checkerscope.nn.upsampler` kind),
the discriminator is one of :data:`DISCRIMINATORS` (DCGAN's k4 s2 strided convolutions by
default), both start from ``init`` (:data:`INITS`), and the pair is trained on the embedded
photographs (random crops favouring strong colours) by :func:`train_gan` with DCGAN's optimiser
(Adam, lr 2e-4, betas (0.5, 0.999)). Everything that determines the result is in the cache key
(the training fields of the config, variant, init, discriminator and seed), and every random
stream is seeded from ``seed``: the data (``seed``), the held-out crops (``seed + 1``), the
evaluation noise (``seed + 2``), D's weights (``seed + 10``), G's (``seed + 11``), the batch
order and the noise (``seed + 12``, ``seed + 13``). So whichever experiment asks first trains
it and the others load it; :func:`gan_seeds` gives the seeds ``gan_training`` uses.

The training loop, :func:`train_gan`, reads top to bottom. It checkpoints every
``checkpoint_every`` steps (models, optimisers, every random state, the data and noise streams,
the running losses, the history) and continues from the checkpoint it finds, so a killed run
resumed with ``--resume`` ends with exactly the numbers of an uninterrupted one. Under
``torchrun`` both networks are wrapped in DistributedDataParallel and each process takes its
slice of the same global batch. A non-finite loss stops the run before anything is saved, so
the last good checkpoint stays as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v
from checkerscope.experiments import config as C
from checkerscope.experiments.checkpoint import resume_training, save_training
from checkerscope.experiments.context import SEED_STRIDE, Bar, Context, ExperimentError
from checkerscope.experiments.distributed import Dist

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
"""The batch-norm layers whose scales DCGAN's initialisation draws around 1."""
INITS = ("dcgan", "default")
"""``"dcgan"``: N(0, 0.02) weights, N(1, 0.02) batch-norm scales, zero biases (Radford et al.
2016); ``"default"``: the layers' own PyTorch initialisation."""
DISCRIMINATORS = {"strided_k4": ("strided_conv", 4), "antialiased": ("antialiased", None)}
"""Discriminator name -> (downsampler kind, kernel size): DCGAN's 4x4 stride-2 convolutions,
or 3x3 convolutions at stride 1 followed by blur-pool (Zhang 2019)."""
EXPERIMENT_FIELDS = (
    "seeds",
    "kid_subsets",
    "kid_subset_size",
    "variants",
    "inits",
    "discriminators",
)
"""Fields of :class:`~checkerscope.experiments.config.GanConfig` that choose what an
experiment trains and measures, not how one GAN trains: left out of the cache key."""
GAN_TRAINING_ID = "gan_training"


class NonFiniteLoss(ExperimentError):
    """A training loss became NaN or infinite; the last good checkpoint is kept."""


def training_config(cfg: C.GanConfig) -> dict[str, Any]:
    """The fields of ``cfg`` that determine one GAN's training, as plain JSON.

    Example:
        >>> "seeds" in training_config(C.GAN_TRAINING["quick"])
        False
    """
    return {k: x for k, x in C.as_dict(cfg).items() if k not in EXPERIMENT_FIELDS}


def train_gan(
    G: nn.Module,
    D: nn.Module,
    real: torch.Tensor,
    cfg: C.GanConfig,
    *,
    seed: int,
    checkpoint: Path,
    dist: Dist,
    evaluate: Callable[[nn.Module], dict[str, float]],
    bar: Bar | None = None,
    log: Callable[[str, float, int], None] | None = None,
    name: str = "gan",
) -> dict[str, list[float]]:
    """Train ``G`` against ``D`` on ``real`` (N, C, H, W) in [-1, 1]; return the history.

    ``G`` maps noise (B, nz) to images (B, C, H, W); ``D`` maps images to logits (B,) (any shape
    with B elements). ``evaluate(G)`` is called every ``cfg.eval_every`` steps and at the end;
    its numbers, with the mean losses since the last evaluation, make up the history
    ``{"step": [...], "loss_d": [...], "loss_g": [...], <evaluate's keys>: [...]}``. When
    ``checkpoint`` exists, training continues from it (and returns at once if it is final).
    """
    device = dist.device
    G.to(device)
    D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    data_stream = torch.Generator().manual_seed(seed)
    noise_stream = torch.Generator().manual_seed(seed + 1)
    history: dict[str, list[float]] = {"step": [], "loss_d": [], "loss_g": []}
    running = torch.zeros(3, dtype=torch.float64)  # sum of loss_d, sum of loss_g, count
    step = 0
    modules = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d}
    streams = {"data_stream": data_stream, "noise_stream": noise_stream}
    config = training_config(cfg)
    if (state := resume_training(checkpoint, config, modules, streams)) is not None:
        history, running, step = state["history"], state["running"], state["step"]
    if bar is not None:
        bar.advance(step)
    if step >= cfg.steps:
        return history

    g, d = dist.wrap(G), dist.wrap(D)
    real = real.to(device)
    ones = torch.ones(cfg.batch_size // dist.world_size, device=device)
    zeros = torch.zeros_like(ones)
    last_good = step if checkpoint.exists() else None
    while step < cfg.steps:
        # Every process draws the same global batch and keeps its own slice, so the data order
        # and the noise do not depend on the number of processes.
        index = torch.randint(real.shape[0], (cfg.batch_size,), generator=data_stream)
        x = dist.shard(real[index.to(device)])
        z = dist.shard(torch.randn(cfg.batch_size, cfg.nz, generator=noise_stream)).to(device)

        fake = g(z)
        loss_d = F.binary_cross_entropy_with_logits(
            d(x).reshape(-1), ones
        ) + F.binary_cross_entropy_with_logits(d(fake.detach()).reshape(-1), zeros)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        loss_g = F.binary_cross_entropy_with_logits(d(fake).reshape(-1), ones)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        step += 1

        losses = dist.mean(torch.stack([loss_d.detach(), loss_g.detach()])).double().cpu()
        if not torch.isfinite(losses).all():
            kept = (
                f"the last good checkpoint {str(checkpoint)!r} (step {last_good}) is kept"
                if last_good is not None
                else "no checkpoint had been written yet"
            )
            raise NonFiniteLoss(
                f"{name}: the loss became non-finite at step {step} (loss_d={float(losses[0])}, "
                f"loss_g={float(losses[1])}); training stopped and {kept}. Lower the learning "
                f"rate (lr={cfg.lr}) and start again."
            )
        running += torch.cat([losses, torch.ones(1, dtype=torch.float64)])

        if step % cfg.eval_every == 0 or step == cfg.steps:
            numbers = {
                "step": step,
                "loss_d": float(running[0] / running[2]),
                "loss_g": float(running[1] / running[2]),
                **evaluate(G),
            }
            running.zero_()
            for key, value in numbers.items():
                history.setdefault(key, []).append(value)
                if log is not None and key != "step":
                    log(f"{name}/{key}", value, step)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            if dist.is_main:
                extra = {"step": step, "history": history, "running": running}
                save_training(checkpoint, config, modules, streams, **extra)
            dist.barrier()
            last_good = step
        if bar is not None:
            bar.advance(1)
    return history


@torch.no_grad()
def dcgan_init(model: nn.Module) -> nn.Module:
    """DCGAN's initialisation (Radford et al. 2016), drawn from the global torch RNG: every
    convolution, transposed convolution, resize-convolution and linear weight N(0, 0.02),
    batch-norm scales N(1, 0.02), biases zero. A sub-pixel convolution initialised by ICNR
    keeps its tied phases: one N(0, 0.02) sub-kernel is copied into every phase.

    Example:
        >>> round(float(dcgan_init(nn.Linear(2000, 10)).weight.detach().std()), 2)
        0.02
    """
    from checkerscope.functional.subpixel import icnr_
    from checkerscope.nn import SubPixelConv2d

    tied: set[nn.Module] = set()
    for module in model.modules():
        if module in tied:
            continue
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        if isinstance(module, SubPixelConv2d) and module.init == "icnr":
            weight, bias = module.conv.weight, module.conv.bias
            icnr_(weight, module.scale_factor, init=lambda w: nn.init.normal_(w, 0.0, 0.02))
            tied.add(module.conv)
        elif isinstance(module, BATCH_NORMS):
            nn.init.normal_(weight, 1.0, 0.02)
        elif isinstance(weight, nn.Parameter) and weight.dim() > 1:
            nn.init.normal_(weight, 0.0, 0.02)
        else:
            continue
        if isinstance(bias, nn.Parameter):
            nn.init.zeros_(bias)
    return model


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Samples of ``G`` for noise ``z`` as training sees them (batch statistics), side-effect free.

    A copy runs in train mode, so batch-norm layers normalise with the batch as in training
    while ``G``'s running statistics stay untouched and the training run is unaffected.

    Example:
        >>> G = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
        >>> generate(G, torch.randn(16, 4)).shape, float(G[1].running_mean.abs().sum())
        (torch.Size([16, 8]), 0.0)
    """
    copy_ = copy.deepcopy(G).train()
    return copy_(z.to(next(G.parameters()).device)).float().cpu()


def build_gan(
    cfg: C.GanConfig, variant: str, init: str, discriminator: str, seed: int
) -> tuple[nn.Module, nn.Module]:
    """A fresh (G, D) for ``seed``: D's weights from ``seed + 10``, G's from ``seed + 11``, so
    that GANs differing only in ``variant`` start from the same D (and vice versa).

    Example:
        >>> G, D = build_gan(C.GAN_TRAINING["quick"], "deconv", "dcgan", "strided_k4", seed=0)
        >>> D(G(torch.randn(2, G.nz))).shape
        torch.Size([2])
    """
    from checkerscope.models import DCGANGenerator, StridedDiscriminator

    v.one_of("init", init, INITS)
    v.one_of("discriminator", discriminator, tuple(DISCRIMINATORS))
    kind, kernel_size = DISCRIMINATORS[discriminator]
    start = dcgan_init if init == "dcgan" else (lambda m: m)
    torch.manual_seed(seed + 10)
    D = start(StridedDiscriminator(3, cfg.ndf, cfg.image_size, kind, kernel_size))
    torch.manual_seed(seed + 11)
    G = start(DCGANGenerator(cfg.nz, cfg.ngf, 3, cfg.image_size, upsample=variant))
    return G, D


def training_crops(ctx: Context, cfg: C.GanConfig, seed: int, n: int | None = None) -> torch.Tensor:
    """The first ``n`` (default ``cfg.n_train``) training crops of the GAN of ``seed``:
    (n, 3, S, S) in [-1, 1]."""
    return ctx.data.crops(n or cfg.n_train, cfg.image_size, seed=seed) * 2 - 1


def held_out_crops(ctx: Context, cfg: C.GanConfig, seed: int) -> torch.Tensor:
    """The ``cfg.n_eval`` crops the GANs of ``seed`` are judged against (other crops of the
    same photographs): (n_eval, 3, S, S) in [-1, 1]."""
    return ctx.data.crops(cfg.n_eval, cfg.image_size, seed=seed + 1) * 2 - 1


def eval_noise(cfg: C.GanConfig, seed: int) -> torch.Tensor:
    """The fixed noise (n_eval, nz) whose samples measure the GANs of ``seed``.

    Example:
        >>> eval_noise(C.GAN_TRAINING["quick"], 0).shape
        torch.Size([128, 32])
    """
    return torch.randn(cfg.n_eval, cfg.nz, generator=torch.Generator().manual_seed(seed + 2))


def period_evaluator(
    periods: tuple[int, ...], z: torch.Tensor
) -> Callable[[nn.Module], dict[str, float]]:
    """``evaluate(G)`` for :func:`train_gan`: the mean over G's samples for ``z`` of the
    checkerboard score (``"score"``, dB) and of each period's (``"score_p2"``...)."""
    from checkerscope.analysis.score import period_scores

    def evaluate(G: nn.Module) -> dict[str, float]:
        scores = period_scores(generate(G, z), periods)
        means = scores.double().mean(0).tolist()
        out = {"score": float(scores.amax(1).double().mean())}
        return out | {f"score_p{p}": m for p, m in zip(periods, means, strict=True)}

    return evaluate


@dataclass
class TrainedGan:
    """A trained pair and its history (:func:`train_gan`'s, with the period scores)."""

    G: nn.Module
    D: nn.Module
    history: dict[str, list[float]]


def trained_gan(
    ctx: Context,
    variant: str,
    seed: int,
    *,
    init: str = "dcgan",
    discriminator: str = "strided_k4",
    config: C.GanConfig | None = None,
) -> TrainedGan:
    """The DCGAN of ``variant`` (the generator's upsampler kind) trained from ``seed``, through
    ``ctx.cached``: trained by the first experiment that asks (resumable from its checkpoint
    with ``--resume``), loaded by the others. ``config`` defaults to ``gan_training``'s at the
    run's scale; its training fields, ``variant``, ``init``, ``discriminator`` and ``seed``
    make the key. Both networks come back on ``ctx.device`` in train mode.

    Example:
        >>> gan = trained_gan(ctx, "deconv", gan_seeds(ctx, 3)[0])  # doctest: +SKIP
        >>> samples = generate(gan.G, torch.randn(16, gan.G.nz))  # doctest: +SKIP
    """
    cfg = config if config is not None else C.GAN_TRAINING[ctx.scale]
    key = {
        "config": training_config(cfg),
        "variant": variant,
        "init": init,
        "discriminator": discriminator,
        "seed": seed,
    }

    def build(workdir: Path) -> dict[str, Any]:
        G, D = build_gan(cfg, variant, init, discriminator, seed)
        history = train_gan(
            G,
            D,
            training_crops(ctx, cfg, seed),
            cfg,
            seed=seed + 12,
            checkpoint=workdir / "train.pt",
            dist=ctx.dist,
            evaluate=period_evaluator(cfg.periods, eval_noise(cfg, seed)),
            log=ctx.log_scalar,
            name=f"{variant}_{init}_{discriminator}_{seed}",
        )
        return {"G": G.state_dict(), "D": D.state_dict(), "history": history}

    art = ctx.cached("gan", key, build)
    G, D = build_gan(cfg, variant, init, discriminator, seed)
    G.load_state_dict(art["G"])
    D.load_state_dict(art["D"])
    return TrainedGan(G.to(ctx.device).train(), D.to(ctx.device).train(), art["history"])


def gan_seeds(ctx: Context, n: int, experiment: str = GAN_TRAINING_ID) -> list[int]:
    """The first ``n`` seeds of ``experiment`` (``gan_training`` by default) in this run
    (whichever experiment asks), to reuse its trained GANs with :func:`trained_gan`.

    Example:
        >>> gan_seeds(ctx, 3)  # doctest: +SKIP
        [1397345018, 1397346018, 1397347018]
    """
    from checkerscope.experiments.runner import experiment_seed

    first = experiment_seed(ctx.base_seed, experiment)
    return [first + SEED_STRIDE * k for k in range(v.positive_int("n", n))]
