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
    and notes on how the model was searched (the parts ``torch.fx`` could not trace)."""

    converted: tuple[ConvertedLayer, ...]
    skipped: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = ()

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
        return "\n".join(lines)
