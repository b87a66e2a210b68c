"""Distillation: a converted model learns the original's outputs, less their checkerboard.

``convert(init="project")`` carries trained weights over by least squares, but a random
deconvolution is mostly outside what any resize-convolution can represent, so the projected
model's outputs differ from the original's. :func:`distill` closes the gap by training: the
converted model (the student) learns the original's (the teacher's) outputs on example inputs,
with :func:`checkerscope.checkerboard_loss` added, so that it reproduces everything but the
checkerboard::

    y, t = student(x), teacher(x)
    loss = mean((y - t) ** 2) / var(t) + weight * checkerboard_loss(y)

Why not train on targets with the checkerboard filtered out (the teacher's outputs with their
lattice frequencies notched or low-passed)? A notch removes whatever the content has at those
frequencies too (natural images have energy at 1/8 and 1/4 cycle per pixel), and a low-pass
blurs everything; either costs fidelity where nothing was wrong, and needs its own filter for
every dimension and size. The loss acts only on energy above the background expected around the
lattice, which is exactly what the checkerboard score reads, and it works on signals, images and
volumes alike. The fidelity term is divided by the variance of the teacher's outputs, so the
balance between the two does not depend on the outputs' range (waveforms, images in [0, 1] or
[-1, 1]).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.analysis.loss import checkerboard_loss, lattice_energies
from checkerscope.analysis.score import to_decibels
from checkerscope.conversion.report import Distillation

STEPS = 200
"""Training steps of ``convert(init="distill")`` when ``steps`` is not given."""
LR = 1e-3
"""Adam's learning rate of ``convert(init="distill")`` when ``lr`` is not given."""
BATCH = 16
"""Examples per step drawn from a tensor of example inputs."""
WEIGHT = 10.0
"""Weight of the checkerboard loss against the fidelity term (see the module's docstring)."""

Inputs = torch.Tensor | Iterable[Any] | Callable[[], Any]


def _as_tensor(batch: Any, where: str) -> torch.Tensor:
    """A batch, or the first item of a tuple or list (a DataLoader's ``(input, label)``)."""
    if isinstance(batch, (tuple, list)) and batch:
        batch = batch[0]
    if not isinstance(batch, torch.Tensor):
        raise ValueError(
            f"{where} must give tensors (or tuples whose first item is one), got a "
            f"{type(batch).__name__}"
        )
    return batch


def input_batches(inputs: Inputs, seed: int = 0) -> Iterator[torch.Tensor]:
    """Batches of model inputs, for ever, from ``inputs``: a tensor of examples (N, ...) drawn
    :data:`BATCH` at a time by a generator seeded with ``seed``, a callable returning a batch,
    or an iterable of batches (gone through again when it ends; a one-shot iterator that ends
    is an error). A tuple or list batch gives its first item.

    Example:
        >>> batches = input_batches(torch.randn(40, 8))
        >>> next(batches).shape
        torch.Size([16, 8])
    """
    if isinstance(inputs, torch.Tensor):
        if inputs.dim() < 1 or len(inputs) == 0:
            raise ValueError(
                f"inputs must hold at least one example, got shape {tuple(inputs.shape)}"
            )
        gen = torch.Generator().manual_seed(seed)
        n = min(BATCH, len(inputs))
        while True:
            yield inputs[torch.randperm(len(inputs), generator=gen)[:n].to(inputs.device)]
    elif callable(inputs):
        while True:
            yield _as_tensor(inputs(), "inputs (a callable)")
    elif isinstance(inputs, Iterable) and not isinstance(inputs, (str, bytes)):
        count = 0
        while True:
            first = count
            for batch in inputs:
                count += 1
                yield _as_tensor(batch, "inputs (an iterable)")
            if count == first or iter(inputs) is inputs:
                raise ValueError(
                    f"inputs ran out after {count} batches; give a tensor, a callable or a "
                    f"re-iterable (a list, a DataLoader) of batches"
                )
    else:
        raise ValueError(
            f"inputs must be a tensor of example inputs, an iterable of batches or a callable "
            f"returning a batch, got {type(inputs).__name__}"
        )


def output_score(y: torch.Tensor) -> float:
    """Mean checkerboard score (dB) of a batch of outputs: signals, images or volumes (each
    volume's slices summed, see :func:`~checkerscope.analysis.loss.lattice_energies`).

    Example:
        >>> x = torch.zeros(2, 1, 64)
        >>> x[..., ::2] = 1.0
        >>> output_score(x) > 20
        True
    """
    with torch.no_grad():
        art, bg = lattice_energies(y.detach().float())
        return float(to_decibels(art.cpu(), bg.cpu()).amax(dim=1).mean())


def psnr(y: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR (dB) of ``y`` against ``reference``, the peak being the reference's max - min.

    Example:
        >>> round(psnr(torch.tensor([0.0, 1.1]), torch.tensor([0.0, 1.0])), 2)
        23.01
    """
    mse = float((y.detach().double() - reference.detach().double()).square().mean())
    peak = float(reference.max() - reference.min())
    if mse == 0:
        return math.inf
    return 10 * math.log10(peak**2 / mse) if peak > 0 else -math.inf


def _run(model: nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
    y = model(x)
    if not isinstance(y, torch.Tensor) or not 3 <= y.dim() <= 5:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(
            f"distillation needs a model whose output is one tensor of signals (B, C, L), "
            f"images (B, C, H, W) or volumes (B, C, D, H, W); the {what} gives {shape}"
        )
    return y


def distill(
    teacher: nn.Module,
    student: nn.Module,
    layers: Iterable[nn.Module],
    inputs: Inputs,
    steps: int = STEPS,
    lr: float = LR,
    *,
    weight: float = WEIGHT,
    progress: bool = True,
) -> Distillation:
    """Train the parameters of ``layers`` (modules inside ``student``) for ``steps`` Adam steps
    so that ``student`` reproduces ``teacher`` without its checkerboard (see the module's
    docstring); everything else in ``student`` (other parameters, every buffer: BatchNorm's
    running statistics) is left as it was, and ``teacher`` is not changed.

    Both models run in the mode they are in (eval: running statistics; train: batch
    statistics). The score before and after, and the PSNR of the student against the teacher,
    are measured on the first batch drawn from ``inputs`` (see :func:`input_batches`), with
    ``progress`` showing a bar on the terminal.

    Raises:
        ValueError: for bad arguments, inputs that do not give batches, outputs that are not
            signals, images or volumes, or a loss that stops being finite.

    Example:
        >>> teacher = nn.ConvTranspose1d(1, 1, 3, 2, 1, 1)
        >>> student = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv1d(1, 1, 3, padding=1))
        >>> report = distill(teacher, student, [student[1]], torch.randn(8, 1, 32), steps=2,
        ...                  progress=False)
        >>> report.steps
        2
    """
    steps = v.positive_int("steps", steps)
    lr = v.positive_number("lr", lr)
    weight = v.positive_number("weight", weight)
    params = list({id(p): p for m in layers for p in m.parameters()}.values())
    if not params:
        raise ValueError("layers must hold parameters to train, got none")
    device = params[0].device
    batches = input_batches(inputs)
    first = next(batches).to(device)
    losses: list[float] = []
    with _kept(teacher, student), _bar(progress, steps) as advance:
        with torch.no_grad():
            reference = _run(teacher, first, "original model").detach()
            start = _run(student, first, "converted model").detach()
        for p in student.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.Adam(params, lr=lr)
        for step in range(steps):
            x = first if step == 0 else next(batches).to(device)
            with torch.no_grad():
                target = _run(teacher, x, "original model")
            y = student(x)
            fidelity = (y - target).square().mean() / target.var().clamp_min(1e-12)
            loss = fidelity + weight * checkerboard_loss(y)
            if not torch.isfinite(loss):
                raise ValueError(
                    f"the distillation loss became non-finite at step {step + 1} of {steps}; "
                    f"lower lr (lr={lr})"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            advance()
        with torch.no_grad():
            after = student(first).detach()
    return Distillation(
        steps=steps,
        lr=lr,
        weight=weight,
        score_original=output_score(reference),
        score_start=output_score(start),
        score_distilled=output_score(after),
        psnr_start=psnr(start, reference),
        psnr_distilled=psnr(after, reference),
        loss_first=losses[0],
        loss_last=losses[-1],
    )


@contextlib.contextmanager
def _kept(*modules: nn.Module) -> Iterator[None]:
    """Restore every buffer (BatchNorm's running statistics: forward passes in training mode
    move them) and every parameter's ``requires_grad`` of ``modules`` when the block ends."""
    buffers = [copy.deepcopy(dict(m.named_buffers())) for m in modules]
    flags = [[p.requires_grad for p in m.parameters()] for m in modules]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, saved, grads in zip(modules, buffers, flags, strict=True):
                for name, b in m.named_buffers():
                    b.copy_(saved[name])
                for p, flag in zip(m.parameters(), grads, strict=True):
                    p.requires_grad_(flag)


@contextlib.contextmanager
def _bar(show: bool, total: int) -> Iterator[Callable[[], None]]:
    """A transient rich progress bar of ``total`` steps (nothing when ``show`` is False),
    giving its ``advance()``."""
    if not show:
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("distilling", total=total)
        yield lambda: bar.advance(task)
