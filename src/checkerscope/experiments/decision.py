"""Claims, declared before a run, and the rules that decide them from per-seed numbers.

An experiment declares each of its claims once, as data: what is claimed, which effect is
measured (one number per seed, named, with its unit), the rule that decides it and any per-seed
guards. The runner writes every declaration into ``results.json`` before any experiment runs;
the experiment later hands over its per-seed numbers and the runner applies the declared rule
(:func:`decide`). Experiments never decide their own claims.

Rules:

* :class:`EverySeed`: the effect is above a bound in every seed;
* :class:`MeanInterval`: the one-sided Student-t interval of the mean effect over seeds lies
  above a bound ("excludes no effect" for the bound 0);
* :class:`Exact`: every named exact check holds (counts, brute force): no seeds, no statistics;
* :class:`ItemsPass`: a claim over several items (architectures, ...), each with its own seeds:
  another rule decides each item from its per-seed values, and the claim holds when at least a
  declared fraction of the items pass (unlike settings, where every one must).

A statistical claim needs at least :data:`MIN_SEEDS` seeds at each scale (a claim may ask for
more, or, with a stated reason, for fewer but never under :data:`SEED_FLOOR`); decided with
fewer, it does not hold. When an experiment tries several settings (``per_seed`` maps a setting
to its seeds' numbers), the rule is applied to each, and the claim holds only if it holds in
every setting tried: a setting is never dropped because it fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from checkerscope.files import plain_json

MIN_SEEDS = {"quick": 3, "default": 5, "full": 5}
"""Fewest independent seeds that decide a statistical claim at each scale."""
SEED_FLOOR = 3
"""No claim may lower its minimum below this many seeds, whatever its reason."""


@dataclass(frozen=True)
class Effect:
    """The effect a claim measures: one number per seed, its ``name`` and ``unit``.

    Example:
        >>> Effect("score difference, deconv - resize-conv", "dB").label
        'score difference, deconv - resize-conv (dB)'
    """

    name: str
    unit: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit else self.name


def _bound(value: float, unit: str) -> str:
    return f"{value:g} {unit}".strip()


@dataclass(frozen=True)
class Rule:
    """How per-seed effects decide a claim; subclasses define ``text`` and ``apply``."""

    kind: ClassVar[str] = "rule"
    statistical: ClassVar[bool] = True

    def text(self, effect: Effect) -> str:
        raise NotImplementedError

    def apply(self, values: Sequence[float]) -> dict[str, Any]:
        """The rule's numbers for one setting's per-seed ``values``, with ``"passed"``."""
        raise NotImplementedError

    def as_dict(self, effect: Effect) -> dict[str, Any]:
        params = {k: v for k, v in vars(self).items()}
        return {"kind": self.kind, **params, "text": self.text(effect)}


@dataclass(frozen=True)
class EverySeed(Rule):
    """The effect is above ``above`` in every seed.

    Example:
        >>> EverySeed().apply([0.5, 2.0, 1.0])["passed"]
        True
        >>> EverySeed(1.0).text(Effect("gain", "dB"))
        'the gain is above 1 dB in every seed'
    """

    above: float = 0.0
    kind: ClassVar[str] = "every_seed"

    def text(self, effect: Effect) -> str:
        return f"the {effect.name} is above {_bound(self.above, effect.unit)} in every seed"

    def apply(self, values: Sequence[float]) -> dict[str, Any]:
        low = min(values)
        failing = [i for i, x in enumerate(values) if not x > self.above]
        return {"min": low, "failing_seeds": failing, "passed": not failing}


@dataclass(frozen=True)
class MeanInterval(Rule):
    """The one-sided ``level`` Student-t interval of the mean over seeds lies above ``above``:
    ``mean - t(level, n - 1) * sd / sqrt(n) > above``.

    Example:
        >>> r = MeanInterval().apply([1.0, 2.0, 3.0])
        >>> round(r["lower_bound"], 3), r["passed"]
        (0.314, True)
    """

    above: float = 0.0
    level: float = 0.95
    kind: ClassVar[str] = "mean_interval"

    def text(self, effect: Effect) -> str:
        return (
            f"the one-sided {self.level * 100:g}% Student-t interval of the mean {effect.name} "
            f"over seeds lies above {_bound(self.above, effect.unit)}"
        )

    def apply(self, values: Sequence[float]) -> dict[str, Any]:
        from scipy import stats

        n = len(values)
        mean = sum(values) / n
        if n < 2:
            return {"mean": mean, "sd": math.nan, "lower_bound": -math.inf, "passed": False}
        sd = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1))
        lower = mean - float(stats.t.ppf(self.level, n - 1)) * sd / math.sqrt(n)
        return {"mean": mean, "sd": sd, "lower_bound": lower, "passed": lower > self.above}


@dataclass(frozen=True)
class Exact(Rule):
    """Every named exact check holds (counts, brute force, float64 sums): no seeds involved.

    Example:
        >>> Exact().text(Effect("max/min overlap", ""))
        'every exact check holds'
    """

    kind: ClassVar[str] = "exact"
    statistical: ClassVar[bool] = False

    def text(self, effect: Effect) -> str:
        return "every exact check holds"

    def apply(self, values: Sequence[float]) -> dict[str, Any]:
        raise ValueError("an exact rule decides from checks, not from per-seed values")


@dataclass(frozen=True)
class ItemsPass(Rule):
    """Each item is decided by ``per_item`` from its own per-seed values; the claim holds when
    at least ``fraction`` of the items pass. ``items`` names them in the rule's text.

    Example:
        >>> rule = ItemsPass(EverySeed(12.0), 0.5, "architectures")
        >>> for part in rule.text(Effect("score", "dB")).split("; "):
        ...     print(part)
        for each architecture, the score is above 12 dB in every seed
        at least 50% of the architectures pass
        >>> rule.combine({"a": True, "b": False, "c": True})["fraction"]
        0.6666666666666666
    """

    per_item: Rule = field(default_factory=MeanInterval)
    fraction: float = 0.5
    items: str = "items"
    kind: ClassVar[str] = "items_pass"

    def __post_init__(self) -> None:
        if isinstance(self.per_item, ItemsPass) or not self.per_item.statistical:
            raise ValueError(f"per_item must be a per-seed rule, got {self.per_item!r}")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction!r}")

    def text(self, effect: Effect) -> str:
        return (
            f"for each {self.items.removesuffix('s')}, {self.per_item.text(effect)}; at least "
            f"{self.fraction:.0%} of the {self.items} pass"
        )

    def apply(self, values: Sequence[float]) -> dict[str, Any]:
        raise ValueError("an items rule decides from per_seed values per item, not one list")

    def combine(self, passed: Mapping[str, bool]) -> dict[str, Any]:
        """The items' verdicts (item -> passed) combined: the fraction passing and the verdict."""
        ok = [name for name, p in passed.items() if p]
        fraction = len(ok) / len(passed)
        return {
            "passed_items": ok,
            "failed_items": [name for name, p in passed.items() if not p],
            "fraction": fraction,
            "needed": self.fraction,
            "passed": fraction >= self.fraction,
        }

    def as_dict(self, effect: Effect) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "per_item": self.per_item.as_dict(effect),
            "fraction": self.fraction,
            "items": self.items,
            "text": self.text(effect),
        }


@dataclass(frozen=True)
class Guard:
    """A condition every seed must meet besides the effect (quality within a factor, ...).

    Example:
        >>> g = Guard("KID ratio", at_most=2.0)
        >>> g.text(), g.apply([1.2, 2.5])["failing_seeds"]
        ('every seed has KID ratio at most 2', [1])
    """

    name: str
    unit: str = ""
    at_least: float | None = None
    at_most: float | None = None

    def __post_init__(self) -> None:
        if self.at_least is None and self.at_most is None:
            raise ValueError(f"guard {self.name!r} needs at_least or at_most, got neither")

    def text(self) -> str:
        parts = []
        if self.at_least is not None:
            parts.append(f"at least {_bound(self.at_least, self.unit)}")
        if self.at_most is not None:
            parts.append(f"at most {_bound(self.at_most, self.unit)}")
        return f"every seed has {self.name} {' and '.join(parts)}"

    def ok(self, x: float) -> bool:
        low = self.at_least is None or x >= self.at_least
        return low and (self.at_most is None or x <= self.at_most)

    def apply(self, values: Sequence[float]) -> dict[str, Any]:
        failing = [i for i, x in enumerate(values) if not self.ok(x)]
        return {"values": list(values), "failing_seeds": failing, "passed": not failing}


@dataclass(frozen=True)
class Claim:
    """One claim of the study, declared before the run.

    * ``statement``: what is claimed, or a function of the experiment's config returning it;
    * ``effect``: the per-seed number the rule reads; ``rule``: what decides;
    * ``guards``: conditions on other per-seed numbers (each must hold in every seed);
    * ``min_seeds``: per-scale minimum seeds replacing :data:`MIN_SEEDS` (never below
      :data:`SEED_FLOOR`), with ``min_seeds_reason`` saying why; both are written out.

    Example:
        >>> c = Claim("x_larger", "x is larger.", Effect("x - y", "dB"), MeanInterval())
        >>> c.declaration(None, "quick")["rule"]["text"]
        'the one-sided 95% Student-t interval of the mean x - y over seeds lies above 0 dB'
    """

    id: str
    statement: str | Callable[[Any], str]
    effect: Effect
    rule: Rule
    guards: tuple[Guard, ...] = ()
    min_seeds: Mapping[str, int] = field(default_factory=dict)
    min_seeds_reason: str = ""

    def __post_init__(self) -> None:
        low = {s: n for s, n in self.min_seeds.items() if n < SEED_FLOOR}
        if low:
            raise ValueError(f"min_seeds of claim {self.id!r} must be >= {SEED_FLOOR}, got {low}")
        if self.min_seeds and not self.min_seeds_reason:
            raise ValueError(f"claim {self.id!r} changes min_seeds without a min_seeds_reason")

    def seeds_needed(self, scale: str) -> int:
        return self.min_seeds.get(scale, MIN_SEEDS[scale]) if self.rule.statistical else 0

    def declaration(self, config: Any, scale: str) -> dict[str, Any]:
        """The claim as written into results.json before the run (plain JSON)."""
        statement = self.statement(config) if callable(self.statement) else self.statement
        out: dict[str, Any] = {
            "statement": statement,
            "effect": {"name": self.effect.name, "unit": self.effect.unit},
            "rule": self.rule.as_dict(self.effect),
            "guards": [{**vars(g), "text": g.text()} for g in self.guards],
        }
        if self.rule.statistical:
            out["min_seeds"] = self.seeds_needed(scale)
            if self.min_seeds:
                out["min_seeds_reason"] = self.min_seeds_reason
        return plain_json(out)


Values = Sequence[float] | Mapping[str, Sequence[float]]


def differences(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Seed-by-seed ``a - b`` (paired: the same seeds, in the same order).

    Example:
        >>> differences([3.0, 5.0], [1.0, 1.5])
        [2.0, 3.5]
    """
    if len(a) != len(b):
        raise ValueError(f"a and b must have one value per seed each, got {len(a)} and {len(b)}")
    return [float(x) - float(y) for x, y in zip(a, b, strict=True)]


def _by_setting(name: str, values: Values | None) -> dict[str, list[float]]:
    if values is None:
        return {}
    if isinstance(values, Mapping):
        return {str(k): [float(x) for x in v] for k, v in values.items()}
    return {"": [float(x) for x in values]}


def decide(
    claim: Claim,
    scale: str,
    *,
    per_seed: Values | None = None,
    seeds: Sequence[int] | None = None,
    guards: Mapping[str, Values] | None = None,
    checks: Mapping[str, bool] | None = None,
    effect: float | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Apply ``claim``'s rule; return (holds, the evidence the runner records).

    Statistical rules read ``per_seed``: one effect per seed in ``seeds`` order, or a mapping
    setting -> such a list (every setting must pass); an :class:`ItemsPass` rule reads a
    mapping item -> such a list and decides each item by its ``per_item`` rule (the evidence
    then holds ``"items"``: which passed, the fraction, the fraction needed). ``guards`` maps
    each declared guard's name to its per-seed numbers, shaped like ``per_seed``.
    :class:`Exact` reads ``checks`` (name -> bool) and reports ``effect``.

    Example:
        >>> c = Claim("c", "s", Effect("d", "dB"), EverySeed(), (Guard("q", at_most=2.0),))
        >>> holds, ev = decide(c, "quick", per_seed=[1.0, 2.0, 3.0], guards={"q": [1.0] * 3})
        >>> holds, ev["effect_size"], ev["per_seed"]["values"]
        (True, 2.0, [1.0, 2.0, 3.0])
    """
    if not claim.rule.statistical:
        return _decide_exact(claim, checks, effect)
    items = claim.rule if isinstance(claim.rule, ItemsPass) else None
    if items is not None and not isinstance(per_seed, Mapping):
        raise ValueError(
            f"per_seed of claim {claim.id!r} must map each item to its per-seed values, "
            f"got {type(per_seed).__name__}"
        )
    each = claim.rule if items is None else items.per_item
    settings = _by_setting("per_seed", per_seed)
    if not settings or any(not v for v in settings.values()):
        raise ValueError(f"per_seed of claim {claim.id!r} must hold numbers, got {per_seed!r}")
    n = {len(v) for v in settings.values()}
    if len(n) != 1:
        raise ValueError(f"per_seed of claim {claim.id!r} must have as many seeds in every setting")
    (count,) = n
    seed_ids = list(seeds) if seeds is not None else list(range(count))
    if len(seed_ids) != count:
        raise ValueError(f"seeds of claim {claim.id!r} must number {count}, got {len(seed_ids)}")
    guard_values = {name: _by_setting(name, v) for name, v in (guards or {}).items()}
    declared = {g.name for g in claim.guards}
    if set(guard_values) != declared:
        raise ValueError(
            f"guards of claim {claim.id!r} must be {sorted(declared)}, got {sorted(guard_values)}"
        )
    for name, by_setting in guard_values.items():
        if set(by_setting) != set(settings) or any(len(v) != count for v in by_setting.values()):
            raise ValueError(f"guard {name!r} of claim {claim.id!r} must match per_seed's shape")

    needed = claim.seeds_needed(scale)
    results: dict[str, dict[str, Any]] = {}
    for setting, values in settings.items():
        outcome = each.apply(values)
        guard_outcomes = {g.name: g.apply(guard_values[g.name][setting]) for g in claim.guards}
        passed = outcome["passed"] and all(g["passed"] for g in guard_outcomes.values())
        results[setting] = {
            "values": values,
            "mean": sum(values) / count,
            "rule": outcome,
            "guards": guard_outcomes,
            "passed": passed,
        }
    enough = count >= needed
    verdicts = {s: bool(r["passed"]) for s, r in results.items()}
    combined = {"passed": all(verdicts.values())} if items is None else items.combine(verdicts)
    holds = enough and combined["passed"]
    weakest = min(results, key=lambda s: results[s]["mean"])
    several = len(results) > 1 or items is not None
    if items is not None:
        effect_size = combined["fraction"]
        effect_name = (
            f"fraction of the {items.items} that pass ({len(combined['passed_items'])} "
            f"of {len(results)}), {count} seeds each"
        )
    else:
        effect_size = results[weakest]["mean"]
        effect_name = f"{claim.effect.label}, mean of {count} seeds" + (
            f" (weakest of {len(results)} settings: {weakest})" if several else ""
        )
    evidence: dict[str, Any] = {
        "effect_size": effect_size,
        "effect_size_name": effect_name,
        "rule": claim.rule.text(claim.effect)
        + (
            f", in each of the {len(results)} settings tried"
            if len(results) > 1 and not items
            else ""
        )
        + "".join(f"; {g.text()}" for g in claim.guards)
        + f"; at least {needed} seeds",
        "seeds_enough": enough,
        "per_seed": {
            "effect": claim.effect.name,
            "unit": claim.effect.unit,
            "seeds": seed_ids,
            **(
                {"settings": {s: r["values"] for s, r in results.items()}}
                if several
                else {"values": results[weakest]["values"]}
            ),
        },
        "rule_result": (
            {s: _without_values(r) for s, r in results.items()}
            if several
            else _without_values(results[weakest])
        ),
    }
    if items is not None:
        evidence["items"] = combined
    if not enough:
        evidence["not_decided_because"] = (
            f"{count} seeds, but the rule needs at least {needed} at scale {scale!r}"
        )
    return holds, plain_json(evidence)


def _without_values(result: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "values"}


def _decide_exact(
    claim: Claim, checks: Mapping[str, bool] | None, effect: float | None
) -> tuple[bool, dict[str, Any]]:
    if not checks:
        raise ValueError(f"checks of exact claim {claim.id!r} must name at least one check")
    if effect is None:
        raise ValueError(f"effect of exact claim {claim.id!r} must be a number, got None")
    verdicts = {name: bool(ok) for name, ok in checks.items()}
    evidence = {
        "effect_size": float(effect),
        "effect_size_name": claim.effect.label,
        "rule": claim.rule.text(claim.effect),
        "checks": verdicts,
        "failed_checks": [name for name, ok in verdicts.items() if not ok],
    }
    return all(verdicts.values()), plain_json(evidence)
