"""Writing results safely: atomic file writes and plain-JSON conversion, shared by every writer.

A file is written to a temporary file in the same folder, flushed to disk, then renamed over the
old one with ``os.replace`` (atomic on POSIX and Windows), so a run killed at any moment leaves
either the previous file or the new one, never half of one.
"""

from __future__ import annotations

import dataclasses
import math
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> atomic_write_bytes(p, b"hello")
        >>> p.read_bytes()
        b'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name in the same folder (so the rename stays on one file system), created with
    # the umask's permissions, unlike mkstemp's 0600.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def plain_json(value: Any) -> Any:
    """``value`` as plain JSON values: the one conversion every writer of JSON uses.

    Mappings become dicts with string keys, tuples and lists become lists, tensors, numpy
    arrays and numpy scalars become Python numbers (or lists of them), frozen dataclasses
    become dicts of their fields, and non-finite floats become ``None`` (JSON has no NaN).

    Example:
        >>> import torch
        >>> plain_json({"a": (1, float("nan")), "b": torch.tensor([0.5])})
        {'a': [1, None], 'b': [0.5]}
    """
    if isinstance(value, Mapping):
        return {str(k): plain_json(x) for k, x in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_json(dataclasses.asdict(value))
    if isinstance(value, list | tuple):
        return [plain_json(x) for x in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    tolist = getattr(value, "tolist", None)  # torch tensors, numpy arrays and scalars
    if callable(tolist):
        return plain_json(tolist())
    raise TypeError(f"cannot write a {type(value).__name__} as JSON: {value!r:.80}")
