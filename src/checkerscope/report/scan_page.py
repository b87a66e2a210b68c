"""The scan's HTML page: the worst images beside maps of where their score comes from, the worst
sounds as spectrograms with a player.

A picture is what people check first: each of the highest-scoring images of a scan is shown as
a thumbnail beside :func:`~checkerscope.analysis.score.checkerboard_map` of it, with its score,
period and place (:func:`~checkerscope.analysis.score.explain_score`). A sound is shown as the
spectrogram of its first seconds, the tones of its scoring period marked at both edges (a
buzz is a line between the ticks), with a player of the same seconds. The page is
self-contained (images and sounds inlined as ``data:`` URIs) and every file name is escaped.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from checkerscope.analysis.score import TILE, checkerboard_map, luma
from checkerscope.analysis.spectrograms import WINDOW, spectrogram
from checkerscope.audiofiles import audio_bytes, read_windows
from checkerscope.images import open_regular_file, read_image, to_tensor
from checkerscope.report.figures.audio import spectrogram_figure
from checkerscope.report.figures.scan import score_map_figure
from checkerscope.report.html import bytes_data_uri, png_data_uri, render
from checkerscope.scan import ScanResult, ScanSummary

THUMBNAIL = 320
"""Longest side, in pixels, of the thumbnails on the page."""

CELLS = 24
"""Windows of the map along the image's longer side, at most."""

SOUND_SECONDS = 10.0
"""Seconds of a sound shown (spectrogram) and played, from its start: 16-bit WAV of them is
inlined, about 1.7 MB base64 for 44.1 kHz stereo."""


@dataclass(frozen=True)
class Panel:
    """One file of the page: its scan result, and ``data:`` URIs of an image's thumbnail and map,
    or of a sound's spectrogram (in ``score_map``) and its first seconds (``sound``); empty when
    the file could not be read again, with ``note`` saying why."""

    result: ScanResult
    thumbnail: str
    score_map: str
    note: str = ""
    caption: str = ""
    sound: str = ""


def map_window(h: int, w: int) -> tuple[int, int]:
    """Window and stride of an ``h`` x ``w`` image's map: a power of two from 32 to 256 pixels,
    about a quarter of the shorter side, and a stride that keeps at most :data:`CELLS` windows
    along the longer side (half a window, if smaller).

    Example:
        >>> map_window(256, 256), map_window(3000, 4000), map_window(40, 300)
        ((64, 32), (256, 156), (32, 16))
    """
    window = 32
    while window * 2 <= min(256, min(h, w) // 4):
        window *= 2
    window = min(window, h, w)
    return window, max(window // 2, -(-(max(h, w) - window) // CELLS), 1)


def thumbnail_uri(image: torch.Tensor) -> str:
    """An image (C, H, W), stretched to its own range, as a PNG ``data:`` URI of at most
    :data:`THUMBNAIL` pixels on its longer side (nearest neighbours: fine patterns stay)."""
    x = image.detach().double().cpu()
    x = (x - x.min()) / (x.max() - x.min()).clamp(min=1e-12)
    array = (x * 255).round().byte().permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array[..., :3])
    picture.thumbnail((THUMBNAIL, THUMBNAIL), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return bytes_data_uri(buffer.getvalue(), "image/png")


def panel(result: ScanResult, threshold: float, max_pixels: int) -> Panel:
    """Read ``result``'s file again (its top band, as the scan did, above ``max_pixels``) and
    draw its thumbnail and score map; a sound's goes to :func:`sound_panel`."""
    if result.sample_rate is not None:
        return sound_panel(result)
    try:
        image = to_tensor(read_image(result.path, max_pixels).array)
        if image.shape[0] not in (1, 3):
            image = image[:3] if image.shape[0] > 3 else image[:1]
        grey = luma(image[None])
        h, w = grey.shape[-2:]
        window, stride = map_window(h, w)
        scores = checkerboard_map(grey, window=window, stride=stride)[0]
        figure = score_map_figure(scores.numpy(), h, w, threshold)
        caption = (
            f"where the score comes from: {window} x {window} windows every {stride} px, "
            f"outlined above {threshold:g} dB"
        )
        return Panel(result, thumbnail_uri(image), png_data_uri(figure), caption=caption)
    except Exception as err:  # the page still lists a file that changed or vanished
        return Panel(result, "", "", f"could not be read again: {type(err).__name__}: {err}")


def sound_panel(result: ScanResult) -> Panel:
    """Read the first :data:`SOUND_SECONDS` of ``result``'s sound again and draw their
    spectrogram, the tones ``a * fs / period`` marked, beside a 16-bit WAV of them (scaled down
    if a float file peaks above full scale)."""
    try:
        open_regular_file(result.path).close()
        fs, period = int(result.sample_rate or 0), int(result.period or 0)
        frames = min(int(result.frames or 0), round(SOUND_SECONDS * fs))
        (samples,) = read_windows(result.path, frames, [0])
        window = min(WINDOW, 1 << (frames.bit_length() - 1))
        picture = spectrogram(samples, fs, window)
        tones = [a * fs / period for a in range(1, period // 2 + 1)]
        loudest = "" if result.tone_hz is None else f", the loudest at {result.tone_hz:g} Hz"
        figure = spectrogram_figure(
            picture.decibels[0].numpy(), picture.frequency.tolist(), picture.time.tolist(), tones
        )
        caption = (
            f"spectrogram of the first {frames / fs:.1f} s; triangles at both edges: the "
            f"tones of a period-{period} pattern, multiples of {fs / period:g} Hz{loudest}: a "
            f"buzz is a line between them"
        )
        peak = float(samples.abs().max())
        sound = audio_bytes(samples / max(peak, 1.0), fs)
        return Panel(
            result,
            "",
            png_data_uri(figure),
            caption=caption,
            sound=bytes_data_uri(sound, "audio/wav"),
        )
    except Exception as err:  # the page still lists a file that changed or vanished
        return Panel(result, "", "", f"could not be read again: {type(err).__name__}: {err}")


def render_scan(summary: ScanSummary, max_pixels: int) -> str:
    """A self-contained HTML page of ``summary``: counts, the worst images with their maps,
    and the files that could not be scored.

    Example:
        >>> summary = ScanSummary(threshold=12.0)
        >>> summary.add(ScanResult("<b>bad</b>.png", error="OSError: nope"))
        >>> page = render_scan(summary, 2**25)
        >>> "&lt;b&gt;bad&lt;/b&gt;.png" in page and "<b>bad" not in page
        True
    """
    context: dict[str, Any] = {
        "summary": summary,
        "threshold": summary.threshold,
        "panels": [panel(r, summary.threshold, max_pixels) for r in summary.worst()],
        "window": TILE,
        "cwd": os.getcwd(),
    }
    return render("scan.html.j2", **context)
