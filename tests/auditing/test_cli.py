"""``checkerscope audit`` end to end: its exit status is the verdict, its table is the rows of
``str(report)``, and usage errors exit 2 without a traceback."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from checkerscope.auditing import SCHEMA, audit, load_target
from checkerscope.auditing.render import layer_table, summary_lines
from checkerscope.cli import app

runner = CliRunner(env={"COLUMNS": "160"})


def table_rows(text: str, names: set[str]) -> list[list[str]]:
    """The words of every line of ``text`` that starts with one of the layer ``names``."""
    return [line.split() for line in text.splitlines() if line.split()[:1] in ([n] for n in names)]


@pytest.mark.parametrize(("attr", "flagged"), [("Deep", True), ("Small", False)])
def test_cli_audits_a_file_target_and_prints_a_table(
    model_file: Path, attr: str, flagged: bool
) -> None:
    args = [f"{model_file}:{attr}", "--input-shape", "4,16,16", "--seeds", "2"]
    result = runner.invoke(app, ["audit", *args])
    report = audit(load_target(f"{model_file}:{attr}"), (4, 16, 16), seeds=2)
    assert report.flagged is flagged  # Deep scores ~29 dB, Small ~1 dB: far from 12 dB
    assert result.exit_code == int(flagged), result.output
    assert "up" in result.output and "conv_transpose" in result.output
    assert "checkerboard score of the outputs" in result.output
    assert "fix, convert(model, init='fresh')" in result.output
    assert result.exit_code == int(
        "flagged" in result.output and "not flagged" not in result.output
    )
    # One renderer: the command's table has the rows of str(report), and the same verdict.
    rows = [" ".join(row).split() for row in layer_table(report).rows]
    names = {layer.name for layer in report.layers}
    assert len(rows) == len(report.layers) > 0
    assert table_rows(result.output, names) == rows == table_rows(str(report), names)
    for line in summary_lines(report):
        assert line in result.output and line in str(report)


def test_cli_json_and_html(model_file: Path, tmp_path: Path) -> None:
    page = tmp_path / "audit.html"
    args = ["audit", f"{model_file}:make_generator", "--input-shape", "8", "--seeds", "2"]
    result = runner.invoke(app, [*args, "--json", "--html", str(page)])
    report = json.loads(result.stdout)
    assert result.exit_code == int(report["flagged"])
    assert report["schema"] == SCHEMA and report["input_shape"] == [8]
    assert [layer["name"] for layer in report["layers"]] == ["main.0", "main.3"]
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "main.3" in text
    assert text.count('src="data:image/png;base64,') >= 3  # samples, layer bars, overlap
    assert not re.search(r"(src|href)=\"(https?:)?//", text)  # nothing fetched


def test_cli_json_is_the_report_of_the_library(model_file: Path) -> None:
    args = ["audit", f"{model_file}:Deep", "--input-shape", "4,16,16", "--seeds", "2", "--json"]
    result = runner.invoke(app, args)
    expected = audit(load_target(f"{model_file}:Deep"), (4, 16, 16), seeds=2).to_dict()
    assert result.exit_code == 1 and json.loads(result.stdout) == expected


def test_cli_weights_default_to_a_trained_audit(model_file: Path, tmp_path: Path) -> None:
    sd = load_target(f"{model_file}:make_generator").state_dict()
    save_file({k: t.contiguous() for k, t in sd.items()}, tmp_path / "g.safetensors")
    args = ["audit", f"{model_file}:make_generator", "--input-shape", "8", "--seeds", "1"]
    result = runner.invoke(app, [*args, "--weights", str(tmp_path / "g.safetensors"), "--json"])
    assert json.loads(result.stdout)["trained"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{file}:Missing", "--input-shape", "8"], "has no attribute 'Missing'"),
        (["nope/missing.py:G", "--input-shape", "8"], "does not exist"),
        (["{file}:NUMBER", "--input-shape", "8"], "not a torch.nn.Module"),
        (["{file}:make_generator", "--input-shape", "8,x"], "--input-shape must be integers"),
        (["{file}:make_generator", "--input-shape", "5"], r"fails on input_shape \(5,\)"),
        (["{file}:Small", "--input-shape", "4,8,8", "--weights", "{dir}/w.pt"], "do not match"),
        (["{file}:Small", "--input-shape", "4,8,8", "--weights", "{dir}/p.pt"], "unpickle"),
    ],
)
def test_cli_usage_errors_exit_2_without_a_traceback(
    model_file: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    torch.save({"up.weight": torch.zeros(1)}, tmp_path / "w.pt")
    torch.save(argparse.Namespace(x=1), tmp_path / "p.pt")  # a pickled object, not tensors
    args = [a.format(file=model_file, dir=tmp_path) for a in args]
    result = runner.invoke(app, ["audit", *args])
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output) and "Traceback" not in result.output
