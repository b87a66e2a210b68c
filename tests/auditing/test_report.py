"""The audit's results as JSON: strict, in the documented schema, ``None`` where undefined."""

from __future__ import annotations

import json
import math

from torch import nn

from checkerscope.analysis.score import THRESHOLD
from checkerscope.analysis.stats import confidence_interval
from checkerscope.auditing import SCHEMA, LayerAudit, audit


def test_to_dict_is_strict_json(dcgan_report) -> None:
    d = json.loads(json.dumps(dcgan_report.to_dict(), allow_nan=False))
    assert d["schema"] == SCHEMA and d["flagged"] is True
    assert d["threshold_db"] == THRESHOLD and d["input_shape"] == [16]
    assert [layer["name"] for layer in d["layers"]] == ["main.0", "main.3", "main.6"]
    assert d["fix"]["layers"][0]["kind"] == "resize_conv"
    one = audit(nn.Sequential(nn.Upsample(scale_factor=2)), (1, 4, 4), seeds=1).to_dict()
    assert one["ci_db"] is None and json.dumps(one, allow_nan=False)


def test_layer_to_dict_keys_and_missing_values() -> None:
    layer = LayerAudit("a.b", "pool", (8, 8), (4, 4), (2, 2), (2, 2), math.nan, 1.5, None, math.inf)
    assert layer.to_dict() == {
        "name": "a.b",
        "kind": "pool",
        "input_size": [8, 8],
        "output_size": [4, 4],
        "kernel_size": [2, 2],
        "stride": [2, 2],
        "score_db": None,
        "output_score_db": 1.5,
        "imbalance": None,
        "overlap_ratio": None,
        "period": None,
        "tone_hz": None,
    }


def test_report_interval_is_the_t_interval_of_its_seed_scores(dcgan_report) -> None:
    assert dcgan_report.ci == confidence_interval(dcgan_report.seed_scores)
    assert dcgan_report.to_dict()["ci_db"] == list(dcgan_report.ci)
