"""Screenshots of a report page with headless Chromium (the README's picture of the report)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

# Offline and quiet: no GPU, no first-run pages, no background fetches from the browser itself.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(
    page: str | Path,
    png: str | Path,
    width: int = 1280,
    height: int = 1600,
    chromium: str | None = None,
    timeout: float = 120.0,
) -> Path:
    """Save the top ``width`` x ``height`` pixels of the HTML file ``page`` as ``png``.

    Runs Chromium's own ``--screenshot`` in a fresh profile; ``chromium`` defaults to the first
    of :data:`CHROMIUM_NAMES` on PATH (Debian: ``apt-get install chromium``).

    Example:
        >>> screenshot("results/index.html", "docs/report-screenshot.png")  # doctest: +SKIP
        PosixPath('docs/report-screenshot.png')
    """
    from checkerscope.checks import positive_int

    page, png = Path(page), Path(png)
    width, height = positive_int("width", width), positive_int("height", height)
    if not page.is_file():
        raise ValueError(f"page must be an HTML file, got {str(page)!r}")
    executable = chromium or find_chromium()
    if executable is None:
        raise ValueError(
            f"chromium must be installed for screenshots (apt-get install chromium), found none "
            f"of {list(CHROMIUM_NAMES)} on PATH"
        )
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="checkerscope-chromium-") as profile:
        command = [
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={png.resolve()}",
            page.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not png.is_file():
        raise RuntimeError(
            f"chromium failed to screenshot {str(page)!r} (exit {done.returncode}): "
            f"{done.stderr.strip()[-2000:]}"
        )
    return png
