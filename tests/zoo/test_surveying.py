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
    assert dcgan.convert_default == (
        "convert(): 4 ConvTranspose2d -> ResizeConv2d; 1 left (stride 1)"
    )
    assert dcgan.fix == "convert(model, init='fresh'): 4 ConvTranspose -> ResizeConv (nearest)"
    # convert()'s defaults leave sub-pixel pairs alone; the audit's fix ties them by ICNR
    # (EDSR's pairs, inside a zoo model, are found since the tracer enters checkerscope's
    # architectures).
    assert edsr.convert_default == (
        "unchanged: convert() found nothing to replace (upsampling: 2 x subpixel)"
    )
    assert edsr.fix == "convert(model, init='fresh', subpixel='icnr'): 2 sub-pixel pair(s) -> ICNR"
    assert edsr.fixed_score is not None and edsr.fixed_score < edsr.score - 6
    assert edsr.top_layer is not None and edsr.top_layer.kind == "subpixel"
    assert patchgan.mode == "gradients" and "AntiAliasedConv" in patchgan.fix
    assert patchgan.fixed_score is not None and patchgan.convert_default == ""


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
    assert (
        "| unchanged: convert() found nothing to replace (upsampling: 2 x subpixel) |" in table[1]
    )
    assert "| `main.12` conv_transpose " in table[0] and "| yes" in table[0]
    noted = survey_markdown([*rows[:1], _with_note(rows[1], "a note")])
    assert "| `edsr`† (3x16x16)" in noted and noted.rstrip().endswith("† a note")


def _with_note(row: SurveyRow, note: str) -> SurveyRow:
    return dataclasses.replace(row, note=note)


def test_rows_write_as_json(rows: list[SurveyRow]) -> None:
    data = rows[1].to_dict()
    assert data["name"] == "edsr" and data["fixed_score"] == rows[1].fixed_score
    assert data["top_layer"]["kind"] == "subpixel" and isinstance(data["ci"], list)
    assert data["seed_scores"] == list(rows[1].seed_scores) and data["top_layer_hz"] is None


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
    assert row.convert_default.startswith(
        "unchanged: convert() cannot convert it (cannot convert layer '0'"
    )
    assert "groups=2" in row.convert_default
    assert row.fix.startswith("none: convert() cannot fix this model") and "groups=2" in row.fix


def test_seeds_given_are_the_audit_s_and_per_seed_scores_are_kept() -> None:
    row = survey_row(architecture("dcgan"), seeds=[5, 9], batch=2)
    report = audit(build("dcgan"), (100, 1, 1), seeds=[5, 9], batch=2)
    assert row.seeds == 2 and row.seed_scores == report.seed_scores
    assert report.fix is not None and row.fixed_seed_scores == report.fix.seed_scores


def test_audio_rows_name_the_tones_of_the_top_layer_in_hz() -> None:
    """MelGAN's last x2 transposed convolution paints period 2 at 22050 Hz: 11025 Hz."""
    row = survey_row(architecture("melgan"), seeds=2, batch=2)
    assert row.sample_rate == 22050 and row.top_layer is not None
    assert row.top_layer.stride == (2,) and row.top_layer.output_size == (8192,)
    assert row.top_layer_hz == 11025.0
    table = survey_markdown([row])
    assert "tones at multiples of 11025 Hz" in table
    assert row.fixed_output_std is not None and row.fixed_output_std < 0.01 * row.output_std
    assert "at init the fixed model's output hardly varies (standard deviation" in table


@pytest.mark.parametrize("name", ["melgan", "hifigan_v1"])
def test_weight_normalised_models_are_audited_as_built_and_as_their_plain_twins(name) -> None:
    """Weight normalisation is the identity at init and the audit now re-draws it per seed:
    the models as built (weight-normalised) score as their plain twins, seed by seed."""
    entry = architecture(name)
    built = survey_row(entry, seeds=2, batch=2)
    plain = survey_row(dataclasses.replace(entry, survey_kwargs={"weight_norm": False}), 2, 2)
    assert built.note == "" and "keep their values" not in built.fix
    assert built.convert_default == "convert(): 4 ConvTranspose1d (parametrized) -> ResizeConv1d"
    assert built.seed_scores == pytest.approx(plain.seed_scores, rel=1e-4)
    # The fixed MelGAN's output hardly varies at init (std ~5e-6): its score is float noise,
    # so the fixed twins are compared by their outputs' spread.
    assert built.fixed_output_std == pytest.approx(plain.fixed_output_std, rel=1e-3)


def test_the_melgan_discriminator_s_fix_removes_its_checkerboard() -> None:
    """Its strided convolutions are weight-normalised (the anti-aliasing swap keeps that) and
    of stride 4 (blur-pooled by 2 twice): the fix brings the gradient's score down."""
    row = survey_row(architecture("melgan_discriminator"), seeds=3, batch=2)
    assert row.fixed_score is not None and row.fixed_score < row.score - 3
    assert "13 strided layer(s)" in row.fix
