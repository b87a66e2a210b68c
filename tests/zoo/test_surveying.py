"""The survey: its rows come from running the audit and convert, and render as one table."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from checkerscope import audit, convert
from checkerscope.zoo import (
    SurveyRow,
    architecture,
    build,
    survey,
    survey_markdown,
    survey_row,
)


@pytest.fixture(scope="module")
def rows() -> list[SurveyRow]:
    return survey(["dcgan", "edsr", "patchgan"], seeds=2, batch=2)


def test_rows_are_the_audits_numbers(rows: list[SurveyRow]) -> None:
    dcgan = rows[0]
    report = audit(build("dcgan"), (100, 1, 1), seeds=2, batch=2)
    assert (dcgan.score, dcgan.ci, dcgan.flagged) == (report.score, report.ci, report.flagged)
    assert report.fix is not None and dcgan.fixed_score == report.fix.score
    top = max(report.layers, key=lambda layer: layer.score)
    assert dcgan.top_layer == top and dcgan.top_layer.kind == "conv_transpose"
    assert dcgan.output_shape == (3, 64, 64) and dcgan.seeds == 2 and dcgan.batch == 2


def test_what_convert_did_is_read_from_its_report(rows: list[SurveyRow]) -> None:
    dcgan, edsr, patchgan = rows
    _, conversion = convert(build("dcgan"), return_report=True)
    assert len(conversion.converted) == 4 and len(conversion.skipped) == 1
    assert dcgan.fix == "convert(): 4 ConvTranspose2d -> ResizeConv2d; 1 left (stride 1)"
    assert edsr.fixed_score is None and edsr.fixed_flagged is None
    assert edsr.fix == (
        "unchanged: convert() found nothing to replace (upsampling: 2 x pixel_shuffle)"
    )
    assert edsr.top_layer is not None and edsr.top_layer.kind == "pixel_shuffle"
    assert patchgan.mode == "gradients" and "AntiAliasedConv" in patchgan.fix
    assert patchgan.fixed_score is not None


def test_markdown_has_a_row_per_architecture_and_the_footnotes(rows: list[SurveyRow]) -> None:
    text = survey_markdown(rows)
    lines = text.splitlines()
    assert lines[0].startswith("Audited at random init by `checkerscope.audit` (2 seeds x 2 ")
    table = [line for line in lines if line.startswith("| `")]
    assert [line.split(" | ")[0] for line in table] == [
        "| `dcgan` (100x1x1)", "| `edsr` (3x16x16)", "| `patchgan` (3x64x64)",
    ]  # fmt: skip
    assert all(line.count(" | ") == 8 for line in table)
    assert f"{rows[0].score:.1f} ({rows[0].ci[0]:.1f} to {rows[0].ci[1]:.1f})" in table[0]
    assert "| unchanged |" in table[1]
    noted = survey_markdown([*rows[:1], _with_note(rows[1], "a note")])
    assert "| `edsr`† (3x16x16)" in noted and noted.rstrip().endswith("† a note")


def _with_note(row: SurveyRow, note: str) -> SurveyRow:
    return dataclasses.replace(row, note=note)


def test_rows_write_as_json(rows: list[SurveyRow]) -> None:
    data = rows[1].to_dict()
    assert data["name"] == "edsr" and data["fixed_score"] is None
    assert data["top_layer"]["kind"] == "pixel_shuffle" and isinstance(data["ci"], list)


def test_bad_names_are_refused() -> None:
    with pytest.raises(ValueError, match=r"name must be one of the zoo's architectures"):
        survey(["dcgan", "nope"])
    with pytest.raises(ValueError, match=r"^names must be a sequence of architecture names"):
        survey("dcgan")
    with pytest.raises(ValueError, match=r"^rows must hold at least one SurveyRow, got none$"):
        survey_markdown([])


def test_a_model_that_convert_cannot_convert_says_why() -> None:
    def grouped() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 4, 4, 2, 1, groups=2))

    entry = dataclasses.replace(architecture("dcgan"), factory=grouped, input_shape=(4, 16, 16))
    row = survey_row(entry, seeds=2)
    assert row.fixed_score is None and row.top_layer is not None
    assert row.fix.startswith("unchanged: convert() cannot convert it (cannot convert layer '0'")
    assert "groups=2" in row.fix
