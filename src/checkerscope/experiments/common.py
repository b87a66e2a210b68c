"""Helpers several experiments share: random generators and a resumable training loop.

Kept here once so that every experiment samples and trains the same way; the measures they
share live in :mod:`checkerscope.analysis` (``phases``, ``spectra``, ``gradients``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments.checkpoint import resume_training, save_training

if TYPE_CHECKING:
    from checkerscope.experiments.runner import Bar


@torch.no_grad()
def random_init_outputs(
    build: Callable[[], nn.Module], seed: int, z: torch.Tensor
) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """A freshly initialized generator (``build()`` after seeding torch with ``seed``) and its
    outputs for ``z`` with BatchNorm in both modes: ``{"eval": ..., "train": ...}``.

    ``"train"`` normalizes with the statistics of the batch, as a GAN generator runs while it
    trains (and as ``gan_training`` samples). ``"eval"`` uses the initial running statistics
    (mean 0, variance 1), which makes every BatchNorm the identity; it runs first, before the
    train-mode pass moves the running statistics. The model is returned in train mode.
    """
    torch.manual_seed(seed)
    model = build()
    outputs = {"eval": model.eval()(z).float()}
    outputs["train"] = model.train()(z).float()
    return model, outputs


def train_on_batches(
    net: nn.Module,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    cfg: Any,
    *,
    seed: int,
    checkpoint: Path,
    bar: Bar | None = None,
    name: str = "net",
    lr_factor: Callable[[int], float] | None = None,
) -> list[float]:
    """Train ``net`` with Adam(lr=``cfg.lr``) for ``cfg.steps`` steps; return the loss per step.

    Each step draws ``cfg.batch_size`` indices into ``n`` examples from a generator seeded with
    ``seed`` and minimises ``batch_loss(index)``. Every ``cfg.checkpoint_every`` steps (and at
    the end) ``net`` (under the key ``name``), the optimiser, the generator, the global random
    states and the losses are saved to ``checkpoint``; a run finding it continues from it.
    ``cfg`` is a frozen config dataclass with those fields. ``lr_factor(step)`` (step counted
    from 0), when given, multiplies the learning rate of that step: a schedule that is a
    function of the step alone, so a resumed run follows it exactly.

    Example:
        >>> import tempfile, pathlib
        >>> cfg = C.for_scale(C.CLASSIFIER, "quick", {"steps": 2, "batch_size": 3})
        >>> net, x = nn.Linear(2, 1), torch.rand(5, 2)
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.pt"
        >>> len(train_on_batches(net, lambda i: net(x[i]).square().mean(), 5, cfg, seed=0,
        ...                      checkpoint=p))
        2
    """
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    stream = torch.Generator().manual_seed(seed)
    modules, streams = {name: net, "opt": opt}, {"stream": stream}
    losses: list[float] = []
    step = 0
    if (state := resume_training(checkpoint, C.as_dict(cfg), modules, streams)) is not None:
        losses, step = state["losses"], state["step"]
    if bar is not None:
        bar.advance(step)
    net.train()
    while step < cfg.steps:
        if lr_factor is not None:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(step)
        loss = batch_loss(torch.randint(n, (cfg.batch_size,), generator=stream))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        losses.append(float(loss.detach()))
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save_training(checkpoint, C.as_dict(cfg), modules, streams, step=step, losses=losses)
        if bar is not None:
            bar.advance(1)
    return losses
