from __future__ import annotations

import pytest
from typer.testing import CliRunner

from checkerscope.analysis import overlap_summary
from checkerscope.cli import app

runner = CliRunner()


def test_overlap_prints_the_articles_ratios():
    result = runner.invoke(app, ["overlap", "--kernel", "3", "--stride", "2", "--dims", "2"])
    assert result.exit_code == 0, result.output
    assert "interior pattern (1-D, period 2): 2 1" in result.output
    assert "max/min ratio: 2 in 1-D, 4 in 2-D" in result.output
    assert "periods that carry unevenness: 2" in result.output


def test_overlap_of_a_stack_prints_its_summary():
    args = ["overlap", "--kernel", "3", "--stride", "2", "--layers", "3", "--dims", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    axis = overlap_summary([(3, 2)] * 3).axes[0]
    assert f"period {axis.period}): {' '.join(map(str, axis.pattern))}" in result.output
    assert "periods that carry unevenness: 2, 4, 8" in result.output


def test_even_overlap_is_flat():
    result = runner.invoke(app, ["overlap", "--kernel", "4", "--stride", "2", "--dims", "1"])
    assert result.exit_code == 0, result.output
    assert "max/min ratio: 1 in 1-D\n" in result.output
    assert "none (flat)" in result.output


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "overlap.png"
    args = ["overlap", "--kernel", "3", "--stride", "2", "--layers", "2", "--plot", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kernel", "0", "--stride", "2"], "kernel_size must be a positive integer, got 0"),
        (["--kernel", "3", "--stride", "-1"], "stride must be a positive integer, got -1"),
        (["--kernel", "3", "--stride", "2", "--layers", "0"], "non-empty list"),
        (["--kernel", "3", "--stride", "2", "--dims", "0"], "dims must be a positive integer"),
    ],
)
def test_bad_values_exit_2_with_the_message(args, message):
    result = runner.invoke(app, ["overlap", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_piped_audit_output_keeps_each_row_on_one_line(monkeypatch) -> None:
    """Output to a pipe or file (CI logs) is PIPE_WIDTH wide, not rich's 80: names and sizes
    stay whole instead of folding into pieces."""
    monkeypatch.delenv("COLUMNS", raising=False)
    args = ["audit", "checkerscope.models:DCGANGenerator", "--input-shape", "64", "--seeds", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output  # a random-init DCGAN is flagged
    rows = [line for line in result.output.splitlines() if "main.9" in line]
    assert len(rows) == 1 and "conv_transpose" in rows[0] and "32x32>64x64" in rows[0]
