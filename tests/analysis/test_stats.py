"""checkerscope.analysis.stats: the comparisons and intervals every decision rests on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from checkerscope.analysis.stats import compare, confidence_interval

samples = st.lists(
    st.floats(-100, 100, allow_nan=False, allow_infinity=False), min_size=3, max_size=30
)


@settings(max_examples=40, deadline=None)
@given(a=samples, b=samples)
def test_compare_agrees_with_scipy(a: list[float], b: list[float]) -> None:
    a_, b_ = np.asarray(a), np.asarray(b)
    if a_.std() == 0 or b_.std() == 0:
        return  # scipy's t-test is undefined for two constant samples
    c = compare(a, b)
    welch = stats.ttest_ind(a_, b_, equal_var=False, alternative="greater")
    assert c.welch_t == pytest.approx(float(welch.statistic), rel=1e-9, abs=1e-9)
    assert c.welch_p == pytest.approx(float(welch.pvalue), rel=1e-7, abs=1e-12)
    assert c.welch_df == pytest.approx(float(welch.df), rel=1e-9)
    u = stats.mannwhitneyu(a_, b_, alternative="greater")
    # The rank-biserial correlation from pair counting equals 2U/(n_a n_b) - 1.
    assert c.rank_biserial == pytest.approx(2 * float(u.statistic) / (len(a) * len(b)) - 1)
    pooled = math.sqrt(
        ((len(a) - 1) * a_.var(ddof=1) + (len(b) - 1) * b_.var(ddof=1)) / (len(a) + len(b) - 2)
    )
    assert c.cohens_d == pytest.approx((a_.mean() - b_.mean()) / pooled, rel=1e-9, abs=1e-9)


def test_compare_separated_groups_and_bad_input() -> None:
    c = compare(torch.arange(10.0) + 100, torch.arange(10.0))
    assert c.significant(1e-3) and c.rank_biserial == 1.0 and c.cohens_d > 10
    assert not compare(torch.arange(10.0), torch.arange(10.0) + 100).significant(0.5)
    with pytest.raises(ValueError, match="a must hold at least 2 finite numbers"):
        compare([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="b must hold"):
        compare([1.0, 2.0], [1.0, math.nan])


def test_confidence_interval_is_a_t_interval() -> None:
    lo, hi = confidence_interval([1.0, 2.0, 3.0])
    assert (lo + hi) / 2 == pytest.approx(2.0)
    assert (hi - lo) / 2 == pytest.approx(4.302652729911275 / math.sqrt(3))  # t(0.975, 2)
    assert all(math.isnan(c) for c in confidence_interval([5.0]))
