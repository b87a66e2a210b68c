"""Every layer that checkerscope.nn exports runs through the shared checks of LayerTester."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

import checkerscope.nn

from .layer_tester import LayerTester, channels_last, crop, non_contiguous


def layer_testers() -> list[type[LayerTester]]:
    """The collected ``Test*`` subclasses of LayerTester in this folder's test files."""
    found = []
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        module = importlib.import_module(f"{__package__}.{path.stem}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, LayerTester):
                found.append(obj)
    return [cls for cls in found if cls.__name__.startswith("Test")]


def test_every_exported_layer_has_a_tester() -> None:
    exported = {
        obj
        for name in checkerscope.nn.__all__
        if isinstance(obj := getattr(checkerscope.nn, name), type) and issubclass(obj, nn.Module)
    }
    # A public base class (ResizeConvNd) is tested through the layers that derive from it.
    exported = {
        cls for cls in exported if not any(o is not cls and issubclass(o, cls) for o in exported)
    }
    tested = [cls.layer for cls in layer_testers()]
    assert len(tested) == len(set(tested)), "a layer has two testers"
    missing = sorted(cls.__name__ for cls in exported - set(tested))
    assert not missing, f"add a LayerTester subclass (class Test<Layer>) for {missing}"


def test_testers_are_complete() -> None:
    for cls in layer_testers():
        assert cls.configs, cls
        assert set(cls.slow_configs) <= set(cls.configs), cls
        assert cls.onnx_configs is None or set(cls.onnx_configs) <= set(cls.configs), cls
        assert 1 <= len(cls.slow_configs) <= 2, cls  # compile and ONNX are slow
        assert set(cls.checkerboard_configs) < set(cls.configs), cls
        assert cls.bad_arguments and cls.reprs, cls


def test_layout_helpers_keep_the_values_and_change_the_strides() -> None:
    for shape in [(2, 3, 5), (2, 3, 5, 4), (2, 3, 5, 4, 3)]:
        x = torch.randn(shape)
        for variant in (channels_last(x), non_contiguous(x)):
            assert not variant.is_contiguous()
            assert torch.equal(variant, x)
        assert channels_last(x).stride(1) == 1


def test_crop() -> None:
    y = torch.arange(2 * 6 * 5).view(1, 2, 6, 5)
    assert torch.equal(crop(y, (1, 0), (2, 3)), y[..., 1:4, 0:2])
