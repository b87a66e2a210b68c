"""The one text rendering of an audit: ``str(report)`` is the layer table and the verdict."""

from __future__ import annotations

from torch import nn

from checkerscope.auditing import audit
from checkerscope.auditing.render import layer_table, report_text, summary_lines


def test_str_is_the_table_then_the_summary(dcgan_report) -> None:
    table = layer_table(dcgan_report)
    lines = str(dcgan_report).splitlines()
    assert str(dcgan_report) == report_text(dcgan_report)
    assert lines[0] == "DCGANGenerator: upsampling and strided layers"
    header = ["layer", "kind", "size", "overlap", "imbal.", "adds", "out", "fixed as", "then adds"]
    assert lines[1].split() == " ".join(header).split() and list(table.columns) == header
    assert [line.split() for line in lines[2:5]] == [" ".join(r).split() for r in table.rows]
    assert lines[5:] == summary_lines(dcgan_report)
    assert [row[0] for row in table.rows] == ["main.0", "main.3", "main.6"]
    assert all(row[7] == "resize_conv" for row in table.rows)


def test_cells_are_the_report_numbers_formatted_by_the_metric(dcgan_report) -> None:
    layer, row = dcgan_report.layers[-1], layer_table(dcgan_report).rows[-1]
    assert row[2] == "16x16>32x32"
    assert row[3] == f"{layer.overlap_ratio:.3g}" and row[4] == f"{layer.imbalance:.3g}"
    assert row[5] == f"{layer.score:.1f} dB" and row[6] == f"{layer.output_score:.1f} dB"
    verdict = summary_lines(dcgan_report)[0]
    assert verdict.startswith("checkerboard score of the outputs of DCGANGenerator: ")
    assert f"{dcgan_report.score:.1f} dB (95% CI {dcgan_report.ci[0]:.1f} dB to" in verdict
    assert verdict.endswith(", flagged (threshold 12.0 dB)")


def test_gradients_a_missing_fix_and_no_interval() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=(1, 2)), nn.AvgPool2d((2, 1)))
    r = audit(model, (3, 16, 16), seeds=1, trained=True, gradients=True)
    assert r.fix is None and r.flagged  # both layers stride, neither can be swapped
    table = layer_table(r)
    assert table.columns[-1] == "out" and [row[1] for row in table.rows] == ["strided_conv", "pool"]
    verdict, *rest = summary_lines(r)
    assert verdict.startswith("checkerboard score of the input gradients of Sequential: ")
    assert "CI" not in verdict and verdict.endswith(", flagged (threshold 12.0 dB)")
    assert rest == [f"note: {note}" for note in r.notes] and rest


def test_a_model_without_layers_has_no_table() -> None:
    r = audit(nn.Conv2d(3, 3, 3, padding=1), (3, 16, 16), seeds=2)
    assert layer_table(r).rows == () and layer_table(r).lines() == []
    assert str(r).splitlines() == summary_lines(r)
