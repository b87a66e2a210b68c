"""HTML rendering shared by the reproduce report and the audit page: Jinja2 templates, inlined data.

Templates live in ``checkerscope/report/templates/`` and are read through importlib.resources,
so they work from a wheel as well as from a checkout. Every page is self-contained: images and
sounds are ``data:`` URIs and CSS and JavaScript are inline, so a page opens offline with no
request (the pages' content policy allows ``data:`` images and media, and nothing else).
"""

from __future__ import annotations

import base64
import functools
import importlib.resources
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from checkerscope.analysis.metrics import get_metric
from checkerscope.report import schema

# Lists longer than this are cut in evidence tables; results.json keeps them whole.
MAX_LIST_ITEMS = 48


def _resource(*parts: str) -> str:
    return importlib.resources.files("checkerscope.report").joinpath(*parts).read_text("utf-8")


def _load_template(name: str) -> str:
    try:
        return _resource("templates", name)
    except FileNotFoundError as err:
        raise jinja2.TemplateNotFound(name) from err


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of every page (autoescaped, undefined names are errors)."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = format_number
    env.filters["value_table"] = value_table
    env.globals["asset"] = asset
    return env


def render(template_name: str, **context: Any) -> str:
    """Render ``templates/<template_name>`` with ``context`` to an HTML string.

    Example:
        >>> "<title>checkerscope</title>" in render("base.html.j2")
        True
    """
    return environment().get_template(template_name).render(**context)


def asset(name: str) -> Markup:
    """The text of a file beside this module (``explorer.js``), to inline in a page."""
    return Markup(_resource(name))


def png_data_uri(fig: Any) -> str:
    """A matplotlib Figure as a ``data:image/png;base64,...`` URI, to inline as an ``<img>``.

    Example:
        >>> from matplotlib.figure import Figure
        >>> png_data_uri(Figure(figsize=(1, 1))).startswith("data:image/png;base64,")
        True
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return bytes_data_uri(buffer.getvalue(), "image/png")


def bytes_data_uri(data: bytes, mime: str) -> str:
    """``data`` as a base64 ``data:`` URI of type ``mime``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
}


SOUND_TYPES = {".wav": "audio/wav", ".flac": "audio/flac"}


def sound_data_uri(path: str | Path) -> str:
    """A WAV or FLAC file as a ``data:`` URI, to inline as an ``<audio>`` source.

    Example:
        >>> sound_data_uri("audio_init.wav")  # doctest: +SKIP
        'data:audio/wav;base64,UklGR...'
    """
    path = Path(path)
    mime = SOUND_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"path must be a .wav or .flac sound, got {str(path)!r}")
    return bytes_data_uri(path.read_bytes(), mime)


def file_data_uri(path: str | Path) -> str:
    """An image file (PNG, JPEG, SVG) as a ``data:`` URI.

    Example:
        >>> file_data_uri("figure.png")  # doctest: +SKIP
        'data:image/png;base64,iVBORw0...'
    """
    path = Path(path)
    mime = IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"path must be a .png, .jpg, .jpeg or .svg image, got {str(path)!r}")
    return bytes_data_uri(path.read_bytes(), mime)


def format_number(value: Any) -> str:
    """A number as a report shows it: 4 significant digits, integers whole, None as a dash.

    Example:
        >>> format_number(2.0), format_number(0.000123456), format_number(7), format_number(None)
        ('2', '0.0001235', '7', '—')
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.4g}"
    return str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def format_score(value: Any) -> str:
    """A checkerboard score (or a difference of scores) as the metric registry formats it.

    Example:
        >>> format_score(14.236), format_score(None)
        ('14.2 dB', '—')
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return get_metric("checkerboard_score").format(value)
    return format_number(value)


def value_table(value: Any) -> Markup:
    """Nested JSON (the evidence of a claim, an experiment's numbers) as nested HTML tables.

    Mappings become two-column tables, except nested mappings of plain values, which become
    one wrapped line of ``key value`` pairs; lists of plain values become one line, other lists
    numbered rows. Lists longer than :data:`MAX_LIST_ITEMS` are cut, saying how many items were
    left out. Numbers under a key ending with :data:`schema.SCORE_SUFFIX` are scores in dB
    (:func:`format_score`).

    Example:
        >>> str(value_table({"ratio": 2.0}))
        '<table class="values"><tr><th>ratio</th><td>2</td></tr></table>'
        >>> "14.2 dB" in value_table({"score_db": {"deconv": 14.236}})
        True
    """
    return _values(value, nested=False, score=False)


def _values(value: Any, nested: bool, score: bool) -> Markup:
    number = format_score if score else format_number
    if isinstance(value, Mapping):
        if not value:
            return Markup('<span class="empty">(none)</span>')
        if nested and all(_is_scalar(x) for x in value.values()):
            pairs = Markup("").join(
                Markup('<span class="pair"><span class="key">{}</span> {}</span>').format(
                    key, format_score(item) if score or _is_score(key) else format_number(item)
                )
                for key, item in value.items()
            )
            return Markup('<span class="pairs">{}</span>').format(pairs)
        rows = Markup("").join(
            Markup("<tr><th>{}</th><td>{}</td></tr>").format(
                key, _values(item, True, score or _is_score(key))
            )
            for key, item in value.items()
        )
        return Markup('<table class="values">{}</table>').format(rows)
    if isinstance(value, list | tuple):
        shown, cut = list(value[:MAX_LIST_ITEMS]), max(0, len(value) - MAX_LIST_ITEMS)
        more = Markup(' <span class="more">… ({} more)</span>').format(cut) if cut else ""
        if not value:
            return Markup('<span class="empty">[]</span>')
        if all(_is_scalar(x) for x in shown):
            items = ", ".join(number(x) for x in shown)
            return Markup('<span class="list">[{}]</span>{}').format(items, more)
        rows = Markup("").join(
            Markup("<tr><th>{}</th><td>{}</td></tr>").format(i, _values(item, True, score))
            for i, item in enumerate(shown)
        )
        return Markup('<table class="values">{}</table>{}').format(rows, more)
    return escape(number(value))


def _is_score(key: Any) -> bool:
    return str(key).endswith(schema.SCORE_SUFFIX)
