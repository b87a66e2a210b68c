"""The fused resize-convolution's program: which convolutions, with which kernels.

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

Every kernel (the main one and each term's) is a block of one tensor, ``w`` contracted along
each spatial axis a with a fixed matrix A_a whose columns are that axis's lifted taps, then its
left block, then its right block (the kernels of the terms are the tensor products of these
per-axis maps). :func:`kernels` computes them, up to :data:`DENSE_TAPS` kernel taps, as ``w``
times each kernel's dense (prod k, entries) matrix, the Kronecker product of the axes' column
blocks; beyond, by d matrix products, one per axis (a dense matrix would cost more than the
convolutions for 3-D k=7). :func:`weight_grad` maps their gradients back the same way.
:mod:`checkerscope.functional.resize_conv_terms` runs the program.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import torch

from checkerscope.functional.resize_conv_plan import AxisPlan, BorderBlock, axis_plan

# Kernels from ``w`` by dense (prod k, entries) matrices while prod k is at most this: prod k
# multiply-adds per kernel entry, written in place. Beyond it, per-axis products, which move
# every entry once per axis and permute it into place. Measured on one CPU thread (the
# kernels and their weight gradient, 16 to 512 channels): dense is 1.5-7x faster up to 2-D
# k=7 (49 taps) and 3-D k=3 (27), about equal at 2-D k=9 (81), 0.6-1.4x at 3-D k=5 (125)
# and 0.4x at 3-D k=7 (343).
DENSE_TAPS = 64


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
    axis_matrices: tuple[tuple[tuple[float, ...], ...], ...]  # per axis A_a: (k, columns)
    # Per convolution (main, then each term), per axis: its (start, length) in A_a's columns.
    columns: tuple[tuple[tuple[int, int], ...], ...]
    ghosted: bool
    ghosts: tuple[int, ...]  # per axis
    ghost_pads: tuple[int, ...]  # the same as F.pad's argument: last axis first, both ends
    dense: bool  # kernels from w by dense matrices (see DENSE_TAPS), not per axis
    plain: bool  # every kernel its dense product as it is: no strip or count above 1


def _axis_matrix(plan: AxisPlan, blocks: tuple[BorderBlock, ...]) -> list[list[float]]:
    """A_a, (k, columns): the lift (columns: taps), then each block (columns: count x strip)."""
    rows = [list(col) for col in zip(*plan.lift, strict=True)]
    for block in blocks:
        table = block.table
        for j in range(plan.kernel_size):
            rows[j] += [table[n][i][j] for n in range(block.count) for i in range(block.strip)]
    return rows


def _axis_columns(plan: AxisPlan, block: str) -> tuple[int, int]:
    """(start, length) of the lift (block "") or of the left/right block in A_a's columns."""
    if not block:
        return 0, plan.taps
    left = plan.left.count * plan.left.strip
    if block == "left":
        return plan.taps, left
    return plan.taps + left, plan.right.count * plan.right.strip


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
    columns = []
    for term in (main, *terms):
        ends = dict(zip(term.axes, term.sides, strict=True))
        blocks = [("right" if ends[a] else "left") if a in ends else "" for a in range(len(plans))]
        columns.append(tuple(_axis_columns(p, b) for p, b in zip(plans, blocks, strict=True)))
    matrices = tuple(
        tuple(map(tuple, _axis_matrix(p, () if p.exact else (p.left, p.right)))) for p in plans
    )
    # Ghosts only in 3-D. In 1-D the border terms are two small matrix products, which cost
    # less than the extended input's copy and its wider forward (measured on oneDNN,
    # 16 x 128 x 1024: about 1% against 12% of a ConvTranspose1d). In 2-D both cost about
    # the same time (within 5% either way at the benchmark's three shapes), but the extended
    # input and its gradient raise the peak memory to about 1.2x a ConvTranspose2d's, the
    # border terms to 1.07x. In 3-D the 26 border terms cost 10-17% more time than ghosts.
    ghosted = len(plans) == 3 and all(p.ghost_exact for p in plans)
    ghosts = tuple(p.ghost for p in plans)
    pads = tuple(g for g in reversed(ghosts) for _ in range(2))
    ghosted_main = _term(plans, (), (), True)
    dense = math.prod(kernel_size) <= DENSE_TAPS
    plain = all(math.prod(t.strips) * math.prod(t.counts) == 1 for t in terms)
    return Program(
        plans,
        main,
        ghosted_main,
        tuple(terms),
        matrices,
        tuple(columns),
        ghosted,
        ghosts,
        pads,
        dense,
        plain,
    )


_Key = tuple[int, torch.device, torch.dtype]
_MATRICES: dict[_Key, tuple[Program, tuple[torch.Tensor, ...]]] = {}


def _matrices(prog: Program, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """The kernels' dense matrices side by side, then each of them (a view); or the axes' A_a.

    A kernel's dense matrix is (prod k, its entries per (C_in, C_out) pair), see
    :data:`DENSE_TAPS`.
    """

    # Built from Python numbers each time while tracing or compiling (a cached tensor made
    # under a fake-tensor mode would leak out of it); cached in eager, by id() and checked to
    # be the same program (program()'s live in its cache, others may reuse an id).
    def build() -> tuple[torch.Tensor, ...]:
        axes = [torch.tensor(m, dtype=dtype, device=device) for m in prog.axis_matrices]
        if not prog.dense:
            return tuple(axes)
        dense = []
        for cols in prog.columns:
            blocks = [a[:, start : start + n] for a, (start, n) in zip(axes, cols, strict=True)]
            dense.append(functools.reduce(torch.kron, blocks))
        whole = torch.cat(dense, dim=1)
        return (whole, *whole.split([m.shape[1] for m in dense], dim=1))

    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return build()
    key = (id(prog), device, dtype)
    if key not in _MATRICES or _MATRICES[key][0] is not prog:  # not another with a reused id
        with torch.inference_mode(False), torch.no_grad():
            _MATRICES[key] = (prog, build())
    return _MATRICES[key][1]


def compute_dtype(weight: torch.Tensor) -> torch.dtype:
    """The dtype kernels are computed in: the weight's, at least float32 (taps are sums)."""
    return weight.dtype if weight.dtype in (torch.float32, torch.float64) else torch.float32


def kernel_shape(term: Term, c_out: int, c_in: int) -> list[int]:
    """(C_in * prod strips, C_out * prod counts, *taps) of a term's kernel."""
    taps = [term.block_shape[i - 2] for i in term.order[2 + 2 * len(term.axes) :]]
    return [c_in * math.prod(term.strips), c_out * math.prod(term.counts), *taps]


def _block(t: torch.Tensor, columns: tuple[tuple[int, int], ...]) -> torch.Tensor:
    for a, (start, length) in enumerate(columns):
        t = t.narrow(2 + a, start, length)
    return t


def _swapped(order: tuple[int, ...]) -> tuple[int, ...]:
    """A term's ``order`` for blocks laid out (C_in, C_out, ...) instead of (C_out, C_in, ...)."""
    return tuple((1, 0)[i] if i < 2 else i for i in order)


def kernels(prog: Program, weight: torch.Tensor, count: int | None = None) -> list[torch.Tensor]:
    """The kernels (C_in', C_out', *taps) of the main convolution and of each term.

    The first ``count`` of them (all by default), in the weight's dtype: ``w`` (C_out, C_in,
    *k) times each kernel's dense matrix, or contracted with each axis's A_a (one matrix
    product per axis) and each kernel's block permuted into place.
    """
    c_out, c_in = weight.shape[:2]
    convs = (prog.main, *prog.terms)[:count]
    t = weight.to(compute_dtype(weight))
    matrices = _matrices(prog, t.device, t.dtype)
    if prog.dense:
        t = t.transpose(0, 1).reshape(c_in * c_out, -1)  # (C_in C_out, prod k)
        if prog.plain:  # one product for all: the kernels are column blocks of it
            widths = [m.shape[1] for m in matrices[1 : 1 + len(convs)]]
            parts = (t @ matrices[0][:, : sum(widths)]).split(widths, dim=1)
        else:  # one each: a kernel permuted out of a wide product is a slow gather
            parts = tuple(t @ m for m in matrices[1 : 1 + len(convs)])
        blocks = [
            (part.reshape(c_in, c_out, *term.block_shape), _swapped(term.order))
            for term, part in zip(convs, parts, strict=True)
        ]
    else:
        columns = prog.columns[: len(convs)]
        # Only the columns some kernel uses: the main kernel alone needs only the taps.
        used = [max(sum(c[a]) for c in columns) for a in range(len(matrices))]
        # Last axis first, each a matrix product that needs no transpose:
        # (..., k_a, C_{a+1}, ..., C_d) -> (..., C_a, C_{a+1}, ..., C_d) by A_a^T on the left.
        done = 1
        for a in reversed(range(len(matrices))):
            matrix = matrices[a][:, : used[a]]
            if done == 1:  # one product; a batch of tiny ones costs more
                t = t.reshape(-1, matrix.shape[0]) @ matrix
            else:
                t = matrix.t() @ t.reshape(-1, matrix.shape[0], done)
            done *= used[a]
        t = t.reshape(c_out, c_in, *used)
        blocks = [
            (_block(t, cols).reshape(c_out, c_in, *term.block_shape), term.order)
            for term, cols in zip(convs, columns, strict=True)
        ]
    return [
        block.permute(order).reshape(kernel_shape(term, c_out, c_in)).to(weight.dtype)
        for term, (block, order) in zip(convs, blocks, strict=True)
    ]


def _unpermute(grad: torch.Tensor, shape: tuple[int, ...], order: tuple[int, ...]) -> torch.Tensor:
    """A kernel's gradient back in the layout ``shape`` that ``order`` permuted."""
    inverse = sorted(range(len(order)), key=order.__getitem__)
    return grad.reshape([shape[i] for i in order]).permute(inverse)


def weight_grad(prog: Program, weight: torch.Tensor, grads: list[torch.Tensor]) -> torch.Tensor:
    """The gradient of the weight, from those of all the kernels: :func:`kernels` backwards."""
    c_out, c_in = weight.shape[:2]
    compute = compute_dtype(weight)
    matrices = _matrices(prog, weight.device, compute)
    convs = (prog.main, *prog.terms)
    if prog.dense:
        parts = [
            _unpermute(
                grad.to(compute), (c_in, c_out, *term.block_shape), _swapped(term.order)
            ).reshape(c_in * c_out, -1)
            for term, grad in zip(convs, grads, strict=True)
        ]
        if prog.plain:
            whole = torch.cat(parts, dim=1) @ matrices[0].t()
        else:
            whole = parts[0] @ matrices[1].t()
            for part, m in zip(parts[1:], matrices[2:], strict=True):
                whole.addmm_(part, m.t())
        whole = whole.reshape(c_in, c_out, *weight.shape[2:])
        return whole.transpose(0, 1).to(weight.dtype).contiguous()
    sizes = [m.shape[1] for m in matrices]
    whole = weight.new_zeros((c_out, c_in, *sizes), dtype=compute)
    for term, cols, grad in zip(convs, prog.columns, grads, strict=True):
        shape = (c_out, c_in, *term.block_shape)
        block = _block(whole, cols)
        # The blocks are disjoint.
        block.copy_(_unpermute(grad.to(compute), shape, term.order).reshape(block.shape))
    rest = math.prod(sizes)
    for matrix in matrices:  # first axis first: (..., C_a, ...) back to (..., k_a, ...)
        rest //= matrix.shape[1]
        if rest == 1:  # one product; a batch of tiny ones costs more
            whole = whole.reshape(-1, matrix.shape[1]) @ matrix.t()
        else:
            whole = matrix @ whole.reshape(-1, matrix.shape[1], rest)
    return whole.reshape(weight.shape).to(weight.dtype)
