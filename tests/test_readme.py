"""tools/readme.py: README's generated blocks equal what their committed inputs make of them."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from checkerscope.experiments.decision import (
    Claim,
    Effect,
    Exact,
    Guard,
    ItemsPass,
    MeanInterval,
    decide,
)

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("readme_tool", ROOT / "tools" / "readme.py")
assert spec is not None and spec.loader is not None
readme = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme)


def test_readme_is_what_its_committed_inputs_make_of_it() -> None:
    diff = readme.stale(ROOT / "README.md", ROOT / "docs" / "generated")
    assert not diff, "README.md is stale; run `python tools/readme.py`:\n" + "\n".join(diff[:40])


def test_every_generated_block_names_its_source_and_the_run_s_hash() -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    bodies = {m.group("name"): m.group("body") for m in readme.BLOCK.finditer(text)}
    assert {"claims", "timings"} <= set(bodies)
    for name, body in bodies.items():
        assert re.match(r"<!-- source: docs/generated/\S+ \(sha256 [0-9a-f]{16}", body), name
    run = json.loads((ROOT / "docs" / "generated" / readme.DIGEST).read_text())
    assert f"sha256 {run['source']['sha256'][:16]} of" in bodies["claims"]
    # The digest comes from a full run: every registered claim is in it.
    from checkerscope.experiments import registered

    assert {c["id"] for c in run["claims"]} == {c.id for e in registered() for c in e.claims}


def synthetic_results() -> dict:
    """A tiny run's results, claims decided by the real rules: one holds, two do not."""
    rho = Claim(
        "colors", "Grows.", Effect("rho", ""), MeanInterval(), (Guard("ratio", at_least=2.0),)
    )
    exact = Claim("counts", "Counts.", Effect("max/min", ""), Exact())
    claims = []
    for claim, kwargs in (
        (exact, {"checks": {"k3 s2 is 2": True}, "effect": 2.0}),
        (
            rho,
            {
                "per_seed": {"small": [0.9, 0.8, 0.95], "large": [0.2, -0.3, 0.1]},
                "guards": {"ratio": {"small": [5.0] * 3, "large": [3.0] * 3}},
            },
        ),
        (Claim("few", "Few.", Effect("d", "dB"), MeanInterval()), {"per_seed": [1.0, 2.0]}),
    ):
        holds, evidence = decide(claim, "quick", **kwargs)
        claims.append({"id": claim.id, "holds": holds, "evidence": evidence})
    return {
        "claims": claims,
        "experiments": {"e": {"title": "E", "seconds": 1.5, "cpu_seconds": 2.5,
                              "budget_seconds": 4.0, "seeds": [1, 2, 3],
                              "numbers": list(range(1000)),
                              "readme_markdown": {"table": "| x |\n|---|\n| 7 |\n"}}},
        "environment": {"scale": "quick", "jobs": 2, "cpus": 2, "command": ["checkerscope", "x"],
                        "seeds": {"base": 0}, "threads": {"torch_per_task": 1},
                        "time": {"started": "2026-01-01T00:00:00+00:00",
                                 "finished": "2026-01-01T00:01:30+00:00"}},
    }  # fmt: skip


def test_the_claims_table_says_what_failed_and_what_was_tried(tmp_path: Path) -> None:
    raw = json.dumps(synthetic_results()).encode()
    d = readme.digest(json.loads(raw), raw, "run/results.json")
    assert "numbers" not in d["experiments"]["e"]  # the digest keeps what README shows
    table = readme.claims_block(d)
    rows = {line.split(" | ")[0].strip("| `"): line for line in table.splitlines() if "| `" in line}
    assert "| holds |" in rows["counts"] and "| exact |" in rows["counts"]
    assert "**does not hold** (large: the rule failed; holds only at small)" in rows["colors"]
    assert "small: 0.9, 0.8, 0.95; large: 0.2, -0.3, 0.1" in rows["colors"]
    assert "2 seeds, but the rule needs at least 3" in rows["few"]
    assert "1 of 3 claims hold at scale `quick`" in table
    assert f"sha256 {readme.sha256(raw)[:16]} of run/results.json" in table
    timings = readme.timings_block(d)
    assert "| `e` | 1.5 | 2.5 | 4 | 3 |" in timings and "wall time 90 s" in timings


def test_a_round_trip_through_the_command_line(tmp_path: Path) -> None:
    results, inputs, target = tmp_path / "results.json", tmp_path / "generated", tmp_path / "R.md"
    results.write_text(json.dumps(synthetic_results()))
    inputs.mkdir()
    (inputs / "bench.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n")
    target.write_text(
        "# Title\n<!-- generated:claims -->\nold\n<!-- /generated:claims -->\ntext\n"
        "<!-- generated:bench -->\n<!-- /generated:bench -->\n"
    )
    args = ["--inputs", str(inputs), "--readme", str(target)]
    assert readme.main([*args, "--results", str(results)]) == 0
    assert readme.main([*args, "--check"]) == 0
    text = target.read_text()
    assert "\nold\n" not in text and "| 1 | 2 |" in text and text.startswith("# Title\n")
    assert "| 7 |" not in text  # the run's own block is written only where README has it
    target.write_text(text.replace("| 1 | 2 |", "| 1 | 3 |"))  # a number typed by hand
    assert readme.main([*args, "--check"]) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- generated:x -->\nno end\n", r"blocks \['x'\] open without a matching close"),
        ("<!-- generated:y -->\n<!-- /generated:y -->\n", r"blocks \['y'\] have no input"),
    ],
)
def test_broken_or_unfed_blocks_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        readme.fill(text, {"x": "a\n"})


def test_a_claim_over_items_says_how_many_passed_and_which_failed() -> None:
    rule = ItemsPass(MeanInterval(12.0, 0.975), 0.5, "architectures")
    c = Claim("common", "Most.", Effect("score", "dB"), rule)
    per_seed = {"a": [20.0, 21.0, 19.0], "b": [1.0, 2.0, 3.0], "c": [5.0, 6.0, 4.0]}
    holds, evidence = decide(c, "quick", per_seed=per_seed)
    assert holds is False
    assert readme.why_not(evidence) == "1 of 3 pass, fewer than 50%; failing: b, c"
    assert readme.per_seed_text(evidence) == "a: 20, 21, 19; b: 1, 2, 3; c: 5, 6, 4"


def test_an_experiment_s_own_block_comes_from_the_digest_of_its_run(tmp_path: Path) -> None:
    raw = json.dumps(synthetic_results()).encode()
    inputs = tmp_path / "generated"
    inputs.mkdir()
    (inputs / readme.DIGEST).write_text(
        json.dumps(readme.digest(json.loads(raw), raw, "run/results.json"))
    )
    made = readme.blocks(inputs)
    assert made["table"].endswith("\n\n| x |\n|---|\n| 7 |\n")
    assert made["table"].startswith(f"<!-- source: docs/generated/{readme.DIGEST} (sha256 ")
    (inputs / "table.md").write_text("| y |\n")
    with pytest.raises(ValueError, match="would replace the block 'table' made from the digest"):
        readme.blocks(inputs)


def test_a_merged_run_says_so_and_shows_no_overall_wall_time() -> None:
    results = synthetic_results()
    results["environment"]["time"]["merged"] = "2026-01-01T05:00:00+00:00"
    raw = json.dumps(results).encode()
    d = readme.digest(json.loads(raw), raw, "run/results.json")
    assert "started 2026-01-01T00:00:00+00:00, merged 2026-01-01T05:00:00+00:00." in (
        readme.provenance(d)
    )
    assert "; results from several invocations (see above), so no overall wall time. On" in (
        readme.timings_block(d)
    )
