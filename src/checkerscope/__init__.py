"""checkerscope: find, explain and remove checkerboard artifacts in neural networks."""

from checkerscope import analysis, nn
from checkerscope.analysis import (
    CheckerboardLoss,
    checkerboard_loss,
    checkerboard_map,
    checkerboard_score,
    frequency_response,
    gradient_checkerboard,
    operator_matrix,
    overlap,
    overlap_summary,
    parameter_tying,
    phase_imbalance,
    spectrum,
)
from checkerscope.auditing import AuditReport, audit
from checkerscope.conversion import convert

__version__ = "0.1.0"

__all__ = [
    "AuditReport",
    "CheckerboardLoss",
    "__version__",
    "analysis",
    "audit",
    "checkerboard_loss",
    "checkerboard_map",
    "checkerboard_score",
    "convert",
    "frequency_response",
    "gradient_checkerboard",
    "nn",
    "operator_matrix",
    "overlap",
    "overlap_summary",
    "parameter_tying",
    "phase_imbalance",
    "spectrum",
]
