"""checkerscope.report.html: templates, inlined data and value tables."""

from __future__ import annotations

import base64

import pytest
from matplotlib.figure import Figure

from checkerscope.report import html


def test_value_table_nests_cuts_and_formats() -> None:
    table = str(html.value_table({"a": {"b": [1, 2.5, None]}, "c": list(range(60))}))
    assert table.count("<table") == 2
    assert "[1, 2.5, —]" in table and "(12 more)" in table and ", 47]" in table
    assert str(html.value_table([])) == '<span class="empty">[]</span>'
    # A nested mapping of plain values is one line of pairs, not another table.
    pairs = str(html.value_table({"test": {"n": 8, "p": 0.000123456, "<t>": "a&b"}}))
    assert pairs.count("<table") == 1 and pairs.count('class="pair"') == 3
    assert '<span class="key">p</span> 0.0001235' in pairs and "&lt;t&gt;" in pairs
    assert "a&amp;b" in pairs
    assert html.format_number(True) == "yes" and html.format_number(float("inf")) == "∞"
    assert html.format_number(1234567.0) == "1.235e+06"


def test_png_data_uri_round_trips_a_figure() -> None:
    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [1, 0])
    uri = html.png_data_uri(fig)
    assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"path must be a .png.*got 'x.gif'"):
        html.file_data_uri("x.gif")


def test_base_template_is_reusable() -> None:
    page = html.render("base.html.j2")
    assert page.startswith("<!DOCTYPE html>") and "<title>checkerscope</title>" in page
    assert "Content-Security-Policy" in page


def test_the_policy_allows_inlined_images_and_sounds_and_nothing_else(tmp_path) -> None:
    page = html.render("base.html.j2")
    policy = page.split('http-equiv="Content-Security-Policy" content="')[1].split('"')[0]
    assert policy.split("; ") == [
        "default-src 'none'",
        "img-src data:",
        "media-src data:",
        "style-src 'unsafe-inline'",
        "script-src 'unsafe-inline'",
    ]
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF....WAVE")
    assert html.sound_data_uri(wav) == "data:audio/wav;base64," + base64.b64encode(
        b"RIFF....WAVE"
    ).decode("ascii")
    with pytest.raises(ValueError, match=r"path must be a \.wav or \.flac sound, got 'x\.mp3'"):
        html.sound_data_uri("x.mp3")
