"""Claims declared before a run and the rules that decide them (experiments/decision.py)."""

from __future__ import annotations

import pytest

from checkerscope.analysis.stats import confidence_interval
from checkerscope.experiments.decision import (
    MIN_SEEDS,
    Claim,
    Effect,
    EverySeed,
    Exact,
    Guard,
    ItemsPass,
    MeanInterval,
    decide,
    differences,
)

GAIN = Effect("gain", "dB")


def claim(rule=None, guards=(), **kw) -> Claim:
    return Claim("c", "The gain is positive.", GAIN, rule or MeanInterval(), guards, **kw)


def test_the_one_sided_95_bound_is_the_two_sided_90_interval_s_lower_end() -> None:
    values = [0.3, 1.9, 1.1, 2.4, 0.8]
    r = MeanInterval(level=0.95).apply(values)
    # An independent computation: analysis.stats' two-sided interval at 90% (its CONFIDENCE
    # is 95%, so rescale its half-width by the ratio of the t quantiles).
    from scipy import stats

    lo, hi = confidence_interval(values)
    half_90 = (hi - lo) / 2 * stats.t.ppf(0.95, 4) / stats.t.ppf(0.975, 4)
    assert r["lower_bound"] == pytest.approx((lo + hi) / 2 - half_90, rel=1e-12)
    assert r["passed"] is True
    assert MeanInterval(above=2.0).apply(values)["passed"] is False
    assert MeanInterval().apply([1.0])["passed"] is False  # one seed proves nothing


def test_every_seed_names_the_failing_seeds() -> None:
    r = EverySeed(above=1.0).apply([2.0, 1.0, 3.0, 0.5])
    assert r == {"min": 0.5, "failing_seeds": [1, 3], "passed": False}
    assert EverySeed().text(GAIN) == "the gain is above 0 dB in every seed"


def test_a_claim_holds_when_rule_and_guards_hold_with_enough_seeds() -> None:
    c = claim(EverySeed(), (Guard("quality ratio", at_most=2.0),))
    holds, ev = decide(
        c,
        "quick",
        per_seed=[1.0, 2.0, 3.0],
        seeds=[10, 20, 30],
        guards={"quality ratio": [1.5] * 3},
    )
    assert holds and ev["effect_size"] == 2.0
    assert ev["per_seed"] == {"effect": "gain", "unit": "dB", "seeds": [10, 20, 30],
                              "values": [1.0, 2.0, 3.0]}  # fmt: skip
    assert ev["rule"].startswith("the gain is above 0 dB in every seed; every seed has quality")
    # A guard broken in one seed breaks the claim, and says which seed.
    holds, ev = decide(
        c, "quick", per_seed=[1.0, 2.0, 3.0], guards={"quality ratio": [1.5, 2.5, 1.0]}
    )
    assert not holds and ev["rule_result"]["guards"]["quality ratio"]["failing_seeds"] == [1]


def test_too_few_seeds_never_hold_and_say_why() -> None:
    holds, ev = decide(claim(EverySeed()), "default", per_seed=[5.0, 6.0, 7.0])
    assert not holds and ev["seeds_enough"] is False
    assert ev["not_decided_because"] == (
        f"3 seeds, but the rule needs at least {MIN_SEEDS['default']} at scale 'default'"
    )
    lowered = claim(EverySeed(), min_seeds={"default": 3}, min_seeds_reason="expensive")
    assert decide(lowered, "default", per_seed=[5.0, 6.0, 7.0])[0]
    with pytest.raises(ValueError, match="min_seeds of claim 'c' must be >= 3"):
        claim(min_seeds={"quick": 2}, min_seeds_reason="x")
    with pytest.raises(ValueError, match="without a min_seeds_reason"):
        claim(min_seeds={"default": 3})


def test_every_setting_tried_must_hold() -> None:
    per_seed = {"small": [1.0, 1.2, 0.9], "large": [0.2, -0.4, 0.1]}
    holds, ev = decide(claim(), "quick", per_seed=per_seed)
    assert not holds
    assert ev["rule_result"]["small"]["passed"] and not ev["rule_result"]["large"]["passed"]
    assert ev["per_seed"]["settings"] == per_seed  # the failing setting is kept, not dropped
    assert "weakest of 2 settings: large" in ev["effect_size_name"]
    assert ev["effect_size"] == pytest.approx(-0.1 / 3)
    assert "in each of the 2 settings tried" in ev["rule"]


def test_exact_claims_decide_from_named_checks() -> None:
    c = Claim("e", "Counts.", Effect("ratio", ""), Exact())
    holds, ev = decide(c, "default", checks={"a": True, "b": False}, effect=2.0)
    assert not holds and ev["failed_checks"] == ["b"] and ev["effect_size"] == 2.0
    assert "min_seeds" not in c.declaration(None, "default")
    with pytest.raises(ValueError, match="checks of exact claim 'e' must name at least one"):
        decide(c, "quick", checks={}, effect=1.0)


def test_declarations_are_plain_data_with_the_rule_text() -> None:
    c = Claim(
        "d",
        lambda cfg: f"{cfg} steps make it.",
        GAIN,
        MeanInterval(above=1.5),
        (Guard("loss ratio", at_most=2.0),),
    )
    d = c.declaration(40, "quick")
    assert d["statement"] == "40 steps make it." and d["min_seeds"] == 3
    assert d["rule"] == {
        "kind": "mean_interval",
        "above": 1.5,
        "level": 0.95,
        "text": "the one-sided 95% Student-t interval of the mean gain over seeds lies above "
        "1.5 dB",
    }
    assert d["guards"] == [
        {"name": "loss ratio", "unit": "", "at_least": None, "at_most": 2.0,
         "text": "every seed has loss ratio at most 2"}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"per_seed": []}, "per_seed of claim 'c' must hold numbers"),
        ({"per_seed": {"a": [1.0] * 3, "b": [1.0] * 4}}, "as many seeds in every setting"),
        ({"per_seed": [1.0] * 3, "seeds": [1, 2]}, "seeds of claim 'c' must number 3, got 2"),
        ({"per_seed": [1.0] * 3, "guards": {"x": [1.0] * 3}}, r"guards of claim 'c' must be \[\]"),
    ],
)
def test_bad_hand_overs_name_the_claim(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        decide(claim(), "quick", **kwargs)


def test_guards_need_a_bound_and_differences_pair_seeds() -> None:
    with pytest.raises(ValueError, match="guard 'q' needs at_least or at_most"):
        Guard("q")
    assert differences([3.0, 1.0], [1.0, 1.5]) == [2.0, -0.5]
    with pytest.raises(ValueError, match="one value per seed each, got 2 and 1"):
        differences([1.0, 2.0], [1.0])


# --- claims over items (architectures), each with its own seeds --------------------------------


def items_claim(fraction: float = 0.5) -> Claim:
    return claim(ItemsPass(MeanInterval(12.0, level=0.975), fraction, "architectures"))


def test_an_items_rule_decides_each_item_and_counts_the_fraction() -> None:
    per_seed = {
        "a": [20.0, 21.0, 19.0],  # far above 12
        "b": [30.0, 10.0, 20.0],  # mean 20, but its interval reaches below 12
        "c": [1.0, 2.0, 3.0],
    }
    holds, ev = decide(items_claim(0.3), "quick", per_seed=per_seed)
    assert holds is True and ev["effect_size"] == pytest.approx(1 / 3)
    assert ev["items"] == {
        "passed_items": ["a"], "failed_items": ["b", "c"], "fraction": pytest.approx(1 / 3),
        "needed": 0.3, "passed": True,
    }  # fmt: skip
    assert (
        ev["effect_size_name"] == "fraction of the architectures that pass (1 of 3), 3 seeds each"
    )
    assert ev["per_seed"]["settings"] == per_seed
    assert [ev["rule_result"][k]["passed"] for k in "abc"] == [True, False, False]
    # The per-item rule is the lower end of the two-sided 95% interval (analysis.stats'):
    for name, values in per_seed.items():
        low = ev["rule_result"][name]["rule"]["lower_bound"]
        assert low == pytest.approx(confidence_interval(values)[0], rel=1e-12)
    assert ev["rule"] == (
        "for each architecture, the one-sided 97.5% Student-t interval of the mean gain over "
        "seeds lies above 12 dB; at least 30% of the architectures pass; at least 3 seeds"
    )
    assert decide(items_claim(0.5), "quick", per_seed=per_seed)[0] is False
    one_item = decide(items_claim(1.0), "quick", per_seed={"a": per_seed["a"]})
    assert one_item[0] is True and "settings" in one_item[1]["per_seed"]


def test_an_items_rule_needs_its_seeds_and_a_mapping() -> None:
    holds, ev = decide(items_claim(), "default", per_seed={"a": [20.0, 21.0, 19.0]})
    assert holds is False and "3 seeds, but the rule needs at least 5" in ev["not_decided_because"]
    with pytest.raises(ValueError, match="per_seed of claim 'c' must map each item to its"):
        decide(items_claim(), "quick", per_seed=[20.0, 21.0, 19.0])
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\], got 0"):
        ItemsPass(MeanInterval(), 0)
    with pytest.raises(ValueError, match="per_item must be a per-seed rule"):
        ItemsPass(Exact())
    declared = items_claim().declaration(None, "quick")
    assert declared["rule"]["kind"] == "items_pass" and declared["min_seeds"] == 3
    assert declared["rule"]["per_item"]["kind"] == "mean_interval"
