"""``checkerscope fix``: convert, distill, write weights that load into ``convert(model)``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from checkerscope import audit, convert
from checkerscope.auditing import load_target
from checkerscope.cli import app
from checkerscope.weights import load_weights

runner = CliRunner()

MODELS = """
import torch
from torch import nn


def generator():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.ConvTranspose2d(4, 8, 3, 2, 1, 1), nn.ReLU(), nn.ConvTranspose2d(8, 3, 3, 2, 1, 1)
    )


def plain():
    return nn.Sequential(nn.Conv2d(4, 3, 3, padding=1))
"""


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


def fix(models: Path, out: Path, *extra: str, attr: str = "generator") -> object:
    args = ["fix", f"{models}:{attr}", "--input-shape", "4,8,8", "--out", str(out),
            "--steps", "30", "--seeds", "2", "--no-progress", *extra]  # fmt: skip
    return runner.invoke(app, args)


def test_fix_writes_weights_that_load_into_the_converted_model(models: Path, tmp_path: Path):
    out = tmp_path / "fixed.safetensors"
    result = fix(models, out)
    assert result.exit_code in (0, 1), result.output
    for text in ("before:", "after:", "distilled 30 steps", "checkerboard score: original",
                 "PSNR against the original's outputs", f"wrote {out}"):  # fmt: skip
        assert text in result.output
    model = load_target(f"{models}:generator")
    fixed = load_weights(convert(model), out)  # the documented way to load them
    assert set(load_file(out)) == set(fixed.state_dict())
    after = audit(fixed, (4, 8, 8), seeds=2, trained=True)
    before = audit(model, (4, 8, 8), seeds=2, trained=True)
    assert after.score < before.score - 3
    assert result.exit_code == (1 if after.flagged else 0)
    assert f"{after.score:.1f}" in result.output.split("after:")[1]


def test_fix_of_a_model_without_transposed_convolutions_fails(models: Path, tmp_path: Path):
    out = tmp_path / "fixed.safetensors"
    result = fix(models, out, attr="plain")
    assert result.exit_code == 2
    assert "Sequential has no stride > 1 ConvTranspose1d/2d/3d layer to fix" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "out, extra, message",
    [
        ("fixed.pt", (), "--out must be a .safetensors file, got"),
        ("missing/fixed.safetensors", (), "the folder"),
        ("fixed.safetensors", ("--lr", "0"), "--lr must be a finite number > 0, got 0.0"),
        ("fixed.safetensors", ("--input-shape", "4,x"), "--input-shape must be integers"),
        ("fixed.safetensors", ("--weights", "nope.pt"), "does not exist"),
    ],
)
def test_errors_exit_2_in_one_line(models: Path, tmp_path: Path, out: str, extra: tuple,
                                   message: str) -> None:  # fmt: skip
    result = fix(models, tmp_path / out, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / out).exists()


def test_output_checked_before_the_model_is_loaded(tmp_path: Path) -> None:
    args = ["fix", "no_such_module:thing", "--input-shape", "4", "--out",
            str(tmp_path / "missing" / "w.safetensors")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "--out" in result.output
    assert "cannot import" not in result.output


def test_weights_are_loaded_first(models: Path, tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    model = load_target(f"{models}:generator")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2)
    torch.save(model.state_dict(), weights)
    out = tmp_path / "fixed.safetensors"
    result = fix(models, out, "--weights", str(weights))
    assert result.exit_code in (0, 1), result.output
    before = audit(model, (4, 8, 8), seeds=2, trained=True)
    assert f"{before.score:.1f}" in result.output.split("after:")[0]
