"""Sounds inlined in the pages play in headless Chromium under their content policy, which
allows ``data:`` media and nothing else (a page without ``media-src data:`` cannot play them).

Skipped without Chromium or Playwright, except in CI (``CI=true``), as ``test_browser.py``.
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
import torch

from checkerscope.audiofiles import write_audio
from checkerscope.report import reproduce_page
from checkerscope.report.chromium import CHROMIUM_FLAGS, find_chromium

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
CHROMIUM = find_chromium()
if CHROMIUM is None and not IN_CI:
    pytest.skip(
        "chromium is not installed (apt-get install chromium); CI=true makes this test run",
        allow_module_level=True,
    )
sync_api = (
    importlib.import_module("playwright.sync_api")
    if IN_CI
    else pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev extra)")
)

SECONDS = 0.75
LOAD = """async (audio) => {
    const done = new Promise((resolve) => {
        audio.addEventListener("loadedmetadata", () => resolve("loaded"), {once: true});
        audio.addEventListener("error", () => resolve("error"), {once: true});
    });
    audio.load();
    return [await done, audio.duration];
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM is not None, "CI=true but no chromium on PATH: .ci/run should install it"
    with sync_api.sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_FLAGS)
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    tone = 0.5 * torch.sin(2 * torch.pi * 440 * torch.arange(round(8000 * SECONDS)) / 8000)
    write_audio(out / "audio_tone.wav", tone[None], 8000)
    results = {
        "claims": [],
        "experiments": {
            "audio": {"sounds": ["audio_tone.wav"], "captions": {"tone": "Listen: 440 Hz."}}
        },
        "environment": {},
    }
    (out / "results.json").write_text(json.dumps(results))
    return reproduce_page.build(out)


def play(browser: Any, page_file: Path) -> tuple[list[Any], list[str]]:
    """Load every ``<audio>`` of the page; return [(outcome, duration)] and the console's
    errors (a blocked source is one)."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto(page_file.resolve().as_uri())
    outcomes = [page.evaluate(LOAD, audio) for audio in page.query_selector_all("audio")]
    page.close()
    return outcomes, errors


def test_inlined_sounds_play_under_the_pages_policy(browser: Any, report: Path) -> None:
    outcomes, errors = play(browser, report)
    assert [o for o, _ in outcomes] == ["loaded"]
    assert outcomes[0][1] == pytest.approx(SECONDS, abs=0.01)
    assert errors == []


def test_without_media_src_the_policy_blocks_them(
    browser: Any, report: Path, tmp_path: Path
) -> None:
    """The check above can fail: the same page without ``media-src data:`` plays nothing."""
    text = report.read_text()
    assert "media-src data:; " in text
    blocked = tmp_path / "blocked.html"
    blocked.write_text(text.replace("media-src data:; ", ""))
    outcomes, errors = play(browser, blocked)
    assert [o for o, _ in outcomes] == ["error"]
    assert any("Content Security Policy" in e for e in errors), errors
