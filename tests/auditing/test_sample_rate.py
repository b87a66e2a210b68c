"""Audits of 1-D models with a sample rate: each layer's blame as a tone in Hz, at its own rate."""

from __future__ import annotations

import json
import math

import pytest
from torch import nn
from typer.testing import CliRunner

from checkerscope.auditing import audit
from checkerscope.auditing.render import hertz, layer_table, summary_lines
from checkerscope.cli import app
from checkerscope.zoo.melgan import MelGANGenerator

FS = 16000


@pytest.mark.parametrize("stride", [2, 4, 8])
def test_a_deconvolution_is_heard_at_the_rate_over_its_stride(stride: int) -> None:
    """Without overlap (kernel = stride) a deconvolution repeats its kernel every ``stride``
    samples, scaled by its input: on an input with a mean (after a ReLU), a pattern of that
    period, tones at multiples of fs / stride."""
    model = nn.Sequential(nn.ReLU(), nn.ConvTranspose1d(1, 1, stride, stride=stride))
    report = audit(model, (1, 4096 // stride), seeds=3, sample_rate=FS)
    (row,) = report.layers
    # The score is the largest over periods 2, 4, 8: a stride-8 pattern's tones include those
    # of periods 4 and 2 (fs/4, fs/2), and whichever stands highest names the tone.
    assert stride % row.period == 0 and stride % report.period == 0
    assert row.tone_hz == FS / row.period and report.tone_hz == FS / report.period
    if stride < 8:
        assert row.period == report.period == stride
    assert report.sample_rate == FS and report.flagged


def test_each_layer_is_heard_at_its_own_rate() -> None:
    """In a stack, a layer's pattern lives at the rate of its own output: the same tone as an
    audit of that layer alone at that rate."""
    first, second = nn.ConvTranspose1d(1, 4, 4, stride=4), nn.ConvTranspose1d(4, 1, 2, stride=2)
    stack = nn.Sequential(nn.ReLU(), first, nn.LeakyReLU(0.2), second)
    rows = {r.name: r for r in audit(stack, (1, 512), seeds=3, sample_rate=FS).layers}
    assert rows["1"].output_size == (2048,) and rows["3"].output_size == (4096,)
    alone = audit(stack[:2], (1, 512), seeds=3, sample_rate=FS / 2).layers[0]
    assert rows["1"].period == alone.period == 4
    assert rows["1"].tone_hz == alone.tone_hz == FS / 2 / 4
    assert rows["3"].tone_hz == FS / rows["3"].period


def test_melgan_layers_are_blamed_in_hz_and_fixed_by_convert() -> None:
    model = MelGANGenerator(ngf=4, n_residual_layers=1, weight_norm=False)
    report = audit(model, (80, 16), seeds=2, sample_rate=22050)
    rates = [22050 * r.output_size[0] / report.output_shape[-1] for r in report.layers]
    assert rates == [22050 / 32, 22050 / 4, 22050 / 2, 22050]  # x8, x8, x2, x2
    for row, rate in zip(report.layers, rates, strict=True):
        assert row.kind == "conv_transpose" and row.tone_hz == rate / row.period
    assert report.layers[-1].period == 2 and report.layers[-1].tone_hz == 22050 / 2
    assert report.flagged and report.fix is not None and not report.fix.flagged
    fixed = {r.name: r for r in report.fix.layers}
    assert all(fixed[r.name].kind == "resize_conv" for r in report.layers)
    assert all(fixed[r.name].score < r.score - 20 for r in report.layers[1:])
    table = layer_table(report)
    assert table.columns[7] == "tone" and table.rows[-1][7] == hertz(11025.0) == "11.03 kHz"
    assert summary_lines(report)[1] == (
        "tones: a period-2 pattern at 22.05 kHz, heard at multiples of 11.03 kHz"
    )
    d = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert d["sample_rate_hz"] == 22050 and d["tone_hz"] == 11025.0 and d["period"] == 2
    assert [row["tone_hz"] for row in d["layers"]] == [r.tone_hz for r in report.layers]


def test_gradients_are_heard_at_the_inputs_rate() -> None:
    """A strided 1-D discriminator: the gradient it sends back is at the input's rate."""
    critic = nn.Sequential(nn.Conv1d(1, 4, 4, stride=4), nn.LeakyReLU(0.2), nn.Conv1d(4, 1, 1))
    report = audit(critic, (1, 4096), seeds=2, gradients=True, sample_rate=FS)
    (row,) = report.layers
    assert row.kind == "strided_conv" and row.tone_hz == FS / row.period


def test_without_a_sample_rate_nothing_is_in_hz() -> None:
    report = audit(nn.Sequential(nn.ReLU(), nn.ConvTranspose1d(1, 1, 2, 2)), (1, 512), seeds=2)
    assert report.sample_rate is report.tone_hz is None and report.period == 2
    assert report.layers[0].tone_hz is None and report.layers[0].period == 2
    assert "tone" not in layer_table(report).columns
    assert not any(line.startswith("tones:") for line in summary_lines(report))


def test_sample_rate_errors() -> None:
    with pytest.raises(ValueError, match="sample_rate must be a finite number > 0, got 0"):
        audit(nn.ConvTranspose1d(1, 1, 2, stride=2), (1, 64), seeds=1, sample_rate=0)
    with pytest.raises(ValueError, match=r"sample_rate is for models whose output is a signal"):
        audit(nn.ConvTranspose2d(1, 1, 2, stride=2), (1, 16, 16), seeds=1, sample_rate=FS)
    with pytest.raises(ValueError, match=r"whose input is a signal .* \(1, 16, 16\)"):
        audit(nn.Conv2d(1, 1, 2, stride=2), (1, 16, 16), seeds=1, gradients=True, sample_rate=FS)


def test_cli_sample_rate(tmp_path) -> None:
    model_file = tmp_path / "models.py"
    model_file.write_text(
        "from torch import nn\n"
        "def up():\n"
        "    layers = nn.ConvTranspose1d(1, 2, 4, 2, 1), nn.ConvTranspose1d(2, 1, 4, 2, 1)\n"
        "    return nn.Sequential(*layers)\n"
    )
    runner = CliRunner(env={"COLUMNS": "160"})
    args = ["audit", f"{model_file}:up", "--input-shape", "1,1024", "--seeds", "2"]
    result = runner.invoke(app, [*args, "--sample-rate", "16000"])
    assert result.exit_code == 1, result.output
    assert "tone" in result.output and "heard at multiples of" in result.output
    data = json.loads(runner.invoke(app, [*args, "--sample-rate", "16000", "--json"]).output)
    assert data["sample_rate_hz"] == 16000 and data["layers"][1]["tone_hz"] == 8000.0
    assert math.isclose(data["layers"][0]["tone_hz"], 8000 / data["layers"][0]["period"])
    bad = runner.invoke(app, [*args, "--sample-rate", "-3"])
    assert bad.exit_code == 2 and "sample_rate must be a finite number > 0" in bad.output
    html = tmp_path / "audit.html"
    assert runner.invoke(app, [*args, "--sample-rate", "16000", "--html", str(html)]).exit_code == 1
    page = html.read_text()
    assert "tone (Hz)" in page and "heard at multiples of 8000.0 Hz" in page
