"""What :func:`checkerscope.convert` did: the layers it replaced, and the ones it left alone."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("transposed", "downsample", "subpixel")
"""What a :class:`ConvertedLayer` was: a ``ConvTranspose``, a strided convolution or pool, or a
convolution -> pixel shuffle pair."""


@dataclass(frozen=True)
class ConvertedLayer:
    """One replaced layer: its qualified name, both layers' reprs, the relative residual
    ``||A_new - A_old||_F / ||A_old||_F`` of the interior operators (see :func:`convert`; None
    for a downsampling layer, whose replacement adds a blur by design), and which of
    :data:`KINDS` it was. A sub-pixel pair is named by its convolution."""

    name: str
    original: str
    replacement: str
    residual: float | None
    kind: str = "transposed"


@dataclass(frozen=True)
class ConversionReport:
    """What :func:`convert` did: the layers it replaced and the ones it left alone, with why,
    and notes on how the model was searched (the parts ``torch.fx`` could not trace); with
    ``init="distill"``, what the distillation did (:class:`Distillation`)."""

    converted: tuple[ConvertedLayer, ...]
    skipped: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = ()
    distillation: Distillation | None = None

    def count(self, kind: str) -> int:
        """How many layers of one of :data:`KINDS` were converted.

        Example:
            >>> ConversionReport((ConvertedLayer("up", "a", "b", 0.5),), ()).count("transposed")
            1
        """
        return sum(c.kind == kind for c in self.converted)

    def __str__(self) -> str:
        lines = [f"converted {len(self.converted)} layer(s), skipped {len(self.skipped)}"]
        for c in self.converted:
            lines.append(f"  {c.name or '<root>'}: {c.original} -> {c.replacement}")
            if c.residual is not None:
                lines.append(f"    relative operator residual {c.residual:.4g}")
        for name, why in self.skipped:
            lines.append(f"  skipped {name or '<root>'}: {why}")
        lines.extend(f"  note: {note}" for note in self.notes)
        if self.distillation is not None:
            lines.extend(self.distillation.lines())
        return "\n".join(lines)


@dataclass(frozen=True)
class Distillation:
    """What ``convert(init="distill")`` did (:func:`checkerscope.conversion.distillation.distill`):
    its settings, the checkerboard score (dB, mean over the first batch of inputs) of the
    original's outputs, of the converted model's before training (the least-squares projection)
    and after, the PSNR (dB) of those two against the original's outputs, and the first and last
    training loss."""

    steps: int
    lr: float
    weight: float
    score_original: float
    score_start: float
    score_distilled: float
    psnr_start: float
    psnr_distilled: float
    loss_first: float
    loss_last: float

    def lines(self) -> list[str]:
        """The report's lines.

        Example:
            >>> Distillation(10, 1e-3, 1.0, 20.0, 15.0, 5.0, 20.0, 30.0, 2.0, 0.5).lines()[1]
            '  checkerboard score: original 20.0 dB, projected 15.0 dB, distilled 5.0 dB'
        """
        return [
            f"distilled {self.steps} steps (Adam, lr {self.lr:g}, checkerboard loss weight "
            f"{self.weight:g}; loss {self.loss_first:.4g} -> {self.loss_last:.4g})",
            f"  checkerboard score: original {self.score_original:.1f} dB, projected "
            f"{self.score_start:.1f} dB, distilled {self.score_distilled:.1f} dB",
            f"  PSNR against the original's outputs: projected {self.psnr_start:.1f} dB, "
            f"distilled {self.psnr_distilled:.1f} dB",
        ]
