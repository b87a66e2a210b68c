"""Figures of sound: spectrograms with their tones marked, upsampler responses against their
closed forms, spectral replicas, and tone score beside quality. One function per figure,
numbers in, ``matplotlib.figure.Figure`` out; the ``audio`` experiment and the scan's page
both draw from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from checkerscope.report.figures.palette import COLORS

UPSAMPLER_COLORS = {
    "transposed": COLORS["deconv"],
    "subpixel": COLORS["subpixel"],
    "nearest": COLORS["resize_conv"],
    "linear": COLORS["bilinear_resize_conv"],
    "zeros": "0.35",
}
"""The audio upsamplers in the colours their 2-D counterparts have everywhere else."""


def _spectrogram(
    ax: Axes,
    decibels: np.ndarray,
    frequency: Sequence[float],
    time: Sequence[float],
    tones: Sequence[float],
    floor: float,
) -> object:
    d = np.asarray(decibels, dtype=float)
    f, t = np.asarray(frequency, dtype=float), np.asarray(time, dtype=float)
    top = float(np.nanmax(d)) if d.size else 0.0
    shown = ax.imshow(
        d,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=top - floor,
        vmax=top,
        extent=(float(t[0]) if t.size else 0.0, float(t[-1]) if t.size else 1.0, 0, f[-1] / 1e3),
        interpolation="nearest",
    )
    left, right = (float(t[0]), float(t[-1])) if t.size else (0.0, 1.0)
    for hz in tones:  # triangles at both edges pointing at the tone: a buzz joins them
        for x, marker in ((left, ">"), (right, "<")):
            ax.plot([x], [hz / 1e3], marker=marker, color="#4fc3f7", markersize=6,
                    markeredgecolor="k", markeredgewidth=0.5, clip_on=False)  # fmt: skip
    ax.set_ylabel("kHz", fontsize=8)
    ax.tick_params(labelsize=7)
    return shown


def spectrogram_figure(
    decibels: np.ndarray,
    frequency: Sequence[float],
    time: Sequence[float],
    tones: Sequence[float] = (),
    title: str = "",
    floor: float = 90.0,
) -> Figure:
    """One spectrogram (F, T) in dB, ``floor`` dB of range below its peak; triangles at both
    edges mark the frequencies ``tones`` (Hz), so a buzz shows as a line between them.

    Example:
        >>> fig = spectrogram_figure(np.zeros((5, 3)), [0, 1000, 2000, 3000, 4000], [0.1, 0.2, 0.3],
        ...                          tones=[2000.0, 4000.0])
    """
    fig = Figure(figsize=(5.2, 2.8), layout="constrained")
    ax = fig.subplots()
    shown = _spectrogram(ax, decibels, frequency, time, tones, floor)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.colorbar(shown, ax=ax, label="power (dB)", shrink=0.85)
    return fig


def spectrogram_grid(
    panels: Mapping[str, tuple[np.ndarray, Sequence[float], Sequence[float]]],
    tones: Sequence[float] = (),
    columns: int = 2,
    floor: float = 90.0,
) -> Figure:
    """Spectrograms side by side: ``panels[title] = (decibels (F, T), frequency Hz, time s)``,
    each with its own colour range (``floor`` dB below its peak) and the ``tones`` marked.

    Example:
        >>> d = (np.zeros((5, 3)), [0, 1e3, 2e3, 3e3, 4e3], [0.1, 0.2, 0.3])
        >>> fig = spectrogram_grid({"a": d, "b": d, "c": d}, tones=[4000.0])
    """
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(4.2 * columns, 2.3 * rows + 0.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, sharex=True, sharey=True)).ravel()
    for ax, (title, (d, f, t)) in zip(axes, panels.items(), strict=False):
        _spectrogram(ax, d, f, t, tones, floor)
        ax.set_title(title, fontsize=9)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[-columns:]:
        ax.set_xlabel("time (s)", fontsize=8)
    return fig


def responses_figure(
    frequency: Sequence[float],
    measured: Mapping[str, Sequence[float]],
    closed_form: Mapping[str, Sequence[float]],
    band: tuple[float, float],
) -> Figure:
    """Magnitude responses (dB) of upsamplers against frequency (Hz): ``measured[name]`` as
    lines, ``closed_form[name]`` as dots over them, the ``band`` (Hz) whose attenuation is
    compared shaded.

    Example:
        >>> fig = responses_figure([0, 1, 2], {"nearest": [0, -1, -3]}, {"nearest": [0, -1, -3]},
        ...                        (1, 2))
    """
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    f = np.asarray(frequency, dtype=float)
    ax.axvspan(band[0] / 1e3, band[1] / 1e3, color="0.9", label="band compared")
    for name, curve in measured.items():
        color = UPSAMPLER_COLORS.get(name, "k")
        ax.plot(f / 1e3, curve, color=color, linewidth=1.8, label=f"{name}, measured")
        if name in closed_form:
            step = max(1, f.size // 40)
            ax.plot(
                f[::step] / 1e3,
                np.asarray(closed_form[name])[::step],
                "o",
                markersize=3.5,
                markerfacecolor="none",
                color=color,
                label=f"{name}, closed form",
            )
    ax.set_xlabel("frequency at the output rate (kHz)")
    ax.set_ylabel("gain (dB)")
    ax.set_ylim(-40, 3)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return fig


def replica_spectra(
    frequency: Sequence[float], spectra: Mapping[str, Sequence[float]], edge: float
) -> Figure:
    """Average spectra (dB) of one sound upsampled several ways, the original Nyquist
    frequency ``edge`` (Hz) dashed: above it, the replicas.

    Example:
        >>> fig = replica_spectra([0, 1, 2, 3], {"zeros": [0, -5, -5, 0]}, edge=1.5)
    """
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    f = np.asarray(frequency, dtype=float) / 1e3
    for name, curve in spectra.items():
        ax.plot(f, curve, color=UPSAMPLER_COLORS.get(name, "k"), linewidth=1.2, label=name)
    ax.axvline(edge / 1e3, color="k", linestyle="--", linewidth=1, label="original Nyquist")
    ax.set_xlabel("frequency (kHz)")
    ax.set_ylabel("power (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def tone_and_quality(
    tones: Mapping[str, Sequence[float]],
    quality: Mapping[str, Sequence[float]],
    quality_label: str,
    threshold: float,
) -> Figure:
    """Per upsampler, the tone score of each trained network (one dot per seed, bar at the
    mean, the flagging ``threshold`` dashed) beside its quality measure (``quality_label``).

    Example:
        >>> fig = tone_and_quality({"nearest": [1.0, 2.0]}, {"nearest": [5.0, 6.0]}, "SDR (dB)", 12)
    """
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    rng = np.random.default_rng(0)  # a fixed jitter, so the figure is reproducible
    for ax, values, label in ((left, tones, "tone score (dB)"), (right, quality, quality_label)):
        for i, (name, v) in enumerate(values.items()):
            v = np.asarray(v, dtype=float)
            color = UPSAMPLER_COLORS.get(name, f"C{i}")
            ax.scatter(i + rng.uniform(-0.15, 0.15, v.size), v, s=12, alpha=0.7, color=color)
            ax.plot([i - 0.3, i + 0.3], [v.mean()] * 2, color=color, linewidth=2.5)
        ax.set_xticks(range(len(values)), list(values))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    left.axhline(threshold, color="k", linestyle="--", linewidth=1)
    left.set_title("tones after training", fontsize=9)
    right.set_title("quality on held-out sounds", fontsize=9)
    return fig
