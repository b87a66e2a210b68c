"""Artifacts shared across experiments in one run: built once, kept as a checkpoint, reused.

A trained network that several experiments need (a classifier whose features the GAN's quality
guard, the gradient and the feature-visualization experiments all use) is built by the first
experiment that asks for it and loaded by the others: ``ctx.cached(name, key, build)``. The
file is ``OUT/cache/<name>-<digest of key>.pt``, written atomically with
:func:`~checkerscope.experiments.checkpoint.save_checkpoint`; ``key`` (plain JSON: the config
and seed that determine the artifact) is stored in it and checked on load, so an artifact
built from other settings is never reused. A lock file serializes builders, so workers asking
for the same artifact at once build it once. ``build(workdir)`` may keep resumable checkpoints
in ``workdir`` (removed once the artifact is saved), so an interrupted build resumes with
``--resume``. A run without ``--resume`` starts with an empty cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from checkerscope.experiments.checkpoint import load_checkpoint, save_checkpoint
from checkerscope.experiments.distributed import Dist
from checkerscope.files import plain_json


def digest(key: Mapping[str, Any]) -> str:
    """A short, stable hash of a plain-JSON ``key``.

    Example:
        >>> digest({"steps": 3}) == digest({"steps": 3}) != digest({"steps": 4})
        True
    """
    text = json.dumps(plain_json(dict(key)), sort_keys=True, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load(path: Path, plain_key: str) -> dict[str, Any]:
    state = load_checkpoint(path)
    if state["key"] != plain_key:
        raise ValueError(
            f"cached artifact {str(path)!r} was built for {state['key']}, "
            f"not {plain_key}; run without --resume to rebuild it"
        )
    return dict(state["value"])


class ArtifactCache:
    """The shared artifacts of one run, under ``folder`` (``OUT/cache``).

    Example:
        >>> import tempfile, torch
        >>> cache = ArtifactCache(tempfile.mkdtemp())
        >>> cache.get("ones", {"n": 2}, lambda workdir: {"w": torch.ones(2)})["w"].tolist()
        [1.0, 1.0]
        >>> cache.get("ones", {"n": 2}, lambda workdir: 1 / 0)["w"].tolist()  # loaded, not built
        [1.0, 1.0]
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, name: str, key: Mapping[str, Any]) -> Path:
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"name must be letters, digits, '_' or '-', got {name!r}")
        return self.folder / f"{name}-{digest(key)}.pt"

    def get(
        self,
        name: str,
        key: Mapping[str, Any],
        build: Callable[[Path], Mapping[str, Any]],
        dist: Dist | None = None,
    ) -> dict[str, Any]:
        """The artifact ``name`` for ``key``: loaded if saved, else ``build(workdir)`` saved.

        ``build`` returns a mapping of tensors, numbers, strings, lists and dicts (a state
        dict and what describes it: accuracy, steps...). Under torchrun (``dist`` with several
        processes) the build may be collective (a DistributedDataParallel training): every
        process builds, rank 0 saves, and no lock is taken, since a process waiting for it
        would stall the others' all-reduces.
        """
        path = self.path(name, key)
        plain_key = json.dumps(plain_json(dict(key)), sort_keys=True)
        workdir = path.with_suffix(".work")
        if dist is not None and dist.enabled:
            dist.barrier()
            found = path.exists()
            dist.barrier()  # every process has looked before rank 0 can write
            if found:
                return _load(path, plain_key)
            workdir.mkdir(parents=True, exist_ok=True)
            value = dict(build(workdir))
            if dist.is_main:
                save_checkpoint(path, {"key": plain_key, "value": value})
                shutil.rmtree(workdir, ignore_errors=True)
            dist.barrier()
            return value
        with _locked(path.with_suffix(".lock")):
            if path.exists():
                return _load(path, plain_key)
            workdir.mkdir(parents=True, exist_ok=True)
            value = dict(build(workdir))
            save_checkpoint(path, {"key": plain_key, "value": value})
            shutil.rmtree(workdir, ignore_errors=True)
            return value

    def clear(self) -> None:
        """Remove every artifact (a run without ``--resume`` starts afresh)."""
        shutil.rmtree(self.folder, ignore_errors=True)
