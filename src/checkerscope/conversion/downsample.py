"""Downsampling surgery: the strided convolutions and pools of any model become anti-aliased ones.

Zhang (2019), "Making Convolutional Networks Shift-Invariant Again", and antialiased-cnns' table
of changes ("MaxPool -> MaxBlurPool, StridedConv -> ConvBlurPool, AvgPool -> BlurPool"), which
antialiased-cnns and timm apply to their own models; :func:`downsampling_replacements` applies
it to any model:

* strided ``Conv1d/2d`` -> :class:`~checkerscope.nn.AntiAliasedConv1d`/``2d``: the same
  convolution (weights, padding, dilation, groups, padding mode) at stride 1, then blur-pool;
* ``MaxPool1d/2d`` -> :class:`~checkerscope.nn.MaxBlurPool1d`/``2d``: max at stride 1, then
  blur-pool;
* strided ``AvgPool1d/2d`` -> :class:`BlurredAvgPool`: a binomial blur, then the same average
  pool. The pool's box and the blur together are the blur-pool's filter: for the usual k = s = 2
  exactly Zhang's BlurPool with the 4-tap binomial [1, 3, 3, 1] / 8, on the pool's own grid.

Output sizes are kept for every input size: a convolution with padding p, dilation d, kernel k
at stride 1 has ``L + 2p - d (k - 1)`` samples and blur-pool keeps ``ceil`` of that over s, which
is the strided convolution's ``floor((L + 2p - d (k - 1) - 1) / s) + 1``; MaxBlurPool keeps the
max pool's size by construction (ceil mode included); BlurredAvgPool blurs at stride 1 and then
runs the original pool. The blurs pad by edge replication, which (unlike reflection) is defined
on maps of any size, so every input the original layers take still runs.

Strides above 2. A blur-pool at stride s sends back, for a flat gradient, the sums of its taps
in each phase mod s; they are equal (no checkerboard in the gradient) only if the blur's
spectrum is zero at every multiple of fs / s. A binomial is zero at fs / 2 alone: at stride 4
Zhang's 3 taps send back [0.5, 0.25, 0, 0.25] (MelGAN's multi-scale discriminator went from
11.5 to 17.5 dB), and larger binomials only shrink that pattern. antialiased-cnns never blurs
at a stride above 2: its AlexNet runs the stride-4 convolution at stride 2 and blur-pools by 2.
So a stride ``s = 2**k > 2`` becomes ``k`` blur-pools at stride 2 in a row (:func:`blur_stages`;
their filter, the binomial times itself stretched by 2, 4, ..., is zero at every multiple of
fs / s, and the output keeps the strided layer's size, ``ceil(ceil(L / 2) / 2) = ceil(L / 4)``):
a strided convolution becomes ``nn.Sequential(AntiAliasedConvNd(..., stride=2),
BlurPoolNd(C, 2), ...)`` and a max pool ``nn.Sequential(MaxBlurPoolNd(..., stride=2),
BlurredAvgPool(dims, 1, 2), ...)`` (an average pool of kernel 1 is a blur-pool on any
channels). Other strides (3, 5, 6, ...) and max pools in ceil mode keep one blur-pool at the
full stride: no binomial blur-pool is even there, and the layers (:mod:`checkerscope.nn`) take
only binomial taps. A strided average pool keeps its box, which is even at every multiple of
fs / s when the kernel is a multiple of the stride.

Parametrized convolutions (``torch.nn.utils.parametrizations.weight_norm``, ``spectral_norm``)
keep their parametrizations: the new convolution gets a copy of each, and the state dict
(originals and buffers) carries over.

Left as they are, with the reason: 3-D layers and strides that differ between axes (no
anti-aliased equivalent: the blur subsamples every axis by one stride), max pools that
return their indices (MaxBlurPool has none to return), and convolutions whose state does not
load into a plain or parametrized convolution (hook-based ``torch.nn.utils.weight_norm``).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from checkerscope import checks as v
from checkerscope.analysis import layers as L
from checkerscope.functional import blurpool as B
from checkerscope.nn import (
    AntiAliasedConv1d,
    AntiAliasedConv2d,
    BlurPool1d,
    BlurPool2d,
    MaxBlurPool1d,
    MaxBlurPool2d,
)

BLUR_PADDING = "replicate"
"""How the blurs of the replacements pad: defined on maps of any size, unlike "reflect"."""

FILTER_SIZE = 3
"""Taps of the binomial blur of every replacement (Zhang's "Tri-3")."""

NO_EQUIVALENT = "no anti-aliased 1-D/2-D equivalent"
"""Why a 3-D layer, or one whose strides differ between axes, is left as it is."""

_ANTIALIASED = {1: AntiAliasedConv1d, 2: AntiAliasedConv2d}
_BLUR_POOL = {1: BlurPool1d, 2: BlurPool2d}
_MAX_BLUR = {1: MaxBlurPool1d, 2: MaxBlurPool2d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d}
_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)


def _per_axis(value: int | tuple[int, ...], dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


class BlurredAvgPool(nn.Module):
    """A binomial blur at stride 1, then ``nn.AvgPool1d/2d`` with the given arguments.

    What :func:`checkerscope.convert` puts in place of a strided average pool (Zhang 2019,
    "AvgPool -> BlurPool"): the output size is the pool's for every input, and with kernel 2,
    stride 2 the result is a blur-pool with taps [1, 3, 3, 1] / 8 centred on the pool's windows.
    The blur (``filter_size`` binomial taps, ``padding_mode`` at the borders) is a
    non-persistent buffer; any channel count is accepted.

    Shapes: (N, C, *S) -> (N, C, *S_out), S_out as the average pool's.

    Example:
        >>> BlurredAvgPool(2, kernel_size=2, stride=2)(torch.randn(1, 3, 9, 9)).shape
        torch.Size([1, 3, 4, 4])
    """

    kernel: torch.Tensor

    def __init__(
        self,
        dims: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...],
        padding: int | tuple[int, ...] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
        filter_size: int = FILTER_SIZE,
        padding_mode: str = BLUR_PADDING,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if dims not in _AVG_POOL:
            raise ValueError(f"dims must be 1 or 2, got {dims!r}")
        self.dims = dims
        self.kernel_size = v.ntuple("kernel_size", kernel_size, dims)
        self.stride = v.ntuple("stride", stride, dims)
        self.padding = v.ntuple("padding", padding, dims, v.nonnegative_int)
        for name, flag in (("ceil_mode", ceil_mode), ("count_include_pad", count_include_pad)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be True or False, got {flag!r}")
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        if dims == 1 and divisor_override is not None:
            raise ValueError(
                f"divisor_override exists for 2-D average pools only, got {divisor_override!r}"
            )
        self.divisor_override = divisor_override
        self.filter_size = v.positive_int("filter_size", filter_size)
        self.padding_mode = v.one_of("padding_mode", padding_mode, B.PADDING_MODES)
        taps = B.binomial_taps(filter_size, dtype=dtype, device=device)
        self.register_buffer("kernel", B.separable_kernel(taps, dims), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("input", x, dims=self.dims, channels=None)
        B.check_padding_fits(x, tuple(self.kernel.shape), self.padding_mode)
        blurred = B.blur(x, self.kernel, 1, self.padding_mode)
        pool = _AVG_POOL[self.dims]
        extra = {} if self.dims == 1 else {"divisor_override": self.divisor_override}
        return pool(
            blurred,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            **extra,
        )

    def extra_repr(self) -> str:
        text = (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}"
        )
        if self.divisor_override is not None:
            text += f", divisor_override={self.divisor_override}"
        return text + f", filter_size={self.filter_size}, padding_mode={self.padding_mode!r}"


def is_strided_downsampler(m: nn.Module) -> bool:
    """Whether ``m`` is a ``ConvNd`` or a max/average ``PoolNd`` with a stride above 1 on some
    axis: the layers :func:`downsampling_replacements` looks at.

    Example:
        >>> is_strided_downsampler(nn.MaxPool2d(2)), is_strided_downsampler(nn.Conv2d(1, 1, 3))
        (True, False)
    """
    if not (L.is_conv(m) or L.is_pool(m)):
        return False
    stride = m.stride if m.stride is not None else m.kernel_size
    return any(s > 1 for s in _per_axis(stride, 1))


def blur_stages(stride: int) -> int:
    """How many blur-pools at stride 2 replace one at ``stride``: ``log2(stride)`` for a power
    of two above 2, else 1 (one blur-pool at the full stride; see the module docstring).

    Example:
        >>> blur_stages(2), blur_stages(4), blur_stages(8), blur_stages(3), blur_stages(6)
        (1, 2, 3, 1, 1)
    """
    if stride > 2 and not stride & (stride - 1):
        return stride.bit_length() - 1
    return 1


def _copy_parametrizations(old: nn.Module, new: nn.Module) -> None:
    """Register a copy of each of ``old``'s parametrizations on ``new``, in order, so that
    ``new`` takes ``old``'s state dict (originals and the parametrizations' buffers)."""
    if not parametrize.is_parametrized(old):
        return
    for name, chain in old.parametrizations.items():
        for p in chain:
            parametrize.register_parametrization(
                new, name, copy.deepcopy(p), unsafe=bool(chain.unsafe)
            )


def _antialiased_conv(m: nn.Module, stride: int) -> nn.Module | str:
    dims, stages = len(m.kernel_size), blur_stages(stride)
    new = _ANTIALIASED[dims](
        m.in_channels,
        m.out_channels,
        m.kernel_size,
        stride=2 if stages > 1 else stride,
        padding=m.padding,
        dilation=m.dilation,
        groups=m.groups,
        bias=m.bias is not None,
        padding_mode=m.padding_mode,
        filter_size=FILTER_SIZE,
        blur_padding_mode=BLUR_PADDING,
        device=m.weight.device,
        dtype=m.weight.dtype,
    )
    _copy_parametrizations(m, new.conv)
    state = m.state_dict()
    if set(state) != set(new.conv.state_dict()):
        return (
            f"its state ({', '.join(sorted(state))}) is not that of a plain or parametrized "
            f"{type(new.conv).__name__} (a hook-based weight_norm or spectral_norm? use "
            f"torch.nn.utils.parametrizations)"
        )
    new.conv.load_state_dict(state)
    for p_name, p in m.named_parameters():
        new.conv.get_parameter(p_name).requires_grad_(p.requires_grad)
    if stages == 1:
        return new
    blurs = [
        _BLUR_POOL[dims](
            m.out_channels, 2, FILTER_SIZE, BLUR_PADDING, device=m.weight.device,
            dtype=m.weight.dtype,
        )
        for _ in range(stages - 1)
    ]  # fmt: skip
    return nn.Sequential(new, *blurs)


def _max_blur_pool(m: nn.Module, dims: int, stride: int) -> nn.Module:
    stages = 1 if m.ceil_mode else blur_stages(stride)
    pool = _MAX_BLUR[dims](
        None,
        _per_axis(m.kernel_size, dims),
        2 if stages > 1 else stride,
        _per_axis(m.padding, dims),
        _per_axis(m.dilation, dims),
        m.ceil_mode,
        FILTER_SIZE,
        BLUR_PADDING,
    )
    if stages == 1:
        return pool
    return nn.Sequential(pool, *(BlurredAvgPool(dims, 1, 2) for _ in range(stages - 1)))


def _blurred_avg_pool(m: nn.Module, dims: int) -> nn.Module:
    return BlurredAvgPool(
        dims,
        m.kernel_size,
        m.stride,
        m.padding,
        m.ceil_mode,
        m.count_include_pad,
        getattr(m, "divisor_override", None),
    )


def downsampling_replacement(name: str, m: nn.Module) -> nn.Module | str:
    """The anti-aliased replacement of the strided layer ``m`` (see the module docstring), in
    ``m``'s training mode, or the reason it is left as it is.

    Raises:
        ValueError: for a lazy convolution, whose shape is not known yet.

    Example:
        >>> downsampling_replacement("down", nn.MaxPool2d(2))
        MaxBlurPool2d(kernel_size=(2, 2), stride=2, padding=(0, 0), dilation=(1, 1), \
ceil_mode=False, filter_size=3, padding_mode='replicate')
        >>> downsampling_replacement("down", nn.Conv3d(1, 1, 3, stride=2))
        'no anti-aliased 1-D/2-D equivalent'
    """
    dims = _dims(m)
    stride = m.stride if m.stride is not None else m.kernel_size
    strides = set(_per_axis(stride, dims))
    if dims not in (1, 2) or len(strides) != 1:
        return NO_EQUIVALENT
    (s,) = strides
    if L.is_conv(m):
        if isinstance(m.weight, nn.parameter.UninitializedParameter):
            raise ValueError(
                f"cannot convert layer {name or '<root>'!r} ({type(m).__name__}): its parameters "
                f"are uninitialized (a lazy module); run one forward pass before converting"
            )
        new = _antialiased_conv(m, s)
        if isinstance(new, str):
            return new
    elif isinstance(m, _MAX_POOLS):
        if m.return_indices:
            return "returns indices (return_indices=True), which MaxBlurPool does not"
        new = _max_blur_pool(m, dims, s)
    else:
        new = _blurred_avg_pool(m, dims)
    return new.train(m.training)


def _dims(m: nn.Module) -> int:
    if L.is_conv(m):
        return len(m.kernel_size)
    return next(d for d, kinds in _POOLS_BY_DIMS.items() if isinstance(m, kinds))


_POOLS_BY_DIMS = {
    1: (nn.MaxPool1d, nn.AvgPool1d),
    2: (nn.MaxPool2d, nn.AvgPool2d),
    3: (nn.MaxPool3d, nn.AvgPool3d),
}
