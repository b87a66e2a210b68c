"""The audit's HTML page: the figures of :mod:`figures.audit` and the overlap figures, inlined."""

from __future__ import annotations

import json
from typing import Any

from checkerscope.analysis import overlap
from checkerscope.auditing import AuditReport
from checkerscope.report.figures.audit import layer_scores_figure, samples_figure
from checkerscope.report.figures.overlap import overlap_figure
from checkerscope.report.html import png_data_uri, render

_OVERLAP_KINDS = {
    "conv_transpose": "",
    "strided_conv": " (its backward pass)",
    "pool": " (its backward pass)",
}


def _overlaps(report: AuditReport) -> list[dict[str, str]]:
    """One overlap figure per distinct (kernel, stride) of the deconvolutions and strided
    layers, drawn as the article draws them: 1-D counts and their 2-D outer product."""
    groups: dict[tuple[int, int], list[str]] = {}
    for layer in report.layers:
        if layer.kind in _OVERLAP_KINDS and layer.kernel_size and layer.stride:
            key = (layer.kernel_size[0], layer.stride[0])
            groups.setdefault(key, []).append(
                f"{layer.name or '<root>'}{_OVERLAP_KINDS[layer.kind]}"
            )
    items = []
    for (k, s), names in groups.items():
        title = f"kernel {k}, stride {s}: {', '.join(names)}"
        fig = overlap_figure(overlap((k, s), 6), overlap((k, s), (6, 6)), title)
        items.append({"title": title, "uri": png_data_uri(fig)})
    return items


def render_audit(report: AuditReport) -> str:
    """A self-contained HTML page of ``report``: verdict, samples, per-layer table, figures.

    Example:
        >>> from torch import nn
        >>> from checkerscope import audit
        >>> page = render_audit(audit(nn.Upsample(scale_factor=2), (1, 8, 8), seeds=2))
        >>> page.startswith("<!DOCTYPE html>")
        True
    """
    data: dict[str, Any] = report.to_dict()
    samples = {"original": report.samples}
    after = None
    if report.fix is not None:
        samples["fixed"] = report.fix.samples
        fixed_scores = {layer.name: layer.score for layer in report.fix.layers}
        after = [fixed_scores.get(layer.name) for layer in report.layers]
    context = {
        "report": data,
        "fixed": {} if data["fix"] is None else {row["name"]: row for row in data["fix"]["layers"]},
        "samples_uri": png_data_uri(samples_figure(samples)),
        "layers_uri": png_data_uri(
            layer_scores_figure(
                [layer.name for layer in report.layers],
                [layer.score for layer in report.layers],
                after,
            )
        )
        if report.layers
        else "",
        "overlaps": _overlaps(report),
        "report_json": json.dumps(data, indent=2),
    }
    return render("audit.html.j2", **context)
