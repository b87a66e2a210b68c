"""Audit a model for checkerboard artifacts: how much, which layers make them, and the fix.

Odena, Dumoulin & Olah (2016): the artifacts of transposed convolutions show "before any
training occurs", in the outputs of a generator "initialized with random weights", and strided
convolutions put them into the gradients a discriminator or classifier sends back. So
:func:`audit` re-initializes a copy of the model several times, feeds it random inputs, scores
what comes out (or the input gradient), finds the layers that add the pattern, and measures
the same model with the article's fix: :func:`checkerscope.convert` for upsamplers,
anti-aliased downsampling (Zhang 2019) for strided convolutions.

Also here: :func:`load_target` and :func:`load_weights`, which turn the command line's
``TARGET`` and ``--weights`` into a model without unpickling arbitrary objects.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v
from checkerscope.analysis import layers as L
from checkerscope.analysis.imbalance import phase_imbalance
from checkerscope.analysis.overlap_counts import overlap_summary
from checkerscope.analysis.score import THRESHOLD, period_scores
from checkerscope.analysis.score1d import period_scores_1d
from checkerscope.analysis.stats import confidence_interval
from checkerscope.conversion import ResizeConvAdapter, convert
from checkerscope.functional.blurpool import binomial_taps, separable_kernel
from checkerscope.nn import (
    AntiAliasedConv1d,
    AntiAliasedConv2d,
    BlurPool1d,
    BlurPool2d,
    SubPixelConv2d,
)

MODES = ("outputs", "gradients")

SCHEMA = "checkerscope.audit/1"
"""Identifies the layout of :meth:`AuditReport.to_dict`, changed when a field changes meaning."""

_POOLS = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)
_ANTIALIASED = (AntiAliasedConv1d, AntiAliasedConv2d)
_BLURPOOLS = (BlurPool1d, BlurPool2d)
_CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_SWAP = {1: AntiAliasedConv1d, 2: AntiAliasedConv2d}


# Reports.


@dataclass(frozen=True)
class LayerAudit:
    """One upsampling or strided layer of an audited model.

    * ``name``: its qualified name as in ``model.named_modules()`` (``""`` for the root).
    * ``kind``: "conv_transpose", "strided_conv", "resize_conv", "subpixel", "upsample_<mode>",
      "pixel_shuffle", "antialiased_conv", "blurpool" or "pool".
    * ``input_size``, ``output_size``: spatial sizes of its first call.
    * ``kernel_size``, ``stride``: per spatial axis; ``stride`` is the scale factor of an
      upsampler. ``None`` where the layer has no kernel (a resize, a pixel shuffle).
    * ``score``: the checkerboard the layer adds, in dB. In the ``"outputs"`` mode, for each
      period p in (2, 4, 8) that fits the layer's output, the per-period score (channels'
      power spectra averaged) of the output minus that of the *reference*, the layer's input
      resized by nearest neighbour to the output's size, averaged over images and seeds; then
      the maximum over p. Nearest resizing adds no period pattern of its own (the box filter it
      amounts to is zero on the lattice of every period it makes), so the reference carries
      exactly what came into the layer, and a nearest ``Upsample`` scores 0. Negative: the
      layer removes some of what came in. In the ``"gradients"`` mode the same with the
      backward pass: the gradient the layer sends to its input against the gradient it
      receives at its output, resized by nearest neighbour to the input's size.
      Maps are scored on their interior, without a margin of the larger of an eighth of the
      side and the layer's reach (its kernel extent plus a stride) at either end of each axis,
      keeping at least 4 (:func:`_interior`); ``nan`` where a map is under 4 per side.
    * ``output_score``: the measured score (dB, maximum over periods) of what ``score``
      compares: the layer's output, or the gradient it sends back.
    * ``imbalance``: :func:`checkerscope.analysis.phase_imbalance` of its weights (mean over
      seeds), the fraction of a flat input's response (of the gradient it sends back, for
      strided layers) that is a checkerboard; ``None`` for layers it does not read.
    * ``overlap_ratio``: the analytic max/min overlap count of its interior
      (:func:`checkerscope.analysis.overlap_summary`, product over axes): of the layer for
      upsamplers, of the transposed operation that its backward pass is for strided layers.
      ``None`` where the count is not defined.
    """

    name: str
    kind: str
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]
    kernel_size: tuple[int, ...] | None
    stride: tuple[int, ...] | None
    score: float
    output_score: float
    imbalance: float | None
    overlap_ratio: float | None

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (``nan`` and ``inf`` become ``None``)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "input_size": list(self.input_size),
            "output_size": list(self.output_size),
            "kernel_size": None if self.kernel_size is None else list(self.kernel_size),
            "stride": None if self.stride is None else list(self.stride),
            "score_db": _json_float(self.score),
            "output_score_db": _json_float(self.output_score),
            "imbalance": _json_float(self.imbalance),
            "overlap_ratio": _json_float(self.overlap_ratio),
        }


@dataclass(frozen=True)
class Fix:
    """The audited model with the article's fix applied, measured the same way.

    ``description`` says what was changed, ``replaced`` the qualified names of the replaced
    layers; ``score``, ``ci``, ``seed_scores``, ``flagged`` and ``layers`` as in
    :class:`AuditReport`; ``change`` is the fixed model's score minus the original's (dB).
    """

    description: str
    replaced: tuple[str, ...]
    score: float
    ci: tuple[float, float]
    seed_scores: tuple[float, ...]
    flagged: bool
    change: float
    layers: tuple[LayerAudit, ...]
    samples: torch.Tensor = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values, without the samples."""
        return {
            "description": self.description,
            "replaced": list(self.replaced),
            "score_db": _json_float(self.score),
            "ci_db": _json_ci(self.ci),
            "seed_scores_db": [_json_float(s) for s in self.seed_scores],
            "flagged": self.flagged,
            "change_db": _json_float(self.change),
            "layers": [layer.to_dict() for layer in self.layers],
        }


@dataclass(frozen=True)
class AuditReport:
    """What :func:`audit` measured.

    * ``score``: mean over seeds of the per-seed score (dB), each the mean over a batch of
      :func:`checkerscope.analysis.checkerboard_score` of the outputs (``"outputs"`` mode;
      RGB scored on its luma; 1-D outputs by
      :func:`checkerscope.analysis.score1d.checkerboard_score_1d`; 3-D outputs as a stack of
      2-D slices) or of the input gradients (``"gradients"`` mode, channels averaged).
    * ``ci``: the two-sided 95% Student-t interval of that mean over seeds,
      ``mean +- t(0.975, n-1) * sd / sqrt(n)``; ``(nan, nan)`` with one seed.
    * ``flagged``: ``score > threshold``, with the validated threshold of the score module
      (:data:`checkerscope.analysis.score.THRESHOLD`, 12 dB).
    * ``layers``: a :class:`LayerAudit` per upsampling or strided layer, in call order.
    * ``fix``: the same audit of the fixed model (:class:`Fix`), or ``None`` with the reason in
      ``notes``.
    * ``samples``: outputs (or input gradients) of the first seed, on the CPU, for figures.
    """

    model: str
    mode: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    seeds: int
    batch: int
    trained: bool
    threshold: float
    score: float
    ci: tuple[float, float]
    seed_scores: tuple[float, ...]
    flagged: bool
    layers: tuple[LayerAudit, ...]
    fix: Fix | None
    notes: tuple[str, ...]
    samples: torch.Tensor = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (schema :data:`SCHEMA`); ``nan``/``inf`` become ``None``.

        Keys: ``schema``, ``model``, ``mode``, ``input_shape``, ``output_shape`` (no batch
        axis), ``seeds``, ``batch``, ``trained``, ``threshold_db``, ``score_db``, ``ci_db``
        ([low, high] or ``None``), ``seed_scores_db``, ``flagged``, ``layers`` (a list of
        :meth:`LayerAudit.to_dict`), ``fix`` (:meth:`Fix.to_dict` or ``None``), ``notes``.
        """
        return {
            "schema": SCHEMA,
            "model": self.model,
            "mode": self.mode,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "seeds": self.seeds,
            "batch": self.batch,
            "trained": self.trained,
            "threshold_db": self.threshold,
            "score_db": _json_float(self.score),
            "ci_db": _json_ci(self.ci),
            "seed_scores_db": [_json_float(s) for s in self.seed_scores],
            "flagged": self.flagged,
            "layers": [layer.to_dict() for layer in self.layers],
            "fix": None if self.fix is None else self.fix.to_dict(),
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        what = "outputs" if self.mode == "outputs" else "input gradients"
        verdict = "FLAGGED" if self.flagged else "not flagged"
        lines = [
            f"{self.model}: checkerboard score of its {what} {_fmt_score(self.score, self.ci)}"
            f" ({verdict}, threshold {self.threshold:g} dB)"
        ]
        for layer in self.layers:
            lines.append(
                f"  {layer.name or '<root>'} ({layer.kind}): adds {layer.score:.1f} dB, "
                f"overlap ratio {_fmt(layer.overlap_ratio)}, imbalance {_fmt(layer.imbalance)}"
            )
        if self.fix is not None:
            lines.append(
                f"fix: {self.fix.description}: {_fmt_score(self.fix.score, self.fix.ci)} "
                f"({self.fix.change:+.1f} dB)"
            )
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def _json_float(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _json_ci(ci: tuple[float, float]) -> list[float] | None:
    return None if not all(math.isfinite(c) for c in ci) else [float(c) for c in ci]


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _fmt_score(score: float, ci: tuple[float, float]) -> str:
    if not all(math.isfinite(c) for c in ci):
        return f"{score:.1f} dB"
    return f"{score:.1f} dB (95% CI {ci[0]:.1f} to {ci[1]:.1f})"


# Finding the layers.


def layer_kind(m: nn.Module) -> str | None:
    """The audit's name for an upsampling or strided layer, or None for any other module.

    Example:
        >>> layer_kind(nn.ConvTranspose2d(4, 4, 4, 2, 1)), layer_kind(nn.Conv2d(4, 4, 3))
        ('conv_transpose', None)
    """
    if isinstance(m, (ResizeConvAdapter, *L.RESIZE_CONVS)):
        return "resize_conv"
    if isinstance(m, SubPixelConv2d):
        return "subpixel"
    if isinstance(m, _ANTIALIASED):
        return "antialiased_conv"
    if isinstance(m, _BLURPOOLS):
        return "blurpool" if m.stride > 1 else None
    if isinstance(m, nn.Upsample):
        return f"upsample_{m.mode}"
    if isinstance(m, nn.PixelShuffle):
        return "pixel_shuffle" if m.upscale_factor > 1 else None
    strided = any(s > 1 for s in _as_tuple(getattr(m, "stride", 1) or 1))
    if L.is_transposed_conv(m):
        return "conv_transpose" if strided else None
    if L.is_conv(m):
        return "strided_conv" if strided else None
    if isinstance(m, _POOLS):
        return "pool" if strided else None
    return None


def _as_tuple(x: Any) -> tuple[int, ...]:
    return tuple(x) if isinstance(x, Sequence) else (x,)


def find_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The upsampling and strided layers of ``model`` (see :func:`layer_kind`), outermost only.

    Names are those of ``model.named_modules()``; a recognised layer's children (the ``conv``
    inside a :class:`~checkerscope.nn.SubPixelConv2d`) are not listed again.

    Example:
        >>> up = nn.Upsample(scale_factor=2)
        >>> g = nn.Sequential(nn.ConvTranspose2d(8, 4, 4, 2, 1), nn.ReLU(), up)
        >>> [name for name, _ in find_layers(g)]
        ['0', '2']
    """
    found: list[tuple[str, nn.Module]] = []
    seen: set[int] = set()

    def visit(name: str, m: nn.Module) -> None:
        if id(m) in seen:
            return
        seen.add(id(m))
        if layer_kind(m) is not None:
            found.append((name, m))
            return
        for child_name, child in m.named_children():
            visit(f"{name}.{child_name}" if name else child_name, child)

    visit("", model)
    return found


# Per-layer analytic numbers.


def _imbalance(m: nn.Module) -> float | None:
    if isinstance(m, ResizeConvAdapter):
        m = m.resize
    if any(p.device.type != "cpu" for p in m.parameters()):
        m = copy.deepcopy(m).cpu()  # phase_imbalance does its small sums on the CPU
    if isinstance(m, (*L.RESIZE_CONVS, SubPixelConv2d)) or L.is_conv(m) or L.is_transposed_conv(m):
        return phase_imbalance(m).imbalance
    blur = m.blur if isinstance(m, _ANTIALIASED) else m
    if isinstance(blur, _BLURPOOLS):
        # The blur sends back its gradient through the transpose of a strided convolution
        # with the binomial taps: phase_imbalance reads that convolution.
        return phase_imbalance(_blur_as_conv(blur)).imbalance
    return None


def _blur_as_conv(blur: nn.Module) -> nn.Module:
    dims, f = blur.dims, blur.filter_size
    conv = _CONV[dims](1, 1, f, stride=blur.stride, padding=(f - 1) // 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(separable_kernel(binomial_taps(f, dtype=torch.float64), dims))
    return conv


def _transposed_ratio(kernel: Any, stride: Any, dilation: Any, dims: int) -> float:
    """Interior overlap ratio of the transposed convolution of a strided layer's geometry."""
    k = v.ntuple("kernel_size", kernel, dims)
    s = v.ntuple("stride", stride, dims)
    d = v.ntuple("dilation", dilation, dims)
    return overlap_summary(
        _CONV_TRANSPOSE[dims](1, 1, k, s, dilation=d), (4 * max(s),) * dims
    ).ratio


def _overlap_ratio(m: nn.Module, in_size: tuple[int, ...], in_channels: int) -> float | None:
    dims = len(in_size)
    try:
        if L.is_conv(m) or isinstance(m, _POOLS):
            d = getattr(m, "dilation", 1)
            return _transposed_ratio(m.kernel_size, m.stride, d, dims)
        blur = m.blur if isinstance(m, _ANTIALIASED) else m
        if isinstance(blur, _BLURPOOLS):
            return _transposed_ratio(blur.filter_size, blur.stride, 1, dims)
        layer = m.resize if isinstance(m, ResizeConvAdapter) else m
        return overlap_summary(layer, in_size, in_channels=in_channels).ratio
    except ValueError:
        return None


def _geometry(
    m: nn.Module, in_size: tuple[int, ...], out_size: tuple[int, ...]
) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """(kernel_size, stride or scale factor) of a layer, per spatial axis."""
    dims = len(in_size)
    if isinstance(m, ResizeConvAdapter):
        m = m.resize
    if isinstance(m, (*L.RESIZE_CONVS, SubPixelConv2d)):
        return tuple(m.kernel_size), (m.scale_factor,) * dims
    if isinstance(m, _ANTIALIASED):
        return tuple(m.kernel_size), (m.stride,) * dims
    if isinstance(m, _BLURPOOLS):
        return (m.filter_size,) * dims, (m.stride,) * dims
    if isinstance(m, (nn.modules.conv._ConvNd, *_POOLS)):
        k, st = _as_tuple(m.kernel_size), _as_tuple(m.stride)
        return k * (dims // len(k)), st * (dims // len(st))
    ratios = [o // i for i, o in zip(in_size, out_size, strict=True) if i > 0 and o % i == 0]
    return None, tuple(ratios) if len(ratios) == dims else None


# Measuring.


def _period_scores(x: torch.Tensor, color: str) -> torch.Tensor:
    """Per-period scores (N, P) of maps (B, C, *S): 1-D signals, images, or 3-D volumes
    scored as a stack of 2-D slices (N = B * D)."""
    x = x.detach()
    if x.dim() == 3:
        return period_scores_1d(x)
    if x.dim() == 4:
        return period_scores(x, color=color)
    if x.dim() == 5:
        return period_scores(x.transpose(1, 2).flatten(0, 1), color=color)
    raise ValueError(
        f"expected maps of shape (B, C, *spatial) with 1 to 3 spatial axes, got {tuple(x.shape)}"
    )


def _reach(m: nn.Module) -> int:
    """How far from a border, in pixels, a layer's padding can leave its mark: the kernel's
    extent plus one stride (whose positions an unaligned size leaves partly uncovered), plus
    the blur of an anti-aliased layer; the kernel times the scale for a sub-pixel conv."""
    if isinstance(m, ResizeConvAdapter):
        m = m.resize
    if isinstance(m, SubPixelConv2d):
        return m.scale_factor * max(m.kernel_size)
    k = max(_as_tuple(getattr(m, "kernel_size", 1)))
    d = max(_as_tuple(getattr(m, "dilation", 1)))
    s = getattr(m, "stride", None) or getattr(m, "scale_factor", None) or 1
    reach = d * (k - 1) + math.ceil(max(_as_tuple(s)))
    return reach + m.blur.filter_size if isinstance(m, _ANTIALIASED) else reach


def _interior(x: torch.Tensor, reach: int) -> torch.Tensor:
    """``x`` (B, C, *S) without a margin of ``max(n // 8, reach)`` at either end of each axis
    of length n (but keeping at least 4): padding makes structure at the borders that is no
    periodic pattern, and in a map that is constant inside (the gradient a layer sends back
    when all of its outputs get the same) the borders would be all that the score sees."""
    index = [slice(None), slice(None)]
    for n in x.shape[2:]:
        margin = max(0, min(max(n // 8, reach), (n - 4) // 2))
        index.append(slice(margin, n - margin))
    return x[tuple(index)]


class _LayerStats:
    """Everything measured on one layer over all seeds."""

    def __init__(self, name: str, module: nn.Module) -> None:
        self.name, self.module = name, module
        self.kind = layer_kind(module) or ""
        self.reach = _reach(module)
        self.input_size: tuple[int, ...] | None = None
        self.output_size: tuple[int, ...] = ()
        self.in_channels = 1
        self.added: list[torch.Tensor] = []
        self.output: list[float] = []
        self.imbalance: list[float] = []

    def shapes(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.input_size is None:
            self.input_size, self.output_size = tuple(x.shape[2:]), tuple(y.shape[2:])
            self.in_channels = x.shape[1]

    def add(self, signal: torch.Tensor, reference: torch.Tensor) -> None:
        """Compare the interiors of ``signal`` and ``reference`` (same shape); maps too small
        to score are skipped."""
        try:
            out = _period_scores(_interior(signal, self.reach), "mean")
            ref = _period_scores(_interior(reference, self.reach), "mean")
        except ValueError:
            return
        self.added.append((out - ref).mean(dim=0).double().cpu())
        self.output.append(float(out.amax(dim=1).mean()))

    def result(self) -> LayerAudit:
        if not self.added:
            score = math.nan
        elif len({a.numel() for a in self.added}) == 1:
            score = float(torch.stack(self.added).mean(dim=0).max())
        else:  # a shared layer called at several sizes: periods differ between calls
            score = sum(float(a.max()) for a in self.added) / len(self.added)
        output = sum(self.output) / len(self.output) if self.output else math.nan
        imbalance = sum(self.imbalance) / len(self.imbalance) if self.imbalance else None
        in_size = self.input_size or ()
        ratio = _overlap_ratio(self.module, in_size, self.in_channels) if in_size else None
        kernel, stride = _geometry(self.module, in_size, self.output_size)
        return LayerAudit(
            self.name,
            self.kind,
            in_size,
            self.output_size,
            kernel,
            stride,
            score,
            output,
            imbalance,
            ratio,
        )


@dataclass
class _Measurement:
    seed_scores: list[float]
    layers: list[LayerAudit]
    samples: torch.Tensor
    output_shape: tuple[int, ...]
    not_called: list[str]


def _reinitialize(model: nn.Module) -> None:
    """Call every module's ``reset_parameters()``, children before parents: a parent such as
    SubPixelConv2d re-draws its child's weights its own way, so it must go last."""
    for m in reversed(list(model.modules())):
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()


def _kept_parameters(model: nn.Module) -> list[str]:
    """Names of the parameters that :func:`_reinitialize` leaves as they are: those whose
    module has no ``reset_parameters()``."""
    return [
        f"{name}.{p}" if name else p
        for name, m in model.named_modules()
        if not callable(getattr(m, "reset_parameters", None))
        for p, _ in m.named_parameters(recurse=False)
    ]


def _probe(model: nn.Module, x: torch.Tensor, mode: str) -> torch.Tensor:
    """Run ``model`` once on ``x``; a failure becomes a ValueError naming the input shape."""
    shape = tuple(x.shape[1:])
    try:
        with torch.no_grad():
            y = model(x)
    except Exception as err:
        raise ValueError(
            f"the model fails on input_shape {shape} (a batch of shape {tuple(x.shape)}): "
            f"{type(err).__name__}: {err}"
        ) from err
    if not isinstance(y, torch.Tensor):
        raise ValueError(
            f"the model returns a {type(y).__name__} on input_shape {shape}; audit needs one tensor"
        )
    if mode == "outputs" and not 3 <= y.dim() <= 5:
        raise ValueError(
            f"the model's output has shape {tuple(y.shape)} on input_shape {shape}, not a batch "
            f"of signals (B, C, L), images (B, C, H, W) or volumes (B, C, D, H, W); for a "
            f"discriminator or classifier use gradients=True"
        )
    return y


def _model_scores(y: torch.Tensor, color: str) -> torch.Tensor:
    try:
        return _period_scores(y, color).amax(dim=1)
    except ValueError as err:
        raise ValueError(
            f"cannot score the model's output of shape {tuple(y.shape)}: {err}"
        ) from err


def _measure(
    model: nn.Module,
    input_shape: tuple[int, ...],
    seeds: int,
    trained: bool,
    mode: str,
    batch: int,
    device: torch.device,
) -> _Measurement:
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    # Gradients are taken in eval mode: in training mode BatchNorm's backward pass removes
    # each channel's mean gradient, the very component that strided layers turn into a
    # checkerboard (and the sum of a classifier's logits after it has no gradient at all).
    model.train(not trained and mode == "outputs")
    stats = [_LayerStats(name, m) for name, m in find_layers(model)]
    seed_scores: list[float] = []
    samples = torch.empty(0)
    output_shape: tuple[int, ...] = ()
    for seed in range(seeds):
        # The global generator seeds the re-initialization and any randomness in forward
        # (dropout, injected noise), the same for the model and its fix.
        torch.manual_seed(seed)
        if not trained:
            _reinitialize(model)
        for st in stats:
            imbalance = _imbalance(st.module)
            if imbalance is not None:
                st.imbalance.append(imbalance)
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(batch, *input_shape, generator=gen, dtype=dtype).to(device)
        if seed == 0:
            output_shape = tuple(_probe(model, x, mode).shape[1:])
        if mode == "outputs":
            y = _run_outputs(model, x, stats)
            scores = _model_scores(y, "luma")
        else:
            y = _run_gradients(model, x, stats)
            scores = _model_scores(y, "mean")
        seed_scores.append(float(scores.mean()))
        if seed == 0:
            samples = y[:8].detach().float().cpu()
    called = [st for st in stats if st.input_size is not None]
    not_called = [st.name or "<root>" for st in stats if st.input_size is None]
    return _Measurement(
        seed_scores, [st.result() for st in called], samples, output_shape, not_called
    )


def _run_outputs(model: nn.Module, x: torch.Tensor, stats: list[_LayerStats]) -> torch.Tensor:
    def hook(st: _LayerStats) -> Any:
        def record(m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            inp = args[0] if args else None
            if not (isinstance(inp, torch.Tensor) and isinstance(out, torch.Tensor)):
                return
            st.shapes(inp, out)
            if inp.dim() == out.dim() >= 3 and inp.is_floating_point():
                st.add(out, F.interpolate(inp, size=out.shape[2:], mode="nearest"))

        return record

    handles = [st.module.register_forward_hook(hook(st)) for st in stats]
    try:
        with torch.no_grad():
            return model(x)
    finally:
        for h in handles:
            h.remove()


def _run_gradients(model: nn.Module, x: torch.Tensor, stats: list[_LayerStats]) -> torch.Tensor:
    """The gradient of the sum of ``model(x)`` with respect to ``x``; each layer's own
    backward pass compared with the gradient it receives."""
    calls: list[tuple[_LayerStats, torch.Tensor, torch.Tensor]] = []

    def hook(st: _LayerStats) -> Any:
        def record(m: nn.Module, args: tuple[Any, ...], out: Any) -> Any:
            inp = args[0] if args else None
            if not (isinstance(inp, torch.Tensor) and isinstance(out, torch.Tensor)):
                return None
            st.shapes(inp, out)
            calls.append((st, inp, out))
            # Later in-place layers (ReLU(inplace=True)) must modify a copy, not the tensor
            # whose gradient is read below.
            return out.clone()

        return record

    handles = [st.module.register_forward_hook(hook(st)) for st in stats]
    x = x.detach().requires_grad_(True)
    try:
        with torch.enable_grad():
            y = model(x)
    finally:
        for h in handles:
            h.remove()
    with torch.enable_grad():
        outs = [out for _, _, out in calls]
        grads = torch.autograd.grad(y.sum(), [x, *outs], retain_graph=True, allow_unused=True)
        for (st, inp, out), g_out in zip(calls, grads[1:], strict=True):
            if g_out is None or not inp.requires_grad or inp.dim() != out.dim():
                continue
            (g_in,) = torch.autograd.grad(out, inp, g_out, retain_graph=True, allow_unused=True)
            if g_in is not None:
                st.add(g_in, F.interpolate(g_out, size=g_in.shape[2:], mode="nearest"))
    if grads[0] is None:
        raise ValueError("the model's output does not depend on its input: no gradient to score")
    return grads[0]


# The fixes.


def _antialias(model: nn.Module) -> tuple[nn.Module, tuple[str, ...], list[str]]:
    """Swap every strided Conv1d/Conv2d of ``model`` for an AntiAliasedConv1d/2d with the same
    channels, kernel, padding, dilation, groups, bias and padding mode (and weights), which
    gives the same output size for every input size. Returns the names swapped and skipped."""
    swapped, skipped = [], []
    for name, m in find_layers(model):
        if layer_kind(m) != "strided_conv":
            continue
        dims = len(m.kernel_size)
        if dims not in _SWAP or len(set(m.stride)) != 1:
            skipped.append(f"{name} ({type(m).__name__}, stride {m.stride})")
            continue
        new = _SWAP[dims](
            m.in_channels,
            m.out_channels,
            m.kernel_size,
            stride=m.stride[0],
            padding=m.padding,
            dilation=m.dilation,
            groups=m.groups,
            bias=m.bias is not None,
            padding_mode=m.padding_mode,
            device=m.weight.device,
            dtype=m.weight.dtype,
        )
        new.conv.load_state_dict(m.state_dict())
        new.train(m.training)
        if name:
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, new)
        else:
            model = new
        swapped.append(name)
    return model, tuple(swapped), skipped


def _fixed_model(
    model: nn.Module, mode: str, trained: bool
) -> tuple[nn.Module | None, str, tuple[str, ...], list[str]]:
    """(fixed copy or None, description, replaced names, notes)."""
    if mode == "gradients":
        fixed, swapped, skipped = _antialias(copy.deepcopy(model))
        notes = [
            f"left strided layer {s} as it is: no anti-aliased 1-D/2-D equivalent" for s in skipped
        ]
        if not swapped:
            return (
                None,
                "",
                (),
                [*notes, "no strided Conv1d/Conv2d to swap for anti-aliased downsampling"],
            )
        what = f"{len(swapped)} strided convolution(s) -> AntiAliasedConv (blur-pool, Zhang 2019)"
        return fixed, what, swapped, notes
    init = "project" if trained else "fresh"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fixed, report = convert(model, init=init, return_report=True)
    except ValueError as err:
        return None, "", (), [f"convert() cannot fix this model: {err}"]
    if not report.converted:
        return None, "", (), ["convert() found no strided ConvTranspose layer to replace"]
    names = tuple(c.name for c in report.converted)
    what = f"convert(model, init={init!r}): {len(names)} ConvTranspose -> ResizeConv (nearest)"
    return fixed, what, names, []


# The audit.


def _input_shape(input_shape: Any) -> tuple[int, ...]:
    if isinstance(input_shape, int) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if not isinstance(input_shape, Sequence) or isinstance(input_shape, str) or not input_shape:
        raise ValueError(
            f"input_shape must be a positive int or a non-empty tuple of them (no batch axis), "
            f"got {input_shape!r}"
        )
    for n in input_shape:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(
                f"input_shape must hold positive integers (no batch axis), got {input_shape!r}"
            )
    return tuple(input_shape)


def audit(
    model: nn.Module,
    input_shape: int | Sequence[int],
    seeds: int = 8,
    trained: bool = False,
    device: torch.device | str | None = None,
    *,
    gradients: bool = False,
    batch: int = 4,
) -> AuditReport:
    """Measure the checkerboard a model makes, find the layers that make it, and test the fix.

    For each seed 0 .. ``seeds``-1: a copy of ``model`` is re-initialized by every module's
    ``reset_parameters()`` (``trained=False``; for outputs the copy runs in training mode,
    so BatchNorm normalizes by batch statistics as at the start of training, fresh running
    statistics being meaningless) or keeps its weights (``trained=True``; eval mode);
    gradients are always taken in eval mode, since in training mode BatchNorm's backward
    pass removes each channel's mean gradient, the component that strided layers turn into
    a checkerboard. A batch of ``batch`` standard-normal inputs of shape ``input_shape`` (no
    batch axis: ``(nz,)`` or ``(nz, 1, 1)`` for a latent, ``(C, H, W)`` for an image,
    ``(C, L)`` for a signal) is drawn from the seed, and the outputs are scored
    (``gradients=False``: a generator or any model whose output is a signal, image or
    volume) or the gradient of the outputs' sum with respect to the input is
    (``gradients=True``: a discriminator or classifier). The inputs
    of seed ``i`` are ``torch.randn((batch, *input_shape), generator=torch.Generator()
    .manual_seed(i))``; the re-initialization and any randomness inside the forward pass use
    the global generator seeded with ``i``. ``model`` itself is never changed, and the global
    random state is left as it was.

    The fix is measured the same way, with the same seeds and inputs: ``convert(model)``
    (``init="fresh"``, or ``init="project"`` for ``trained=True``, so that the trained
    weights carry over) for outputs, or every strided Conv1d/Conv2d swapped for an
    :class:`~checkerscope.nn.AntiAliasedConv2d` of the same geometry (and weights) for
    gradients. See :class:`AuditReport` and :class:`LayerAudit` for what is reported.

    Raises:
        ValueError: for bad arguments, for a model that fails on ``input_shape`` (naming
            the shape and the model's error), or whose output cannot be scored.

    Example:
        >>> from checkerscope.models import DCGANGenerator
        >>> report = audit(DCGANGenerator(nz=16, ngf=8, image_size=16), (16,), seeds=2)
        >>> [layer.kind for layer in report.layers]
        ['conv_transpose', 'conv_transpose']
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = _input_shape(input_shape)
    seeds = v.positive_int("seeds", seeds)
    batch = v.positive_int("batch", batch)
    for name, flag in (("trained", trained), ("gradients", gradients)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    if not trained and batch < 2:
        raise ValueError(
            f"batch must be at least 2 with trained=False (the copy runs in training mode, "
            f"where BatchNorm needs more than one sample), got {batch}"
        )
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}"
        ) from err
    mode = MODES[int(gradients)]
    forked = []
    if device.type == "cuda":
        forked = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=forked):
        return _audit(model, shape, seeds, trained, mode, batch, device)


def _audit(
    model: nn.Module,
    shape: tuple[int, ...],
    seeds: int,
    trained: bool,
    mode: str,
    batch: int,
    device: torch.device,
) -> AuditReport:
    work = copy.deepcopy(model).to(device)
    notes: list[str] = []
    if not trained:
        kept = _kept_parameters(work)
        if kept:
            notes.append(
                f"{len(kept)} parameter(s) belong to modules without reset_parameters() and "
                f"keep their values: {', '.join(kept[:8])}{' ...' if len(kept) > 8 else ''}"
            )
    original = _measure(work, shape, seeds, trained, mode, batch, device)
    if not original.layers:
        notes.append(
            "no upsampling or strided layer found (ConvTranspose, strided Conv or pooling, "
            "ResizeConv, SubPixelConv2d, Upsample, PixelShuffle, anti-aliased or blur-pool): "
            "no layer of this model paints a periodic pattern by construction"
        )
    notes += [f"layer {name} was not called by forward" for name in original.not_called]

    fixed, description, replaced, fix_notes = _fixed_model(work, mode, trained)
    notes += fix_notes
    score = sum(original.seed_scores) / seeds
    fix = None
    if fixed is not None:
        after = _measure(fixed.to(device), shape, seeds, trained, mode, batch, device)
        fixed_score = sum(after.seed_scores) / seeds
        fix = Fix(
            description,
            replaced,
            fixed_score,
            confidence_interval(after.seed_scores),
            tuple(after.seed_scores),
            fixed_score > THRESHOLD,
            fixed_score - score,
            tuple(after.layers),
            after.samples,
        )
    return AuditReport(
        model=type(model).__name__,
        mode=mode,
        input_shape=shape,
        output_shape=original.output_shape,
        seeds=seeds,
        batch=batch,
        trained=trained,
        threshold=THRESHOLD,
        score=score,
        ci=confidence_interval(original.seed_scores),
        seed_scores=tuple(original.seed_scores),
        flagged=score > THRESHOLD,
        layers=tuple(original.layers),
        fix=fix,
        notes=tuple(notes),
        samples=original.samples,
    )


# Loading a model from the command line.


def load_target(target: str) -> nn.Module:
    """The model named by ``target``: ``"package.module:attr"`` or ``"path/to/file.py:attr"``.

    ``attr`` (dots allowed) may be an ``nn.Module`` instance, an ``nn.Module`` subclass (built
    with no arguments) or a factory (called with no arguments) that returns an ``nn.Module``.

    Raises:
        ValueError: saying what is wrong: the form of ``target``, a file that does not exist,
            a module that does not import, a missing attribute, a class that needs
            arguments, or an attribute that is not a module, a module class or a factory.

    Example:
        >>> type(load_target("checkerscope.models:DCGANGenerator")).__name__
        'DCGANGenerator'
    """
    if not isinstance(target, str) or ":" not in target:
        raise ValueError(
            f"TARGET must be 'package.module:attr' or 'path/to/file.py:attr', got {target!r}"
        )
    where, _, attr = target.rpartition(":")
    if not where or not attr:
        raise ValueError(
            f"TARGET must be 'package.module:attr' or 'path/to/file.py:attr', got {target!r}"
        )
    module = _import_file(where) if where.endswith(".py") or "/" in where or "\\" in where else None
    if module is None:
        try:
            module = importlib.import_module(where)
        except Exception as err:
            raise ValueError(
                f"cannot import module {where!r}: {type(err).__name__}: {err}"
            ) from err
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{where!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return _as_model(obj, f"{where}:{attr}")


def _import_file(path_text: str) -> Any:
    path = Path(path_text)
    if not path.is_file():
        raise ValueError(f"TARGET file {path_text!r} does not exist")
    name = f"_checkerscope_target_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {path_text!r} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    # Imports of sibling files resolve as they would when running the file as a script.
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise ValueError(f"cannot import {path_text!r}: {type(err).__name__}: {err}") from err
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def _as_model(obj: Any, what: str) -> nn.Module:
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, type) and not issubclass(obj, nn.Module):
        raise ValueError(f"{what} is the class {obj.__name__}, which is not a torch.nn.Module")
    if not callable(obj):
        raise ValueError(
            f"{what} is a {type(obj).__name__}, not a torch.nn.Module, a module class or a "
            f"factory that returns one"
        )
    kind = "module class" if isinstance(obj, type) else "factory"
    try:
        made = obj()
    except TypeError as err:
        raise ValueError(
            f"{what} is a {kind} that needs arguments ({err}); point TARGET at a factory "
            f"that takes none, or at an instance"
        ) from err
    except Exception as err:
        raise ValueError(f"{what} failed when called: {type(err).__name__}: {err}") from err
    if not isinstance(made, nn.Module):
        raise ValueError(
            f"{what} is a factory that returned a {type(made).__name__}, not a torch.nn.Module"
        )
    return made
