"""Reading state dicts from files without running code: the one loader every weight file goes
through (``audit --weights``, VGG-16 weights for style transfer, feature-network weights).

``.safetensors`` files are read by ``safetensors.torch.load_file``; anything else by
``torch.load(weights_only=True)``, which refuses to unpickle arbitrary objects.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn


def read_state_dict(path: str | Path, what: str = "weights file") -> dict[str, torch.Tensor]:
    """The state dict (name -> tensor) held by ``path``, on the CPU.

    A plain state dict, or a dict holding one under ``"state_dict"`` or ``"model"``, is
    accepted, and a ``"module."`` prefix on every key (DistributedDataParallel) is dropped.
    ``what`` names the file in error messages (``"vgg_weights file"``, ...).

    Raises:
        ValueError: for a missing or unreadable file, a folder or special file, a file
            holding Python objects other than tensors and plain containers, or something that
            is not a state dict.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
        >>> torch.save(nn.Linear(2, 3).state_dict(), path)
        >>> sorted(read_state_dict(path))
        ['bias', 'weight']
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder: give the weights file in it")
    if not path.exists():
        raise ValueError(f"{what} {str(path)!r} does not exist")
    if not path.is_file():  # a FIFO or a device would be read for ever
        raise ValueError(f"{what} {str(path)!r} is not a regular file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            obj: Any = load_file(str(path))
        except Exception as err:
            raise ValueError(
                f"{what} {str(path)!r} is not a readable safetensors file: {err}"
            ) from err
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
            reason = next((line for line in lines if "Unsupported global" in line), "")
            reason = reason or (lines[0] if lines else "")
            raise ValueError(
                f"{what} {str(path)!r} holds Python objects other than tensors, and checkerscope "
                f"does not unpickle arbitrary objects (torch.load(weights_only=True) refused "
                f"it: {reason}); save model.state_dict() instead, or use safetensors"
            ) from err
        except Exception as err:
            raise ValueError(
                f"{what} {str(path)!r} is not a torch checkpoint or safetensors file: "
                f"{type(err).__name__}: {err}"
            ) from err
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise ValueError(
            f"{what} {str(path)!r} is not a state dict: it holds a {type(obj).__name__}"
        )
    bad = [k for k, t in obj.items() if not (isinstance(k, str) and isinstance(t, torch.Tensor))]
    if bad:
        k = bad[0]
        raise ValueError(
            f"{what} {str(path)!r} is not a state dict: entry {k!r} holds a "
            f"{type(obj[k]).__name__}, not a tensor"
        )
    state = dict(obj)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: t for k, t in state.items()}
    return state


def check_keys(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: str, what: str = "weights in"
) -> None:
    """Raise a ValueError listing the keys of ``state`` missing from, unexpected in, or of
    another shape than ``model``'s state dict; ``source`` names where ``state`` came from."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = [
        f"{label}: {_listing(keys)}"
        for label, keys in (
            ("missing from the file", missing),
            ("unexpected in the file", unexpected),
            ("shape mismatch", shapes),
        )
        if keys
    ]
    if problems:
        raise ValueError(
            f"the {what} {source} do not match {type(model).__name__}: " + "; ".join(problems)
        )


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a state dict from ``path`` into ``model`` (in place, strictly) and return it.

    See :func:`read_state_dict` for the formats; keys are checked by :func:`check_keys`.

    Raises:
        ValueError: for a missing or unreadable file, a file holding other Python objects,
            something that is not a state dict, or keys that do not match the model's
            (listing the missing, unexpected and shape-mismatched ones).

    Example:
        >>> import tempfile, os
        >>> m = nn.Linear(2, 3)
        >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
        >>> torch.save(m.state_dict(), path)
        >>> load_weights(nn.Linear(2, 3), path).weight.shape
        torch.Size([3, 2])
    """
    state = read_state_dict(path)
    check_keys(model, state, repr(str(path)))
    model.load_state_dict(state, strict=True)
    return model


def _listing(keys: Sequence[str], limit: int = 20) -> str:
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more
