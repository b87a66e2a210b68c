"""The statistics every decision of checkerscope rests on: group comparisons and intervals.

One home, so that the experiments, the audit and the report test, decide and describe alike:
:func:`compare` (two one-sided tests and two effect sizes), :meth:`Comparison.larger` (the one
decision rule: both tests significant at :data:`ALPHA` and a large effect) and
:func:`confidence_interval` (Student-t interval of a mean).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

ALPHA = 0.01
"""Significance level of every one-sided test (Welch's t and Mann-Whitney U must both pass)."""

LARGE_EFFECT = 0.8
"""Cohen's d that counts as a large effect (Cohen 1988)."""

MEDIUM_EFFECT = 0.5
"""Cohen's d that counts as a medium effect (Cohen 1988): "alike" means below it."""

CONFIDENCE = 0.95
"""Level of the two-sided Student-t confidence intervals."""


@dataclass(frozen=True)
class Comparison:
    """Is group ``a`` larger than group ``b``? Two one-sided tests and two effect sizes.

    * ``welch_t``, ``welch_df``, ``welch_p``: Welch's unequal-variance t-test of
      ``mean(a) > mean(b)`` (Welch-Satterthwaite degrees of freedom).
    * ``mannwhitney_u``, ``mannwhitney_p``: Mann-Whitney U of ``a`` (pairs a > b, ties count
      half) and its one-sided p-value (scipy's exact or asymptotic method, with ties corrected).
    * ``cohens_d``: ``(mean(a) - mean(b)) / pooled standard deviation``.
    * ``rank_biserial``: ``P(a > b) - P(a < b)`` over all pairs, in [-1, 1].
    """

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    welch_t: float
    welch_df: float
    welch_p: float
    mannwhitney_u: float
    mannwhitney_p: float
    cohens_d: float
    rank_biserial: float

    def significant(self, alpha: float = ALPHA) -> bool:
        """Both tests reject ``mean(a) <= mean(b)`` at level ``alpha``."""
        return self.welch_p < alpha and self.mannwhitney_p < alpha

    def larger(self, alpha: float = ALPHA, effect: float = LARGE_EFFECT) -> bool:
        """The decision rule: ``a`` is larger than ``b`` when both tests are significant at
        ``alpha`` and Cohen's d exceeds ``effect`` (a large effect by default).

        Example:
            >>> compare([5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 2.5]).larger(alpha=0.05)
            True
        """
        return self.significant(alpha) and self.cohens_d > effect

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _sample(name: str, x: Sequence[float] | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(x, dtype=torch.float64).flatten()
    if t.numel() < 2 or not torch.isfinite(t).all():
        raise ValueError(f"{name} must hold at least 2 finite numbers, got {t.tolist()!r:.80}")
    return t


def compare(a: Sequence[float] | torch.Tensor, b: Sequence[float] | torch.Tensor) -> Comparison:
    """Test whether ``a`` tends to be larger than ``b`` (independent samples, one-sided).

    Example:
        >>> c = compare([5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 2.5])
        >>> c.rank_biserial, c.welch_p < 0.01
        (1.0, True)
    """
    from scipy import stats

    a, b = _sample("a", a), _sample("b", b)
    na, nb = a.numel(), b.numel()
    va, vb = float(a.var()), float(b.var())
    diff = float(a.mean() - b.mean())
    se2 = va / na + vb / nb
    if se2 > 0:
        t = diff / math.sqrt(se2)
        df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
        p_welch = float(stats.t.sf(t, df))
    else:  # two constant samples: the difference is certain
        t, df = math.copysign(math.inf, diff) if diff else 0.0, float(na + nb - 2)
        p_welch = 0.0 if diff > 0 else 1.0
    pooled = math.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    d = diff / pooled if pooled > 0 else math.copysign(math.inf, diff) if diff else 0.0
    greater = (a[:, None] > b[None, :]).double().mean()
    less = (a[:, None] < b[None, :]).double().mean()
    mw = stats.mannwhitneyu(a.numpy(), b.numpy(), alternative="greater")
    return Comparison(
        n_a=na,
        n_b=nb,
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        welch_t=t,
        welch_df=df,
        welch_p=p_welch,
        mannwhitney_u=float(mw.statistic),
        mannwhitney_p=float(mw.pvalue),
        cohens_d=d,
        rank_biserial=float(greater - less),
    )


def confidence_interval(values: Sequence[float]) -> tuple[float, float]:
    """Two-sided :data:`CONFIDENCE` Student-t interval of the mean of ``values``.

    ``mean +- t(0.975, n-1) * sd / sqrt(n)``; ``(nan, nan)`` for fewer than two values.

    Example:
        >>> lo, hi = confidence_interval([1.0, 2.0, 3.0])
        >>> round(lo, 3), round(hi, 3)
        (-0.484, 4.484)
    """
    from scipy import stats

    n = len(values)
    if n < 2:
        return (math.nan, math.nan)
    x = torch.tensor(values, dtype=torch.float64)
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * float(x.std()) / math.sqrt(n)
    mean = float(x.mean())
    return (mean - half, mean + half)
