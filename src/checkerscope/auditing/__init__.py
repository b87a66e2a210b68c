"""Audit a model for checkerboard artifacts: how much, which layers make them, and the fix.

One concept a module: :mod:`~checkerscope.auditing.auditor` (:func:`audit`),
:mod:`~checkerscope.auditing.measure` (seeds, hooks, scores),
:mod:`~checkerscope.auditing.layers` (which layers to look at),
:mod:`~checkerscope.auditing.layer_maths` (a layer's analytic numbers),
:mod:`~checkerscope.auditing.fixes` (convert and anti-aliasing),
:mod:`~checkerscope.auditing.report` (the results and their JSON),
:mod:`~checkerscope.auditing.render` (their one text rendering) and
:mod:`~checkerscope.auditing.targets` (the command line's ``TARGET`` as a model).
"""

from checkerscope.auditing.auditor import audit
from checkerscope.auditing.layers import find_layers, layer_kind
from checkerscope.auditing.report import SCHEMA, AuditReport, Fix, LayerAudit
from checkerscope.auditing.targets import load_target

__all__ = [
    "SCHEMA",
    "AuditReport",
    "Fix",
    "LayerAudit",
    "audit",
    "find_layers",
    "layer_kind",
    "load_target",
]
