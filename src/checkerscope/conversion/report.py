"""What :func:`checkerscope.convert` did: the layers it replaced, and the ones it left alone."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConvertedLayer:
    """One replaced layer: its qualified name, both layers' reprs, and the relative residual
    ``||A_new - A_old||_F / ||A_old||_F`` of the interior operators (see :func:`convert`)."""

    name: str
    original: str
    replacement: str
    residual: float


@dataclass(frozen=True)
class ConversionReport:
    """What :func:`convert` did: the layers it replaced and the ones it left alone, with why."""

    converted: tuple[ConvertedLayer, ...]
    skipped: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        lines = [f"converted {len(self.converted)} layer(s), skipped {len(self.skipped)}"]
        for c in self.converted:
            lines.append(f"  {c.name or '<root>'}: {c.original} -> {c.replacement}")
            lines.append(f"    relative operator residual {c.residual:.4g}")
        for name, why in self.skipped:
            lines.append(f"  skipped {name or '<root>'}: {why}")
        return "\n".join(lines)
