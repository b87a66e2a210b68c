"""Figures of sound: tones marked where they are, one panel per sound, closed forms beside."""

from __future__ import annotations

import numpy as np

from checkerscope.report.figures.audio import (
    UPSAMPLER_COLORS,
    replica_spectra,
    responses_figure,
    spectrogram_figure,
    spectrogram_grid,
    tone_and_quality,
)

F = [0.0, 2000.0, 4000.0, 6000.0, 8000.0]
T = [0.1, 0.2, 0.3]


def markers(ax) -> list[tuple[float, float, str]]:
    return [
        (float(line.get_xdata()[0]), float(line.get_ydata()[0]), line.get_marker())
        for line in ax.lines
    ]


def test_tones_are_marked_at_both_edges_in_khz() -> None:
    fig = spectrogram_figure(np.zeros((5, 3)), F, T, tones=[4000.0, 8000.0])
    assert sorted(markers(fig.axes[0])) == [
        (0.1, 4.0, ">"),
        (0.1, 8.0, ">"),
        (0.3, 4.0, "<"),
        (0.3, 8.0, "<"),
    ]


def test_a_grid_has_one_titled_panel_per_sound_and_hides_the_rest() -> None:
    d = (np.random.default_rng(0).normal(size=(5, 3)), F, T)
    fig = spectrogram_grid({"a": d, "b": d, "c": d, "d": d}, tones=[4000.0], columns=3)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["a", "b", "c", "d"]
    assert len(fig.axes) == 6 and all(len(markers(ax)) == 2 for ax in visible)


def test_responses_show_measured_lines_and_closed_form_circles() -> None:
    f = np.linspace(0, 8000, 81)
    curve = list(-np.linspace(0, 30, 81))
    fig = responses_figure(f, {"nearest": curve}, {"nearest": curve}, (2000, 4000))
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["nearest, measured", "nearest, closed form"]
    assert fig.axes[0].lines[0].get_color() == UPSAMPLER_COLORS["nearest"]


def test_replicas_and_quality_figures_draw_every_entry() -> None:
    fig = replica_spectra([0, 1, 2, 3], {"zeros": [0, -5, -5, 0], "linear": [0, -5, -20, -40]}, 1.5)
    assert [line.get_label() for line in fig.axes[0].lines][:2] == ["zeros", "linear"]
    fig = tone_and_quality(
        {"transposed": [30.0, 32.0], "nearest": [5.0, 6.0]},
        {"transposed": [10.0, 11.0], "nearest": [9.0, 10.0]},
        "SDR (dB)",
        12.0,
    )
    left, right = fig.axes
    assert [t.get_text() for t in left.get_xticklabels()] == ["transposed", "nearest"]
    assert right.get_ylabel() == "SDR (dB)"
    assert any(list(line.get_ydata()) == [12.0, 12.0] for line in left.lines)
