"""Overlap, operators and scores: the article's arithmetic, pointed at any layer or model."""

from checkerscope.analysis.frequency import frequency_response, upsampler_response
from checkerscope.analysis.imbalance import PhaseImbalance, phase_imbalance
from checkerscope.analysis.loss import CheckerboardLoss, checkerboard_loss
from checkerscope.analysis.metrics import METRICS, Metric, get_metric
from checkerscope.analysis.operator import ParameterTying, operator_matrix, parameter_tying
from checkerscope.analysis.overlap_counts import (
    AxisOverlap,
    OverlapSummary,
    overlap,
    overlap_summary,
)
from checkerscope.analysis.replicas import ReplicaEnergy, replica_energy
from checkerscope.analysis.score import (
    Explanation,
    block_grid,
    checkerboard_map,
    checkerboard_score,
    explain_score,
    gradient_checkerboard,
    period_scores,
)
from checkerscope.analysis.signal_quality import log_spectral_distance, signal_to_distortion
from checkerscope.analysis.spectra import Spectrum, periodic_smooth, spectrum
from checkerscope.analysis.spectrograms import spectrogram
from checkerscope.analysis.tones import ToneScore, tone_score

__all__ = [
    "METRICS",
    "AxisOverlap",
    "CheckerboardLoss",
    "Explanation",
    "Metric",
    "OverlapSummary",
    "ParameterTying",
    "PhaseImbalance",
    "ReplicaEnergy",
    "Spectrum",
    "ToneScore",
    "block_grid",
    "checkerboard_loss",
    "checkerboard_map",
    "checkerboard_score",
    "explain_score",
    "frequency_response",
    "get_metric",
    "gradient_checkerboard",
    "log_spectral_distance",
    "operator_matrix",
    "overlap",
    "overlap_summary",
    "parameter_tying",
    "period_scores",
    "periodic_smooth",
    "phase_imbalance",
    "replica_energy",
    "signal_to_distortion",
    "spectrogram",
    "spectrum",
    "tone_score",
    "upsampler_response",
]
