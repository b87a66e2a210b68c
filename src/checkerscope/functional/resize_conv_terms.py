"""The fused resize-convolution as one transposed convolution plus small border terms.

Per axis, the resize-convolution E is the transposed convolution T plus border blocks D
(:mod:`checkerscope.functional.resize_conv_plan`). Over several axes E is the tensor product
of the per-axis operators, so

    E = prod_a (T_a + D_a) = T + sum over nonempty sets S of axes of
                                 (prod_{a in S} D_a) (prod_{b not in S} T_b),

one term per set S and choice of end (left or right) on each axis of S: 2 terms in 1-D,
8 in 2-D (4 edges, 4 corners), 26 in 3-D. A term reads the block of ``x`` at those ends,
folds its axes in S into channels, and is a transposed convolution over the other axes
(T there) with a kernel that is a fixed linear map of ``w``; its output is added to the
border block of ``y``. Its work is proportional to the border, not the volume.

Every kernel (the main one and each term's) is one column block of ``w @ M``, with M fixed.
:class:`FusedTerms` runs it all as one autograd node whose backward calls the convolutions'
own backward and adds the border gradients into the input gradient in place: with plain
autograd, each block read from ``x`` would cost a zero-filled gradient the size of ``x``
and its addition, each block written into ``y`` a copy of the output gradient.
:func:`run` is the same forward as plain differentiable ops, for tracing, exporting and
compiling.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from checkerscope.functional.resize_conv_plan import AxisPlan, BorderBlock

_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


class Term(NamedTuple):
    """One border term: the folded axes (increasing) and the end of each (0 left, 1 right)."""

    axes: tuple[int, ...]
    sides: tuple[int, ...]


class Program(NamedTuple):
    """Every convolution of the fused path for one set of axis plans; closed-form data."""

    plans: tuple[AxisPlan, ...]
    terms: tuple[Term, ...]
    matrix: tuple[tuple[float, ...], ...]  # (prod k, columns): kernels = w @ matrix
    widths: tuple[int, ...]  # columns of the main kernel, then of each term's

    def block(self, axis: int, side: int) -> BorderBlock:
        plan = self.plans[axis]
        return plan.right if side else plan.left


def _axis_matrix(plan: AxisPlan, block: BorderBlock | None) -> list[list[float]]:
    """(k, columns): the lift (columns: taps) or a border block (columns: count x strip)."""
    if block is None:
        return [list(col) for col in zip(*plan.lift, strict=True)]
    k = plan.kernel_size
    return [
        [block.table[n][i][j] for n in range(block.count) for i in range(block.strip)]
        for j in range(k)
    ]


def _kron(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    return [[x * y for x in ra for y in rb] for ra in a for rb in b]


@functools.cache
@torch.compiler.assume_constant_result  # dynamo would trace the loops below; a constant
def program(plans: tuple[AxisPlan, ...]) -> Program:
    """The terms of these axis plans and the matrix that maps ``w`` to all the kernels."""
    fixed = [a for a, p in enumerate(plans) if not p.exact]
    terms = []
    for size in range(1, len(fixed) + 1):
        for axes in itertools.combinations(fixed, size):
            for sides in itertools.product((0, 1), repeat=size):
                if all(
                    plans[a].right.count if e else plans[a].left.count
                    for a, e in zip(axes, sides, strict=True)
                ):
                    terms.append(Term(axes, sides))
    columns: list[list[list[float]]] = []
    for term in (Term((), ()), *terms):
        ends = dict(zip(term.axes, term.sides, strict=True))
        matrix = [[1.0]]
        for a, p in enumerate(plans):
            block = (p.right if ends[a] else p.left) if a in ends else None
            matrix = _kron(matrix, _axis_matrix(p, block))
        columns.append(matrix)
    joined = tuple(tuple(v for m in columns for v in m[row]) for row in range(len(columns[0])))
    return Program(plans, tuple(terms), joined, tuple(len(m[0]) for m in columns))


_MATRICES: dict[tuple[Program, torch.device, torch.dtype], torch.Tensor] = {}


def _matrix(prog: Program, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Built from Python numbers each time while tracing or compiling (a cached tensor made
    # under a fake-tensor mode would leak out of it); cached in eager, as building it costs
    # more than a small convolution.
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return torch.tensor(prog.matrix, dtype=dtype, device=device)
    key = (prog, device, dtype)
    if key not in _MATRICES:
        with torch.inference_mode(False), torch.no_grad():
            _MATRICES[key] = torch.tensor(prog.matrix, dtype=dtype, device=device)
    return _MATRICES[key]


def kernels(prog: Program, weight: torch.Tensor) -> list[torch.Tensor]:
    """The transposed-convolution kernels (C_in', C_out', *taps) of the main path and terms.

    Computed in at least float32 (taps are sums of several weights), returned in the
    weight's dtype; all from one matrix product, so autograd sees one small node.
    """
    compute = weight.dtype if weight.dtype in (torch.float32, torch.float64) else torch.float32
    c_out, c_in = weight.shape[:2]
    flat = weight.to(compute).reshape(c_out * c_in, -1) @ _matrix(prog, weight.device, compute)
    out = []
    for term, part in zip((Term((), ()), *prog.terms), flat.split(prog.widths, 1), strict=True):
        folded = dict(zip(term.axes, term.sides, strict=True))
        shape: list[int] = [c_out, c_in]
        strips, counts, taps = [], [], []
        for a, p in enumerate(prog.plans):
            if a in folded:
                block = prog.block(a, folded[a])
                counts.append(len(shape))
                strips.append(len(shape) + 1)
                shape += [block.count, block.strip]
            else:
                taps.append(len(shape))
                shape.append(p.taps)
        kernel = part.reshape(shape).permute(1, *strips, 0, *counts, *taps)
        sizes = kernel.shape
        fold = len(strips)
        kernel = kernel.reshape(c_in * math.prod(sizes[1 : 1 + fold]), -1, *sizes[2 + 2 * fold :])
        out.append(kernel.to(weight.dtype))
    return out


# ----------------------------------------------------------------------- geometry of one term


class _Conv(NamedTuple):
    """A transposed convolution over the axes a term does not fold (a dummy axis if none)."""

    axes: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    output_padding: tuple[int, ...]
    trim: tuple[int, ...]


def _conv(prog: Program, term: Term) -> _Conv:
    axes = tuple(a for a in range(len(prog.plans)) if a not in term.axes)
    plans = [prog.plans[a] for a in axes]
    if not plans:
        return _Conv((), (1,), (0,), (0,), (0,))
    return _Conv(
        axes,
        tuple(p.scale_factor for p in plans),
        tuple(p.padding for p in plans),
        tuple(p.output_padding for p in plans),
        tuple(p.trim for p in plans),
    )


def _x_block(prog: Program, term: Term, x: torch.Tensor) -> list[tuple[int, Any, int]]:
    """(dim, start, length) of the input block the term reads."""
    out = []
    for a, side in zip(term.axes, term.sides, strict=True):
        strip = prog.block(a, side).strip
        out.append((2 + a, x.shape[2 + a] - strip if side else 0, strip))
    return out


def _y_block(prog: Program, term: Term, y_shape: Any) -> list[tuple[int, Any, Any, Any]]:
    """(dim, start in the term, start in y, length): the term's rows that exist in y.

    On an input shorter than a block, rows past the output are dropped (replicate padding
    of a one-sample axis still has a block of several rows). Sizes are compared only for the
    blocks that can be longer than the shortest output: a comparison of a symbolic size is a
    guard, and a symbolic minimum would be a size no exporter can bound.
    """
    out = []
    for a, side in zip(term.axes, term.sides, strict=True):
        count = prog.block(a, side).count
        plan = prog.plans[a]
        size = y_shape[2 + a]
        short = count > plan.scale_factor * plan.min_size and count > size
        length = size if short else count
        if side:
            out.append((2 + a, count - length, size - length, length))
        else:
            out.append((2 + a, 0, 0, length))
    return out


def _narrow(t: torch.Tensor, spans: list) -> torch.Tensor:
    for dim, start, length in spans:
        t = t.narrow(dim, start, length)
    return t


def _index(t: torch.Tensor, spans: list) -> tuple[slice, ...]:
    """The basic index of the block ``spans`` of ``t``, for ``t[index] += ...``.

    Written as slicing rather than ``narrow(...).add_``: torch's TorchScript-based ONNX
    exporter turns in-place updates of slices into scatters, but not of narrowed views.
    """
    index = [slice(None)] * t.dim()
    for dim, start, length in spans:
        index[dim] = slice(start, start + length)
    return tuple(index)


def _fold(t: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """(N, C, *spatial) -> (N, C * prod(sizes of dims), *other spatial), dims moved in order."""
    moved = t.movedim([2 + a for a in dims], list(range(2, 2 + len(dims))))
    return moved.reshape(moved.shape[0], -1, *moved.shape[2 + len(dims) :])


def _unfold(t: torch.Tensor, dims: tuple[int, ...], channels: int, sizes: list) -> torch.Tensor:
    """The inverse of :func:`_fold` for a tensor of ``channels`` and folded ``sizes``."""
    t = t.reshape(t.shape[0], channels, *sizes, *t.shape[2:])
    return t.movedim(list(range(2, 2 + len(dims))), [2 + a for a in dims])


def _convolve(
    x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None, conv: _Conv
) -> torch.Tensor:
    if not conv.axes:
        return _CONV_T[1](x.unsqueeze(-1), kernel.unsqueeze(-1), bias).squeeze(-1)
    y = _CONV_T[len(conv.axes)](
        x,
        kernel,
        bias,
        stride=conv.stride,
        padding=conv.padding,
        output_padding=conv.output_padding,
    )
    for i, t in enumerate(conv.trim):
        if t:
            y = y.narrow(2 + i, t, y.shape[2 + i] - t)
    return y


def _term_inputs(prog: Program, x: torch.Tensor) -> list[torch.Tensor]:
    return [_fold(_narrow(x, _x_block(prog, t, x)), t.axes) for t in prog.terms]


def _place_(
    prog: Program, y: torch.Tensor, outputs: list[torch.Tensor], c_out: int
) -> torch.Tensor:
    """Add each term's output into its border block of ``y``, in place."""
    for term, out in zip(prog.terms, outputs, strict=True):
        counts = [prog.block(a, e).count for a, e in zip(term.axes, term.sides, strict=True)]
        spans = _y_block(prog, term, y.shape)
        block = _unfold(out, term.axes, c_out, counts)
        block = _narrow(block, [(d, a, n) for d, a, _, n in spans])
        y[_index(y, [(d, b, n) for d, _, b, n in spans])] += block
    return y


def _forward(
    prog: Program, x: torch.Tensor, bias: torch.Tensor | None, kernels: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The output and the folded input blocks the terms read."""
    main, *rest = kernels
    y = _convolve(x, main, bias, _conv(prog, Term((), ())))
    inputs = _term_inputs(prog, x)
    outputs = [
        _convolve(inp, k, None, _conv(prog, t))
        for t, inp, k in zip(prog.terms, inputs, rest, strict=True)
    ]
    return _place_(prog, y, outputs, main.shape[1]), inputs


def run(
    prog: Program, x: torch.Tensor, bias: torch.Tensor | None, kernels: list[torch.Tensor]
) -> torch.Tensor:
    """The fused resize-convolution by plain differentiable ops (see the module docstring)."""
    return _forward(prog, x, bias, kernels)[0]


def _conv_backward(
    grad: torch.Tensor,
    x: torch.Tensor,
    kernel: torch.Tensor,
    bias: torch.Tensor | None,
    conv: _Conv,
    mask: list[bool],
) -> tuple[torch.Tensor | None, ...]:
    """Gradients of :func:`_convolve` for input, kernel and bias, by torch's own kernels."""
    if not conv.axes:
        grad, x, kernel = grad.unsqueeze(-1), x.unsqueeze(-1), kernel.unsqueeze(-1)
    elif any(conv.trim):  # put back the cropped samples, which received no gradient
        full = list(grad.shape)
        for i, t in enumerate(conv.trim):
            full[2 + i] += t
        padded = grad.new_zeros(full)
        spans = [(2 + i, t, grad.shape[2 + i]) for i, t in enumerate(conv.trim)]
        _narrow(padded, spans).copy_(grad)
        grad = padded
    gx, gk, gb = torch.ops.aten.convolution_backward(
        grad,
        x,
        kernel,
        None if bias is None else [bias.shape[0]],
        list(conv.stride),
        list(conv.padding),
        [1] * len(conv.stride),
        True,
        list(conv.output_padding),
        1,
        mask,
    )
    if not conv.axes:
        gx = None if gx is None else gx.squeeze(-1)
        gk = None if gk is None else gk.squeeze(-1)
    return gx, gk, gb


class FusedTerms(torch.autograd.Function):
    """:func:`run` as one autograd node.

    ``apply(x, bias, prog, *kernels)`` returns the output, then the terms' input blocks
    (kept for the backward, not differentiable).
    """

    @staticmethod
    def forward(
        x: torch.Tensor, bias: torch.Tensor | None, prog: Program, *kernels: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        y, inputs = _forward(prog, x, bias, list(kernels))
        return (y, *inputs)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        x, bias, prog, *kernels = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.save_for_backward(x, bias, *kernels, *output[1:])
        ctx.prog = prog
        ctx.kernels = len(kernels)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, *_: Any) -> tuple[torch.Tensor | None, ...]:
        prog: Program = ctx.prog
        x, bias, *saved = ctx.saved_tensors
        main, *rest = saved[: ctx.kernels]
        term_inputs = saved[ctx.kernels :]
        need_x, need_bias = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_k = any(ctx.needs_input_grad[3:])
        gx, g_main, g_bias = _conv_backward(
            grad, x, main, bias, _conv(prog, Term((), ())), [need_x, need_k, need_bias]
        )
        g_kernels = [g_main]
        for term, inp, kernel in zip(prog.terms, term_inputs, rest, strict=True):
            counts = [prog.block(a, e).count for a, e in zip(term.axes, term.sides, strict=True)]
            spans = _y_block(prog, term, grad.shape)
            block = _narrow(grad, [(d, b, n) for d, _, b, n in spans])
            if any(n != c for (_, _, _, n), c in zip(spans, counts, strict=True)):
                shape = list(block.shape)
                for (d, _, _, _), c in zip(spans, counts, strict=True):
                    shape[d] = c
                whole = block.new_zeros(shape)
                _narrow(whole, [(d, a, n) for d, a, _, n in spans]).copy_(block)
                block = whole
            g_out = _fold(block, term.axes)
            g_in, g_k, _ = _conv_backward(
                g_out, inp, kernel, None, _conv(prog, term), [need_x, need_k, False]
            )
            g_kernels.append(g_k)
            if need_x:
                strips = [n for _, _, n in _x_block(prog, term, x)]
                g_in = _unfold(g_in, term.axes, x.shape[1], strips)
                _narrow(gx, _x_block(prog, term, x)).add_(g_in)
        return (gx, g_bias, None, *g_kernels)
