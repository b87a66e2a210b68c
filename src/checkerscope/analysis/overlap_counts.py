"""Overlap counts: how many paths reach each output of a stack of upsampling layers.

Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts": a transposed
convolution with kernel size k and stride s paints a window of k outputs for every input, and
when s does not divide k the windows overlap unevenly. The count at an output is the number of
paths (input position, tap of layer 1, tap of layer 2, ...) that reach it: what an all-ones
input gives through all-ones kernels. Channels are left out; only positions count.

Every layer here acts on each spatial axis separately (its taps are a product over axes), so
an n-D count is the outer product of the 1-D counts of its axes. Along one axis a layer is a
list of :class:`_Stage`: output ``t`` reads input ``(t // up) * down + o`` for each offset
``o`` in ``taps[t % up]``. Far from the borders that rule is periodic, which gives the interior
pattern of :func:`overlap_summary` exactly, with no input size at all.

The work is bounded before it starts: the interior period grows as the product of the strides
(``s ** layers``), so periods above :data:`MAX_PERIOD`, counts above :data:`MAX_COUNTS` values
and path counts that int64 cannot hold are refused with a ``ValueError`` giving the limit. An
n-D summary is never built as an n-D array unless asked for (:attr:`OverlapSummary.pattern`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, reduce
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v
from checkerscope.analysis import layers as L
from checkerscope.functional import resize_conv as R
from checkerscope.nn import SubPixelConvNd

Spec = tuple[int, int]

_POINTWISE_FAMILIES = tuple(
    f"torch.nn.modules.{name}"
    for name in ("activation", "batchnorm", "instancenorm", "normalization", "dropout")
)
_LINEAR_MODES = ("linear", "bilinear", "trilinear")

MAX_PERIOD = 2**20
"""The longest interior period (per axis) :func:`overlap_summary` computes: 20 stride-2 layers."""

MAX_COUNTS = 2**26
"""The most values :func:`overlap` (and :attr:`OverlapSummary.pattern`) returns: 512 MB."""

_MAX_PATHS = 2**62
"""Path counts must stay below this to be exact in int64."""


@dataclass(frozen=True)
class _Stage:
    """One layer (or one step of it) along one axis.

    Output ``t`` reads input ``(t // up) * down + o`` once per ``o`` in ``taps[t % up]``
    (a repeated offset is several paths); reads outside the input follow ``pad`` ("zeros"
    drops them, "reflect" / "replicate" / "circular" fold them back as torch's padding does).
    ``length`` gives the output length for an input length. ``matrix``, where set, gives the
    exact (out, in) path counts for an input length instead of the rule: interpolation clamps
    its sampling grid at the borders in its own way. ``taps`` is None where the layer has no
    periodic rule (a non-integer resize).
    """

    up: int
    down: int
    taps: tuple[tuple[int, ...], ...] | None
    length: Callable[[int], int]
    pad: str = "zeros"
    matrix: Callable[[int], torch.Tensor] | None = None


def _read(stage: _Stage, c: torch.Tensor, out_len: int, pad: str) -> torch.Tensor:
    """Counts after ``stage`` for counts ``c``: the rule, with reads outside ``c`` by ``pad``."""
    assert stage.taps is not None
    n = c.numel()
    out = torch.zeros(out_len, dtype=torch.int64)
    for r, offsets in enumerate(stage.taps[:out_len]):
        t = torch.arange(r, out_len, stage.up)
        base = (t // stage.up) * stage.down
        acc = torch.zeros_like(t)
        for o in offsets:
            i = base + o
            if pad == "zeros":
                valid = (i >= 0) & (i < n)
            else:
                valid = torch.ones_like(i, dtype=torch.bool)
                if pad == "reflect":
                    i = torch.where(i < 0, -i, i)
                    i = torch.where(i >= n, 2 * (n - 1) - i, i)
                elif pad == "circular":
                    i = i % n
            acc += torch.where(valid, c[i.clamp(0, n - 1)], 0)
        out[r :: stage.up] = acc
    return out


def _apply(stage: _Stage, c: torch.Tensor) -> torch.Tensor:
    if stage.matrix is not None:
        return stage.matrix(c.numel()) @ c
    return _read(stage, c, stage.length(c.numel()), stage.pad)


def _check_paths(stages: Sequence[_Stage]) -> None:
    """Refuse stacks whose counts could overflow int64: each output of a stage sums at most
    ``max(len(taps))`` of its inputs (a resize without a periodic rule at most 2)."""
    bound = 1
    for stage in stages:
        bound *= max(len(t) for t in stage.taps) if stage.taps else 2
    if bound >= _MAX_PATHS:
        raise ValueError(
            f"the overlap counts of this stack could reach {bound:.3g} paths, more than int64 "
            f"holds exactly (2**62): use fewer layers"
        )


def check_count_size(values: int, what: str) -> None:
    """Raise ``ValueError`` if ``values`` is more than :data:`MAX_COUNTS` (``what`` names them).

    Example:
        >>> check_count_size(2**30, "the counts of shape (32768, 32768)")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the counts of shape (32768, 32768) would hold 1073741824 values, more than ...
    """
    if values > MAX_COUNTS:
        raise ValueError(f"{what} would hold {values} values, more than MAX_COUNTS = {MAX_COUNTS}")


def _run(stages: Sequence[_Stage], n: int) -> torch.Tensor:
    c = torch.ones(n, dtype=torch.int64)
    for stage in stages:
        c = _apply(stage, c)
    return c


def _outer(vectors: Sequence[torch.Tensor]) -> torch.Tensor:
    return reduce(lambda a, b: a.unsqueeze(-1) * b, vectors)


# Stages of the layers checkerscope reads.


def _transposed_stage(k: int, s: int, p: int = 0, d: int = 1, op: int = 0) -> _Stage:
    # Full output index i*s + j*d lands at t = i*s + j*d - p, so phase r reads i = (r+p-j*d)/s.
    taps = tuple(
        tuple((r + p - j * d) // s for j in range(k) if (r + p - j * d) % s == 0) for r in range(s)
    )
    return _Stage(s, 1, taps, lambda n: (n - 1) * s - 2 * p + d * (k - 1) + op + 1)


def _conv_stage(k: int, s: int, d: int, left: int, right: int, pad: str) -> _Stage:
    taps = (tuple(j * d - left for j in range(k)),)
    return _Stage(1, s, taps, lambda n: (n + left + right - d * (k - 1) - 1) // s + 1, pad)


def _shuffle_stage(r: int) -> _Stage:
    # Along one axis a pixel shuffle is a nearest upsampling of positions (channels aside).
    return _Stage(r, 1, ((0,),) * r, lambda n: n * r)


def _interpolation_stage(
    resize: Callable[[torch.Tensor], torch.Tensor], periodic: Callable[[torch.Tensor], torch.Tensor]
) -> _Stage:
    """A resize along one axis, from its own nonzero pattern.

    ``resize`` maps (n, 1, n) float64 identity rows to (n, 1, out) as the layer does;
    ``periodic`` does the same with an integer scale (or raises ValueError), to read its rule.
    """

    def matrix(n: int) -> torch.Tensor:
        rows = resize(torch.eye(n, dtype=torch.float64).unsqueeze(1))[:, 0, :]
        return (rows != 0).to(torch.int64).T

    taps = None
    try:
        n = 15
        rows = periodic(torch.eye(n, dtype=torch.float64).unsqueeze(1))[:, 0, :].T
        scale = rows.shape[0] // n
        tables = [
            tuple(
                tuple((rows[q * scale + r].nonzero().flatten() - q).tolist()) for r in range(scale)
            )
            for q in (n // 2, n // 2 + 1)
        ]
        if tables[0] == tables[1] and rows.shape[0] == n * scale:
            taps = tables[0]
    except ValueError:
        scale = 1
    return _Stage(scale, 1, taps, lambda n: matrix(n).shape[0], matrix=matrix)


def _conv_padding(m: nn.Module, axis: int) -> tuple[int, int]:
    if m.padding == "same":
        total = m.dilation[axis] * (m.kernel_size[axis] - 1)
        return total // 2, total - total // 2
    if m.padding == "valid":
        return 0, 0
    return m.padding[axis], m.padding[axis]


def _module_conv_stage(m: nn.Module, axis: int) -> _Stage:
    left, right = _conv_padding(m, axis)
    return _conv_stage(
        m.kernel_size[axis], m.stride[axis], m.dilation[axis], left, right, m.padding_mode
    )


def _upsample_stages(m: nn.Upsample, axis: int, n_in: int, n_out: int) -> list[_Stage]:
    mode = "linear" if m.mode in _LINEAR_MODES else m.mode
    if mode not in ("nearest", "nearest-exact", "linear"):
        raise ValueError(
            f"overlap reads nn.Upsample with mode 'nearest', 'nearest-exact', 'linear', "
            f"'bilinear' or 'trilinear', got mode={m.mode!r}"
        )
    corners = {"align_corners": m.align_corners} if mode == "linear" else {}
    if m.scale_factor is not None:
        factors = m.scale_factor
        scale = float(factors[axis] if isinstance(factors, Sequence) else factors)
        call: dict[str, Any] = {
            "scale_factor": scale,
            "recompute_scale_factor": m.recompute_scale_factor,
        }
    else:
        # With size=, an integer ratio maps coordinates exactly as that integer scale does.
        scale = n_out / n_in
        call = {"size": n_out}

    def resize(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, mode=mode, **call, **corners)

    def periodic(x: torch.Tensor) -> torch.Tensor:
        if not scale.is_integer() or m.align_corners:
            raise ValueError(f"a resize by {scale} has no periodic rule")
        return F.interpolate(x, scale_factor=scale, mode=mode, **corners)

    return [_interpolation_stage(resize, periodic)]


def _module_stages(m: nn.Module, axis: int, n_in: int, n_out: int) -> list[_Stage]:
    """The stages of one layer ``m`` along ``axis``, for an input of length ``n_in``."""
    if L.is_transposed_conv(m):
        return [
            _transposed_stage(
                m.kernel_size[axis],
                m.stride[axis],
                m.padding[axis],
                m.dilation[axis],
                m.output_padding[axis],
            )
        ]
    if L.is_conv(m):
        return [_module_conv_stage(m, axis)]
    if isinstance(m, L.RESIZE_CONVS):

        def resize(x: torch.Tensor) -> torch.Tensor:
            return R.interpolate(x, m.scale_factor, m.mode)

        left, right = R.same_padding(m.kernel_size[axis])
        return [
            _interpolation_stage(resize, resize),
            _conv_stage(m.kernel_size[axis], 1, 1, left, right, m.padding_mode),
        ]
    if isinstance(m, SubPixelConvNd):
        stages = [_module_conv_stage(m.conv, axis), _shuffle_stage(m.scale_factor)]
        if m.blur:
            s = m.scale_factor
            stages.append(_conv_stage(s, 1, 1, (s - 1) // 2, s - 1 - (s - 1) // 2, "replicate"))
        return stages
    if isinstance(m, nn.PixelShuffle):
        return [_shuffle_stage(m.upscale_factor)]
    if isinstance(m, nn.Upsample):
        return _upsample_stages(m, axis, n_in, n_out)
    raise ValueError(f"unsupported layer type {type(m).__name__}")


# Reading specs and models into stages.


def _parse_specs(specs: Any) -> list[Spec]:
    def is_pair(x: Any) -> bool:
        return (
            isinstance(x, Sequence)
            and not isinstance(x, str)
            and len(x) == 2
            and not any(isinstance(e, Sequence) for e in x)
        )

    pairs = [specs] if is_pair(specs) else specs
    if not isinstance(pairs, Sequence) or isinstance(pairs, str) or len(pairs) == 0:
        raise ValueError(
            f"specs must be a (kernel_size, stride) pair, a non-empty list of such pairs or a "
            f"torch.nn.Module, got {specs!r}"
        )
    for pair in pairs:
        if not (isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2):
            raise ValueError(f"each spec must be a (kernel_size, stride) pair, got {pair!r}")
    return [(v.positive_int("kernel_size", k), v.positive_int("stride", s)) for k, s in pairs]


def _is_spatial(m: nn.Module) -> bool:
    return (
        L.is_conv(m)
        or L.is_transposed_conv(m)
        or isinstance(m, (*L.RESIZE_CONVS, SubPixelConvNd, nn.PixelShuffle, nn.Upsample))
    )


def _is_pointwise(m: nn.Module, extra: tuple[type, ...]) -> bool:
    return isinstance(m, (nn.Identity, *extra)) or type(m).__module__ in _POINTWISE_FAMILIES


def _read_model(
    model: nn.Module, size: Any, in_channels: int | None, pointwise: tuple[type, ...]
) -> tuple[tuple[int, ...], list[list[_Stage]]]:
    """Input size and stages per axis of ``model``, read from one forward on zeros."""
    dims = L.model_dims(model)
    shape = L.spatial_size("size", size, dims)
    records: list[tuple[nn.Module, tuple[int, ...], tuple[int, ...]]] = []

    def record(m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        records.append((m, tuple(args[0].shape), tuple(out.shape)))

    def refuse(m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        raise ValueError(
            f"overlap cannot read a layer of type {type(m).__name__}: it reads ConvNd, "
            f"ConvTransposeNd, ResizeConvNd, SubPixelConvNd, Upsample, PixelShuffle and "
            f"pointwise layers (activations, normalization, dropout; add yours with pointwise=)"
        )

    handles = []

    def visit(m: nn.Module) -> None:
        if _is_spatial(m) or _is_pointwise(m, pointwise):
            handles.append(m.register_forward_hook(record))
        elif not any(True for _ in m.children()):
            handles.append(m.register_forward_hook(refuse))
        else:
            for child in m.children():
                visit(child)

    modes = {m: m.training for m in model.modules()}
    param = next(model.parameters(), None)
    factory = {"dtype": param.dtype, "device": param.device} if param is not None else {}
    x = torch.zeros(1, L.input_channels(model, in_channels), *shape, **factory)
    visit(model)
    try:
        model.eval()
        with torch.no_grad():
            y = model(x)
    except RuntimeError as err:
        raise ValueError(f"size {shape} does not run through the model: {err}") from err
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode

    axes: list[list[_Stage]] = [[] for _ in shape]
    current = shape
    for m, ins, outs in records:
        if ins[2:] != current:
            raise ValueError(
                f"{type(m).__name__} receives spatial size {ins[2:]} but the layers before it "
                f"give {current}: the model resizes outside the layers overlap reads (a "
                f"functional call in forward?), or is not a chain"
            )
        if _is_pointwise(m, pointwise):
            if outs[2:] != ins[2:]:
                raise ValueError(f"pointwise layer {type(m).__name__} changed the spatial size")
            continue
        for axis, stages in enumerate(axes):
            layer_stages = _module_stages(m, axis, ins[2 + axis], outs[2 + axis])
            n = ins[2 + axis]
            for stage in layer_stages:
                n = stage.length(n)
            if n != outs[2 + axis]:
                raise ValueError(
                    f"overlap cannot read this {type(m).__name__} ({m}): it expected length "
                    f"{n} on axis {axis} and the layer gave {outs[2 + axis]}"
                )
            stages.extend(layer_stages)
        current = outs[2:]
    if isinstance(y, torch.Tensor) and tuple(y.shape[2:]) != current:
        raise ValueError(
            f"the model returns spatial size {tuple(y.shape[2:])} but its layers give {current}: "
            f"it resizes outside the layers overlap reads, or is not a chain"
        )
    return shape, axes


def _stages_per_axis(
    specs: Any, size: Any, in_channels: int | None, pointwise: tuple[type, ...]
) -> tuple[tuple[int, ...], list[list[_Stage]]]:
    """The input's spatial shape, and for each axis the chain of 1-D stages the layers make."""
    if isinstance(specs, nn.Module):
        return _read_model(specs, size, in_channels, pointwise)
    stages = [_transposed_stage(k, s) for k, s in _parse_specs(specs)]
    shape = L.spatial_size("size", size, 1)
    return shape, [stages] * len(shape)


def overlap(
    specs: Spec | Sequence[Spec] | nn.Module,
    size: int | Sequence[int],
    *,
    in_channels: int | None = None,
    pointwise: tuple[type, ...] = (),
) -> torch.Tensor:
    """Overlap counts: the number of paths from input positions through kernel taps to each output.

    ``specs`` is one ``(kernel_size, stride)`` pair or a list of them, applied in order as
    transposed convolutions with padding 0 to an input of spatial ``size`` (an int for 1-D, a
    tuple for n-D, the same layers on every axis). Or a model: its ConvNd, ConvTransposeNd,
    ResizeConvNd, SubPixelConv1d/2d/3d, Upsample (nearest or linear) and PixelShuffle layers are
    read, in the order one forward on zeros of shape (1, in_channels, *size) runs them, as a
    chain; their real padding, output padding, dilation and padding mode are kept, so borders
    come out as the layers make them. Other layers must be pointwise (activations, normalization,
    dropout, or the types in ``pointwise``). An int ``size`` means that size on every axis.

    Returns an int64 tensor of the output's spatial shape; in n-D the outer product of the
    1-D counts. Nearest resizes and pixel shuffles give each output one source; a linear resize
    counts the sources it weights by nonzero amounts.

    Example:
        >>> overlap((3, 2), 4)
        tensor([1, 1, 2, 1, 2, 1, 2, 1, 1])
        >>> overlap([(3, 2), (3, 2)], (2, 2)).shape
        torch.Size([11, 11])
    """
    shape, axes = _stages_per_axis(specs, size, in_channels, pointwise)
    lengths = []
    for stages, n in zip(axes, shape, strict=True):
        _check_paths(stages)
        for stage in stages:
            n = stage.length(n)
        lengths.append(n)
    check_count_size(math.prod(lengths), f"overlap counts of shape {tuple(lengths)}")
    return _outer([_run(stages, n) for stages, n in zip(axes, shape, strict=True)])


# The interior pattern.


def _periodic_pattern(stages: Sequence[_Stage]) -> torch.Tensor:
    """Counts far from every border, over one period, indexed by output position mod period.

    An infinite all-ones input has period 1; through a stage a period P becomes
    ``up * P / gcd(P, down)``, and reading it with wrap-around is exact for a periodic input.
    The periods are worked out first, so one above :data:`MAX_PERIOD` is refused before any
    work.
    """
    period = 1
    for stage in stages:
        if stage.taps is None:
            raise ValueError(
                "overlap_summary needs layers with a periodic interior: integer scale factors "
                "and align_corners other than True"
            )
        period = stage.up * (period // math.gcd(period, stage.down))
        if period > MAX_PERIOD:
            raise ValueError(
                f"the interior overlap pattern of this stack repeats only every {period} or more "
                f"outputs (the product of the strides), more than MAX_PERIOD = {MAX_PERIOD}: "
                f"use fewer strided layers"
            )
    _check_paths(stages)
    x = torch.ones(1, dtype=torch.int64)
    for stage in stages:
        period = x.numel()
        x = _read(stage, x, stage.up * (period // math.gcd(period, stage.down)), "circular")
    for p in _divisors(x.numel()):
        if torch.equal(x, x[:p].repeat(x.numel() // p)):
            return x[:p]
    raise AssertionError("unreachable: a sequence has itself as a period")


def _ratio(x: torch.Tensor) -> float:
    lo, hi = int(x.min()), int(x.max())
    return hi / lo if lo > 0 else math.inf


def _divisors(n: int) -> list[int]:
    small = [p for p in range(1, math.isqrt(n) + 1) if n % p == 0]
    return sorted({*small, *(n // p for p in small)})


@dataclass(frozen=True)
class AxisOverlap:
    """The interior overlap pattern along one axis.

    ``pattern[r]`` is the count at every interior output ``t`` with ``t % period == r``
    (``period`` is the smallest); ``ratio`` is max / min over it (inf if some phase gets no
    path). ``period_ratios[p]``, for each divisor p of the period, is the max / min ratio of the
    pattern averaged over the residues mod p: the unevenness a viewer sees at period p.
    ``period_amplitudes[p]`` is the RMS of the pattern's component of exactly period p (its
    Fourier terms k with period / gcd(k, period) == p) over the pattern's mean: nonzero where
    period p carries unevenness of its own.
    """

    pattern: tuple[int, ...]
    period: int
    ratio: float
    period_ratios: dict[int, float]
    period_amplitudes: dict[int, float]

    @property
    def uneven_periods(self) -> tuple[int, ...]:
        """The periods > 1 that carry unevenness (relative amplitude above 1e-9)."""
        return tuple(p for p, a in self.period_amplitudes.items() if p > 1 and a > 1e-9)


@dataclass(frozen=True)
class OverlapSummary:
    """The interior overlap pattern of a stack in n-D: the outer product of its axes.

    ``pattern`` (int64, shape ``period``) is the count at interior outputs by position mod
    ``period``, built from the axes when first read (at most :data:`MAX_COUNTS` values);
    ``ratio`` is its max / min (the product of the axes' ratios, so a 1-D ratio of 2 becomes 4
    in 2-D), computed from the axes; ``axes`` holds each axis's :class:`AxisOverlap`.
    """

    period: tuple[int, ...]
    ratio: float
    axes: tuple[AxisOverlap, ...]

    @cached_property
    def pattern(self) -> torch.Tensor:
        check_count_size(math.prod(self.period), f"the interior pattern of shape {self.period}")
        return _outer([torch.tensor(a.pattern, dtype=torch.int64) for a in self.axes])


def _axis_summary(stages: Sequence[_Stage]) -> AxisOverlap:
    x = _periodic_pattern(stages)
    period = x.numel()
    xf = x.to(torch.float64)
    spectrum = torch.fft.fft(xf).abs() ** 2
    k = torch.arange(period)
    exact_period = period // torch.gcd(k, torch.tensor(period))
    ratios, amplitudes = {}, {}
    for p in _divisors(period):
        means = xf.reshape(period // p, p).mean(0)
        ratios[p] = float(means.max() / means.min()) if means.min() > 0 else math.inf
        power = float(spectrum[exact_period == p].sum())
        amplitudes[p] = math.sqrt(power) / float(xf.sum()) if p > 1 else 1.0
    return AxisOverlap(tuple(x.tolist()), period, _ratio(x), ratios, amplitudes)


def overlap_summary(
    specs: Spec | Sequence[Spec] | nn.Module,
    size: int | Sequence[int] = 1,
    *,
    in_channels: int | None = None,
    pointwise: tuple[type, ...] = (),
) -> OverlapSummary:
    """The periodic interior pattern of :func:`overlap`, its period and its unevenness.

    Interior means far enough from every border that an output sees the full support of the
    stack (no path lost to an edge or folded by padding): there the counts repeat with a period
    that divides the product of the strides, and they do not depend on the input size. Takes
    the arguments of :func:`overlap`: for (kernel_size, stride) specs ``size`` only sets the
    number of axes (an int: 1-D); for a model it is the input size of the forward that reads
    its layers.

    Example:
        >>> s = overlap_summary((3, 2), (1, 1))
        >>> s.axes[0].pattern, s.axes[0].ratio, s.ratio
        ((2, 1), 2.0, 4.0)
    """
    _, axes = _stages_per_axis(specs, size, in_channels, pointwise)
    done: dict[int, AxisOverlap] = {}  # specs give every axis the same list of stages
    for stages in axes:
        if id(stages) not in done:
            done[id(stages)] = _axis_summary(stages)
    summaries = tuple(done[id(stages)] for stages in axes)
    lo = math.prod(min(a.pattern) for a in summaries)
    hi = math.prod(max(a.pattern) for a in summaries)
    ratio = hi / lo if lo > 0 else math.inf  # the n-D pattern's max / min, exactly
    return OverlapSummary(tuple(a.period for a in summaries), ratio, summaries)
