"""What an audit reports: a :class:`LayerAudit` per layer, the :class:`Fix`, the whole
:class:`AuditReport`, and the layout of their JSON (:data:`SCHEMA`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from checkerscope.auditing.render import report_text
from checkerscope.files import plain_json

MODES = ("outputs", "gradients")
"""What an audit scores: a model's outputs, or the gradient of their sum at its input."""

SCHEMA = "checkerscope.audit/1"
"""Identifies the layout of :meth:`AuditReport.to_dict`, changed when a field changes meaning."""


@dataclass(frozen=True)
class LayerAudit:
    """One upsampling or strided layer of an audited model.

    * ``name``: its qualified name as in ``model.named_modules()`` (``""`` for the root).
    * ``kind``: "conv_transpose", "strided_conv", "resize_conv", "subpixel", "upsample_<mode>",
      "pixel_shuffle", "antialiased_conv", "blurpool" or "pool". A convolution followed by a
      pixel shuffle is one "subpixel" layer named after the convolution (a shuffle listed as
      "pixel_shuffle" was not found paired); MaxBlurPool and a blurred average pool are
      "blurpool"s.
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
      keeping at least 4 (:func:`~checkerscope.auditing.layer_maths.interior`); ``nan`` where
      a map is under 4 per side.
    * ``output_score``: the measured score (dB, maximum over periods) of what ``score``
      compares: the layer's output, or the gradient it sends back.
    * ``imbalance``: :func:`checkerscope.analysis.phase_imbalance` of its weights (mean over
      seeds), the fraction of a flat input's response (of the gradient it sends back, for
      strided layers) that is a checkerboard; ``None`` for layers it does not read.
    * ``overlap_ratio``: the analytic max/min overlap count of its interior
      (:func:`checkerscope.analysis.overlap_summary`, product over axes): of the layer for
      upsamplers, of the transposed operation that its backward pass is for strided layers.
      ``None`` where the count is not defined.
    * ``period``: the period p of 2, 4, 8 at which ``score`` is highest (``None`` where
      ``score`` is not defined, or a layer called at several sizes).
    * ``tone_hz``: for signals audited with a ``sample_rate``, the lowest tone of that pattern
      in Hz, ``r / period`` at the layer's own rate ``r`` (the sample rate times its map's
      length over the scored signal's length: exact where lengths scale with rates, off by
      the few samples that unpadded convolutions trim otherwise): the layer's blame, heard as
      that tone and its multiples up to ``r / 2``. ``None`` otherwise.
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
    period: int | None = None
    tone_hz: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (``nan`` and ``inf`` become ``None``).

        Example:
            >>> layer = LayerAudit("up", "upsample_nearest", (4, 4), (8, 8), None, (2, 2),
            ...                    0.0, float("nan"), None, 1.0)
            >>> layer.to_dict()["stride"], layer.to_dict()["output_score_db"]
            ([2, 2], None)
        """
        return plain_json(
            {
                "name": self.name,
                "kind": self.kind,
                "input_size": self.input_size,
                "output_size": self.output_size,
                "kernel_size": self.kernel_size,
                "stride": self.stride,
                "score_db": self.score,
                "output_score_db": self.output_score,
                "imbalance": self.imbalance,
                "overlap_ratio": self.overlap_ratio,
                "period": self.period,
                "tone_hz": self.tone_hz,
            }
        )


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
        return plain_json(
            {
                "description": self.description,
                "replaced": self.replaced,
                "score_db": self.score,
                "ci_db": _interval(self.ci),
                "seed_scores_db": self.seed_scores,
                "flagged": self.flagged,
                "change_db": self.change,
                "layers": [layer.to_dict() for layer in self.layers],
            }
        )


@dataclass(frozen=True)
class AuditReport:
    """What :func:`~checkerscope.audit` measured.

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
    * ``sample_rate``: the rate in Hz of the scored signal (the output; the input, for
      gradients) when the audit was given one, else ``None``; ``period``: the period of 2, 4,
      8 with the highest score (mean over seeds); ``tone_hz``: ``sample_rate / period``, the
      lowest tone of that pattern (``None`` without a sample rate). Each layer reports its own
      (:class:`LayerAudit`).

    ``str(report)`` is :func:`checkerscope.auditing.render.report_text`: the layer table and
    the verdict, as the ``checkerscope audit`` command prints them.
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
    sample_rate: float | None = None
    period: int | None = None
    tone_hz: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (schema :data:`SCHEMA`); ``nan``/``inf`` become ``None``.

        Keys: ``schema``, ``model``, ``mode``, ``input_shape``, ``output_shape`` (no batch
        axis), ``seeds``, ``batch``, ``trained``, ``threshold_db``, ``score_db``, ``ci_db``
        ([low, high] or ``None``), ``seed_scores_db``, ``flagged``, ``layers`` (a list of
        :meth:`LayerAudit.to_dict`), ``fix`` (:meth:`Fix.to_dict` or ``None``), ``notes``,
        ``sample_rate_hz``, ``period``, ``tone_hz``.
        """
        return plain_json(
            {
                "schema": SCHEMA,
                "model": self.model,
                "mode": self.mode,
                "input_shape": self.input_shape,
                "output_shape": self.output_shape,
                "seeds": self.seeds,
                "batch": self.batch,
                "trained": self.trained,
                "threshold_db": self.threshold,
                "score_db": self.score,
                "ci_db": _interval(self.ci),
                "seed_scores_db": self.seed_scores,
                "flagged": self.flagged,
                "layers": [layer.to_dict() for layer in self.layers],
                "fix": None if self.fix is None else self.fix.to_dict(),
                "notes": self.notes,
                "sample_rate_hz": self.sample_rate,
                "period": self.period,
                "tone_hz": self.tone_hz,
            }
        )

    def __str__(self) -> str:
        return report_text(self)


def _interval(ci: tuple[float, float]) -> tuple[float, float] | None:
    """A confidence interval, or ``None`` where it is undefined (one seed gives ``nan``)."""
    return ci if all(math.isfinite(c) for c in ci) else None
