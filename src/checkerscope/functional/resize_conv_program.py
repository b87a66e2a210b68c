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
per-axis maps). :func:`kernels` computes them by d small matrix products, :func:`weight_grad`
maps their gradients back to ``w`` the same way; a dense (prod k, all columns) matrix would
cost more than the convolutions in 3-D.
:mod:`checkerscope.functional.resize_conv_terms` runs the program.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import torch

from checkerscope.functional.resize_conv_plan import AxisPlan, BorderBlock, axis_plan


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
    return Program(
        plans, main, ghosted_main, tuple(terms), matrices, tuple(columns), ghosted, ghosts, pads
    )


_MATRICES: dict[tuple[int, torch.device, torch.dtype], tuple[torch.Tensor, ...]] = {}


def _matrices(prog: Program, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    # Built from Python numbers each time while tracing or compiling (a cached tensor made
    # under a fake-tensor mode would leak out of it); cached in eager. Programs live in
    # program()'s cache, so id() is a key.
    def build() -> tuple[torch.Tensor, ...]:
        return tuple(torch.tensor(m, dtype=dtype, device=device) for m in prog.axis_matrices)

    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return build()
    key = (id(prog), device, dtype)
    if key not in _MATRICES:
        with torch.inference_mode(False), torch.no_grad():
            _MATRICES[key] = build()
    return _MATRICES[key]


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


def kernels(prog: Program, weight: torch.Tensor, count: int | None = None) -> list[torch.Tensor]:
    """The kernels (C_in', C_out', *taps) of the main convolution and of each term.

    The first ``count`` of them (all by default), in the weight's dtype: ``w`` (C_out, C_in,
    *k) contracted with each axis's A_a, one matrix product per axis, then each kernel's
    block permuted into place.
    """
    c_out, c_in = weight.shape[:2]
    convs = (prog.main, *prog.terms)[:count]
    columns = prog.columns[: len(convs)]
    t = weight.to(compute_dtype(weight))
    matrices = _matrices(prog, weight.device, t.dtype)
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
    out = []
    for term, cols in zip(convs, columns, strict=True):
        kernel = _block(t, cols).reshape(c_out, c_in, *term.block_shape).permute(term.order)
        out.append(kernel.reshape(kernel_shape(term, c_out, c_in)).to(weight.dtype))
    return out


def weight_grad(prog: Program, weight: torch.Tensor, grads: list[torch.Tensor]) -> torch.Tensor:
    """The gradient of the weight, from those of all the kernels: :func:`kernels` backwards."""
    c_out, c_in = weight.shape[:2]
    compute = compute_dtype(weight)
    matrices = _matrices(prog, weight.device, compute)
    sizes = [m.shape[1] for m in matrices]
    whole = weight.new_zeros((c_out, c_in, *sizes), dtype=compute)
    for term, cols, grad in zip((prog.main, *prog.terms), prog.columns, grads, strict=True):
        permuted = [(c_out, c_in, *term.block_shape)[i] for i in term.order]
        inverse = sorted(range(len(term.order)), key=term.order.__getitem__)
        part = grad.to(compute).reshape(permuted).permute(inverse)
        block = _block(whole, cols)
        block.copy_(part.reshape(block.shape))  # the blocks are disjoint
    rest = math.prod(sizes)
    for matrix in matrices:  # first axis first: (..., C_a, ...) back to (..., k_a, ...)
        rest //= matrix.shape[1]
        if rest == 1:  # one product; a batch of tiny ones costs more
            whole = whole.reshape(-1, matrix.shape[1]) @ matrix.t()
        else:
            whole = matrix @ whole.reshape(-1, matrix.shape[1], rest)
    whole = whole.reshape(weight.shape)
    return whole.to(weight.dtype)
