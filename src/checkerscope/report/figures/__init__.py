"""The report's figures: one module per subject, one function per figure, numbers in, Figure out.

Each function takes numbers or tensors and returns a ``matplotlib.figure.Figure`` drawn without
pyplot's global state; none imports anything above the library (experiments, the report's
page builder, the CLI), so experiments, the report, the audit page and the CLI all call them.
Variants keep one colour everywhere (:mod:`palette`).
"""
