"""Measuring a model over seeds: re-initialize it, run it on random inputs, score what comes out
(or the input gradient), and, through forward hooks, what each upsampling or strided layer adds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.analysis.score import PERIODS, period_scores
from checkerscope.analysis.score1d import period_scores_1d
from checkerscope.auditing.layer_maths import (
    interior,
    kernel_and_stride,
    layer_imbalance,
    layer_overlap_ratio,
    layer_reach,
)
from checkerscope.auditing.layers import find_layers, layer_kind
from checkerscope.auditing.reinitialization import reinitialize
from checkerscope.auditing.report import LayerAudit


@dataclass
class Measurement:
    """What :func:`measure_model` found: a score per seed, a :class:`LayerAudit` per layer that
    ran, the first seed's outputs (or input gradients, up to 8), the output's shape (no batch
    axis), the names of the layers that ``forward`` never called, and the period of 2, 4, 8
    whose score, averaged over seeds, is highest."""

    seed_scores: list[float]
    layers: list[LayerAudit]
    samples: torch.Tensor
    output_shape: tuple[int, ...]
    not_called: list[str]
    period: int | None = None


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


class _LayerStats:
    """Everything measured on one layer over all seeds."""

    def __init__(self, name: str, module: nn.Module) -> None:
        self.name, self.module = name, module
        self.kind = layer_kind(module) or ""
        self.reach = layer_reach(module)
        self.input_size: tuple[int, ...] | None = None
        self.output_size: tuple[int, ...] = ()
        self.in_channels = 1
        self.added: list[torch.Tensor] = []
        self.output: list[float] = []
        self.imbalance: list[float] = []
        self.scored_size: tuple[int, ...] = ()

    def shapes(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.input_size is None:
            self.input_size, self.output_size = tuple(x.shape[2:]), tuple(y.shape[2:])
            self.in_channels = x.shape[1]

    def add(self, signal: torch.Tensor, reference: torch.Tensor) -> None:
        """Compare the interiors of ``signal`` and ``reference`` (same shape); maps too small
        to score are skipped."""
        self.scored_size = tuple(signal.shape[2:])
        try:
            out = _period_scores(interior(signal, self.reach), "mean")
            ref = _period_scores(interior(reference, self.reach), "mean")
        except ValueError:
            return
        self.added.append((out - ref).mean(dim=0).double().cpu())
        self.output.append(float(out.amax(dim=1).mean()))

    def result(self, rate: float | None = None) -> LayerAudit:
        """The layer's :class:`LayerAudit`; ``rate``: Hz per sample of the scored signal's
        length (its sample rate over its length), for the tone of a 1-D layer."""
        period = None
        if not self.added:
            score = math.nan
        elif len({a.numel() for a in self.added}) == 1:
            mean = torch.stack(self.added).mean(dim=0)
            score, period = float(mean.max()), PERIODS[int(mean.argmax())]
        else:  # a shared layer called at several sizes: periods differ between calls
            score = sum(float(a.max()) for a in self.added) / len(self.added)
        output = sum(self.output) / len(self.output) if self.output else math.nan
        imbalance = sum(self.imbalance) / len(self.imbalance) if self.imbalance else None
        in_size = self.input_size or ()
        ratio = layer_overlap_ratio(self.module, in_size, self.in_channels) if in_size else None
        kernel, stride = kernel_and_stride(self.module, in_size, self.output_size)
        scored = self.scored_size
        tone = None
        if rate is not None and period is not None and len(scored) == 1:
            tone = rate * scored[0] / period
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
            period,
            tone,
        )


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
    """Per-period scores (N, P) of the model's outputs or input gradients."""
    try:
        return _period_scores(y, color)
    except ValueError as err:
        raise ValueError(
            f"cannot score the model's output of shape {tuple(y.shape)}: {err}"
        ) from err


def measure_model(
    model: nn.Module,
    input_shape: tuple[int, ...],
    seeds: int | Sequence[int],
    trained: bool,
    mode: str,
    batch: int,
    device: torch.device,
    sample_rate: float | None = None,
) -> Measurement:
    """Score ``model`` (changed in place: re-initialized unless ``trained``, put in training
    or eval mode) on seeds 0 .. ``seeds``-1 (or the sequence ``seeds``) as
    :func:`checkerscope.audit` describes, with
    arguments already checked; ``mode`` is one of
    :data:`~checkerscope.auditing.report.MODES`. ``sample_rate``: Hz of the scored signal
    (1-D), which gives each layer's tone in Hz.

    Example:
        >>> from torch import nn
        >>> m = measure_model(nn.Upsample(scale_factor=2), (1, 8, 8), 2, False, "outputs", 2,
        ...                   torch.device("cpu"))
        >>> len(m.seed_scores), m.output_shape, [layer.kind for layer in m.layers]
        (2, (1, 16, 16), ['upsample_nearest'])
    """
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    # Gradients are taken in eval mode: in training mode BatchNorm's backward pass removes
    # each channel's mean gradient, the very component that strided layers turn into a
    # checkerboard (and the sum of a classifier's logits after it has no gradient at all).
    model.train(not trained and mode == "outputs")
    stats = [_LayerStats(name, m) for name, m in find_layers(model)]
    seed_scores: list[float] = []
    seed_periods: list[torch.Tensor] = []
    samples = torch.empty(0)
    output_shape: tuple[int, ...] = ()
    seed_list = range(seeds) if isinstance(seeds, int) else seeds
    for i, seed in enumerate(seed_list):
        # The global generator seeds the re-initialization and any randomness in forward
        # (dropout, injected noise), the same for the model and its fix.
        torch.manual_seed(seed)
        if not trained:
            reinitialize(model)
        for st in stats:
            imbalance = layer_imbalance(st.module)
            if imbalance is not None:
                st.imbalance.append(imbalance)
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(batch, *input_shape, generator=gen, dtype=dtype).to(device)
        if i == 0:
            output_shape = tuple(_probe(model, x, mode).shape[1:])
        outputs = mode == "outputs"
        y = _run_outputs(model, x, stats) if outputs else _run_gradients(model, x, stats)
        if not bool(torch.isfinite(y).all()):
            raise ValueError(
                f"the model's {'output' if outputs else 'input gradient'} is not finite (NaN or "
                f"inf) on seed {seed}: it cannot be scored"
            )
        scores = _model_scores(y, "luma" if outputs else "mean")
        seed_scores.append(float(scores.amax(dim=1).mean()))
        seed_periods.append(scores.mean(dim=0).double().cpu())
        if i == 0:
            samples = y[:8].detach().float().cpu()
    called = [st for st in stats if st.input_size is not None]
    not_called = [st.name or "<root>" for st in stats if st.input_size is None]
    scored = output_shape if mode == "outputs" else input_shape
    rate = None if sample_rate is None else sample_rate / scored[-1]
    period = PERIODS[int(torch.stack(seed_periods).mean(dim=0).argmax())]
    layers = [st.result(rate) for st in called]
    return Measurement(seed_scores, layers, samples, output_shape, not_called, period)


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
