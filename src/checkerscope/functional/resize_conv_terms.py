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

from checkerscope.functional.resize_conv_plan import AxisPlan, BorderBlock, axis_plan

_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


class Term(NamedTuple):
    """One convolution of the fused path: the main one (no folded axes) or a border term.

    The term folds ``axes`` (increasing) at their ``sides`` (0 left, 1 right): the input
    block of ``strips`` samples there joins the channels, the output block of ``counts``
    rows is what the term adds to ``y``. Over the other axes (``conv_axes``) it is a
    transposed convolution with this stride, padding, output padding and left ``trim``;
    with no axes left, a matrix product.
    """

    axes: tuple[int, ...]
    sides: tuple[int, ...]
    counts: tuple[int, ...]
    strips: tuple[int, ...]
    conv_axes: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    output_padding: tuple[int, ...]
    trim: tuple[int, ...]
    # The kernel from its column block of w @ M: reshape (C_out, C_in, *block_shape), permute
    # by ``order`` to (C_in, *strips, C_out, *counts, *taps).
    block_shape: tuple[int, ...]
    order: tuple[int, ...]


class Program(NamedTuple):
    """Every convolution of the fused path for one set of axis plans; closed-form data.

    When every axis is ``ghost_exact``, the forward is the main kernel's transposed
    convolution of x extended by replicated ghost samples (``main_ghosted``), and the terms
    serve only the weight gradient (see :class:`FusedTerms`).
    """

    plans: tuple[AxisPlan, ...]
    main: Term
    main_ghosted: Term
    terms: tuple[Term, ...]
    matrix: tuple[tuple[float, ...], ...]  # (prod k, columns): kernels = w @ matrix
    widths: tuple[int, ...]  # columns of the main kernel, then of each term's

    @property
    def ghosted(self) -> bool:
        # In 1-D the border terms are two small matrix products, which cost less than the
        # extended input's copy and its wider forward (measured on oneDNN, 16 x 128 x 1024:
        # about 1% against 12% of a ConvTranspose1d); in 2-D and 3-D the ghosts cost less.
        return len(self.plans) > 1 and all(p.ghost_exact for p in self.plans)

    @property
    def ghosts(self) -> tuple[int, ...]:
        return tuple(p.ghost for p in self.plans)


def _axis_matrix(plan: AxisPlan, block: BorderBlock | None) -> list[list[float]]:
    """(k, columns): the lift (columns: taps) or a border block (columns: count x strip)."""
    if block is None:
        return [list(col) for col in zip(*plan.lift, strict=True)]
    return [
        [block.table[n][i][j] for n in range(block.count) for i in range(block.strip)]
        for j in range(plan.kernel_size)
    ]


def _kron(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    return [[x * y for x in ra for y in rb] for ra in a for rb in b]


def _term(
    plans: tuple[AxisPlan, ...],
    axes: tuple[int, ...],
    sides: tuple[int, ...],
    ghosted: bool = False,
) -> Term:
    ends = dict(zip(axes, sides, strict=True))
    blocks = [plans[a].right if ends[a] else plans[a].left for a in axes]
    conv_axes = tuple(a for a in range(len(plans)) if a not in ends)
    rest = [plans[a] for a in conv_axes]
    block_shape: list[int] = []
    strips, counts, taps = [], [], []
    for a, p in enumerate(plans):
        if a in ends:
            block = blocks[axes.index(a)]
            counts.append(2 + len(block_shape))
            strips.append(3 + len(block_shape))
            block_shape += [block.count, block.strip]
        else:
            taps.append(2 + len(block_shape))
            block_shape.append(p.taps)
    return Term(
        axes,
        sides,
        tuple(b.count for b in blocks),
        tuple(b.strip for b in blocks),
        conv_axes,
        tuple(p.scale_factor for p in rest),
        tuple(p.ghost_padding if ghosted else p.padding for p in rest),
        tuple(p.ghost_output_padding if ghosted else p.output_padding for p in rest),
        tuple(p.ghost_trim if ghosted else p.trim for p in rest),
        tuple(block_shape),
        (1, *strips, 0, *counts, *taps),
    )


# Dynamo would trace the loops below through the cache; the program is a constant. Keyed
# by the layer's few numbers, not by the plans: hashing those nested tables on every call
# would cost more than a small convolution.
@functools.cache
@torch.compiler.assume_constant_result
def program(
    kernel_size: tuple[int, ...], scale_factor: int, mode: str, padding_mode: str
) -> Program:
    """The terms of the axis plans and the matrix that maps ``w`` to all the kernels."""
    plans = tuple(axis_plan(k, scale_factor, mode, padding_mode) for k in kernel_size)
    fixed = [a for a, p in enumerate(plans) if not p.exact]
    terms = []
    for size in range(1, len(fixed) + 1):
        for axes in itertools.combinations(fixed, size):
            for sides in itertools.product((0, 1), repeat=size):
                pairs = zip(axes, sides, strict=True)
                if all((plans[a].right if e else plans[a].left).count for a, e in pairs):
                    terms.append(_term(plans, axes, sides))
    main = _term(plans, (), ())
    columns: list[list[list[float]]] = []
    for term in (main, *terms):
        ends = dict(zip(term.axes, term.sides, strict=True))
        matrix = [[1.0]]
        for a, p in enumerate(plans):
            block = (p.right if ends[a] else p.left) if a in ends else None
            matrix = _kron(matrix, _axis_matrix(p, block))
        columns.append(matrix)
    joined = tuple(tuple(v for m in columns for v in m[row]) for row in range(len(columns[0])))
    widths = tuple(len(m[0]) for m in columns)
    return Program(plans, main, _term(plans, (), (), True), tuple(terms), joined, widths)


_MATRICES: dict[tuple[int, torch.device, torch.dtype], torch.Tensor] = {}


def _matrix(prog: Program, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Built from Python numbers each time while tracing or compiling (a cached tensor made
    # under a fake-tensor mode would leak out of it); cached in eager, as building it costs
    # more than a small convolution. Programs live in program()'s cache, so id() is a key.
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return torch.tensor(prog.matrix, dtype=dtype, device=device)
    key = (id(prog), device, dtype)
    if key not in _MATRICES:
        with torch.inference_mode(False), torch.no_grad():
            _MATRICES[key] = torch.tensor(prog.matrix, dtype=dtype, device=device)
    return _MATRICES[key]


def _compute_dtype(weight: torch.Tensor) -> torch.dtype:
    # Taps are sums of several weights: at least float32.
    return weight.dtype if weight.dtype in (torch.float32, torch.float64) else torch.float32


def _kernel_shape(term: Term, c_out: int, c_in: int) -> list[int]:
    """(C_in * prod strips, C_out * prod counts, *taps) of a term's kernel."""
    taps = [term.block_shape[i - 2] for i in term.order[2 + 2 * len(term.axes) :]]
    return [c_in * math.prod(term.strips), c_out * math.prod(term.counts), *taps]


def kernels(prog: Program, weight: torch.Tensor, count: int | None = None) -> list[torch.Tensor]:
    """The kernels (C_in', C_out', *taps) of the main convolution and of each term.

    The first ``count`` of them (all by default), in the weight's dtype, from one matrix
    product with the program's matrix.
    """
    c_out, c_in = weight.shape[:2]
    convs = (prog.main, *prog.terms)[:count]
    compute = _compute_dtype(weight)
    matrix = _matrix(prog, weight.device, compute)[:, : sum(prog.widths[: len(convs)])]
    flat = weight.to(compute).reshape(c_out * c_in, -1) @ matrix
    out = []
    for term, part in zip(convs, flat.split(prog.widths[: len(convs)], 1), strict=True):
        kernel = part.reshape(c_out, c_in, *term.block_shape).permute(term.order)
        out.append(kernel.reshape(_kernel_shape(term, c_out, c_in)).to(weight.dtype))
    return out


def _weight_grad(prog: Program, weight: torch.Tensor, grads: list[torch.Tensor]) -> torch.Tensor:
    """The gradient of the weight, from those of all the kernels: :func:`kernels` backwards."""
    c_out, c_in = weight.shape[:2]
    compute = _compute_dtype(weight)
    parts = []
    for term, grad in zip((prog.main, *prog.terms), grads, strict=True):
        permuted = [(c_out, c_in, *term.block_shape)[i] for i in term.order]
        inverse = sorted(range(len(term.order)), key=term.order.__getitem__)
        part = grad.to(compute).reshape(permuted).permute(inverse)
        parts.append(part.reshape(c_out * c_in, -1))
    flat = torch.cat(parts, 1) @ _matrix(prog, weight.device, compute).t()
    return flat.reshape(weight.shape).to(weight.dtype)


# ----------------------------------------------------------------------- one term at a time


def _x_block(term: Term, x: torch.Tensor) -> list[tuple[int, Any, int]]:
    """(dim, start, length) of the input block the term reads."""
    return [
        (2 + a, x.shape[2 + a] - strip if side else 0, strip)
        for a, side, strip in zip(term.axes, term.sides, term.strips, strict=True)
    ]


def _y_block(prog: Program, term: Term, y_shape: Any) -> list[tuple[int, Any, Any, Any]]:
    """(dim, start in the term, start in y, length): the term's rows that exist in y.

    On an input shorter than a block, rows past the output are dropped (replicate padding
    of a one-sample axis still has a block of several rows). Sizes are compared only for the
    blocks that can be longer than the shortest output: a comparison of a symbolic size is a
    guard, and a symbolic minimum would be a size no exporter can bound.
    """
    out = []
    for a, side, count in zip(term.axes, term.sides, term.counts, strict=True):
        plan = prog.plans[a]
        size = y_shape[2 + a]
        short = count > plan.scale_factor * plan.min_size and count > size
        length = size if short else count
        out.append((2 + a, count - length if side else 0, size - length if side else 0, length))
    return out


def _narrow(t: torch.Tensor, spans: list) -> torch.Tensor:
    for dim, start, length in spans:
        t = t.narrow(dim, start, length)
    return t


def _index(t: torch.Tensor, spans: list) -> tuple[slice, ...]:
    """The basic index of the block ``spans`` of ``t``, for ``t[index] += ...``.

    For tracing: torch's TorchScript-based ONNX exporter turns in-place updates of slices
    into scatters, but not in-place updates of narrowed views.
    """
    index = [slice(None)] * t.dim()
    for dim, start, length in spans:
        index[dim] = slice(start, start + length)
    return tuple(index)


def _fold(t: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """(N, C, *spatial) -> (N, C * prod(sizes of dims), *other spatial), dims moved in order."""
    if not dims:
        return t
    moved = t.movedim([2 + a for a in dims], list(range(2, 2 + len(dims))))
    return moved.reshape(moved.shape[0], -1, *moved.shape[2 + len(dims) :])


def _unfold(t: torch.Tensor, dims: tuple[int, ...], channels: int, sizes: tuple) -> torch.Tensor:
    """The inverse of :func:`_fold` for a tensor of ``channels`` and folded ``sizes``."""
    t = t.reshape(t.shape[0], channels, *sizes, *t.shape[2:])
    return t.movedim(list(range(2, 2 + len(dims))), [2 + a for a in dims])


def _convolve(
    x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None, term: Term
) -> torch.Tensor:
    if not term.conv_axes:  # a corner: nothing left to convolve over
        return x @ kernel
    y = _CONV_T[len(term.conv_axes)](
        x,
        kernel,
        bias,
        stride=term.stride,
        padding=term.padding,
        output_padding=term.output_padding,
    )
    for i, t in enumerate(term.trim):
        if t:
            y = y.narrow(2 + i, t, y.shape[2 + i] - t)
    return y


def _convolve_backward(
    grad: torch.Tensor,
    x: torch.Tensor,
    kernel: torch.Tensor,
    bias: torch.Tensor | None,
    term: Term,
    mask: list[bool],
) -> tuple[torch.Tensor | None, ...]:
    """Gradients of :func:`_convolve` for input, kernel and bias, by torch's own kernels."""
    if not term.conv_axes:
        return (
            grad @ kernel.t() if mask[0] else None,
            x.t() @ grad if mask[1] else None,
            None,
        )
    if any(term.trim):  # put back the cropped samples, which received no gradient
        full = list(grad.shape)
        for i, t in enumerate(term.trim):
            full[2 + i] += t
        padded = grad.new_zeros(full)
        padded[_index(padded, [(2 + i, t, grad.shape[2 + i]) for i, t in enumerate(term.trim)])] = (
            grad
        )
        grad = padded
    return torch.ops.aten.convolution_backward(
        grad,
        x,
        kernel,
        None if bias is None else [bias.shape[0]],
        list(term.stride),
        list(term.padding),
        [1] * len(term.stride),
        True,
        list(term.output_padding),
        1,
        mask,
    )


def _term_inputs(prog: Program, x: torch.Tensor) -> list[torch.Tensor]:
    return [_fold(_narrow(x, _x_block(t, x)), t.axes) for t in prog.terms]


def _place_(
    prog: Program, y: torch.Tensor, outputs: list[torch.Tensor], c_out: int
) -> torch.Tensor:
    """Add each term's output into its border block of ``y``, in place."""
    for term, out in zip(prog.terms, outputs, strict=True):
        spans = _y_block(prog, term, y.shape)
        block = _unfold(out, term.axes, c_out, term.counts)
        block = _narrow(block, [(d, a, n) for d, a, _, n in spans])
        target = [(d, b, n) for d, _, b, n in spans]
        if torch.jit.is_tracing():
            y[_index(y, target)] += block
        else:  # one pass over the (strided) block instead of an update and a copy back
            _narrow(y, target).add_(block)
    return y


def _ghost(prog: Program, x: torch.Tensor) -> torch.Tensor:
    """``x`` extended by each axis's replicated ghost samples."""
    if not any(prog.ghosts):
        return x
    return F.pad(x, [g for g in reversed(prog.ghosts) for _ in range(2)], mode="replicate")


def _forward(
    prog: Program, x: torch.Tensor, bias: torch.Tensor | None, kernels: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The output and the folded input blocks the terms read (none when ghosted)."""
    main, *rest = kernels
    if prog.ghosted:
        return _convolve(_ghost(prog, x), main, bias, prog.main_ghosted), []
    y = _convolve(x, main, bias, prog.main)
    inputs = _term_inputs(prog, x)
    outputs = [_convolve(i, k, None, t) for t, i, k in zip(prog.terms, inputs, rest, strict=True)]
    return _place_(prog, y, outputs, main.shape[1]), inputs


def run(
    prog: Program, x: torch.Tensor, bias: torch.Tensor | None, kernels: list[torch.Tensor]
) -> torch.Tensor:
    """The fused resize-convolution by plain differentiable ops (see the module docstring)."""
    return _forward(prog, x, bias, kernels)[0]


class FusedTerms(torch.autograd.Function):
    """:func:`run` as one autograd node: ``apply(x, weight, bias, prog)``.

    It returns the output, then what the backward keeps: the kernels and the terms' input
    blocks (not differentiable). The backward is written out: the transposed convolutions'
    own backward, the border gradients added into the input gradient in place, and the
    kernels' gradients mapped back to the weight by one matrix product.
    """

    @staticmethod
    def forward(
        x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, prog: Program
    ) -> tuple[torch.Tensor, ...]:
        # Ghosted, the forward needs only the main kernel (the terms serve the backward).
        convs = kernels(prog, weight, 1 if prog.ghosted else None)
        y, inputs = _forward(prog, x, bias, convs)
        return (y, *convs, *inputs)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        x, weight, bias, prog = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.save_for_backward(x, weight, bias, *output[1:])
        ctx.prog = prog

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, *_: Any) -> tuple[torch.Tensor | None, ...]:
        prog: Program = ctx.prog
        x, weight, bias, *saved = ctx.saved_tensors
        need_x, need_w, need_bias = ctx.needs_input_grad[:3]
        if prog.ghosted:
            gx, g_bias, g_kernels = _ghosted_backward(
                prog, grad, x, weight, bias, saved[0], need_x, need_w, need_bias
            )
        else:
            convs, inputs = saved[: 1 + len(prog.terms)], saved[1 + len(prog.terms) :]
            gx, g_main, g_bias = _convolve_backward(
                grad, x, convs[0], bias, prog.main, [need_x, need_w, need_bias]
            )
            g_kernels = [g_main]
            for term, inp, kernel in zip(prog.terms, inputs, convs[1:], strict=True):
                g_in, g_k, _ = _convolve_backward(
                    _term_grad(prog, term, grad), inp, kernel, None, term, [need_x, need_w, False]
                )
                g_kernels.append(g_k)
                if need_x:
                    g_in = _unfold(g_in, term.axes, x.shape[1], term.strips)
                    _narrow(gx, _x_block(term, x)).add_(g_in)
        g_weight = _weight_grad(prog, weight, g_kernels) if need_w else None
        return (gx, g_weight, g_bias, None)


def _term_grad(prog: Program, term: Term, grad: torch.Tensor) -> torch.Tensor:
    """The output gradient of one term: its block of ``grad``, folded (zeros for the rows
    that a short input drops)."""
    spans = _y_block(prog, term, grad.shape)
    block = _narrow(grad, [(d, b, n) for d, _, b, n in spans])
    if any(n != c for (_, _, _, n), c in zip(spans, term.counts, strict=True)):
        shape = list(block.shape)
        for (d, _, _, _), c in zip(spans, term.counts, strict=True):
            shape[d] = c
        whole = block.new_zeros(shape)
        whole[_index(whole, [(d, a, n) for d, a, _, n in spans])] = block
        block = whole
    return _fold(block, term.axes)


def _sum_ghosts(ghosts: torch.Tensor, dim: int) -> torch.Tensor:
    return ghosts if ghosts.shape[dim] == 1 else ghosts.sum(dim, keepdim=True)


def _ghosted_backward(
    prog: Program,
    grad: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    main: torch.Tensor,
    need_x: bool,
    need_w: bool,
    need_bias: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None, list[torch.Tensor]]:
    """(input, bias and kernel gradients) of the ghosted forward.

    The input gradient is that of the extended input (the same transposed convolution's
    backward), each ghost's gradient summed into the sample it copies. The kernels'
    gradients are not that of the extended input's convolution, whose backward-weights
    kernel is much slower in that geometry on oneDNN: they are the unextended convolution's
    and the border terms' (which are the ghosts' contributions), as in the unghosted form.
    """
    gx = g_bias = None
    if need_x:
        ghosts = (0, 0, *prog.ghosts)
        extended = x.new_empty([n + 2 * g for n, g in zip(x.shape, ghosts, strict=True)])
        mask = [True, False, False]
        gx = _convolve_backward(grad, extended, main, None, prog.main_ghosted, mask)[0]
        for a, g in enumerate(prog.ghosts):  # each ghost's gradient to the sample it copies
            if g:
                dim, n = 2 + a, x.shape[2 + a]
                inner = gx.narrow(dim, g, n)
                inner.narrow(dim, 0, 1).add_(_sum_ghosts(gx.narrow(dim, 0, g), dim))
                inner.narrow(dim, n - 1, 1).add_(_sum_ghosts(gx.narrow(dim, n + g, g), dim))
                gx = inner
    g_kernels = []
    if need_w:  # with the bias: on oneDNN it comes almost free with the weights' kernel
        mask = [False, True, need_bias]
        _, g_main, g_bias = _convolve_backward(grad, x, main, bias, prog.main, mask)
        g_kernels.append(g_main)
        c_out, c_in = weight.shape[:2]
        for term, inp in zip(prog.terms, _term_inputs(prog, x), strict=True):
            shape_only = x.new_empty(_kernel_shape(term, c_out, c_in))  # its values are unused
            g_out = _term_grad(prog, term, grad)
            mask = [False, True, False]
            g_kernels.append(_convolve_backward(g_out, inp, shape_only, None, term, mask)[1])
    elif need_bias:
        g_bias = grad.sum([d for d in range(grad.dim()) if d != 1])
    return gx, g_bias, g_kernels
