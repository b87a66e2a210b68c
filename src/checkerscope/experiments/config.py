"""Scales and per-experiment configurations: the one place that decides what each scale means.

Every experiment has a frozen dataclass of its settings and a table with one instance per
scale. The runner picks the instance for ``--scale`` (and applies test overrides), hands it to
the experiment as ``ctx.config`` and writes it, resolved, beside the results. Experiments never
branch on the scale's name. To add an experiment's settings, add its dataclass and table here.

Scales:
    quick: every experiment, tiny, at most ~90 s on 2 idle CPU cores; at least 3 seeds a claim.
    default: the README demo, at most ~10 minutes on 2 idle CPU cores; at least 5 seeds a claim.
    full: the article's sizes, for one GPU.

Every experiment has a compute budget per scale (:data:`BUDGETS`, seconds of wall time with
``--jobs 2`` on two idle cores); the budgets of all experiments fit :data:`TOTAL_BUDGETS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from checkerscope.files import plain_json

SCALES = ("quick", "default", "full")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The data: deterministic random crops, favouring strong colours when ``strong_colors``.

    Each experiment picks its own crop size (its config's ``image_size``).
    """

    strong_colors: bool = True


DATA = {"quick": DataConfig(), "default": DataConfig(), "full": DataConfig()}

TOTAL_BUDGETS = {"quick": 90.0, "default": 600.0}
"""Wall seconds for a whole ``checkerscope reproduce`` (start-up and report included) on two
idle CPU cores; ``full`` has no budget (one GPU, as long as it takes)."""
OVERHEAD_SECONDS = {"quick": 8.0, "default": 20.0}
"""Kept out of the experiments' budgets: start-up, declarations, the report."""
BUDGETS: dict[str, dict[str, float]] = {
    "arithmetic": {"quick": 2.0, "default": 5.0},
    "init_artifacts": {"quick": 4.0, "default": 15.0},
    "strong_colors": {"quick": 4.0, "default": 20.0},
    "gan_training": {"quick": 15.0, "default": 140.0},
    "gradients": {"quick": 3.0, "default": 20.0},
    "feature_vis": {"quick": 5.0, "default": 40.0},
    "style_transfer": {"quick": 9.0, "default": 125.0},
}
"""Experiment id -> scale -> wall seconds on two idle cores (``--jobs 2``). DEVELOPERS.md lists
them with the budgets kept for the experiments still to come; ``results.json`` records each
experiment's measured ``seconds`` beside its ``budget_seconds``."""


@dataclasses.dataclass(frozen=True)
class GanConfig:
    """``gan_training``: a DCGAN trained twice, with deconv and with resize-conv upsampling.

    Optimiser and initialisation are those of DCGAN (Radford et al. 2016): Adam, lr 2e-4, betas
    (0.5, 0.999); weights N(0, 0.02), batch-norm scales N(1, 0.02) (``init="dcgan"``), or the
    layers' own initialisation (``init="default"``).
    """

    image_size: int
    nz: int
    ngf: int
    ndf: int
    batch_size: int
    steps: int
    n_train: int
    n_eval: int
    eval_every: int
    checkpoint_every: int
    seeds: int
    kid_subsets: int
    kid_subset_size: int
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    variants: tuple[str, ...] = ("deconv", "resize_conv")
    downsample: str = "strided_conv"
    init: str = "dcgan"


GAN_TRAINING = {
    "quick": GanConfig(
        image_size=32,
        nz=32,
        ngf=16,
        ndf=16,
        batch_size=32,
        steps=120,
        n_train=512,
        n_eval=128,
        eval_every=40,
        checkpoint_every=40,
        seeds=3,
        kid_subsets=20,
        kid_subset_size=64,
    ),
    "default": GanConfig(
        image_size=32,
        nz=64,
        ngf=16,
        ndf=16,
        batch_size=64,
        steps=800,
        n_train=2048,
        n_eval=256,
        eval_every=100,
        checkpoint_every=100,
        seeds=3,
        kid_subsets=50,
        kid_subset_size=128,
    ),
    "full": GanConfig(
        image_size=64,
        nz=100,
        ngf=64,
        ndf=64,
        batch_size=128,
        steps=20000,
        n_train=20000,
        n_eval=2048,
        eval_every=1000,
        checkpoint_every=500,
        seeds=3,
        kid_subsets=100,
        kid_subset_size=1000,
    ),
}


@dataclasses.dataclass(frozen=True)
class ArithmeticConfig:
    """``arithmetic``: overlap counts, stacks, stride-1 layers and operator matrices (exact).

    Every scale computes the same grid; only the number of random weight draws for the
    phase-imbalance check grows. The first ``matrix_checks`` draws are also checked against
    the row sums of their operator matrices.
    """

    weight_draws: int
    kernel_sizes: tuple[int, ...] = (2, 3, 4, 5, 6, 7)
    strides: tuple[int, ...] = (2, 3, 4)
    stack_depths: tuple[int, ...] = (1, 2, 3)
    stride1_depths: tuple[int, ...] = (1, 2)
    stride1_kernel_sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    matrix_size: int = 8
    matrix_checks: int = 5


ARITHMETIC = {
    "quick": ArithmeticConfig(weight_draws=20),
    "default": ArithmeticConfig(weight_draws=200),
    "full": ArithmeticConfig(weight_draws=2000),
}


@dataclasses.dataclass(frozen=True)
class InitArtifactsConfig:
    """``init_artifacts``: DCGAN generators with random weights, one per seed and upsampler.

    ``batchnorm="train"`` normalizes with batch statistics, as the generator runs in training.
    """

    image_size: int
    nz: int
    ngf: int
    seeds: int
    batch_size: int
    n_data: int
    batchnorm: str = "train"
    hf_cutoff: float = 0.25
    variants: tuple[str, ...] = (
        "deconv_k4",
        "deconv_k3",
        "subpixel",
        "subpixel_icnr",
        "resize_conv",
        "bilinear_resize_conv",
    )


INIT_ARTIFACTS = {
    "quick": InitArtifactsConfig(image_size=32, nz=32, ngf=16, seeds=8, batch_size=4, n_data=32),
    "default": InitArtifactsConfig(
        image_size=32, nz=64, ngf=32, seeds=64, batch_size=8, n_data=256
    ),
    "full": InitArtifactsConfig(
        image_size=64, nz=100, ngf=64, seeds=256, batch_size=16, n_data=1024
    ),
}


@dataclasses.dataclass(frozen=True)
class StrongColorsConfig:
    """``strong_colors``: small decoders fitted to flat colours at growing distance from grey.

    Each colour gets its own learned flat code (``code_channels`` at every one of
    ``code_size``**2 positions, starting at ``code_init`` times a normal draw); one decoder of
    ``layers`` x2 upsamplers (``channels`` wide, LeakyReLU between, bias on) learns them all at
    once with Adam, so its bias can hold the mean colour and its weights must make the rest.
    Every scale of the codes' start in ``code_inits`` is tried, ``seeds`` times each.
    """

    steps: int
    seeds: int
    code_size: int
    levels: int
    code_channels: int = 8
    code_inits: tuple[float, ...] = (0.1, 0.3, 1.0)
    channels: int = 16
    layers: int = 2
    kernel_size: int = 3
    lr: float = 1e-2
    variants: tuple[str, ...] = ("deconv", "resize_conv")


STRONG_COLORS = {
    "quick": StrongColorsConfig(steps=60, seeds=3, code_size=4, levels=4),
    "default": StrongColorsConfig(steps=200, seeds=5, code_size=4, levels=6),
    "full": StrongColorsConfig(steps=1000, seeds=8, code_size=8, levels=11),
}


@dataclasses.dataclass(frozen=True)
class GradientsConfig:
    """``gradients``: input gradients of random DCGAN discriminators, strided vs anti-aliased.

    ``seeds`` discriminators per variant, each differentiated at the same ``n_crops`` crops
    (the first ``n_scored`` also get checkerboard scores); ``period`` and ``margin`` (border
    pixels dropped) define the phase ratio.
    """

    image_size: int
    ndf: int
    seeds: int
    n_crops: int
    n_scored: int = 8
    period: int = 2
    margin: int = 4
    shown: int = 4
    variants: tuple[str, ...] = ("strided_k3", "strided_k4", "antialiased", "avgpool")


GRADIENTS = {
    "quick": GradientsConfig(image_size=64, ndf=16, seeds=6, n_crops=8, n_scored=4),
    "default": GradientsConfig(image_size=64, ndf=16, seeds=20, n_crops=32),
    "full": GradientsConfig(image_size=64, ndf=64, seeds=32, n_crops=128),
}


@dataclasses.dataclass(frozen=True)
class FeatureVisConfig:
    """``feature_vis``: classifiers trained to tell the photographs apart, then visualized.

    Training: ``steps`` Adam steps (``lr``) on ``n_per_image`` crops of ``image_size`` per
    photograph. Visualization: ``channels`` channels of the last stage, each maximized for
    ``vis_steps`` normalized gradient steps (``vis_lr``) on a ``vis_size`` image starting
    from 0.5 plus noise of std ``init_std``; jitter rolls by 0 to ``jitter - 1`` pixels per axis.
    Scores leave out ``margin`` pixels at every border, where padding paints frames. The whole
    study (both classifiers, every visualization) runs once per seed, ``seeds`` times.
    """

    seeds: int
    image_size: int
    width: int
    stages: int
    batch_size: int
    steps: int
    n_per_image: int
    n_test_per_image: int
    checkpoint_every: int
    channels: int
    vis_size: int
    vis_steps: int
    lr: float = 2e-3
    vis_lr: float = 0.02
    jitter: int = 8
    init_std: float = 0.01
    margin: int = 4


FEATURE_VIS = {
    "quick": FeatureVisConfig(
        seeds=3, image_size=32, width=8, stages=3, batch_size=32, steps=30, n_per_image=16,
        n_test_per_image=8, checkpoint_every=10, channels=6, vis_size=32, vis_steps=30,
    ),
    "default": FeatureVisConfig(
        seeds=5, image_size=32, width=16, stages=3, batch_size=32, steps=200, n_per_image=64,
        n_test_per_image=16, checkpoint_every=50, channels=16, vis_size=48, vis_steps=60,
    ),
    "full": FeatureVisConfig(
        seeds=5, image_size=64, width=32, stages=3, batch_size=64, steps=3000, n_per_image=512,
        n_test_per_image=64, checkpoint_every=500, channels=16, vis_size=128, vis_steps=300,
    ),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class StyleTransferConfig:
    """``style_transfer``: Johnson et al.'s network trained with deconv, resize-conv, and deconv
    with a total-variation term.

    Data: ``n_train`` training and ``n_eval`` held-out crops of ``zoom * image_size`` pixels,
    shrunk to ``image_size`` (so a crop shows a scene, not a patch of texture), from every
    photograph but the style image; the style image (``style_image``: an embedded photograph's
    name or an image file) is shrunk by ``zoom`` too, so style and content share one scale.
    Training: ``steps`` Adam steps (``lr``, Johnson's 1e-3) of ``batch_size`` crops, once per
    network and seed, ``seeds`` times. Loss: content + ``style_weight`` x style (+
    ``tv_weight`` x total variation for the TV network), each term in units of its magnitude
    on the first ``n_reference`` training crops (see
    :func:`checkerscope.experiments.stylization.calibrate`), on the features of
    ``RandomFilterBank(texture_sizes, texture_filters, feature_seed)``, or of VGG-16 loaded
    from ``vgg_weights`` (a .safetensors or torch file) when given. Graded in
    ``RandomMultiScaleCNN(grader_widths, grader_seed)``.
    """

    seeds: int
    image_size: int
    width: int
    blocks: int
    batch_size: int
    steps: int
    n_train: int
    n_eval: int
    checkpoint_every: int
    texture_sizes: tuple[int, ...]
    texture_filters: int
    zoom: int = 3
    style_image: str = "ihc"
    style_weight: float = 1.0
    tv_weight: float = 0.1
    lr: float = 1e-3
    n_reference: int = 32
    feature_seed: int = 0
    grader_widths: tuple[int, ...] = (32, 64, 128)
    grader_seed: int = 1
    vgg_weights: str | None = None
    shown: int = 4


STYLE_TRANSFER = {
    "quick": StyleTransferConfig(
        seeds=3, image_size=32, width=8, blocks=1, batch_size=2, steps=150, n_train=64, n_eval=8,
        checkpoint_every=50, texture_sizes=(3, 5, 7), texture_filters=8,
    ),
    "default": StyleTransferConfig(
        seeds=5, image_size=48, width=16, blocks=2, batch_size=2, steps=500, n_train=256,
        n_eval=16, checkpoint_every=100, texture_sizes=(3, 5, 7, 11, 15), texture_filters=16,
    ),
    "full": StyleTransferConfig(
        seeds=5, image_size=256, width=32, blocks=5, batch_size=4, steps=20000, n_train=2048,
        n_eval=64, checkpoint_every=500, texture_sizes=(3, 5, 7, 11, 15, 23, 37, 55),
        texture_filters=128, zoom=1, n_reference=64,
    ),
}  # fmt: skip


def check_scale(scale: str) -> str:
    """Return ``scale`` if it is one of :data:`SCALES`, or raise naming the choices."""
    if scale not in SCALES:
        choices = ", ".join(repr(s) for s in SCALES)
        raise ValueError(f"scale must be one of {choices}, got {scale!r}")
    return scale


def for_scale(table: Mapping[str, T], scale: str, overrides: Mapping[str, Any] | None = None) -> T:
    """Pick the configuration of ``scale`` from ``table`` and apply ``overrides`` (field: value).

    Example:
        >>> for_scale(GAN_TRAINING, "quick", {"steps": 4}).steps
        4
    """
    return with_overrides(table[check_scale(scale)], overrides)


def with_overrides(config: T, overrides: Mapping[str, Any] | None = None) -> T:
    """``config`` (a frozen dataclass) with the fields in ``overrides`` replaced.

    Example:
        >>> with_overrides(ARITHMETIC["quick"], {"weight_draws": 3}).weight_draws
        3
    """
    if not overrides:
        return config
    fields = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"overrides name unknown fields {unknown} of {type(config).__name__}; "
            f"known fields: {sorted(fields)}"
        )
    return dataclasses.replace(config, **overrides)  # type: ignore[type-var]


def as_dict(config: Any) -> dict[str, Any]:
    """A configuration as a plain dict (tuples become lists), as written to results.json.

    Example:
        >>> as_dict(ARITHMETIC["quick"])["strides"]
        [2, 3, 4]
    """
    return {} if config is None else plain_json(config)
