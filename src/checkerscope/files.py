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


def check_output_file(name: str, path: str | Path, *, stream: bool = False) -> Path:
    """``path`` as a Path if a file can be written there, else a ``ValueError`` naming the
    option ``name``: checked before any work, so a long run never ends unable to save.

    The path must not be a folder, and its folder must exist and be writable. An existing
    FIFO or device is accepted only with ``stream`` (it is opened and written, as
    ``/dev/stdout`` is): an atomic write would replace it with a file.

    Example:
        >>> check_output_file("--csv", "/no/such/folder/out.csv")
        Traceback (most recent call last):
        ...
        ValueError: --csv '/no/such/folder/out.csv': the folder '/no/such/folder' does not exist
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a folder: give a file name")
    if path.exists() and not path.is_file() and not stream:
        raise ValueError(f"{name} {str(path)!r} is not a regular file: it would be replaced")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"{name} {str(path)!r}: the folder {str(folder)!r} {what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {str(path)!r}: the folder {str(folder)!r} is not writable")
    return path


def check_output_folder(name: str, path: str | Path) -> Path:
    """``path`` as a Path if it is a writable folder or one that can be created, else a
    ``ValueError`` naming the option ``name``.

    Example:
        >>> import tempfile, pathlib
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> file.touch()
        >>> check_output_folder("--out", file)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: --out must be a folder, got '...a.txt', which is a file
    """
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        which = "which is a file" if existing == path else f"and {str(existing)!r} is a file"
        raise ValueError(f"{name} must be a folder, got {str(path)!r}, {which}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {str(path)!r}: the folder {str(existing)!r} is not writable")
    return path


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
