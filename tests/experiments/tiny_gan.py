"""A tiny GAN for testing the training loop, and a script that trains it (also under torchrun);
tiny DCGAN settings and a context for the experiments that train DCGANs.

    python tiny_gan.py OUT            # one process
    torchrun --standalone --nproc_per_node 2 tiny_gan.py OUT

writes OUT/history_<rank>.json and OUT/G_<rank>.pt.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from checkerscope.data import ImageSource
from checkerscope.experiments import config as C
from checkerscope.experiments import registered
from checkerscope.experiments.context import Context
from checkerscope.experiments.distributed import Dist
from checkerscope.experiments.runner import experiment_seed
from checkerscope.experiments.settings import RunSettings

SIZE, NZ = 8, 4


class TinyG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(NZ, 3 * SIZE * SIZE)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(z)).view(-1, 3, SIZE, SIZE)


class TinyD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * (SIZE // 2) ** 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(nn.functional.leaky_relu(self.conv(x), 0.2).flatten(1))


def tiny_config(**changes: object) -> C.GanConfig:
    cfg = C.GanConfig(
        image_size=SIZE,
        nz=NZ,
        ngf=1,
        ndf=1,
        batch_size=8,
        steps=12,
        n_train=32,
        n_eval=16,
        eval_every=3,
        checkpoint_every=3,
        seeds=1,
        kid_subsets=2,
        kid_subset_size=8,
    )
    return C.for_scale({"quick": cfg}, "quick", changes)  # type: ignore[arg-type]


TINY_DCGAN = {
    "steps": 4, "eval_every": 2, "checkpoint_every": 2, "batch_size": 8, "n_train": 32,
    "n_eval": 16, "kid_subsets": 2, "kid_subset_size": 8, "ngf": 4, "ndf": 4, "nz": 8,
}  # fmt: skip
"""Overrides that make a DCGAN experiment's GANs train in a blink (4 steps of 8 images)."""


def tiny_context(
    out: Path,
    experiment_id: str = "gan_training",
    seed: int = 0,
    overrides: Mapping[str, object] = TINY_DCGAN,
) -> Context:
    """A context of ``experiment_id`` at quick scale with ``overrides`` to its config, writing
    under ``out``, for calling an experiment's functions (:func:`trained_gan`...) directly."""
    experiments = {e.id: e for e in registered()}
    experiment = experiments[experiment_id]
    cfg = C.with_overrides(experiment.configs["quick"], overrides)
    settings = RunSettings("quick", out, seed=seed)
    exp_seed = experiment_seed(seed, experiment_id)
    return Context(experiment, cfg, settings, exp_seed, ImageSource(), Dist(), None, None)


def tiny_data() -> torch.Tensor:
    return torch.rand(32, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1


def tiny_models() -> tuple[TinyG, TinyD]:
    torch.manual_seed(0)
    return TinyG(), TinyD()


def tiny_evaluate(G: nn.Module) -> dict[str, float]:
    from checkerscope.experiments.trained_gans import generate

    z = torch.randn(16, NZ, generator=torch.Generator().manual_seed(2))
    return {"sample_mean": float(generate(G, z).double().mean())}


def main(out: Path) -> None:
    from checkerscope.experiments import distributed
    from checkerscope.experiments.trained_gans import train_gan

    dist = distributed.setup("cpu")
    G, D = tiny_models()
    history = train_gan(
        G,
        D,
        tiny_data(),
        tiny_config(),
        seed=5,
        checkpoint=out / "tiny.pt",
        dist=dist,
        evaluate=tiny_evaluate,
    )
    (out / f"history_{dist.rank}.json").write_text(json.dumps(history))
    torch.save(G.state_dict(), out / f"G_{dist.rank}.pt")
    distributed.cleanup()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
