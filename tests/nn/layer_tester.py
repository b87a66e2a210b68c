"""One set of checks that every layer class in :mod:`checkerscope.nn` runs through.

After kornia's ``BaseTester``: a layer's test file subclasses :class:`LayerTester` (class name
``Test<Layer>``), says how to build the layer and what it promises, and inherits the checks.
``tests/nn/test_layer_tester.py`` fails when an exported layer has no tester.

=========================================  ====================================================
check                                      asserts
=========================================  ====================================================
test_cardinality                           output shape over scales x channels x sizes x grid
test_dtype_and_device_arguments            ``dtype=``/``device=`` reach every parameter, buffer
test_low_precision_close_to_float64        float32, float16, bfloat16 outputs near float64's
test_non_contiguous_input                  a strided view gives the contiguous result
test_channels_last                         channels-last input (and weights) give the same
test_gradcheck                             float64 gradients of input and every parameter
test_module_equals_functional              the layer equals its functional counterpart
test_state_dict_is_the_plain_conv          keys and shapes of the plain ``nn.ConvNd``; loads both
test_constant_input_gives_constant_output  away from zero-padded borders (anti-artifact configs)
test_deterministic_on_cuda                 no operator without a deterministic CUDA kernel,
                                           forward and backward, every scale and grid point;
                                           runs under use_deterministic_algorithms(True)
test_trace_equals_eager                    ``torch.jit.trace`` on a fresh input of the same shape
test_trace_on_new_sizes_right_or_raises    a traced layer on other sizes equals eager or raises
test_compile_equals_eager (slow)           ``torch.compile(fullgraph=True)``, ``slow_configs`` only
test_onnx_runs_the_same (slow)             ONNX export run in onnxruntime, ``slow_configs`` only
test_export_dynamic_sizes (slow)           ``torch.export`` with dynamic spatial sizes == eager
                                           at several odd sizes
test_onnx_dynamic_sizes (slow)             both ONNX exporters with dynamic axes, onnxruntime
                                           == eager at several sizes
test_compile_dynamic_compiles_once (slow)  ``torch.compile(dynamic=True)``: one graph for
                                           six sizes, each == eager
test_wrong_rank_and_channels               the exact error texts for the common mistakes
test_bad_inputs                            exact texts for the class's own bad inputs
test_bad_arguments                         exact texts for bad constructor arguments
test_repr                                  the exact repr, so ``extra_repr`` shows the arguments
=========================================  ====================================================

Every check that takes ``config`` runs once per entry of ``configs`` (constructor keywords by
id). Checks compare in float64 unless they are about another dtype.
"""

from __future__ import annotations

import copy
import io
import itertools
import warnings
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from .dispatch_log import NONDETERMINISTIC_ON_CUDA, deterministic_algorithms, forward_backward_ops

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SIZES = {1: ((5,), (10,)), 2: ((5, 4), (7, 10)), 3: ((5, 4, 3), (3, 2, 4))}
GRADCHECK_SIZES = {1: (4,), 2: (3, 4), 3: (3, 3, 3)}
CONSTANT_SIZES = {1: (16,), 2: (12, 12), 3: (6, 6, 6)}
# Per dtype: atol = rtol against float64, for outputs of size ~1 (measured worst: 1.2e-2 bf16).
TOLERANCES = {torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 5e-2}
Configs = dict[str, dict[str, Any]]  # id -> constructor keywords
Grid = dict[str, tuple[Any, ...]]  # constructor keyword -> values to try

SLOW_CHECKS = ("test_compile_equals_eager", "test_onnx_runs_the_same")
CONSTANT_CHECK = "test_constant_input_gives_constant_output"
# Dynamic sizes: the size to trace, export or compile at, then sizes to run at (odd sizes,
# and no axis under 5, which the layers' reflect padding and filters need at kernel 5).
DYNAMIC_EXAMPLE = {1: (9,), 2: (9, 7), 3: (7, 5, 6)}
DYNAMIC_SIZES = {
    1: ((5,), (13,), (6,)),
    2: ((5, 11), (13, 6), (8, 8)),
    3: ((5, 7, 6), (9, 5, 8), (6, 6, 5)),
}
SMALL_SIZES = {1: ((1,), (2,), (3,)), 2: ((1, 4), (2, 3), (3, 2)), 3: ((1, 3, 2), (2, 2, 3))}


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` (N, C, *S) with channels as the fastest axis; values unchanged."""
    if x.dim() == 4:
        return x.to(memory_format=torch.channels_last)
    if x.dim() == 5:
        return x.to(memory_format=torch.channels_last_3d)
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def crop(y: torch.Tensor, before: tuple[int, ...], after: tuple[int, ...]) -> torch.Tensor:
    """``y`` (N, C, *S) less ``before[i]`` leading and ``after[i]`` trailing samples on axis i."""
    spans = (slice(b, n - a) for b, a, n in zip(before, after, y.shape[2:], strict=True))
    return y[(..., *spans)]


def non_contiguous(x: torch.Tensor) -> torch.Tensor:
    """A strided view (every other sample of a wider tensor) holding the values of ``x``."""
    wide = torch.zeros(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype, device=x.device)
    wide[..., ::2] = x
    return wide[..., ::2]


class LayerTester:
    """Inherit the checks; set the class attributes and the hooks below.

    ``make(config, in_channels, out_channels, scale, **factory)`` builds the layer: ``scale``
    is the upsampling factor or the stride, ``factory`` holds ``dtype``/``device``.
    """

    layer: ClassVar[type[nn.Module]]
    dims: ClassVar[int]
    upsamples: ClassVar[bool]  # size s*n; otherwise ceil(n / s)
    configs: ClassVar[Configs]
    slow_configs: ClassVar[tuple[str, ...]]  # the configs that compile and ONNX also run
    # The configs the dynamic-size ONNX check runs (all when None): exporting a 3-D fused
    # resize-convolution with the dynamo exporter takes tens of seconds.
    onnx_configs: ClassVar[tuple[str, ...] | None] = None
    checkerboard_configs: ClassVar[tuple[str, ...]] = ()  # exempt from the constant check
    grid: ClassVar[Grid] = {}  # more keywords for the shape grid
    scales: ClassVar[tuple[int, ...]] = (1, 2, 3)  # upsampling factors or strides to try
    channels: ClassVar[tuple[tuple[int, int], ...]] = ((1, 1), (4, 3))
    # The texts for torch.randn(3, *SIZES[dims][0]) and torch.randn(1, 5, *SIZES[dims][0])
    # given to a layer with in_channels=4.
    wrong_rank_message: ClassVar[str]
    wrong_channels_message: ClassVar[str]
    bad_inputs: ClassVar[tuple[tuple[dict[str, Any], tuple[int, ...], str], ...]] = ()
    bad_arguments: ClassVar[tuple[tuple[dict[str, Any], str], ...]]
    reprs: ClassVar[tuple[tuple[dict[str, Any], str], ...]]

    # ------------------------------------------------------------------ hooks

    def make(
        self,
        config: dict[str, Any],
        in_channels: int,
        out_channels: int,
        scale: int,
        **factory: Any,
    ) -> nn.Module:
        raise NotImplementedError

    def functional(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The layer computed by the functions of :mod:`checkerscope.functional` (or torch)."""
        raise NotImplementedError

    def plain_conv(self, layer: nn.Module) -> tuple[str, nn.Module] | None:
        """(prefix, nn.ConvNd) whose state dict the layer's equals, or None: it holds none."""
        raise NotImplementedError

    def interior(self, layer: nn.Module, y: torch.Tensor) -> torch.Tensor:
        """The part of an output of ``layer`` that zero padding does not reach."""
        return y

    # ------------------------------------------------------------------ plumbing

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "config" in metafunc.fixturenames:
            name = metafunc.function.__name__
            ids = list(self.configs)
            if name in SLOW_CHECKS:
                ids = list(self.slow_configs)
            elif name == "test_onnx_dynamic_sizes" and self.onnx_configs is not None:
                ids = list(self.onnx_configs)
            elif name == CONSTANT_CHECK:
                ids = [i for i in ids if i not in self.checkerboard_configs]
            metafunc.parametrize("config", ids)
        if "scale" in metafunc.fixturenames:
            metafunc.parametrize("scale", self.scales)
        if "device" in metafunc.fixturenames:
            metafunc.parametrize("device", DEVICES)

    def build(self, config: str, **factory: Any) -> nn.Module:
        """The layer of ``config`` with the last channel pair and scale 2, seeded."""
        torch.manual_seed(0)
        in_channels, out_channels = self.channels[-1]
        return self.make(self.configs[config], in_channels, out_channels, 2, **factory)

    def grid_points(self) -> list[dict[str, Any]]:
        """Every combination of the ``grid`` keywords, as constructor keywords."""
        values = itertools.product(*self.grid.values())
        return [dict(zip(self.grid, v, strict=True)) for v in values]

    def expected_shape(
        self, shape: tuple[int, ...], out_channels: int, scale: int
    ) -> tuple[int, ...]:
        spatial = shape[2:]
        if self.upsamples:
            return (shape[0], out_channels, *(scale * n for n in spatial))
        return (shape[0], out_channels, *(-(-n // scale) for n in spatial))

    def input(self, dtype: torch.dtype = torch.float64, device: str = "cpu") -> torch.Tensor:
        """A seeded (2, C_in, *SIZES[dims][0]) input for the layer that ``build`` makes."""
        gen = torch.Generator().manual_seed(1)
        shape = (2, self.channels[-1][0], *SIZES[self.dims][0])
        return torch.randn(shape, generator=gen, dtype=dtype).to(device)

    # ------------------------------------------------------------------ shapes and dtypes

    def test_cardinality(self, config: str, scale: int, device: str) -> None:
        cases = itertools.product(self.channels, SIZES[self.dims], self.grid_points())
        for (c_in, c_out), size, extra in cases:
            layer = self.make({**self.configs[config], **extra}, c_in, c_out, scale, device=device)
            x = torch.randn(2, c_in, *size, device=device)
            y = layer(x)
            assert y.shape == self.expected_shape(x.shape, c_out, scale), (extra, x.shape)
            assert (y.dtype, y.device) == (x.dtype, x.device)

    def test_dtype_and_device_arguments(self, config: str, device: str) -> None:
        layer = self.build(config, dtype=torch.float64, device=device)
        tensors = [*layer.parameters(), *layer.buffers()]
        assert all(t.dtype == torch.float64 for t in tensors if t.is_floating_point())
        assert all(t.device.type == device for t in tensors)
        x = self.input(device=device)
        assert layer(x).dtype == torch.float64

    @pytest.mark.parametrize("dtype", list(TOLERANCES), ids=str)
    def test_low_precision_close_to_float64(
        self, config: str, dtype: torch.dtype, device: str
    ) -> None:
        """Within ``TOLERANCES``; on CUDA with TF32 off: cuDNN's convolutions default to TF32,
        which rounds float32 inputs to 10 bits (4.4e-4 off float64 in 3-D on an H200, fused
        and reference alike), torch's setting and not the layer's."""
        layer = self.build(config, dtype=torch.float64, device=device)
        x = self.input(device=device)
        want = layer(x)
        tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            got = layer.to(dtype)(x.to(dtype))
        finally:
            torch.backends.cudnn.allow_tf32 = tf32
        assert got.dtype == dtype
        tol = TOLERANCES[dtype]
        torch.testing.assert_close(got.double(), want, atol=tol, rtol=tol)

    # ------------------------------------------------------------------ memory layouts

    def test_non_contiguous_input(self, config: str, device: str) -> None:
        layer = self.build(config, dtype=torch.float64, device=device)
        x = non_contiguous(self.input(device=device))
        assert not x.is_contiguous()
        torch.testing.assert_close(layer(x), layer(x.contiguous()))

    def test_channels_last(self, config: str, device: str) -> None:
        layer = self.build(config, dtype=torch.float64, device=device)
        x = self.input(device=device)
        want = layer(x)
        torch.testing.assert_close(layer(channels_last(x)), want)
        if self.dims in (2, 3):  # weights too: nn.Module.to converts 4-D and 5-D tensors
            fmt = torch.channels_last if self.dims == 2 else torch.channels_last_3d
            converted = copy.deepcopy(layer).to(memory_format=fmt)
            torch.testing.assert_close(converted(channels_last(x)), want)

    # ------------------------------------------------------------------ values and gradients

    def test_gradcheck(self, config: str) -> None:
        torch.manual_seed(0)
        layer = self.make(self.configs[config], 2, 2, 2, dtype=torch.float64)
        names = [name for name, _ in layer.named_parameters()]
        x = torch.randn(1, 2, *GRADCHECK_SIZES[self.dims], dtype=torch.float64)

        def run(x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
            values = dict(zip(names, params, strict=True))
            return torch.func.functional_call(layer, values, (x,))

        inputs = [x, *(p.detach() for p in layer.parameters())]
        assert torch.autograd.gradcheck(run, tuple(t.requires_grad_() for t in inputs))

    def test_module_equals_functional(self, config: str, device: str) -> None:
        for scale, extra in itertools.product(self.scales, self.grid_points()):
            torch.manual_seed(0)
            c_in, c_out = self.channels[-1]
            layer = self.make(
                {**self.configs[config], **extra},
                c_in,
                c_out,
                scale,
                dtype=torch.float64,
                device=device,
            )
            x = self.input(device=device)
            torch.testing.assert_close(
                layer(x), self.functional(layer, x), msg=lambda m, e=extra, s=scale: f"{e} {s}: {m}"
            )

    def test_state_dict_is_the_plain_conv(self, config: str) -> None:
        layer = self.build(config)
        found = self.plain_conv(layer)
        if found is None:
            assert layer.state_dict() == {}
            return
        prefix, conv = found
        theirs = {prefix + k: t for k, t in conv.state_dict().items()}
        ours = layer.state_dict()
        assert {k: t.shape for k, t in ours.items()} == {k: t.shape for k, t in theirs.items()}
        layer.load_state_dict(theirs)
        assert all(torch.equal(layer.state_dict()[k], t) for k, t in theirs.items())
        fresh = copy.deepcopy(conv)
        fresh.load_state_dict({k.removeprefix(prefix): t for k, t in ours.items()})
        assert all(
            torch.equal(fresh.state_dict()[k.removeprefix(prefix)], t) for k, t in ours.items()
        )

    def test_constant_input_gives_constant_output(self, config: str) -> None:
        for scale, extra in itertools.product(self.scales, self.grid_points()):
            torch.manual_seed(0)
            c_in, c_out = self.channels[-1]
            layer = self.make(
                {**self.configs[config], **extra}, c_in, c_out, scale, dtype=torch.float64
            )
            x = torch.full((1, c_in, *CONSTANT_SIZES[self.dims]), 0.7, dtype=torch.float64)
            inner = self.interior(layer, layer(x)).detach().flatten(2)
            assert inner.shape[-1] > 0, (extra, scale)
            torch.testing.assert_close(
                inner,
                inner[..., :1].expand_as(inner),
                atol=1e-10,
                rtol=0,
                msg=lambda m, e=extra, s=scale: f"{e} scale {s}: {m}",
            )

    def test_deterministic_on_cuda(self, config: str, device: str) -> None:
        """Every operator of forward and backward has a deterministic CUDA implementation
        (recorded on any device; on CUDA the pass also runs in deterministic mode)."""
        for scale, extra in itertools.product(self.scales, self.grid_points()):
            torch.manual_seed(0)
            c_in, c_out = self.channels[-1]
            keywords = {**self.configs[config], **extra}
            layer = self.make(keywords, c_in, c_out, scale, dtype=torch.float64, device=device)
            x = self.input(device=device)
            found = forward_backward_ops(layer, x) & NONDETERMINISTIC_ON_CUDA
            assert not found, (extra, scale, sorted(found))
            with deterministic_algorithms():
                forward_backward_ops(layer, x)

    # ------------------------------------------------------------------ trace, compile, ONNX

    # Shape checks become constants of the trace, as intended; torch deprecates TorchScript.
    @pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
    def test_trace_equals_eager(self, config: str) -> None:
        layer = self.build(config).eval()
        x = self.input(dtype=torch.float32)
        traced = torch.jit.trace(layer, x)
        fresh = torch.randn(x.shape)  # not the input it was traced with
        torch.testing.assert_close(traced(fresh), layer(fresh))

    @pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
    def test_trace_on_new_sizes_right_or_raises(self, config: str) -> None:
        """Sizes are traced as values, so a traced layer follows the input's size; where the
        trace's path no longer applies (inputs shorter than the border terms need), it raises
        rather than silently returning the traced size."""
        layer = self.build(config).eval()
        traced = torch.jit.trace(layer, self.sized_input(DYNAMIC_EXAMPLE[self.dims]))
        for size in DYNAMIC_SIZES[self.dims] + SMALL_SIZES[self.dims]:
            x = self.sized_input(size)
            try:
                want = layer(x)
            except ValueError:  # too small for the layer: the trace must not answer either
                with pytest.raises(RuntimeError):
                    traced(x)
                continue
            try:
                got = traced(x)
            except RuntimeError:
                continue
            torch.testing.assert_close(got, want, msg=lambda m, s=size: f"{s}: {m}")

    @pytest.mark.slow
    @pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own TorchScript internals
    def test_compile_equals_eager(self, config: str) -> None:
        layer = self.build(config).eval()
        x = self.input(dtype=torch.float32)
        torch.compiler.reset()  # a fresh cache: many layers share one forward's code object
        compiled = torch.compile(layer, fullgraph=True, dynamic=False)
        with warnings.catch_warnings():  # dynamo notes that it traces through functools.cache
            warnings.simplefilter("ignore", UserWarning)
            got = compiled(x)
        torch.testing.assert_close(got, layer(x), atol=1e-5, rtol=1e-5)

    @pytest.mark.slow
    def test_onnx_runs_the_same(self, config: str) -> None:
        import onnx
        import onnxruntime

        layer = self.build(config).eval()
        x = self.input(dtype=torch.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = torch.onnx.export(layer, (x,), dynamo=True, verbose=False).model_proto
        onnx.checker.check_model(model)
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(got), layer(x), atol=1e-5, rtol=1e-5)

    def sized_input(self, size: tuple[int, ...]) -> torch.Tensor:
        """A seeded float32 (2, C_in, *size) input for the layer that ``build`` makes."""
        gen = torch.Generator().manual_seed(sum(size))
        return torch.randn(2, self.channels[-1][0], *size, generator=gen)

    @pytest.mark.slow
    def test_export_dynamic_sizes(self, config: str) -> None:
        layer = self.build(config).eval()
        dynamic = {2 + a: torch.export.Dim.DYNAMIC for a in range(self.dims)}
        example = self.sized_input(DYNAMIC_EXAMPLE[self.dims])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exported = torch.export.export(layer, (example,), dynamic_shapes=(dynamic,)).module()
        for size in DYNAMIC_SIZES[self.dims]:
            x = self.sized_input(size)
            with torch.no_grad():
                torch.testing.assert_close(exported(x), layer(x), msg=lambda m, s=size: f"{s}: {m}")

    @pytest.mark.slow
    @pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
    def test_onnx_dynamic_sizes(self, config: str, dynamo: bool) -> None:
        import onnxruntime

        layer = self.build(config).eval()
        example = self.sized_input(DYNAMIC_EXAMPLE[self.dims])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if dynamo:
                dynamic = {2 + a: torch.export.Dim.DYNAMIC for a in range(self.dims)}
                program = torch.onnx.export(
                    layer, (example,), dynamo=True, dynamic_shapes=(dynamic,), verbose=False
                )
                model = program.model_proto.SerializeToString()
            else:
                buffer = io.BytesIO()
                axes = {f"{a}": {2 + i: f"{a}{i}" for i in range(self.dims)} for a in "xy"}
                torch.onnx.export(
                    layer,
                    (example,),
                    buffer,
                    dynamo=False,
                    input_names=["x"],
                    output_names=["y"],
                    dynamic_axes=axes,
                )
                model = buffer.getvalue()
        session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
        for size in DYNAMIC_SIZES[self.dims]:
            x = self.sized_input(size)
            (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
            with torch.no_grad():
                want = layer(x)
            torch.testing.assert_close(
                torch.from_numpy(got),
                want,
                atol=1e-5,
                rtol=1e-5,
                msg=lambda m, s=size: f"{s}: {m}",
            )

    @pytest.mark.slow
    def test_compile_dynamic_compiles_once(self, config: str) -> None:
        """Counted by a backend that records each graph dynamo hands it (torch.compile's
        public ``backend=`` hook), so a recompilation for a new size would show."""
        layer = self.build(config).eval()
        graphs = []

        def backend(gm: torch.fx.GraphModule, example_inputs: list) -> Any:
            graphs.append(gm)
            return gm.forward

        torch.compiler.reset()
        compiled = torch.compile(layer, backend=backend, dynamic=True, fullgraph=True)
        for size in (DYNAMIC_EXAMPLE[self.dims], *DYNAMIC_SIZES[self.dims]):
            x = self.sized_input(size)
            torch.testing.assert_close(compiled(x), layer(x), msg=lambda m, s=size: f"{s}: {m}")
        assert len(graphs) == 1

    # ------------------------------------------------------------------ errors and repr

    def test_wrong_rank_and_channels(self, config: str) -> None:
        layer = self.make(self.configs[config], 4, 4, 2)
        size = SIZES[self.dims][0]
        with pytest.raises(ValueError) as rank:
            layer(torch.randn(3, *size))
        assert str(rank.value) == self.wrong_rank_message
        with pytest.raises(ValueError) as channels:
            layer(torch.randn(1, 5, *size))
        assert str(channels.value) == self.wrong_channels_message
        with pytest.raises(ValueError) as not_a_tensor:
            layer([[0.0]])
        assert str(not_a_tensor.value) == "input must be a torch.Tensor, got list"

    def test_bad_inputs(self, config: str) -> None:
        for keywords, shape, message in self.bad_inputs:
            layer = self.make({**self.configs[config], **keywords}, 4, 4, 2)
            with pytest.raises(ValueError) as error:
                layer(torch.randn(shape))
            assert str(error.value) == message

    def test_bad_arguments(self) -> None:
        for keywords, message in self.bad_arguments:
            with pytest.raises(ValueError) as error:
                self.layer(**keywords)
            assert str(error.value) == message, keywords

    def test_repr(self) -> None:
        for keywords, text in self.reprs:
            assert repr(self.layer(**keywords)) == text
