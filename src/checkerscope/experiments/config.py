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
    "gan_training": {"quick": 12.0, "default": 110.0},
    "trained_upsamplers": {"quick": 8.0, "default": 50.0},
    "strided_discriminator": {"quick": 6.0, "default": 40.0},
    "classifier": {"quick": 6.0, "default": 40.0},
    "gradients": {"quick": 3.0, "default": 20.0},
    "feature_vis": {"quick": 4.0, "default": 30.0},
    "style_transfer": {"quick": 9.0, "default": 125.0},
    "architectures": {"quick": 6.0, "default": 30.0},
    "audio": {"quick": 5.0, "default": 35.0},
    "regularizer": {"quick": 6.0, "default": 45.0},
}
"""Experiment id (or shared artifact, :data:`SHARED`) -> scale -> wall seconds on two idle cores
(``--jobs 2``). DEVELOPERS.md lists them with the budgets kept for the experiments still to
come; ``results.json`` records each experiment's measured ``seconds`` beside its
``budget_seconds`` (a shared artifact's time is spent in the experiment that builds it)."""


@dataclasses.dataclass(frozen=True)
class GanConfig:
    """DCGANs trained on photo crops: ``gan_training`` and ``strided_discriminator``.

    Each seed trains one GAN for every generator upsampler in ``variants``, initialisation in
    ``inits`` (``"dcgan"``: N(0, 0.02) weights and N(1, 0.02) batch-norm scales, as in Radford
    et al. 2016; ``"default"``: the layers' own) and discriminator in ``discriminators``
    (``"strided_k4"``: DCGAN's 4x4 stride-2 convolutions; ``"antialiased"``: 3x3 convolution
    then blur-pool), ``steps`` steps of DCGAN's Adam (lr 2e-4, betas (0.5, 0.999)) on batches of
    ``batch_size`` of ``n_train`` crops. Every ``eval_every`` steps the checkerboard score of
    each of ``periods`` is measured on the samples of ``n_eval`` fixed noise vectors; KID
    (``kid_subsets`` subsets of ``kid_subset_size``) compares them with ``n_eval`` held-out
    crops in the quality guard's feature space. Only the fields other than those in
    :data:`~checkerscope.experiments.trained_gans.EXPERIMENT_FIELDS` decide how one GAN trains,
    so experiments sharing them share their trained GANs.
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
    periods: tuple[int, ...] = (2, 4, 8)
    variants: tuple[str, ...] = ("deconv", "resize_conv")
    inits: tuple[str, ...] = ("dcgan", "default")
    discriminators: tuple[str, ...] = ("strided_k4",)


GAN_TRAINING = {
    "quick": GanConfig(
        image_size=32,
        nz=32,
        ngf=16,
        ndf=16,
        batch_size=32,
        steps=80,
        n_train=256,
        n_eval=128,
        eval_every=20,
        checkpoint_every=20,
        seeds=3,
        kid_subsets=20,
        kid_subset_size=64,
    ),
    "default": GanConfig(
        image_size=32,
        nz=64,
        ngf=16,
        ndf=16,
        batch_size=32,
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
        seeds=5,
        kid_subsets=100,
        kid_subset_size=1000,
    ),
}

ONE_GENERATOR_TWO_DISCRIMINATORS = {
    "variants": ("subpixel_icnr",),
    "inits": ("dcgan",),
    "discriminators": ("strided_k4", "antialiased"),
}
STRIDED_DISCRIMINATOR = {
    "quick": dataclasses.replace(
        GAN_TRAINING["quick"], steps=60, **ONE_GENERATOR_TWO_DISCRIMINATORS
    ),
    "default": dataclasses.replace(
        GAN_TRAINING["default"], steps=500, **ONE_GENERATOR_TWO_DISCRIMINATORS
    ),
    "full": dataclasses.replace(GAN_TRAINING["full"], **ONE_GENERATOR_TWO_DISCRIMINATORS),
}
"""``strided_discriminator``: one generator (ICNR sub-pixel) against two discriminators."""


@dataclasses.dataclass(frozen=True)
class TrainedUpsamplersConfig:
    """``trained_upsamplers``: the ``init_artifacts`` generators, trained by reconstruction.

    For every seed and upsampler in ``variants``, a DCGAN generator (``ngf`` wide) learns x4
    super-resolution: from the ``thumbnail`` x ``thumbnail`` area-average of an
    ``image_size`` crop (its 3 * thumbnail**2 values as the latent code) to the crop, by mean
    squared error, ``steps`` Adam steps (``lr``) of ``batch_size`` of ``n_train`` crops;
    then scored on ``n_eval`` held-out crops (and before training, the same way).
    ``hf_cutoff``: the start of the high-frequency band (cycles per pixel).
    """

    seeds: int
    ngf: int
    batch_size: int
    steps: int
    n_train: int
    n_eval: int
    checkpoint_every: int
    image_size: int = 32
    thumbnail: int = 8
    lr: float = 1e-3
    hf_cutoff: float = 0.25
    shown: int = 6
    variants: tuple[str, ...] = (
        "deconv_k4",
        "deconv_k3",
        "subpixel",
        "subpixel_icnr",
        "resize_conv",
        "bilinear_resize_conv",
    )


TRAINED_UPSAMPLERS = {
    "quick": TrainedUpsamplersConfig(
        seeds=3, ngf=8, batch_size=32, steps=100, n_train=256, n_eval=64, checkpoint_every=50
    ),
    "default": TrainedUpsamplersConfig(
        seeds=5, ngf=16, batch_size=32, steps=300, n_train=1024, n_eval=128, checkpoint_every=100
    ),
    "full": TrainedUpsamplersConfig(
        seeds=8, ngf=64, batch_size=64, steps=5000, n_train=20000, n_eval=1024,
        checkpoint_every=500, image_size=64, thumbnail=16,
    ),
}  # fmt: skip


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
class ClassifierConfig:
    """The shared trained classifier (``experiments/classifier.py``), not an experiment.

    Self-supervised: which photograph an ``image_size`` crop comes from. Each photograph is
    cut into ``tile`` x ``tile`` tiles; every fifth tile (spread over the image) is held out:
    ``n_per_image`` training crops never touch a held-out tile, ``n_test_per_image`` held-out
    crops lie inside one. A :class:`~checkerscope.models.StridedClassifier` (``width``,
    ``stages`` 3x3 stride-2 stages) and its anti-aliased twin (conv + blur-pool) each train
    ``steps`` Adam steps (``lr``, cosine decay to 0) on batches of ``batch_size`` with random
    horizontal flips, checkpointing every ``checkpoint_every`` steps.
    """

    image_size: int
    width: int
    steps: int
    n_per_image: int
    n_test_per_image: int
    checkpoint_every: int
    stages: int = 3
    batch_size: int = 32
    lr: float = 4e-3
    tile: int = 64


CLASSIFIER = {
    "quick": ClassifierConfig(
        image_size=32, width=8, steps=150, n_per_image=128, n_test_per_image=32,
        checkpoint_every=50,
    ),
    "default": ClassifierConfig(
        image_size=32, width=8, steps=800, n_per_image=512, n_test_per_image=64,
        checkpoint_every=200,
    ),
    "full": ClassifierConfig(
        image_size=64, width=32, steps=20000, n_per_image=1024, n_test_per_image=256,
        checkpoint_every=1000, batch_size=64, lr=2e-3, tile=128,
    ),
}  # fmt: skip

SHARED = {"classifier": CLASSIFIER}
"""Configurations of the artifacts several experiments share (``ctx.shared_config(name)``),
by name; run overrides may name them as they name experiments."""


@dataclasses.dataclass(frozen=True)
class GradientsConfig:
    """``gradients``: input gradients of trained networks, strided vs anti-aliased.

    ``seeds`` independently trained pairs of the shared classifier, each differentiated at
    ``n_crops`` held-out crops per photograph (and ``strided_discriminator``'s trained
    discriminators at that experiment's held-out crops); ``period`` and ``margin`` (border
    pixels dropped) define the phase ratio; ``shown`` crops go in each figure.
    """

    seeds: int
    n_crops: int
    period: int = 2
    margin: int = 2
    shown: int = 4


GRADIENTS = {
    "quick": GradientsConfig(seeds=3, n_crops=8),
    "default": GradientsConfig(seeds=5, n_crops=16),
    "full": GradientsConfig(seeds=5, n_crops=64),
}


@dataclasses.dataclass(frozen=True)
class FeatureVisConfig:
    """``feature_vis``: feature visualization of the shared classifier, plain and jittered.

    For each of ``seeds`` independently trained classifier pairs: ``channels`` channels of the
    last stage (the most active on held-out crops), each maximized for ``vis_steps``
    normalized gradient steps (``vis_lr``) on a ``vis_size`` image starting from mid-grey plus
    noise of std ``init_std``; jitter rolls by 0 to ``jitter - 1`` pixels per axis. Scores
    leave out ``margin`` pixels at every border, where padding paints frames.
    """

    seeds: int
    channels: int
    vis_size: int
    vis_steps: int
    vis_lr: float = 0.02
    jitter: int = 8
    init_std: float = 0.01
    margin: int = 4


FEATURE_VIS = {
    "quick": FeatureVisConfig(seeds=3, channels=6, vis_size=32, vis_steps=30),
    "default": FeatureVisConfig(seeds=5, channels=16, vis_size=64, vis_steps=60),
    "full": FeatureVisConfig(seeds=5, channels=32, vis_size=128, vis_steps=300),
}


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


@dataclasses.dataclass(frozen=True)
class ArchitecturesConfig:
    """``architectures``: the generators of ``checkerscope.zoo`` audited at random init.

    Each of ``generators`` (the claim's items, image and audio) is audited by
    ``checkerscope.audit`` on the experiment's ``seeds`` seeds (one random draw of the model
    per seed, ``batch`` random inputs each), and so is its fix. ``discriminators`` are audited
    the same way (input gradients) for the table only: the claim is about generators.
    """

    seeds: int
    batch: int
    generators: tuple[str, ...] = (
        "dcgan", "pix2pix_unet", "cyclegan_resnet", "srgan", "esrgan", "edsr", "ldm_decoder",
        "unet", "melgan", "hifigan_v1", "demucs",
    )  # fmt: skip
    discriminators: tuple[str, ...] = ()


ZOO_DISCRIMINATORS = ("dcgan_discriminator", "patchgan", "melgan_discriminator")

ARCHITECTURES = {
    "quick": ArchitecturesConfig(seeds=8, batch=2),
    "default": ArchitecturesConfig(seeds=16, batch=4, discriminators=ZOO_DISCRIMINATORS),
    "full": ArchitecturesConfig(seeds=32, batch=8, discriminators=ZOO_DISCRIMINATORS),
}


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    """``audio``: tonal artifacts, filtering and replicas of x2 audio upsamplers (Pons et al.).

    Every seed draws ``clips`` mono clips of ``seconds`` at ``sample_rate`` (the output rate;
    inputs are the same clips resampled to half of it) for the measurements at random init,
    of the interpolations' responses and of the replicas; then trains one super-resolver per
    upsampler in ``trained_variants`` (``channels`` wide) for ``steps`` Adam steps (``lr``) on
    batches of ``batch_size`` random ``crop``-sample windows of ``n_train`` other clips of
    ``train_seconds``, and scores it on ``n_eval`` held-out clips of ``eval_seconds``.
    """

    seeds: int
    channels: int
    steps: int
    batch_size: int
    n_train: int
    sample_rate: int = 16000
    clips: int = 5
    seconds: float = 1.0
    crop: int = 1024
    train_seconds: float = 1.0
    n_eval: int = 5
    eval_seconds: float = 1.0
    kernel_size: int = 9
    lr: float = 2e-3
    variants: tuple[str, ...] = ("transposed", "subpixel", "nearest", "linear")
    trained_variants: tuple[str, ...] = ("transposed", "subpixel", "nearest", "linear")
    activations: tuple[str, ...] = ("none", "LeakyReLU")


AUDIO = {
    "quick": AudioConfig(seeds=3, channels=8, steps=60, batch_size=4, n_train=10),
    "default": AudioConfig(
        seeds=5, channels=16, steps=200, batch_size=8, n_train=20, eval_seconds=2.0
    ),
    "full": AudioConfig(
        seeds=8, channels=32, steps=4000, batch_size=16, n_train=200, crop=4096,
        train_seconds=2.0, n_eval=20, eval_seconds=4.0, seconds=2.0, clips=10,
    ),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RegularizerConfig:
    """``regularizer``: removing checkerboards from transposed-convolution generators.

    Regularizer: a generator maps ``image_size / 4`` average-pooled crops back to the crops
    (``width`` channels, two x2 upsamplers), trained ``steps`` Adam steps (``lr``,
    ``batch_size`` of ``n_train`` crops) on ``reconstruction`` (``"mse"`` or ``"l1"``). Its
    variants: deconvolutions of every kernel in ``kernel_sizes``, plain, with
    ``checkerboard_loss`` at ``loss_weight`` and (kernels in ``durall_kernel_sizes``) with the
    Durall et al. loss at ``durall_weight``, and nearest resize-convolution; each scored on
    ``n_eval`` held-out crops. Distillation: the trained deconv GAN of each of ``gan_seeds``
    seeds, converted with ``init="distill"`` for ``distill_steps`` steps (``distill_lr``) on
    noise batches of ``distill_batch``, scored on ``n_eval`` samples. Training checkpoints
    every ``checkpoint_every`` steps and at the end.
    """

    seeds: int
    steps: int
    distill_steps: int
    gan_seeds: int = 3
    image_size: int = 32
    width: int = 32
    batch_size: int = 16
    n_train: int = 512
    n_eval: int = 64
    lr: float = 2e-3
    reconstruction: str = "mse"
    loss_weight: float = 1.0
    durall_weight: float = 0.1
    kernel_sizes: tuple[int, ...] = (3, 4)
    durall_kernel_sizes: tuple[int, ...] = (3,)
    distill_lr: float = 1e-3
    distill_batch: int = 16
    checkpoint_every: int = 1000


REGULARIZER = {
    "quick": RegularizerConfig(seeds=3, steps=60, distill_steps=40, n_eval=32),
    "default": RegularizerConfig(seeds=5, steps=250, distill_steps=200),
    "full": RegularizerConfig(seeds=8, steps=3000, distill_steps=2000, n_train=4096, n_eval=256),
}


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
