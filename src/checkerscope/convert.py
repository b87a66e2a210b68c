"""Replace every transposed convolution in a model by a resize-convolution of the same shape.

Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts": swapping the
deconvolutions of a generator for nearest-neighbour resize followed by a convolution removes
its checkerboard artifacts. :func:`convert` makes that swap on an existing model, keeping
every output shape; ``init="project"`` also carries trained weights over by least squares.

Geometry. ``ConvTranspose`` with stride s, kernel k, padding p, output padding op and
dilation d maps a length L to ``(L - 1) s - 2p + d (k - 1) + op + 1 = s L + c`` with the
constant ``c = -s - 2p + d (k - 1) + op + 1``. A resize-conv maps L to ``s L``. When
``c == 0`` and the two footprints are aligned the replacement is a bare ``ResizeConvNd``;
otherwise a :class:`ResizeConvAdapter` returns the window of ``s L + c`` positions of the
resize-conv's output whose footprints line up with the deconvolution's (extending the
input by edge replication where that window runs past it), so shapes agree for every L.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v
from checkerscope.functional import resize_conv as R
from checkerscope.nn.resize_conv import ResizeConv1d, ResizeConv2d, ResizeConv3d, _ResizeConvNd

INITS = ("fresh", "project")

_RESIZE_CONV = {1: ResizeConv1d, 2: ResizeConv2d, 3: ResizeConv3d}
_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_DECONV_TYPES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


class ResizeConvAdapter(nn.Module):
    """A resize-conv whose output is a shifted window of ``s L + extra`` positions per axis.

    Along each spatial axis the output is positions ``[offset, offset + s L + extra)`` of
    ``resize(x)``'s output (length ``s L``), where positions outside it are computed by
    extending ``x`` by edge replication first. :func:`convert` uses it to match the output
    shape and alignment of a ``ConvTranspose`` whose output is not exactly ``s L``.

    Shapes: (N, C_in, *S) -> (N, C_out, *(s S + extra)).

    Example:
        >>> import checkerscope
        >>> rc = checkerscope.nn.ResizeConv2d(8, 4)
        >>> ResizeConvAdapter(rc, offset=(-1, -1), extra=(2, 2))(torch.randn(1, 8, 5, 5)).shape
        torch.Size([1, 4, 12, 12])
    """

    def __init__(
        self, resize: _ResizeConvNd, offset: tuple[int, ...], extra: tuple[int, ...]
    ) -> None:
        super().__init__()
        dims = resize.dims
        if len(offset) != dims or len(extra) != dims:
            raise ValueError(
                f"offset and extra must have one entry per spatial axis ({dims}), "
                f"got offset={offset!r}, extra={extra!r}"
            )
        self.resize = resize
        self.offset = tuple(int(a) for a in offset)
        self.extra = tuple(int(c) for c in extra)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("input", x, dims=self.resize.dims, channels=self.resize.in_channels)
        s = self.resize.scale_factor
        return _crop(
            self.resize(_pad(x, s, self.offset, self.extra)), x, s, self.offset, self.extra
        )

    def extra_repr(self) -> str:
        return f"offset={self.offset}, extra={self.extra}"


def _input_pad(s: int, offset: int, extra: int) -> tuple[int, int]:
    """Low-resolution pixels to add on each side so that the window
    ``[offset, offset + s L + extra)`` lies inside the resize-conv's output."""
    return math.ceil(max(0, -offset) / s), math.ceil(max(0, extra + offset) / s)


def _pad(x: torch.Tensor, s: int, offset: tuple[int, ...], extra: tuple[int, ...]) -> torch.Tensor:
    pads: list[int] = []  # F.pad takes the last axis first
    for a, c in zip(reversed(offset), reversed(extra), strict=True):
        pads.extend(_input_pad(s, a, c))
    return F.pad(x, pads, mode="replicate") if any(pads) else x


def _crop(
    y: torch.Tensor, x: torch.Tensor, s: int, offset: tuple[int, ...], extra: tuple[int, ...]
) -> torch.Tensor:
    """Cut the window out of ``y``, the resize-conv of ``_pad(x)``."""
    index: list[slice] = [slice(None), slice(None)]
    for axis, (a, c) in enumerate(zip(offset, extra, strict=True)):
        left, _ = _input_pad(s, a, c)
        start = a + s * left
        index.append(slice(start, start + s * x.shape[2 + axis] + c))
    return y[tuple(index)]


@dataclass(frozen=True)
class ConvertedLayer:
    """One replaced layer: its qualified name, both layers' reprs, and the relative residual
    ``||A_new - A_old||_F / ||A_old||_F`` of the interior operators (see :func:`convert`)."""

    name: str
    original: str
    replacement: str
    residual: float


@dataclass(frozen=True)
class ConversionReport:
    """What :func:`convert` did: the layers it replaced and the ones it left alone, with why."""

    converted: tuple[ConvertedLayer, ...]
    skipped: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        lines = [f"converted {len(self.converted)} layer(s), skipped {len(self.skipped)}"]
        for c in self.converted:
            lines.append(f"  {c.name or '<root>'}: {c.original} -> {c.replacement}")
            lines.append(f"    relative operator residual {c.residual:.4g}")
        for name, why in self.skipped:
            lines.append(f"  skipped {name or '<root>'}: {why}")
        return "\n".join(lines)


def _alignment(s: int, p: int, d: int, k_old: int, k_new: int, extra: int) -> int:
    """Offset of the adapter window that centres the resize-conv's footprint of one input pixel
    on the deconvolution's.

    Deconvolution: input i paints outputs ``s i - p + d j`` (j < k_old), centre
    ``s i - p + d (k_old - 1) / 2``. Nearest resize then a 'same' convolution: input i covers
    ``s i .. s i + s - 1`` and the convolution spreads that by its left/right padding, centre
    ``s i + (s - 1) / 2 + left - (k_new - 1) / 2``. Half-way ties go to the offset that crops
    most evenly (0 when the lengths already agree).
    """
    left = R.same_padding(k_new)[0]
    ideal = Fraction(s - 1, 2) + left - Fraction(k_new - 1, 2) + p - Fraction(d * (k_old - 1), 2)
    if ideal.denominator == 1:
        return int(ideal)
    lo, hi = math.floor(ideal), math.ceil(ideal)
    balanced = Fraction(-extra, 2)
    return lo if abs(lo - balanced) <= abs(hi - balanced) else hi


def _check_convertible(name: str, m: nn.Module) -> None:
    where = f"layer {name or '<root>'!r} ({type(m).__name__})"
    if m.groups != 1:
        raise ValueError(
            f"cannot convert {where}: groups={m.groups}; ResizeConv supports groups=1 only"
        )
    if m.padding_mode != "zeros":
        raise ValueError(
            f"cannot convert {where}: padding_mode={m.padding_mode!r}; a ConvTranspose is "
            f"only defined with padding_mode='zeros'"
        )
    if len(set(m.stride)) != 1:
        raise ValueError(
            f"cannot convert {where}: stride={m.stride}; ResizeConv upsamples every axis by the "
            f"same integer, so the stride must be equal on all axes"
        )
    if isinstance(m.weight, nn.parameter.UninitializedParameter):
        raise ValueError(
            f"cannot convert {where}: its parameters are uninitialized (a lazy module); "
            f"run one forward pass before converting"
        )


def _geometry(m: nn.Module) -> tuple[_ResizeConvNd, tuple[int, ...], tuple[int, ...]]:
    """(resize-conv, offset, extra) of a replacement made by :func:`convert`."""
    if isinstance(m, ResizeConvAdapter):
        return m.resize, m.offset, m.extra
    if isinstance(m, _ResizeConvNd):
        return m, (0,) * m.dims, (0,) * m.dims
    raise ValueError(
        f"replacement must be a ResizeConv1d/2d/3d or a ResizeConvAdapter, got {type(m).__name__}"
    )


def _impulse_bases(deconv: nn.Module, replacement: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Interior impulse responses, in float64, of both single-channel operators.

    Returns ``(T, B)``: row j of ``T`` (K_old, P) is the deconvolution's response to one
    interior input pixel with a unit kernel at tap j; row j of ``B`` (K_new, P) is the
    replacement's with a unit kernel at tap j, on the same P output positions. Every channel
    pair (o, i) of a layer is the same linear function of its taps, so these two matrices
    describe the whole interior operator: one column of the operator matrix per input pixel.
    """
    resize, offset, extra = _geometry(replacement)
    dims, s = resize.dims, resize.scale_factor
    k_old, k_new = tuple(deconv.kernel_size), resize.kernel_size
    if deconv.stride != (s,) * dims:
        raise ValueError(
            f"replacement scale_factor={s} does not match the deconvolution's "
            f"stride={deconv.stride}"
        )
    reach = max(k_old) * max(deconv.dilation) + max(k_new) + s
    reach += max(abs(a) for a in offset) + max(abs(c) for c in extra)
    half = reach // s + 2  # keeps the response clear of every border
    size = 2 * half + 1
    f64 = {"dtype": torch.float64}
    delta = torch.zeros(1, 1, *(size,) * dims, **f64)
    delta[(0, 0, *(half,) * dims)] = 1.0

    n_old = math.prod(k_old)
    eye_old = torch.eye(n_old, **f64).reshape(1, n_old, *k_old)
    t = _CONV_TRANSPOSE[dims](
        delta,
        eye_old,
        stride=deconv.stride,
        padding=deconv.padding,
        output_padding=deconv.output_padding,
        dilation=deconv.dilation,
    )
    n_new = math.prod(k_new)
    eye_new = torch.eye(n_new, **f64).reshape(n_new, 1, *k_new)
    padded = _pad(delta, s, offset, extra)
    b = R.resize_conv_reference(padded, eye_new, None, s, resize.mode, resize.padding_mode)
    b = _crop(b, delta, s, offset, extra)
    if t.shape[2:] != b.shape[2:]:
        raise ValueError(
            f"replacement output shape {tuple(b.shape[2:])} differs from the deconvolution's "
            f"{tuple(t.shape[2:])} on a {size}-pixel input"
        )
    t, b = t.reshape(n_old, -1), b.reshape(n_new, -1)
    support = (t != 0).any(0) | (b != 0).any(0)  # the other positions add nothing to any norm
    return t[:, support], b[:, support]


def _pairs(deconv_weight: torch.Tensor) -> torch.Tensor:
    """ConvTranspose weight (C_in, C_out, *k) as (C_in * C_out, K) float64 rows."""
    weight = deconv_weight.detach().to("cpu", torch.float64)
    return weight.reshape(*weight.shape[:2], -1).flatten(0, 1)


def _relative_residual(
    w_old: torch.Tensor, w_new: torch.Tensor, t: torch.Tensor, b: torch.Tensor
) -> float:
    """``||w_old T - w_new B||_F / ||w_old T||_F`` without forming the (pairs, P) products.

    With ``D = [T; -B] = U S V^T``, ``||[w_old, w_new] D||_F = ||[w_old, w_new] U S||_F``: a
    (pairs, K) product, and an exact fit gives a residual at rounding level, not its square
    root as ``sqrt(||a||^2 - ||b||^2)`` would.
    """
    u, sv, _ = torch.linalg.svd(torch.cat([t, -b]), full_matrices=False)
    num = torch.linalg.matrix_norm(torch.cat([w_old, w_new], dim=1) @ (u * sv))
    u_t, sv_t, _ = torch.linalg.svd(t, full_matrices=False)
    den = torch.linalg.matrix_norm(w_old @ (u_t * sv_t))
    if den == 0:  # an all-zero deconvolution: only an all-zero replacement matches it
        return 0.0 if num == 0 else math.inf
    return float(num / den)


def projection_residual(deconv: nn.Module, replacement: nn.Module) -> float:
    """Relative distance ``||A_new - A_old||_F / ||A_old||_F`` between two layers' operators.

    ``A`` is the interior (translation-invariant) part of each layer's linear operator, over
    all channel pairs: the response to one input pixel away from every border, which is one
    column of the operator matrix and, by translation invariance, all of them. Borders and
    biases are left out. ``replacement`` is a ``ResizeConvNd`` or :class:`ResizeConvAdapter`
    with the shape and stride of ``deconv`` (as :func:`convert` returns).

    Example:
        >>> import checkerscope
        >>> d = torch.nn.ConvTranspose2d(4, 2, 4, 2, 1)
        >>> 0 < projection_residual(d, checkerscope.nn.ResizeConv2d(4, 2)) < 2
        True
    """
    return _relative_residual(
        _pairs(deconv.weight), _new_pairs(replacement), *_impulse_bases(deconv, replacement)
    )


def _new_pairs(replacement: nn.Module) -> torch.Tensor:
    """ResizeConv weight (C_out, C_in, *k) as (C_in * C_out, K) float64 rows, in the
    (input, output) order of :func:`_pairs`."""
    weight = _geometry(replacement)[0].weight.detach().to("cpu", torch.float64)
    return weight.transpose(0, 1).flatten(0, 1).flatten(1)


def _project(deconv: nn.Module, replacement: nn.Module) -> float:
    """Set the replacement's weights to the least-squares fit of the deconvolution's interior
    operator (and copy its bias); return the relative residual of the result.

    Per channel pair the fit solves ``min_w ||w B - W T||`` over the K_new taps ``w``: the
    normal equations are the same K_new x K_new system for every pair, so one solve gives a
    fixed linear map from deconvolution kernels to resize-conv kernels.
    """
    resize = _geometry(replacement)[0]
    t, b = _impulse_bases(deconv, replacement)
    to_new = torch.linalg.lstsq(b.T, t.T).solution.T  # (K_old, K_new)
    w_old = _pairs(deconv.weight)
    w_new = w_old @ to_new
    c_in, c_out = deconv.in_channels, deconv.out_channels
    kernel = w_new.reshape(c_in, c_out, *resize.kernel_size).transpose(0, 1)
    with torch.no_grad():
        resize.weight.copy_(kernel)
        if resize.bias is not None:
            resize.bias.copy_(deconv.bias)
    return _relative_residual(w_old, _new_pairs(replacement), t, b)


def _replacement(
    deconv: nn.Module,
    mode: str,
    kernel_size: int | tuple[int, ...] | None,
    padding_mode: str,
    name: str,
) -> nn.Module:
    dims, s = len(deconv.kernel_size), deconv.stride[0]
    k_new = tuple(deconv.kernel_size) if kernel_size is None else kernel_size
    try:
        k_new = v.ntuple("kernel_size", k_new, dims)
    except ValueError as err:
        raise ValueError(f"cannot convert layer {name or '<root>'!r}: {err}") from None
    resize = _RESIZE_CONV[dims](
        deconv.in_channels,
        deconv.out_channels,
        kernel_size=k_new,
        scale_factor=s,
        mode=mode,
        padding_mode=padding_mode,
        bias=deconv.bias is not None,
        device=deconv.weight.device,
        dtype=deconv.weight.dtype,
    )
    extra, offset = [], []
    for axis in range(dims):
        p, d, k = deconv.padding[axis], deconv.dilation[axis], deconv.kernel_size[axis]
        c = -s - 2 * p + d * (k - 1) + deconv.output_padding[axis] + 1
        extra.append(c)
        offset.append(_alignment(s, p, d, k, k_new[axis], c))
    if not any(extra) and not any(offset):
        return resize
    return ResizeConvAdapter(resize, tuple(offset), tuple(extra))


def convert(
    model: nn.Module,
    mode: str = "nearest",
    init: str = "fresh",
    inplace: bool = False,
    *,
    kernel_size: int | tuple[int, ...] | None = 3,
    padding_mode: str = "reflect",
    include_stride1: bool = False,
    return_report: bool = False,
) -> nn.Module | tuple[nn.Module, ConversionReport]:
    """Replace every ``ConvTranspose1d/2d/3d`` of ``model`` by a resize-convolution.

    Each replacement has the same in/out channels, bias presence, dtype and device, upsamples
    by the layer's stride, and gives the same output shape as the layer it replaces for every
    input size (stride, padding, output_padding and dilation are all accounted for: see the
    module docstring). Layers are found with ``named_modules`` and swapped on their parent,
    so nesting in ``Sequential``, ``ModuleList``, ``ModuleDict`` or attributes works, and a
    layer shared by several parents is replaced by one shared replacement.

    Stride-1 ``ConvTranspose`` layers are left alone unless ``include_stride1=True``: their
    overlap is even, so they are not checkerboard-making upsamplers (the article calls them
    "quite effective at dampening artifacts"), and a resize-conv by 1 is a plain convolution,
    which cannot paint a 4x4 map from a 1x1 latent as a DCGAN's first layer does.

    Args:
        model: the model (or a single ``ConvTranspose`` layer, which is then returned replaced).
        mode: interpolation of the new layers, ``"nearest"`` (the article's choice) or
            ``"bilinear"``.
        init: ``"fresh"`` gives the new layers ``nn.ConvNd``'s own initialization.
            ``"project"`` sets each new kernel by least squares so that its interior operator
            is as close as possible (Frobenius norm, over all channel pairs) to the replaced
            layer's, and copies the bias: a start for fine-tuning a trained model. The relative
            residual ``||A_new - A_old|| / ||A_old||`` is stored on each replacement as
            ``projection_residual`` (0: the deconvolution was already a resize-conv).
        inplace: ``False`` converts a deep copy; ``True`` swaps layers inside ``model`` and
            returns it.
        kernel_size: kernel of the new layers; ``None`` uses each replaced layer's kernel size.
        padding_mode: border handling of the new layers: "reflect", "replicate" or "zeros".
            A ``ConvTranspose`` implies zeros, so with ``init="project"`` "zeros" keeps the
            border response too; "reflect" (the article's advice, and the default) changes it,
            which matters on small maps (a DCGAN's 4x4 stage is all border).
        include_stride1: also convert stride-1 ``ConvTranspose`` layers (into scale-1
            resize-convs, i.e. convolutions with matched output shape).
        return_report: also return a :class:`ConversionReport` (converted and skipped layers,
            each converted layer's relative operator residual, for either ``init``).

    Raises:
        ValueError: naming the layer and attribute, for a layer it cannot convert: groups != 1,
            strides that differ between axes, padding_mode other than zeros, lazy parameters;
            or for a bad argument.

    A model without a convertible layer is returned (copied unless ``inplace``) unchanged,
    with a ``UserWarning``. Hooks and parametrizations (e.g. spectral norm) on a replaced
    layer are not carried over; ``projection`` reads its effective ``weight``.

    Example:
        >>> g = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 4, 4, 2, 1), torch.nn.Tanh())
        >>> new = convert(g)
        >>> type(new[0]).__name__, new(torch.randn(1, 8, 5, 5)).shape
        ('ResizeConv2d', torch.Size([1, 4, 10, 10]))
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    v.one_of("mode", mode, R.MODES)
    v.one_of("init", init, INITS)
    v.one_of("padding_mode", padding_mode, R.PADDING_MODES)
    if isinstance(kernel_size, (tuple, list)):
        kernel_size = tuple(v.positive_int("kernel_size", k) for k in kernel_size)
    elif kernel_size is not None:
        v.positive_int("kernel_size", kernel_size)
    if not isinstance(inplace, bool):
        raise ValueError(f"inplace must be True or False, got {inplace!r}")

    if not inplace:
        model = copy.deepcopy(model)

    found = [
        (name, m)
        for name, m in model.named_modules(remove_duplicate=False)
        if isinstance(m, _DECONV_TYPES)
    ]
    # Build every replacement before swapping any, so that an error leaves the model intact.
    done: dict[int, nn.Module | None] = {}
    converted: list[ConvertedLayer] = []
    skipped: list[tuple[str, str]] = []
    for name, m in found:
        if id(m) in done:
            continue
        if set(m.stride) == {1} and not include_stride1:
            skipped.append((name, "stride 1 (even overlap; include_stride1=True converts it)"))
            done[id(m)] = None
            continue
        _check_convertible(name, m)
        new = _replacement(m, mode, kernel_size, padding_mode, name)
        new.train(m.training)
        if init == "project":
            new.projection_residual = _project(m, new)
            residual = new.projection_residual
        else:
            residual = projection_residual(m, new)
        for p_old, p_new in zip(_params(m), _params(_geometry(new)[0]), strict=True):
            p_new.requires_grad_(p_old.requires_grad)
        done[id(m)] = new
        converted.append(ConvertedLayer(name, _short_repr(m), _short_repr(new), residual))

    root = model
    for name, m in found:
        new = done[id(m)]
        if new is None:
            continue
        if name == "":
            root = new
        else:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, new)

    report = ConversionReport(tuple(converted), tuple(skipped))
    if not converted:
        why = f"; skipped {len(skipped)} stride-1 layer(s)" if skipped else ""
        warnings.warn(
            f"convert() found no ConvTranspose1d/2d/3d layer to convert in "
            f"{type(model).__name__}{why}; returning the model unchanged",
            stacklevel=2,
        )
    return (root, report) if return_report else root


def _params(m: nn.Module) -> list[torch.Tensor]:
    return [p for p in (m.weight, m.bias) if p is not None]


def _short_repr(m: nn.Module) -> str:
    return " ".join(repr(m).split())
