from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("seeds_tool", ROOT / "tools" / "seeds_table.py")
assert spec is not None and spec.loader is not None
seeds_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seeds_tool)


def run(tmp_path: Path, name: str, scale: str, seed: int, verdicts: dict[str, bool]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    results = {
        "environment": {"scale": scale, "seeds": {"base": seed}},
        "claims": [{"id": claim, "holds": holds} for claim, holds in verdicts.items()],
    }
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_one_column_per_run_each_cell_that_runs_verdict(tmp_path: Path) -> None:
    a = run(tmp_path, "a", "default", 0, {"x": True, "y": False})
    b = run(tmp_path, "b", "quick", 2, {"x": False, "y": False, "z": True})
    text = seeds_tool.table([seeds_tool.load(a), seeds_tool.load(b / "results.json")])
    lines = text.splitlines()
    assert lines[0] == "| claim | default, seed 0 | quick, seed 2 | runs where it holds |"
    assert lines[2] == "| `x` | holds | **does not hold** | 1 of 2 |"
    assert lines[3] == "| `y` | **does not hold** | **does not hold** | 0 of 2 |"
    assert lines[4] == "| `z` | - | holds | 1 of 2 |"  # a claim the first run lacks
    assert lines[5] == "| **claims holding** | 1 of 2 | 1 of 3 | |"


def test_a_folder_without_results_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"is not a results\.json"):
        seeds_tool.load(tmp_path)
