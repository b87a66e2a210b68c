"""The audit itself: :func:`audit` measures the checkerboard a model makes, finds the layers that
make it, and measures the article's fix the same way.

Odena, Dumoulin & Olah (2016): the artifacts of transposed convolutions show "before any
training occurs", in the outputs of a generator "initialized with random weights", and strided
convolutions put them into the gradients a discriminator or classifier sends back. So
:func:`audit` re-initializes a copy of the model several times, feeds it random inputs, scores
what comes out (or the input gradient), finds the layers that add the pattern, and measures
the same model with the article's fix: :func:`checkerscope.convert` for upsamplers (ICNR for
sub-pixel pairs), anti-aliased downsampling (Zhang 2019) for strided convolutions and pools.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.analysis.score import THRESHOLD
from checkerscope.analysis.stats import confidence_interval
from checkerscope.auditing.fixes import fixed_model
from checkerscope.auditing.measure import measure_model
from checkerscope.auditing.reinitialization import kept_parameters
from checkerscope.auditing.report import MODES, AuditReport, Fix
from checkerscope.auditing.subpixel import join_subpixel_pairs

MAX_INPUT_VALUES = 2**28
"""The most values a batch of random inputs may hold (1 GiB in float32)."""


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


def _seed_list(seeds: Any) -> tuple[int, ...]:
    if isinstance(seeds, Sequence) and not isinstance(seeds, str):
        good = all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        if not seeds or not good or len(set(seeds)) != len(seeds):
            raise ValueError(
                f"seeds must be a positive int or a non-empty sequence of distinct non-negative "
                f"ints, got {seeds!r}"
            )
        return tuple(seeds)
    return tuple(range(v.positive_int("seeds", seeds)))


def audit(
    model: nn.Module,
    input_shape: int | Sequence[int],
    seeds: int | Sequence[int] = 8,
    trained: bool = False,
    device: torch.device | str | None = None,
    *,
    gradients: bool = False,
    batch: int = 4,
    sample_rate: float | None = None,
) -> AuditReport:
    """Measure the checkerboard a model makes, find the layers that make it, and test the fix.

    For each seed 0 .. ``seeds``-1 (or each seed of a sequence ``seeds`` of distinct
    non-negative integers, so that studies can draw fresh ones): a copy of ``model`` is
    re-initialized by every module's ``reset_parameters()`` (``trained=False``; for outputs the
    copy runs in training mode, so BatchNorm normalizes by batch statistics as at the start of
    training, fresh running statistics being meaningless) or keeps its weights
    (``trained=True``; eval mode); gradients are always taken in eval mode, since in training
    mode BatchNorm's backward pass removes each channel's mean gradient, the component that
    strided layers turn into a checkerboard. A batch of ``batch`` standard-normal inputs of
    shape ``input_shape`` (no batch axis: ``(nz,)`` or ``(nz, 1, 1)`` for a latent,
    ``(C, H, W)`` for an image, ``(C, L)`` for a signal) is drawn from the seed, and the outputs are
    scored (``gradients=False``: a generator or any model whose output is a signal, image or
    volume) or the gradient of the outputs' sum with respect to the input is
    (``gradients=True``: a discriminator or classifier). The inputs of seed ``i`` are
    ``torch.randn((batch, *input_shape), generator=torch.Generator().manual_seed(i))``; the
    re-initialization and any randomness inside the forward pass use the global generator seeded
    with ``i``. ``model`` itself is never changed, and the global random state is left as it
    was.

    A convolution followed by a pixel shuffle (a sub-pixel upsampler, found as
    :func:`checkerscope.conversion.find_subpixel_pairs` says) is measured as one layer,
    named after the convolution, of kind ``"subpixel"``.

    The fix is measured the same way, with the same seeds and inputs: for outputs,
    ``convert(model, subpixel="icnr")`` (``init="fresh"``, or ``init="project"`` for
    ``trained=True``, so that the trained weights carry over; re-initialization draws the
    fixed sub-pixel pairs by ICNR); for gradients, ``convert(model, transposed=False,
    downsample=True)``: every strided Conv1d/2d, MaxPool1d/2d and AvgPool1d/2d swapped for its
    anti-aliased counterpart of the same geometry and weights (see
    :mod:`checkerscope.auditing.fixes`). See :class:`AuditReport` and :class:`LayerAudit` for
    what is reported.

    ``sample_rate`` (Hz) is that of the scored signal of a 1-D model (its output; its input
    with ``gradients=True``): with it, the report and each layer name their pattern's tone in
    Hz, each layer at its own rate (Pons et al. 2021: a stride-s pattern is heard as tones at
    multiples of ``fs / s``).

    Raises:
        ValueError: for bad arguments (a device that is not available, inputs of more than
            :data:`MAX_INPUT_VALUES` values, a ``sample_rate`` for a scored signal that is
            not 1-D), for a model that fails on ``input_shape``
            (naming the shape and the model's error), or whose output cannot be scored
            (not finite, or not a signal, image or volume).

    Example:
        >>> from checkerscope.models import DCGANGenerator
        >>> report = audit(DCGANGenerator(nz=16, ngf=8, image_size=16), (16,), seeds=2)
        >>> [layer.kind for layer in report.layers]
        ['conv_transpose', 'conv_transpose']
        >>> up = torch.nn.ConvTranspose1d(1, 1, 4, stride=2, padding=1)  # 8 kHz -> 16 kHz
        >>> [layer.tone_hz for layer in audit(up, (1, 4000), seeds=2, sample_rate=16000).layers]
        [8000.0]
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = _input_shape(input_shape)
    seed_list = _seed_list(seeds)
    batch = v.positive_int("batch", batch)
    for name, flag in (("trained", trained), ("gradients", gradients)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    if sample_rate is not None:
        sample_rate = v.positive_number("sample_rate", sample_rate)
    if batch * math.prod(shape) > MAX_INPUT_VALUES:
        raise ValueError(
            f"input_shape {shape} with batch {batch} makes {batch * math.prod(shape)} input "
            f"values, more than MAX_INPUT_VALUES = {MAX_INPUT_VALUES}: use a smaller shape"
        )
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
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as err:  # torch without CUDA asserts
        raise ValueError(f"device {str(device)!r} is not available here: {err}") from err
    mode = MODES[int(gradients)]
    forked = []
    if device.type == "cuda":
        forked = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=forked):
        return _audit(model, shape, seed_list, trained, mode, batch, device, sample_rate)


def _audit(
    model: nn.Module,
    shape: tuple[int, ...],
    seeds: tuple[int, ...],
    trained: bool,
    mode: str,
    batch: int,
    device: torch.device,
    sample_rate: float | None,
) -> AuditReport:
    work = copy.deepcopy(model).to(device)
    notes: list[str] = []
    if not trained:
        kept = kept_parameters(work)
        if kept:
            notes.append(
                f"{len(kept)} parameter(s) belong to modules without reset_parameters() and "
                f"keep their values: {', '.join(kept[:8])}{' ...' if len(kept) > 8 else ''}"
            )
    # A convolution -> pixel shuffle pair is measured (and blamed) as one layer.
    joined, _, search_notes = join_subpixel_pairs(copy.deepcopy(work))
    original = measure_model(joined, shape, seeds, trained, mode, batch, device, sample_rate)
    scored = original.output_shape if mode == "outputs" else shape
    if sample_rate is not None and len(scored) != 2:
        what = "output" if mode == "outputs" else "input"
        raise ValueError(
            f"sample_rate is for models whose {what} is a signal (B, C, L), got an {what} of "
            f"shape {scored} without the batch axis"
        )
    if any(layer.kind == "pixel_shuffle" for layer in original.layers):
        notes += search_notes  # why a shuffle was not paired with its convolution
    if not original.layers:
        notes.append(
            "no upsampling or strided layer found (ConvTranspose, strided Conv or pooling, "
            "ResizeConv, SubPixelConv1d/2d/3d, Upsample, PixelShuffle, anti-aliased conv, "
            "blur-pool or max-blur-pool): no layer of this model paints a periodic pattern by "
            "construction"
        )
    notes += [f"layer {name} was not called by forward" for name in original.not_called]

    fixed, description, replaced, fix_notes = fixed_model(work, mode, trained)
    notes += fix_notes
    score = sum(original.seed_scores) / len(seeds)
    fix = None
    if fixed is not None:
        try:
            after = measure_model(
                fixed.to(device), shape, seeds, trained, mode, batch, device, sample_rate
            )
        except ValueError as err:
            raise ValueError(f"the fixed model ({description}) cannot be measured: {err}") from err
        fixed_score = sum(after.seed_scores) / len(seeds)
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
        seeds=len(seeds),
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
        sample_rate=sample_rate,
        period=original.period,
        tone_hz=None
        if sample_rate is None or not original.period
        else sample_rate / original.period,
    )
