"""A zoo of well-known generators, decoders and vocoders, built from code at random init.

Each is faithful to its publication and reference implementation in what decides its
checkerboards (the resampling layers' kind, kernel, stride, padding, output padding, the order
of conv and pixel shuffle, interpolation modes, and the normalisation and activations around
them), with small default widths so that each runs in well under a second on a CPU.
:data:`ARCHITECTURES` names them, :func:`build` builds one, and :func:`survey` audits them all
with :func:`checkerscope.audit`, before and after :func:`checkerscope.convert`.
"""

from checkerscope.zoo.registry import ARCHITECTURES, Architecture, architecture, build
from checkerscope.zoo.surveying import SurveyRow, survey, survey_markdown, survey_row

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "SurveyRow",
    "architecture",
    "build",
    "survey",
    "survey_markdown",
    "survey_row",
]
