"""The article's fixes, as the audit applies them, all through :func:`checkerscope.convert`:
resize-convolutions for transposed convolutions (Odena et al. 2016) and ICNR for sub-pixel
pairs (Aitken et al. 2017) for a model's outputs; anti-aliased downsampling (Zhang 2019) for the
strided convolutions and pools that put a checkerboard into the gradients it sends back."""

from __future__ import annotations

import warnings

from torch import nn

from checkerscope.auditing.subpixel import join_subpixel_pairs
from checkerscope.conversion import ConversionReport, convert


def _convert(
    model: nn.Module, **options: object
) -> tuple[nn.Module | None, ConversionReport | str]:
    """``convert(model, return_report=True, **options)`` without its warnings, or (None, why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return convert(model, return_report=True, **options)
    except ValueError as err:
        return None, f"convert() cannot fix this model: {err}"


def _downsampling_notes(model: nn.Module, report: ConversionReport) -> list[str]:
    notes = []
    for name, why in report.skipped:
        m = model.get_submodule(name)
        if hasattr(m, "stride"):
            what = f"strided layer {name} ({type(m).__name__}, stride {m.stride})"
        else:
            what = f"{name or '<root>'} ({type(m).__name__})"
        notes.append(f"left {what} as it is: {why}")
    return notes


def fixed_model(
    model: nn.Module, mode: str, trained: bool
) -> tuple[nn.Module | None, str, tuple[str, ...], list[str]]:
    """The fix the audit measures for ``model``: ``(fixed copy or None, description, replaced
    names, notes)``. ``model`` is never changed; where there is nothing to fix, the copy is
    None and the notes say why.

    * ``mode="outputs"``: ``convert(model, init=..., subpixel="icnr")`` with ``init="project"``
      when ``trained`` (so the trained weights carry over), else ``"fresh"``; its sub-pixel
      pairs are joined (:func:`~checkerscope.auditing.subpixel.join_subpixel_pairs`): their
      phases are tied, so the audit's re-initialization draws them by ICNR, as the fix says.
    * ``mode="gradients"``: ``convert(model, transposed=False, downsample=True)``: strided
      convolutions and pools anti-aliased, weights kept.

    Example:
        >>> g = nn.Sequential(nn.ConvTranspose2d(4, 4, 4, 2, 1))
        >>> fixed, what, replaced, notes = fixed_model(g, "outputs", trained=False)
        >>> what, replaced, notes
        ("convert(model, init='fresh'): 1 ConvTranspose -> ResizeConv (nearest)", ('0',), [])
    """
    if mode == "gradients":
        fixed, report = _convert(model, transposed=False, downsample=True)
        if fixed is None:
            return None, "", (), [report]
        notes = _downsampling_notes(model, report)
        if not report.converted:
            notes.append(
                "no strided Conv1d/2d, MaxPool1d/2d or AvgPool1d/2d to swap for anti-aliased "
                "downsampling"
            )
            return None, "", (), notes
        what = (
            f"convert(model, transposed=False, downsample=True): {len(report.converted)} "
            f"strided layer(s) -> AntiAliasedConv, MaxBlurPool or BlurredAvgPool (blur-pool, "
            f"Zhang 2019)"
        )
        return fixed, what, tuple(c.name for c in report.converted), notes
    init = "project" if trained else "fresh"
    fixed, report = _convert(model, init=init, subpixel="icnr")
    if fixed is None:
        return None, "", (), [report]
    if not report.converted:
        return (
            None,
            "",
            (),
            [
                "convert() found no strided ConvTranspose layer or convolution -> pixel shuffle "
                "pair to replace"
            ],
        )
    parts, call = [], f"init={init!r}"
    if report.count("transposed"):
        parts.append(f"{report.count('transposed')} ConvTranspose -> ResizeConv (nearest)")
    if report.count("subpixel"):
        parts.append(f"{report.count('subpixel')} sub-pixel pair(s) -> ICNR")
        call += ", subpixel='icnr'"
    what = f"convert(model, {call}): {', '.join(parts)}"
    return join_subpixel_pairs(fixed)[0], what, tuple(c.name for c in report.converted), []
