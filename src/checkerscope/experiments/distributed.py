"""DistributedDataParallel set-up from the environment variables that ``torchrun`` sets.

Run any command of the runner under ``torchrun --standalone --nproc_per_node N`` and every
process reads RANK, LOCAL_RANK and WORLD_SIZE here; without them it is a single process and
nothing below does anything. The backend is gloo on the CPU and nccl on CUDA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Dist:
    """Where this process stands: its rank, the number of processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """True on the one process (rank 0) that writes files and shows progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of ``x`` over all processes (``x`` itself when there is one)."""
        if not self.enabled:
            return x
        x = x.detach().clone()
        dist.all_reduce(x)
        return x / self.world_size

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in DistributedDataParallel when there are several processes."""
        if not self.enabled:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's equal slice of a global batch (its size must divide evenly)."""
        if not self.enabled:
            return batch
        if batch.shape[0] % self.world_size:
            raise ValueError(
                f"batch size {batch.shape[0]} must be divisible by the number of processes "
                f"{self.world_size}"
            )
        n = batch.shape[0] // self.world_size
        return batch[self.rank * n : (self.rank + 1) * n]


def setup(device: str = "cpu") -> Dist:
    """Join the process group that torchrun started (if any) and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device must be 'cpu' on this machine (no CUDA device), got 'cuda'")
        torch.cuda.set_device(local_rank)
        where = torch.device("cuda", local_rank)
    elif device == "cpu":
        where = torch.device("cpu")
    else:
        raise ValueError(f"device must be one of 'cpu', 'cuda', got {device!r}")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if where.type == "cuda" else "gloo")
    return Dist(rank, world_size, local_rank, where)


def cleanup() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()
