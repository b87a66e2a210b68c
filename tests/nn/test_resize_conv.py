"""ResizeConv1d/2d/3d as modules: shapes, state dicts, errors, compile, TorchScript, ONNX."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from checkerscope.functional.resize_conv import resize_conv_reference
from checkerscope.nn import ResizeConv1d, ResizeConv2d, ResizeConv3d

LAYERS = {1: ResizeConv1d, 2: ResizeConv2d, 3: ResizeConv3d}
CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pair(**kwargs: object) -> tuple[ResizeConv2d, ResizeConv2d]:
    """A fused and a reference layer with the same parameters."""
    fused = ResizeConv2d(impl="fused", **kwargs)  # type: ignore[arg-type]
    reference = ResizeConv2d(impl="reference", **kwargs)  # type: ignore[arg-type]
    reference.load_state_dict(fused.state_dict())
    return fused, reference


# --------------------------------------------------------------------- shapes and values


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("kernel_size", [1, 2, 3])
@pytest.mark.parametrize("impl", ["auto", "fused", "reference"])
def test_output_shape(dims: int, s: int, kernel_size: int, impl: str) -> None:
    layer = LAYERS[dims](4, 3, kernel_size=kernel_size, scale_factor=s, impl=impl)
    sizes = (5, 4, 3)[:dims]
    y = layer(torch.randn(2, 4, *sizes))
    assert y.shape == (2, 3, *(s * n for n in sizes))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "zeros"])
def test_module_equals_reference_function(
    device: str, dims: int, mode: str, padding_mode: str
) -> None:
    torch.manual_seed(0)
    layer = LAYERS[dims](3, 2, 3, 2, mode, padding_mode, device=device, dtype=torch.float64)
    x = torch.randn(2, 3, *(6, 5, 4)[:dims], device=device, dtype=torch.float64)
    want = resize_conv_reference(x, layer.weight, layer.bias, 2, mode, padding_mode)
    torch.testing.assert_close(layer(x), want)


def test_bias_false_and_tuple_kernel() -> None:
    fused, reference = pair(
        in_channels=3, out_channels=2, kernel_size=(5, 2), mode="bilinear", bias=False
    )
    assert fused.bias is None
    x = torch.randn(1, 3, 6, 7)
    torch.testing.assert_close(fused(x), reference(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_bfloat16_and_channels_last(device: str) -> None:
    torch.manual_seed(1)
    fused, reference = pair(in_channels=16, out_channels=8)
    x = torch.randn(2, 16, 9, 8)
    want = reference(x)
    fused = fused.to(device=device, dtype=torch.bfloat16, memory_format=torch.channels_last)
    x = x.to(device=device, dtype=torch.bfloat16, memory_format=torch.channels_last)
    got = fused(x)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float().cpu(), want, atol=0.05, rtol=0.05)


def test_backward_reaches_every_parameter() -> None:
    fused, reference = pair(in_channels=3, out_channels=2, mode="bilinear")
    x = torch.randn(2, 3, 5, 6)
    fused(x).square().sum().backward()
    reference(x).square().sum().backward()
    for name, p in fused.named_parameters():
        torch.testing.assert_close(p.grad, reference.get_parameter(name).grad, atol=1e-4, rtol=1e-4)


def test_extra_repr_shows_the_arguments() -> None:
    text = repr(ResizeConv2d(8, 4, 5, 3, "bilinear", "zeros", bias=False, impl="fused"))
    assert text == (
        "ResizeConv2d(8, 4, kernel_size=(5, 5), scale_factor=3, mode='bilinear', "
        "padding_mode='zeros', bias=False, impl='fused')"
    )


# ------------------------------------------------------------------- state dicts


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_maps_to_and_from_conv(dims: int, bias: bool) -> None:
    layer = LAYERS[dims](6, 4, kernel_size=3, bias=bias)
    conv = CONVS[dims](6, 4, kernel_size=3, bias=bias)
    ours, theirs = layer.state_dict(), conv.state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    layer.load_state_dict(theirs)
    assert torch.equal(layer.weight, conv.weight)
    fresh = CONVS[dims](6, 4, kernel_size=3, bias=bias)
    fresh.load_state_dict(layer.state_dict())
    assert torch.equal(fresh.weight, layer.weight)


def test_resize_conv_at_scale_1_is_a_same_conv() -> None:
    """With nothing to upsample, the layer is the nn.Conv2d that shares its state dict."""
    layer = ResizeConv2d(3, 2, 3, scale_factor=1, padding_mode="zeros", impl="fused")
    conv = nn.Conv2d(3, 2, 3, padding="same")
    conv.load_state_dict(layer.state_dict())
    x = torch.randn(2, 3, 7, 6)
    torch.testing.assert_close(layer(x), conv(x), atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 0}, "in_channels must be a positive integer, got 0"),
        ({"out_channels": -2}, "out_channels must be a positive integer, got -2"),
        ({"kernel_size": 0}, "kernel_size must be a positive integer, got 0"),
        ({"kernel_size": (3, 0)}, "kernel_size must be a positive integer, got 0"),
        ({"kernel_size": (3, 3, 3)}, "kernel_size must be an int or a sequence of 2 ints"),
        ({"scale_factor": 0}, "scale_factor must be an integer >= 1, got 0"),
        ({"scale_factor": 2.5}, "scale_factor must be an integer >= 1, got 2.5"),
        ({"scale_factor": "2"}, "scale_factor must be an integer >= 1, got '2'"),
        ({"mode": "bicubic"}, "mode must be one of 'nearest', 'bilinear', got 'bicubic'"),
        ({"padding_mode": "circular"}, "padding_mode must be one of 'reflect', 'replicate', "),
        ({"impl": "cuda"}, "impl must be one of 'auto', 'fused', 'reference', got 'cuda'"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    args: dict = {"in_channels": 4, "out_channels": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        ResizeConv2d(**args)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_forward_rejects_wrong_rank_channels_and_narrow_reflect(impl: str) -> None:
    layer = ResizeConv2d(4, 2, kernel_size=5, impl=impl)
    with pytest.raises(ValueError, match=r"must have shape \(N, C, H, W\).*\(4, 8, 8\)"):
        layer(torch.randn(4, 8, 8))
    with pytest.raises(ValueError, match=r"has 3 channels.*in_channels=4"):
        layer(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"padding_mode='reflect'.*upsamples to 2"):
        layer(torch.randn(1, 4, 1, 8))  # k=5 reflects 2 samples; the height upsamples to 2


# ------------------------------------------------------- compile, TorchScript, ONNX


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own TorchScript internals
def test_torch_compile_equals_eager() -> None:
    layer = ResizeConv2d(3, 2, mode="bilinear", impl="fused")
    x = torch.randn(1, 3, 6, 5)
    compiled = torch.compile(layer, fullgraph=True)
    with warnings.catch_warnings():  # dynamo notes that it traces through functools.cache
        warnings.simplefilter("ignore", UserWarning)
        got = compiled(x)
    torch.testing.assert_close(got, layer(x))


# Shape checks become constants of the trace, as intended; torch deprecates TorchScript.
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_torchscript_trace_equals_eager(impl: str) -> None:
    layer = ResizeConv2d(3, 2, mode="bilinear", impl=impl)
    x = torch.randn(2, 3, 6, 5)
    traced = torch.jit.trace(layer, x)
    torch.testing.assert_close(traced(x), layer(x))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_onnx_export(impl: str, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    layer = ResizeConv2d(3, 2, mode="bilinear", impl=impl).eval()
    x = torch.randn(1, 3, 6, 5)
    path = tmp_path / "resize_conv.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(layer, (x,), str(path), verbose=False)
    onnx.checker.check_model(onnx.load(str(path)))
    try:
        import onnxruntime
    except ImportError:
        return
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), layer(x), atol=1e-5, rtol=1e-5)
