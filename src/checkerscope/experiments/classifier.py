"""The shared trained classifier: which photograph a crop comes from, strided and anti-aliased.

Odena et al. (2016) see checkerboards in the gradients of trained image classifiers and in
feature visualizations of them. The study has no labelled images, so the classifier learns a
self-supervised task on the run's data (the embedded photographs, or ``--data``): which
photograph an ``image_size`` crop comes from, one class per photograph (in the data's order)
at least two tiles on a side. Held-out accuracy should measure what the network learned about
each photograph, not what it remembers of its pixels: every photograph is cut into ``tile`` x
``tile`` tiles and every fifth tile is held out (tile row ``i``, column ``j`` with ``(i + 2 j)
mod 5 == 0``: spread over the whole image, never two side by side). Training crops never touch
a held-out pixel; held-out crops lie inside one held-out tile. Random horizontal flips augment
training; Adam's learning rate decays to 0 on a cosine.

Two networks per seed, trained alike (the same initial weights, crops, batches and flips):
``"strided"``, a :class:`~checkerscope.models.StridedClassifier` whose stages halve the
resolution with 3x3 stride-2 convolutions (uneven overlap on the backward pass), and
``"antialiased"``, its twin whose stages use :class:`~checkerscope.nn.AntiAliasedConv2d`
(stride-1 convolution, then binomial blur-pool; Zhang 2019). Seed ``index`` of the run is the
same network in every experiment that asks for it: its seed derives from the run's base seed
alone, and the trained weights are shared through ``ctx.cached`` (key: the configuration, the
data, the kind and the seed), resumable from checkpoints.

What the accuracy can reach: two of scikit-image's nine photographs are the left and right views
of one stereo pair (``motorcycle_left``, ``motorcycle_right``), which no crop tells apart, so on
the embedded data the held-out accuracy cannot exceed about 8/9; chance is 1/K for K classes.

Experiments call :func:`trained_classifier` (the network), :func:`trained` (with its held-out
accuracy), :func:`train_all` (build seeds 0..n-1 of both kinds in parallel) and
:func:`classifier_features` (the GAN's quality guard: KID in this feature space).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments.common import train_on_batches
from checkerscope.experiments.context import SEED_STRIDE, Bar, Context
from checkerscope.experiments.runner import experiment_seed

KINDS = {"strided": "strided_conv", "antialiased": "antialiased"}
"""Classifier kind -> the downsampler of its stages (:func:`checkerscope.nn.downsampler`)."""
PARTS = ("train", "held_out")
HOLD_OUT_EVERY = 5
"""One tile in this many is held out."""


def held_out_tiles(rows: int, cols: int) -> torch.Tensor:
    """Which tiles of a ``rows`` x ``cols`` grid are held out: (rows, cols) bool.

    Example:
        >>> held_out_tiles(2, 3).int().tolist()
        [[1, 0, 0], [0, 0, 1]]
    """
    i, j = torch.arange(rows)[:, None], torch.arange(cols)[None, :]
    return (i + 2 * j) % HOLD_OUT_EVERY == 0


def held_out_pixels(height: int, width: int, tile: int) -> torch.Tensor:
    """The held-out pixels of a ``height`` x ``width`` image cut into ``tile`` tiles: (H, W) bool.

    Example:
        >>> held_out_pixels(4, 6, 2).int()[0].tolist()
        [1, 1, 0, 0, 0, 0]
    """
    held = held_out_tiles(math.ceil(height / tile), math.ceil(width / tile))
    rows, cols = torch.arange(height) // tile, torch.arange(width) // tile
    return held[rows[:, None], cols[None, :]]


def crop_positions(height: int, width: int, size: int, tile: int, part: str) -> torch.Tensor:
    """Where a ``size`` crop may start for ``part``: (H - size + 1, W - size + 1) bool.

    ``"train"``: the crop touches no held-out tile; ``"held_out"``: it lies inside one. Read
    from the tile grid (a crop no larger than a tile spans at most two tile rows and columns);
    :func:`held_out_pixels` is the pixel-wise definition it agrees with.

    Example:
        >>> crop_positions(4, 6, 2, 2, "held_out").int().tolist()
        [[1, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]]
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    if not 1 <= size <= tile:
        raise ValueError(f"size must be between 1 and the tile side {tile}, got {size}")
    held = held_out_tiles(math.ceil(height / tile), math.ceil(width / tile))
    first_row = torch.arange(height - size + 1) // tile
    last_row = (torch.arange(height - size + 1) + size - 1) // tile
    first_col = torch.arange(width - size + 1) // tile
    last_col = (torch.arange(width - size + 1) + size - 1) // tile
    r0, r1, c0, c1 = first_row[:, None], last_row[:, None], first_col[None, :], last_col[None, :]
    if part == "held_out":
        return held[r0, c0] & (r0 == r1) & (c0 == c1)
    return ~(held[r0, c0] | held[r0, c1] | held[r1, c0] | held[r1, c1])


def usable(images: Sequence[torch.Tensor], cfg: C.ClassifierConfig) -> list[torch.Tensor]:
    """The images large enough to be classes (two tiles on each side), at least two of them."""
    fit = [im for im in images if min(im.shape[-2:]) >= 2 * cfg.tile]
    if len(fit) < 2:
        raise ValueError(
            f"the classifier needs at least 2 images of at least {2 * cfg.tile} pixels a side "
            f"(one class per image, tiles of {cfg.tile} held out), got {len(fit)}"
        )
    return fit


def photo_crops(
    images: Sequence[torch.Tensor], n_per_image: int, size: int, tile: int, part: str, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops (K * n, 3, size, size) in [-1, 1] of ``part`` and their labels (K * n,): the index
    of the image each comes from. Positions are uniform over those ``part`` allows.

    Example:
        >>> x, y = photo_crops([torch.rand(3, 64, 64)] * 2, 3, 16, 32, "held_out", seed=0)
        >>> x.shape, y.tolist()
        (torch.Size([6, 3, 16, 16]), [0, 0, 0, 1, 1, 1])
    """
    g = torch.Generator().manual_seed(seed)
    crops = []
    for im in images:
        h, w = im.shape[-2:]
        allowed = crop_positions(h, w, size, tile, part)
        picks = torch.multinomial(allowed.flatten().float(), n_per_image, True, generator=g)
        ys, xs = (picks // allowed.shape[1]).tolist(), (picks % allowed.shape[1]).tolist()
        crops += [im[:, y : y + size, x : x + size] for y, x in zip(ys, xs, strict=True)]
    labels = torch.arange(len(images)).repeat_interleave(n_per_image)
    return torch.stack(crops) * 2 - 1, labels


def network(cfg: C.ClassifierConfig, classes: int, kind: str) -> nn.Module:
    """The untrained classifier of ``kind`` (``"strided"`` or ``"antialiased"``).

    Both kinds have the same parameters, in the same order and shapes (the anti-aliased
    stages hold theirs in a ``conv`` submodule), so the same seed gives them the same
    initial weights.

    Example:
        >>> cfg = C.CLASSIFIER["quick"]
        >>> network(cfg, 9, "antialiased")(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 9])
    """
    from checkerscope.models import StridedClassifier

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {tuple(KINDS)}, got {kind!r}")
    return StridedClassifier(3, classes, cfg.width, cfg.stages, downsample=KINDS[kind])


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: C.ClassifierConfig,
    *,
    seed: int,
    checkpoint: Path,
    bar: Bar | None = None,
) -> list[float]:
    """Train ``model`` on crops ``x`` (N, 3, H, W) with labels ``y`` (N,); return the loss per step.

    Cross-entropy, Adam with ``cfg.lr`` decaying to 0 on a cosine, batches drawn from ``seed``,
    each crop flipped left-right with probability 1/2 (from the global random state, which the
    checkpoints carry). Resumes exactly from ``checkpoint`` (see
    :func:`~checkerscope.experiments.common.train_on_batches`).
    """

    def batch_loss(index: torch.Tensor) -> torch.Tensor:
        flip = (torch.rand(len(index)) < 0.5).to(x.device)[:, None, None, None]
        crops = x[index]
        return F.cross_entropy(model(torch.where(flip, crops.flip(-1), crops)), y[index])

    return train_on_batches(
        model,
        batch_loss,
        x.shape[0],
        cfg,
        seed=seed,
        checkpoint=checkpoint,
        bar=bar,
        name="model",
        lr_factor=lambda step: 0.5 * (1 + math.cos(math.pi * step / cfg.steps)),
    )


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The classes ``model`` (in eval mode) predicts for ``x``: (N,)."""
    model.eval()
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def build(
    images: Sequence[torch.Tensor],
    cfg: C.ClassifierConfig,
    kind: str,
    seed: int,
    workdir: Path,
    device: torch.device | str = "cpu",
    bar: Bar | None = None,
) -> dict[str, Any]:
    """Train the classifier of ``kind`` from ``seed`` (checkpoints in ``workdir``); return the
    artifact: its state dict, held-out and training accuracy, accuracy per class, chance, the
    last losses and the CPU seconds the training took (this process)."""
    start = time.process_time()
    images = usable(images, cfg)
    x, y = photo_crops(images, cfg.n_per_image, cfg.image_size, cfg.tile, "train", seed)
    x_test, y_test = photo_crops(
        images, cfg.n_test_per_image, cfg.image_size, cfg.tile, "held_out", seed + 1
    )
    torch.manual_seed(seed + 2)
    model = network(cfg, len(images), kind).to(device)
    losses = fit(
        model, x.to(device), y.to(device), cfg, seed=seed + 3, checkpoint=workdir / "train.pt",
        bar=bar,
    )  # fmt: skip
    model.cpu()
    hits = predictions(model, x_test) == y_test
    train_hits = predictions(model, x) == y
    return {
        "state_dict": model.state_dict(),
        "classes": len(images),
        "accuracy": float(hits.double().mean()),
        "train_accuracy": float(train_hits.double().mean()),
        "accuracy_per_class": hits.double().reshape(len(images), -1).mean(1).tolist(),
        "chance": 1 / len(images),
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
        "cpu_seconds": time.process_time() - start,
    }


@dataclass(frozen=True)
class Description:
    """What describes a trained classifier: its kind, seed and accuracies (held-out, training,
    per class, chance) and the CPU seconds its training took."""

    kind: str
    seed: int
    accuracy: float
    train_accuracy: float
    accuracy_per_class: list[float]
    chance: float
    cpu_seconds: float


@dataclass(frozen=True)
class Trained:
    """A trained classifier (eval mode, parameters frozen) and its :class:`Description`."""

    model: nn.Module
    about: Description


def classifier_seed(ctx: Context, index: int) -> int:
    """The seed of the run's classifier pair ``index``: from the base seed alone, so every
    experiment of the run gets the same networks."""
    return experiment_seed(ctx.settings.seed, "classifier") + SEED_STRIDE * index


def trained(ctx: Context, kind: str = "strided", index: int = 0) -> Trained:
    """The run's trained classifier of ``kind`` number ``index``: built (and cached) by the
    first experiment that asks, loaded by the others.

    Example:
        >>> trained(ctx, "antialiased", 2).about.accuracy  # doctest: +SKIP
        0.79
    """
    cfg: C.ClassifierConfig = ctx.shared_config("classifier")
    seed = classifier_seed(ctx, index)
    key = {"config": C.as_dict(cfg), "data": ctx.data.source, "kind": kind, "seed": seed}
    art = ctx.cached(
        "classifier",
        key,
        lambda workdir: build(ctx.data.images(), cfg, kind, seed, workdir, ctx.device),
    )
    model = network(cfg, art["classes"], kind)
    model.load_state_dict(art["state_dict"])
    model.eval().requires_grad_(False)
    fields = ("accuracy", "train_accuracy", "accuracy_per_class", "chance", "cpu_seconds")
    return Trained(model.to(ctx.device), Description(kind, seed, **{f: art[f] for f in fields}))


def trained_classifier(ctx: Context, kind: str = "strided", index: int = 0) -> nn.Module:
    """The run's trained classifier of ``kind`` (``"strided"`` or ``"antialiased"``) number
    ``index``, in eval mode with frozen parameters: images (N, 3, H, W) in [-1, 1] -> logits.

    Example:
        >>> trained_classifier(ctx)(torch.rand(2, 3, 32, 32) * 2 - 1).shape  # doctest: +SKIP
        torch.Size([2, 9])
    """
    return trained(ctx, kind, index).model


def train_all(ctx: Context, n: int) -> None:
    """Make sure pairs 0..n-1 of both kinds are built, in ``ctx.map`` tasks (the anti-aliased
    networks, the slower ones, first), so that ``--jobs`` workers train them side by side."""
    tasks = [(kind, k) for kind in ("antialiased", "strided") for k in range(n)]
    ctx.map(lambda task: trained(ctx, *task).about, tasks, "train classifiers")


def classifier_features(ctx: Context) -> Callable[[torch.Tensor], torch.Tensor]:
    """The penultimate features of the run's strided classifier (pair 0): images (N, 3, H, W)
    in [-1, 1] -> (N, D), the spatial mean of its last stage (D = ``width * 2**stages``).

    The feature space of the GAN's quality guard (KID between generated and held-out images).

    Example:
        >>> classifier_features(ctx)(torch.rand(4, 3, 32, 32) * 2 - 1).shape  # doctest: +SKIP
        torch.Size([4, 64])
    """
    model = trained_classifier(ctx, "strided", 0)
    return nn.Sequential(*list(model.main)[:-1])


def summary(runs: Sequence[Mapping[str, Description]]) -> dict[str, Any]:
    """Per-seed numbers of classifier pairs (``runs[k][kind]``), as experiments record them:
    held-out and training accuracy, accuracy per class, chance, seeds and CPU seconds."""
    kinds = list(runs[0])

    def each(field: str) -> dict[str, list[Any]]:
        return {k: [getattr(r[k], field) for r in runs] for k in kinds}

    return {
        "task": "which photograph a crop comes from (held-out tiles)",
        "held_out_accuracy_per_seed": each("accuracy"),
        "train_accuracy_per_seed": each("train_accuracy"),
        "held_out_accuracy_per_class": each("accuracy_per_class"),
        "chance_accuracy": runs[0][kinds[0]].chance,
        "classifier_seeds": [r[kinds[0]].seed for r in runs],
        "build_cpu_seconds_per_seed": each("cpu_seconds"),
    }
