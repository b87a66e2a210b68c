"""Atomic checkpoints and the random-number state they must carry for an exact resume.

A checkpoint is written to a temporary file in the same folder, flushed to disk, then renamed
over the old one with ``os.replace`` (atomic on POSIX and Windows), so a run killed at any
moment leaves either the previous checkpoint or the new one, never half of one. Loading uses
``torch.load(weights_only=True)``: a checkpoint can hold tensors, numbers, strings, lists and
dicts, and nothing that runs code.

The file is one header line, ``checkerscope-checkpoint sha256=<hex digest>``, then the bytes of
``torch.save``; the digest is checked before anything is unpickled, so a damaged file (a flipped
bit, a truncated copy, an empty file after a full disk) is refused, naming it, instead of
resuming with different numbers.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from checkerscope.files import atomic_write_bytes


class Stateful(Protocol):
    """Anything with a state dict: an ``nn.Module`` or an ``Optimizer``."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state_dict: Any, /) -> Any: ...


MAGIC = b"checkerscope-checkpoint sha256="
"""How a checkpoint file starts; the SHA-256 of the rest follows in hex, then a newline."""


def with_checksum(payload: bytes) -> bytes:
    """``payload`` behind the header line that names its SHA-256 (the checkpoint file format).

    Example:
        >>> with_checksum(b"x")[:40]
        b'checkerscope-checkpoint sha256=2d711642b'
    """
    return MAGIC + hashlib.sha256(payload).hexdigest().encode("ascii") + b"\n" + payload


def verified_payload(data: bytes, path: str | Path) -> bytes:
    """The payload of checkpoint bytes ``data`` (read from ``path``) if its SHA-256 is the one
    its header names, else a ``ValueError`` saying which file is damaged and what to do.

    Example:
        >>> verified_payload(with_checksum(b"x"), "last.pt")
        b'x'
        >>> verified_payload(with_checksum(b"x")[:-1] + b"y", "last.pt")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: checkpoint 'last.pt' is damaged: its SHA-256 is not the one written with it...
    """
    header, newline, payload = data.partition(b"\n")
    fix = "; delete it (or run without --resume) to start that training again"
    if not (newline and header.startswith(MAGIC) and len(header) == len(MAGIC) + 64):
        what = "is empty" if not data else "has no checksum header (damaged, or not a checkpoint)"
        raise ValueError(f"checkpoint {str(path)!r} {what}{fix}")
    if hashlib.sha256(payload).hexdigest().encode("ascii") != header[len(MAGIC) :]:
        raise ValueError(
            f"checkpoint {str(path)!r} is damaged: its SHA-256 is not the one written with it "
            f"({len(data)} bytes){fix}"
        )
    return payload


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> None:
    """Save ``state`` (tensors, numbers, strings, lists, dicts) atomically with ``torch.save``,
    behind a checksum (see the module's docs).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "last.pt"
        >>> save_checkpoint(p, {"step": 3, "w": torch.ones(2)})
        >>> load_checkpoint(p)["step"]
        3
    """
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    atomic_write_bytes(path, with_checksum(buffer.getvalue()))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, on the CPU, without running code.

    Raises ``ValueError`` naming the file when its checksum does not match (see
    :func:`verified_payload`); ``pickle.UnpicklingError`` when it holds objects other than
    tensors and plain values.
    """
    payload = verified_payload(Path(path).read_bytes(), path)
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)


def save_training(
    path: str | Path,
    config: Mapping[str, Any],
    modules: Mapping[str, Stateful],
    streams: Mapping[str, torch.Generator],
    **extra: Any,
) -> None:
    """Checkpoint a training loop: its configuration, the state of every module and optimiser,
    every generator, the global random states (key ``"rng"``) and ``extra`` (step, losses...),
    each under its own key, so that :func:`resume_training` continues exactly where it stopped.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "last.pt"
        >>> net, stream = torch.nn.Linear(2, 1), torch.Generator().manual_seed(0)
        >>> save_training(p, {"lr": 0.1}, {"net": net}, {"stream": stream}, step=3)
        >>> resume_training(p, {"lr": 0.1}, {"net": net}, {"stream": stream})
        {'step': 3}
    """
    save_checkpoint(
        path,
        {
            "config": dict(config),
            **{key: module.state_dict() for key, module in modules.items()},
            **{key: stream.get_state() for key, stream in streams.items()},
            "rng": rng_state(),
            **extra,
        },
    )


def resume_training(
    path: str | Path,
    config: Mapping[str, Any],
    modules: Mapping[str, Stateful],
    streams: Mapping[str, torch.Generator],
) -> dict[str, Any] | None:
    """Restore a checkpoint written by :func:`save_training`, if ``path`` exists.

    Loads every module and optimiser in ``modules`` and every generator in ``streams`` in place,
    restores the global random states, and returns the remaining (``extra``) entries; returns
    None when there is no checkpoint. Raises ValueError when the checkpoint was written with
    another ``config``.
    """
    path = Path(path)
    if not path.exists():
        return None
    state = load_checkpoint(path)
    if state["config"] != dict(config):
        raise ValueError(
            f"checkpoint {str(path)!r} was written with another configuration "
            f"({state['config']}); run without --resume to start again"
        )
    for key, module in modules.items():
        module.load_state_dict(state[key])
    for key, stream in streams.items():
        stream.set_state(state[key])
    set_rng_state(state["rng"])
    restored = {"config", "rng", *modules, *streams}
    return {key: value for key, value in state.items() if key not in restored}


def rng_state() -> dict[str, Any]:
    """The global random states of torch (CPU and CUDA), numpy and Python, as plain values."""
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple)  # legacy=True always returns the 5-tuple
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "key": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the global random states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    key = n["key"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", key, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_to_lists(x) for x in value]
    return value
