"""The reproduce report's HTML: self-contained, in the issue's order, generic over experiments."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

from checkerscope.report import html, reproduce_page

from . import synthetic_report as S


class Page(HTMLParser):
    """Every tag with its attributes, in document order, and the text under each id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.tags if "id" in a]

    def all(self, tag: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    S.write_run(tmp_path)
    return tmp_path


def page_of(run_dir: Path, registry=S.REGISTRY) -> tuple[str, Page]:
    text = reproduce_page.build(run_dir, registry).read_text("utf-8")
    return text, Page(text)


def test_every_present_figure_is_inlined_byte_for_byte(run_dir: Path) -> None:
    _, page = page_of(run_dir)
    images = {a["data-file"]: a["src"] for a in page.all("img")}
    assert set(images) == set(S.FIGURES)
    for name, src in images.items():
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]) == (run_dir / name).read_bytes()


def test_no_resource_leaves_the_file(run_dir: Path) -> None:
    text, page = page_of(run_dir)
    for tag, attrs in page.tags:
        if "src" in attrs:
            assert attrs["src"].startswith("data:"), (tag, attrs["src"][:80])
        if tag == "link":
            assert attrs["href"].startswith("data:"), attrs
        if tag == "script":
            assert "src" not in attrs
        if "href" in attrs and re.match(r"[a-z]+:", attrs["href"]):
            # Only prose links (to the paper) may name another site; resources may not.
            assert tag == "a" or attrs["href"].startswith("data:"), (tag, attrs)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    assert not re.search(r"@import", text)


def test_sections_follow_the_issue_order_and_the_registry(run_dir: Path) -> None:
    _, page = page_of(run_dir)
    ids = page.ids()
    sections = [i for i in ids if i.startswith("experiment-")]
    assert sections == [f"experiment-{e.id}" for e in S.REGISTRY]
    positions = [
        ids.index(i)
        for i in ("claims", "experiment-arithmetic", "experiment-style_transfer", "explorer")
    ] + [ids.index("environment")]
    assert positions == sorted(positions)


def test_every_internal_link_has_its_target(run_dir: Path) -> None:
    _, page = page_of(run_dir)
    targets = [a["href"][1:] for a in page.all("a") if a["href"].startswith("#")]
    assert targets and set(targets) <= set(page.ids())
    decided = [c["id"] for c in S.results()["claims"]]
    assert {f"evidence-{c}" for c in decided} <= set(targets)


def claim_row(text: str, claim_id: str) -> str:
    match = re.search(rf'<tr id="claim-{claim_id}">(.*?)</tr>', text, re.S)
    assert match, claim_id
    return match.group(1)


def test_claims_table_shows_verdicts_and_effect_sizes(run_dir: Path) -> None:
    text, _ = page_of(run_dir)
    row = claim_row(text, "overlap_uneven_1d")
    assert "holds" in row and 'k3 s2 max/min ratio: <b class="num">2</b>' in row
    assert "does not hold" in claim_row(text, "overlap_2d_squared")
    # Without an effect size: three numbers of the evidence, those named like effects first
    # (booleans and None skipped).
    row = claim_row(text, "gan_training")
    shown = re.findall(r"(\w+): <b class=\"num\">([^<]*)</b>", row)
    assert shown == [
        ("deconv_score_db", "18.25"),
        ("resize_conv_score_db", "6.5"),
        ("steps", "400"),
    ]
    assert "2</b> of 4 claims hold" in text


def test_partial_results_say_what_is_missing(run_dir: Path) -> None:
    text, _ = page_of(run_dir)
    assert "not decided" in claim_row(text, "style_transfer")
    section = text[text.index('id="experiment-style_transfer"') : text.index('id="explorer"')]
    assert "No results" in section and "<img" not in section
    assert f"Figure {S.MISSING_FIGURE} is listed in results.json but missing" in text
    assert "Overlap counts of each kernel size and stride" in text  # a caption from "captions"
    assert "maps 2d" in text  # and the fallback from the figure's name


def test_without_registry_the_results_alone_make_the_page(run_dir: Path) -> None:
    text, page = page_of(run_dir, registry=None)
    sections = [i for i in page.ids() if i.startswith("experiment-")]
    assert sections == ["experiment-arithmetic", "experiment-gan_training"]
    assert "style_transfer" not in text


def test_claims_of_unknown_experiments_still_show_their_evidence(tmp_path: Path) -> None:
    results = S.results()
    for entry in results["experiments"].values():
        del entry["claims"]
    text = reproduce_page.render_report(results, tmp_path)
    assert 'id="experiment-other-claims"' in text
    assert all(f'id="evidence-{c["id"]}"' in text for c in results["claims"])


def test_text_from_results_is_escaped(run_dir: Path) -> None:
    text, _ = page_of(run_dir)
    assert "<b>in 1-D</b>" not in text and "&lt;b&gt;in 1-D&lt;/b&gt;" in text
    assert "GAN training &lt;deconv&gt; &amp; resize" in text


def test_environment_and_configuration_come_last(run_dir: Path) -> None:
    text, _ = page_of(run_dir)
    env = text[text.index('id="environment"') :]
    for fact in ("quick", "torch 2.13.0", "base seed", "12.8 s over 2 experiments", "100.0 s"):
        assert fact in env, fact
    assert "kernel_sizes" in env and "1234" in env


def test_build_refuses_a_folder_without_results(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"out must be a folder holding results.json.*got '"):
        reproduce_page.build(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        reproduce_page.build(tmp_path)


def test_runner_results_render(tmp_path: Path) -> None:
    """What the real runner writes (titles, declared claims, figures) lands in the page."""
    from checkerscope.experiments.decision import Claim, Effect, EverySeed
    from checkerscope.experiments.runner import Experiment, ExperimentResult, run
    from checkerscope.experiments.settings import RunSettings

    def go(ctx):
        ctx.decide("tiny_claim", per_seed=[0.25, 0.5, 0.75], seeds=[11, 12, 13])
        fig = Figure(figsize=(1, 1))
        fig.subplots().imshow([[0, 1], [1, 0]])
        return ExperimentResult({"v": 1}, {"map": fig}, {"map": "A map: <see> the corners."})

    claim = Claim("tiny_claim", "A tiny claim.", Effect("x", "dB"), EverySeed())
    tiny = Experiment("tiny", "A tiny experiment", (claim,), {"quick": None}, go, {"quick": 9.0})
    run([tiny], RunSettings("quick", tmp_path, show_progress=False))
    text, page = page_of(tmp_path, registry=None)
    assert "<h2>A tiny experiment</h2>" in text
    assert [a["data-file"] for a in page.all("img")] == ["tiny_map.png"]
    row = claim_row(text, "tiny_claim")
    assert 'x (dB), mean of 3 seeds: <b class="num">0.5</b>' in row
    assert "per seed: 0.25, 0.5, 0.75" in row and "the x is above 0 dB in every seed" in row
    assert "A map: &lt;see&gt; the corners." in text
    assert "of a 9 s budget" in text


def test_per_seed_evidence_shows_every_seed_setting_and_failing_cell(tmp_path: Path) -> None:
    from checkerscope.experiments.decision import Claim, Effect, Guard, MeanInterval, decide

    claim = Claim("c", "s", Effect("rho", ""), MeanInterval(), (Guard("ratio", at_least=2.0),))
    holds, evidence = decide(
        claim,
        "quick",
        per_seed={"start 0.1": [0.9, 0.8, 0.95], "start 1": [0.3, -0.2, 0.1]},
        seeds=[100, 200, 300],
        guards={"ratio": {"start 0.1": [5.0, 6.0, 7.0], "start 1": [3.0, 1.5, 4.0]}},
    )
    results = {
        "claims": [{"id": "c", "statement": "s", "holds": holds, "evidence": evidence}],
        "experiments": {},
    }
    text = reproduce_page.render_report(results, tmp_path)
    match = re.search(r'<table class="values seeds">(.*?)</table>', text, re.S)
    assert match, "no per-seed table"
    table = match.group(1)
    assert table.count("<tr>") == 2 + 3  # two header rows, one row per seed
    assert "start 0.1: " in table and "start 1: " in table
    assert table.count('class="num fail"') == 1  # the guard broken by seed 200 in "start 1"
    assert '<td class="num">200</td>' in table
    assert "does not hold" in claim_row(text, "c")
    assert "per seed (start 1): 0.3, -0.2, 0.1" in claim_row(text, "c")


def test_cli_report_rebuilds_the_page(run_dir: Path) -> None:
    from checkerscope.cli import app

    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert str((run_dir / "index.html").resolve()) in result.output
    assert (run_dir / "index.html").read_text().startswith("<!DOCTYPE html>")
    result = CliRunner().invoke(app, ["report", str(run_dir / "nothing")])
    assert result.exit_code == 2 and "results.json" in result.output


@pytest.mark.parametrize("fails", [False, True])
def test_reproduce_ends_with_the_report(run_dir: Path, monkeypatch, fails: bool) -> None:
    """`reproduce` builds index.html after the run, and after a failed one from what finished."""
    from checkerscope import experiments
    from checkerscope.cli import app

    def run(*args, **kwargs):
        if fails:
            raise experiments.ExperimentError("style_transfer ran out of patience")
        return json.loads((run_dir / "results.json").read_text())

    monkeypatch.setattr(experiments, "run", run)
    monkeypatch.setattr(experiments, "registered", lambda: list(S.REGISTRY))
    result = CliRunner().invoke(app, ["reproduce", "--out", str(run_dir)])
    page = (run_dir / "index.html").resolve()
    assert result.exit_code == (2 if fails else 0), result.output  # a failure, not a finding
    assert str(page) in result.output
    assert 'id="experiment-style_transfer"' in page.read_text()


def test_effect_words_are_whole_words(tmp_path: Path) -> None:
    evidence = {"checked_against_matrices": 5, "runs": 3, "phase_imbalance_max": 0.5, "n": 1}
    claim = {"id": "c", "statement": "s", "holds": True, "evidence": evidence}
    text = reproduce_page.render_report({"claims": [claim], "experiments": {}}, tmp_path)
    shown = re.findall(r"(\w+): <b class=\"num\">([^<]*)</b>", claim_row(text, "c"))
    assert shown == [
        ("phase_imbalance_max", "0.5"),
        ("checked_against_matrices", "5"),
        ("runs", "3"),
    ]


def test_scores_are_formatted_by_the_metric_registry() -> None:
    from checkerscope.analysis.metrics import get_metric

    score = get_metric("checkerboard_score")
    table = str(html.value_table({"score_db": [12.345, None], "n": {"data_score_db": 3.25}}))
    assert f"[{score.format(12.345)}, —]" in table and score.format(12.345) == "12.3 dB"
    assert f'<span class="key">data_score_db</span> {score.format(3.25)}' in table
    # Nested under a score key, every number is a score; elsewhere numbers keep 4 digits.
    nested = str(html.value_table({"score_mean_db": {"deconv": 5.0}, "ratio": 1.23456}))
    assert "5.0 dB" in nested and "1.235" in nested and "1.23456" not in nested
