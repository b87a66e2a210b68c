"""A small synthetic run for the report tests: results.json, PNGs and a registry, made in seconds.

Three registered experiments: one finished with two figures, one finished with a figure listed
but missing from the folder and a claim without an effect size, and one that never ran.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image


@dataclass(frozen=True)
class Info:
    id: str
    title: str
    claim_ids: tuple[str, ...]


REGISTRY = (
    Info("arithmetic", "Overlap arithmetic", ("overlap_uneven_1d", "overlap_2d_squared")),
    Info("gan_training", "GAN training <deconv> & resize", ("gan_training",)),
    Info("style_transfer", "Style transfer", ("style_transfer",)),
)
# Figure name -> (width, height) of the PNG written for it.
FIGURES = {"arithmetic_bars.png": (48, 32), "arithmetic_maps_2d.png": (40, 40)}
MISSING_FIGURE = "gan_training_samples.png"


def checkerboard_png(path: Path, width: int, height: int) -> None:
    image = Image.new("RGB", (width, height))
    image.putdata(
        [
            (230, 30, 30) if (x // 4 + y // 4) % 2 else (20, 20, 120)
            for y in range(height)
            for x in range(width)
        ]
    )
    image.save(path)


def results() -> dict[str, Any]:
    return {
        "claims": [
            {
                "id": "overlap_uneven_1d",
                "statement": "k3 s2 overlaps unevenly <b>in 1-D</b>.",
                "holds": True,
                "evidence": {
                    "effect_size": 2.0,
                    "effect_size_name": "k3 s2 max/min ratio",
                    "pattern": [2, 1],
                    "long": list(range(100)),
                },
            },
            {
                "id": "overlap_2d_squared",
                "statement": "The 2-D ratio is the 1-D ratio squared.",
                "holds": False,
                "evidence": {"effect_size": 4.0, "effect_size_name": "k3 s2 2-D ratio"},
            },
            {
                "id": "gan_training",
                "statement": "Resize-conv GANs show less checkerboard.",
                "holds": True,
                "evidence": {
                    "steps": 400,
                    "more_checkerboard": True,
                    "deconv_score_db": 18.25,
                    "kid_ratio": None,
                    "resize_conv_score_db": 6.5,
                    "seeds": 2,
                    "per_seed": {"0": {"score": 1.5}, "1": {"score": 2.5}},
                },
            },
        ],
        "experiments": {
            "arithmetic": {
                "title": "Overlap arithmetic",
                "claims": ["overlap_uneven_1d", "overlap_2d_squared"],
                "grid": [{"kernel_size": 3, "stride": 2, "ratio_1d": 2.0}],
                "captions": {"bars": "Overlap counts of each kernel size and stride"},
                "figures": list(FIGURES),
                "config": {"kernel_sizes": [1, 2, 3, 4], "strides": [1, 2, 3]},
                "seed": 1234,
                "seconds": 0.5,
            },
            "gan_training": {
                "title": "GAN training <deconv> & resize",
                "claims": ["gan_training"],
                "final": {"deconv": 18.25, "resize_conv": 6.5},
                "figures": [MISSING_FIGURE],
                "config": {"steps": 10},
                "seed": 99,
                "seconds": 12.25,
            },
        },
        "environment": {
            "scale": "quick",
            "data": "embedded",
            "device": "cpu",
            "seeds": {"base": 0, "experiments": {"arithmetic": 1234, "gan_training": 99}},
            "versions": {"checkerscope": "0.1.0", "python": "3.11.9", "torch": "2.13.0"},
            "command": ["checkerscope", "reproduce"],
            "time": {
                "started": "2026-11-25T12:00:00+00:00",
                "finished": "2026-11-25T12:01:40+00:00",
            },
        },
    }


def write_run(out: Path) -> dict[str, Any]:
    """Write results.json and the figures that exist into ``out``; return the results dict."""
    out.mkdir(parents=True, exist_ok=True)
    data = results()
    (out / "results.json").write_text(json.dumps(data, indent=2))
    for name, (width, height) in FIGURES.items():
        checkerboard_png(out / name, width, height)
    return data
