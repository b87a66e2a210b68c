"""The report in headless Chromium: figures load, nothing is fetched, the explorer computes right.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and the ``playwright`` package, driven with
``executable_path`` (Playwright never downloads a browser here). Skipped when Chromium is absent,
except in CI (``CI=true``), where it must run.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from checkerscope.analysis import overlap, overlap_summary
from checkerscope.report import reproduce_page
from checkerscope.report.chromium import CHROMIUM_FLAGS, find_chromium, screenshot

from . import synthetic_report as S

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
CHROMIUM = find_chromium()
if CHROMIUM is None and not IN_CI:
    pytest.skip(
        "chromium is not installed (apt-get install chromium); CI=true makes this test run",
        allow_module_level=True,
    )
# In CI a missing package or browser is a failure, never a skip.
sync_api = (
    importlib.import_module("playwright.sync_api")
    if IN_CI
    else pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev extra)")
)

# The screenshot helper's flags keep the browser offline and quiet here too.
LAUNCH_ARGS = list(CHROMIUM_FLAGS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM is not None, "CI=true but no chromium on PATH: .ci/run should install it"
    with sync_api.sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
        )
        yield context
        context.close()


class Opened:
    """A report page opened with every request logged and every one but the page's aborted."""

    def __init__(self, context: Any, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.page = context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        self.page.route("**/*", self._only_the_page)
        self.page.goto(self.url)

    def _only_the_page(self, route: Any) -> None:
        if route.request.url == self.url:
            route.continue_()
        else:
            route.abort()

    def explorer(self) -> dict[str, str]:
        return self.page.eval_on_selector("#explorer-summary", "e => ({...e.dataset})")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    S.write_run(out)
    return reproduce_page.build(out, S.REGISTRY)


@pytest.fixture
def opened(browser: Any, report: Path) -> Iterator[Opened]:
    page = Opened(browser, report)
    yield page
    page.page.close()


def test_every_figure_loads_and_nothing_is_fetched(opened: Opened, report: Path) -> None:
    images = opened.page.eval_on_selector_all(
        "img", "els => els.map(e => [e.dataset.file, e.complete, e.naturalWidth, e.naturalHeight])"
    )
    assert sorted(f for f, *_ in images) == sorted(S.FIGURES)
    for name, complete, width, height in images:
        assert complete and (width, height) == Image.open(report.parent / name).size, name
    assert opened.requests == [opened.url]
    assert opened.problems == []


def test_the_request_log_would_see_a_fetch(browser: Any, tmp_path: Path) -> None:
    """The check above can fail: an external image on a page is logged (and aborted)."""
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><img src="https://example.com/x.png">')
    leaky = Opened(browser, page)
    leaky.page.wait_for_load_state("load")
    assert "https://example.com/x.png" in leaky.requests
    leaky.page.close()


@pytest.mark.parametrize(
    ("kernel", "stride", "layers", "size"),
    [(3, 2, 1, 6), (4, 2, 2, 3), (5, 3, 2, 4), (3, 2, 3, 2), (2, 3, 1, 5), (8, 3, 4, 8)],
)
def test_explorer_agrees_with_the_library(
    opened: Opened, kernel: int, stride: int, layers: int, size: int
) -> None:
    settings = {"kernel": kernel, "stride": stride, "layers": layers, "size": size}
    for name, value in settings.items():
        opened.page.locator(f"#explorer-{name}").fill(str(value))
    shown = opened.explorer()
    assert {k: int(shown[k]) for k in settings} == settings
    specs = [(kernel, stride)] * layers
    counts = overlap(specs, size).tolist()
    assert json.loads(shown["counts"]) == counts
    summary = overlap_summary(specs, (1, 1))
    assert json.loads(shown["pattern"]) == list(summary.axes[0].pattern)
    if summary.ratio == float("inf"):
        assert (shown["ratio1d"], shown["ratio2d"]) == ("inf", "inf")
    else:
        assert float(shown["ratio1d"]) == summary.axes[0].ratio
        assert float(shown["ratio2d"]) == pytest.approx(summary.ratio)
    map_size = opened.page.eval_on_selector("#explorer-map", "c => [c.width, c.height]")
    assert map_size == [len(counts), len(counts)]
    if len(counts) <= 300:  # the largest maps (millions of cells) are too slow to ship back
        grid = opened.page.evaluate("checkerscopeExplorer.grid()")
        assert grid == overlap(specs, (size, size)).tolist()
    assert opened.problems == []


def test_moving_a_slider_changes_the_explorer(opened: Opened) -> None:
    def drawn() -> tuple[dict[str, str], str, str]:
        return (
            opened.explorer(),
            opened.page.eval_on_selector("#explorer-bars", "c => c.toDataURL()"),
            opened.page.eval_on_selector("#explorer-map", "c => c.toDataURL()"),
        )

    before = drawn()
    opened.page.locator("#explorer-kernel").focus()
    opened.page.keyboard.press("ArrowRight")
    after = drawn()
    assert (int(before[0]["kernel"]), int(after[0]["kernel"])) == (3, 4)
    assert before[0]["counts"] != after[0]["counts"]
    assert before[1] != after[1] and before[2] != after[2]
    assert opened.page.locator("#explorer-kernel-value").text_content() == "4"
    assert "kernel 4" in (opened.page.locator("#explorer-summary").text_content() or "")


def test_screenshot_shows_the_page(report: Path, tmp_path: Path) -> None:
    png = screenshot(report, tmp_path / "shot.png", width=800, height=600)
    image = Image.open(png).convert("L")
    assert image.size == (800, 600)
    low, high = image.getextrema()
    assert high - low > 100  # text on a white page, not a blank or black frame


def test_explorer_maths_agrees_over_every_slider_setting(opened: Opened) -> None:
    """The page's functions, called directly over the sliders' whole range, match the library."""
    settings = [
        (k, s, n_layers) for k in range(1, 9) for s in range(1, 5) for n_layers in range(1, 5)
    ]
    computed = opened.page.evaluate(
        """settings => settings.map(([k, s, l]) => [
            checkerscopeExplorer.counts1d(k, s, l, 3),
            checkerscopeExplorer.interiorPattern(k, s, l),
        ])""",
        settings,
    )
    for (k, s, n_layers), (counts, pattern) in zip(settings, computed, strict=True):
        specs = [(k, s)] * n_layers
        assert counts == overlap(specs, 3).tolist(), (k, s, n_layers)
        assert pattern == list(overlap_summary(specs).axes[0].pattern), (k, s, n_layers)
