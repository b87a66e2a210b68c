"""Write README.md's generated blocks from committed inputs, so no number in it is typed by hand.

A generated block is everything between a line ``<!-- generated:NAME -->`` and a line
``<!-- /generated:NAME -->``. Its content comes from ``docs/generated/``:

* ``claims``, ``timings`` and ``screenshot``: from ``docs/generated/results.json``, a digest of a
  ``checkerscope reproduce`` run (claims with their evidence, per-experiment times and budgets,
  the environment) that ``--results RUN/results.json`` writes, with the SHA-256 of the run's
  file and its command line;
* a block an experiment writes itself: an experiment's numbers may hold ``readme_markdown``
  (block name -> markdown, e.g. the ``architectures`` experiment's table); the digest keeps it,
  so the block comes from the same run as the claims;
* any other ``NAME``: ``docs/generated/NAME.md`` as it is, written by a benchmark or experiment
  script's ``--markdown FILE`` (for example ``python benchmarks/busy_neighbour.py --markdown
  docs/generated/busy_neighbour.md``).

Every block starts with a comment naming its source (file and SHA-256), so a reader can tell
which run a number came from. Usage::

    python tools/readme.py --results runs/demo/results.json   # take a new run, rewrite README
    python tools/readme.py                                   # rewrite README from docs/generated
    python tools/readme.py --check                           # exit 1 if README is stale

``tests/test_readme.py`` runs the check, so README cannot drift from its inputs.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
INPUTS = ROOT / "docs" / "generated"
DIGEST = "results.json"
SCREENSHOT = "docs/report-screenshot.png"
"""Written by ``checkerscope report RUN --screenshot docs/report-screenshot.png``."""
BLOCK = re.compile(
    r"^<!-- generated:(?P<name>[\w-]+) -->\n(?P<body>.*?)^<!-- /generated:(?P=name) -->$",
    re.S | re.M,
)
OPENING = re.compile(r"^<!-- generated:([\w-]+) -->$", re.M)
ADDED_TO = ("resumed", "merged")
"""Times a run records when it was resumed or added to (``--only``): its results come from
several invocations, named in the provenance; its overall wall time is not shown."""
MARKDOWN = "readme_markdown"
"""Key of an experiment's numbers holding README blocks it writes: block name -> markdown."""
SHOWN_SEEDS = 8
"""Per-seed values listed in the claims table; with more seeds it gives their range."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(results: Mapping[str, Any], source: bytes, path: str) -> dict[str, Any]:
    """What README needs of a run's results.json: claims, per-experiment times, environment.

    Example:
        >>> d = digest({"claims": [], "experiments": {}, "environment": {}}, b"{}", "r.json")
        >>> d["source"]["sha256"][:12]
        '44136fa355b3'
    """
    keep = ("title", "seconds", "cpu_seconds", "budget_seconds", "seeds", "claims", MARKDOWN)
    return {
        "source": {"file": path, "sha256": sha256(source)},
        "claims": list(results.get("claims") or []),
        "experiments": {
            name: {k: entry.get(k) for k in keep if k in entry}
            for name, entry in (results.get("experiments") or {}).items()
        },
        "environment": dict(results.get("environment") or {}),
    }


def number(x: Any) -> str:
    """A number as the README shows it: 3 significant digits, integers whole."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        return f"{x:.3g}"
    return str(x)


def per_seed_text(evidence: Mapping[str, Any]) -> str:
    """The per-seed effects of a claim, compactly: all of them, or their range when many."""
    per = evidence.get("per_seed")
    if not isinstance(per, Mapping):
        return "exact" if "checks" in evidence else "—"
    settings = per.get("settings") or {"": per.get("values") or []}
    parts = []
    for name, values in settings.items():
        if len(values) <= SHOWN_SEEDS:
            text = ", ".join(number(v) for v in values)
        else:
            text = f"{len(values)} seeds, {number(min(values))} to {number(max(values))}"
        parts.append(f"{name}: {text}" if name else text)
    return "; ".join(parts)


def why_not(evidence: Mapping[str, Any]) -> str:
    """What made a claim fail: the settings that failed, the broken guards, too few seeds."""
    if evidence.get("not_decided_because"):
        return str(evidence["not_decided_because"])
    if evidence.get("failed_checks"):
        return "failed checks: " + ", ".join(evidence["failed_checks"])
    items = evidence.get("items")
    if isinstance(items, Mapping):
        passed, failed = items.get("passed_items") or [], items.get("failed_items") or []
        needed = items.get("needed")
        share = f"{100 * needed:g}%" if isinstance(needed, int | float) else "the share"
        return (
            f"{len(passed)} of {len(passed) + len(failed)} pass, fewer than {share}; "
            f"failing: {', '.join(failed)}"
        )
    result = evidence.get("rule_result") or {}
    several = isinstance(evidence.get("per_seed"), Mapping) and "settings" in evidence["per_seed"]
    outcomes = result if several else {"": result}
    reasons = []
    for name, outcome in outcomes.items():
        if not isinstance(outcome, Mapping) or outcome.get("passed"):
            continue
        broken = [g for g, r in (outcome.get("guards") or {}).items() if not r.get("passed")]
        rule_failed = not (outcome.get("rule") or {}).get("passed", True)
        what = (["the rule"] if rule_failed else []) + [f"guard '{g}'" for g in broken]
        reasons.append((f"{name}: " if name else "") + " and ".join(what) + " failed")
    if several:
        held = [n for n, o in outcomes.items() if isinstance(o, Mapping) and o.get("passed")]
        reasons.append(f"holds only at {', '.join(held)}" if held else "holds in no setting")
    return "; ".join(reasons)


def verdict(claim: Mapping[str, Any]) -> str:
    if claim.get("holds") is None:
        return "not decided"
    if claim["holds"]:
        return "holds"
    reason = why_not(claim.get("evidence") or {})
    return "**does not hold**" + (f" ({reason})" if reason else "")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def provenance(d: Mapping[str, Any]) -> str:
    env = d.get("environment") or {}
    command = " ".join(env.get("command") or []) or "checkerscope reproduce"
    version = (env.get("versions") or {}).get("checkerscope", "?")
    time = env.get("time") or {}
    later = "".join(f", {key} {time[key]}" for key in ADDED_TO if time.get(key))
    return (
        f"<!-- source: docs/generated/{DIGEST} (sha256 {d['source']['sha256'][:16]} of "
        f"{d['source']['file']}): `{command}`, checkerscope {version}, started "
        f"{time.get('started', '?')}{later}. Regenerate with `python tools/readme.py`. -->"
    )


def claims_block(d: Mapping[str, Any]) -> str:
    """The README's claims table: verdict, effect (mean over seeds), per-seed effects, rule."""
    env = d.get("environment") or {}
    claims = d.get("claims") or []
    held = sum(c.get("holds") is True for c in claims)
    lines = [
        provenance(d),
        "",
        f"{held} of {len(claims)} claims hold at scale `{env.get('scale', '?')}` "
        f"(base seed {(env.get('seeds') or {}).get('base', '?')}). Each statistical claim is "
        "decided over seeds by the rule it declared before the run; exact claims by their named "
        "checks.",
        "",
        "| claim | verdict | effect size | per seed | rule |",
        "|---|---|---|---|---|",
    ]
    for c in claims:
        e = c.get("evidence") or {}
        effect = (
            f"{number(e['effect_size'])}: {e.get('effect_size_name', '')}"
            if isinstance(e.get("effect_size"), int | float)
            else "—"
        )
        rule = e.get("rule") or (c.get("rule") or {}).get("text") or "—"
        row = [f"`{c['id']}`", verdict(c), effect, per_seed_text(e), rule]
        lines.append("| " + " | ".join(cell(x) for x in row) + " |")
    return "\n".join(lines) + "\n"


def timings_block(d: Mapping[str, Any]) -> str:
    """Per-experiment wall time against its budget, and where the run ran."""
    from datetime import datetime

    env = d.get("environment") or {}
    time = env.get("time") or {}
    try:
        wall = (
            datetime.fromisoformat(time["finished"]) - datetime.fromisoformat(time["started"])
        ).total_seconds()
    except (KeyError, TypeError, ValueError):
        wall = None
    overall = f"wall time {number(wall)} s"
    if any(time.get(key) for key in ADDED_TO):  # its span includes the pause between them
        overall = "results from several invocations (see above), so no overall wall time"
    threads = env.get("threads") or {}
    lines = [
        provenance(d),
        "",
        f"Scale `{env.get('scale', '?')}` on {env.get('cpus', '?')} CPUs, jobs (worker "
        f"processes): {env.get('jobs', '?')}, torch threads per task: "
        f"{threads.get('torch_per_task', '?')}; load average at start "
        f"{number((env.get('load_average_at_start') or [None])[0])}; {overall}. On a busy "
        "machine wall time says little; CPU time (this process "
        "and its workers) hardly changes, and two idle cores take about half of it.",
        "",
        "| experiment | wall (s) | CPU (s) | budget (wall s, 2 idle cores) | seeds |",
        "|---|---|---|---|---|",
    ]
    for name, e in (d.get("experiments") or {}).items():
        seeds = e.get("seeds") or []
        row = [f"`{name}`", number(e.get("seconds")), number(e.get("cpu_seconds")),
               number(e.get("budget_seconds")), str(len(seeds)) if seeds else "—"]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def screenshot_block(d: Mapping[str, Any]) -> str:
    """The report's screenshot, said to come from the run of the digest."""
    env = d.get("environment") or {}
    return (
        f"{provenance(d)}\n\n![The top of the reproduction report written by `checkerscope "
        f"reproduce` for the committed `{env.get('scale', '?')}` run (its claims table is under "
        f"The study, reproduced)]({SCREENSHOT})\n"
    )


def blocks(inputs: Path = INPUTS) -> dict[str, str]:
    """Every block's content, from the digest and the markdown files in ``inputs``."""
    out: dict[str, str] = {}
    path = inputs / DIGEST
    if path.is_file():
        d = json.loads(path.read_text("utf-8"))
        out["claims"], out["timings"] = claims_block(d), timings_block(d)
        out["screenshot"] = screenshot_block(d)
        for experiment in (d.get("experiments") or {}).values():
            for name, text in (experiment.get(MARKDOWN) or {}).items():
                if name in out:
                    raise ValueError(f"two inputs write the README block {name!r}")
                out[name] = f"{provenance(d)}\n\n{text}"
    for md in sorted(inputs.glob("*.md")):
        text = md.read_text("utf-8")
        if md.stem in out:
            raise ValueError(f"{md} would replace the block {md.stem!r} made from the digest")
        source = f"<!-- source: docs/generated/{md.name} (sha256 {sha256(text.encode())[:16]})"
        out[md.stem] = f"{source}. Regenerate with `python tools/readme.py`. -->\n\n{text}"
    return out


def fill(readme: str, contents: Mapping[str, str]) -> str:
    """``readme`` with every generated block replaced by its content.

    Example:
        >>> fill("a\\n<!-- generated:x -->\\nold\\n<!-- /generated:x -->\\nb", {"x": "new\\n"})
        'a\\n<!-- generated:x -->\\nnew\\n<!-- /generated:x -->\\nb'
    """
    opened = OPENING.findall(readme)
    closed = [m.group("name") for m in BLOCK.finditer(readme)]
    if opened != closed:
        unclosed = sorted(set(opened) - set(closed))
        raise ValueError(f"README blocks {unclosed} open without a matching close line")
    missing = sorted(set(closed) - set(contents))
    if missing:
        raise ValueError(
            f"README blocks {missing} have no input: write docs/generated/<name>.md (a script's "
            f"--markdown output) or docs/generated/{DIGEST} (--results RUN/results.json)"
        )

    def body(m: re.Match[str]) -> str:
        name = m.group("name")
        return f"<!-- generated:{name} -->\n{contents[name].rstrip()}\n<!-- /generated:{name} -->"

    return BLOCK.sub(body, readme)


def stale(readme_path: Path = README, inputs: Path = INPUTS) -> list[str]:
    """The unified diff between README and what its inputs make of it (empty: up to date)."""
    now = readme_path.read_text("utf-8")
    want = fill(now, blocks(inputs))
    return list(difflib.unified_diff(now.splitlines(), want.splitlines(), "README.md", "want"))


def take_results(results_path: Path, inputs: Path = INPUTS) -> Path:
    """Write the digest of a run's results.json into ``inputs``; return its path."""
    raw = results_path.read_bytes()
    d = digest(json.loads(raw), raw, str(results_path))
    inputs.mkdir(parents=True, exist_ok=True)
    target = inputs / DIGEST
    target.write_text(json.dumps(d, indent=1, allow_nan=False) + "\n", "utf-8")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, help="A run's results.json to take the numbers of")
    parser.add_argument("--check", action="store_true", help="Only check; exit 1 if stale")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--inputs", type=Path, default=INPUTS)
    args = parser.parse_args(argv)
    if args.results is not None:
        if args.check:
            parser.error("--check reads the committed inputs; it does not take --results")
        print(f"digest: {take_results(args.results, args.inputs)}")
    if args.check:
        diff = stale(args.readme, args.inputs)
        if diff:
            print("\n".join(diff))
            print("README.md is stale: run `python tools/readme.py`", file=sys.stderr)
            return 1
        print("README.md is up to date")
        return 0
    text = args.readme.read_text("utf-8")
    args.readme.write_text(fill(text, blocks(args.inputs)), "utf-8")
    print(f"rewrote the generated blocks of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
