"""Running the fused resize-convolution's program (:mod:`resize_conv_program`).

:class:`FusedTerms` runs it as one autograd node whose backward calls the convolutions'
own backward and adds the border gradients into the input gradient in place: with plain
autograd, each block read from ``x`` would cost a zero-filled gradient the size of ``x`` and
its addition, each block written into ``y`` a copy of the output gradient. :func:`run` is
the same forward as plain differentiable ops, for tracing, exporting and compiling.

Where replicated "ghost" samples at the ends of ``x`` make the transposed convolution exact
(``Program.ghosted``), the forward is that convolution of the extended input alone: on
oneDNN its forward and input gradient cost what ``ConvTransposeNd``'s do, but not its weight
gradient, which is computed instead from the unextended input plus the border terms.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from checkerscope.functional.resize_conv_program import (
    Program,
    Term,
    kernel_shape,
    kernels,
    weight_grad,
)

_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


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
    args = (
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
    if not onednn_unsafe(x, kernel, mask[1]):
        return torch.ops.aten.convolution_backward(*args)
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        return torch.ops.aten.convolution_backward(*args)
    finally:
        torch.backends.mkldnn.enabled = enabled


def onednn_unsafe(x: torch.Tensor, kernel: torch.Tensor, weight_grad: bool) -> bool:
    """Whether oneDNN's weight gradient of this transposed convolution may corrupt the heap.

    Measured with torch 2.13 on CPU: a 3-D transposed convolution's weight gradient aborts
    the process ("double free or corruption") when the input is 3 (or 4) samples deep and the
    kernel has 7 to 14 taps along that axis, in ``ConvTranspose3d`` itself. Inputs shallower
    than the kernel take torch's own kernel instead, which is right there and costs little
    at that depth (``tests/functional/test_onednn_guard.py`` runs the cases in a subprocess).
    """
    return weight_grad and x.is_cpu and x.dim() == 5 and x.shape[2] < kernel.shape[2]


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
    return F.pad(x, prog.ghost_pads, mode="replicate")


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
        g_weight = weight_grad(prog, weight, g_kernels) if need_w else None
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
            shape_only = x.new_empty(kernel_shape(term, c_out, c_in))  # its values are unused
            g_out = _term_grad(prog, term, grad)
            mask = [False, True, False]
            g_kernels.append(_convolve_backward(g_out, inp, shape_only, None, term, mask)[1])
    elif need_bias:
        g_bias = grad.sum([d for d in range(grad.dim()) if d != 1])
    return gx, g_bias, g_kernels
