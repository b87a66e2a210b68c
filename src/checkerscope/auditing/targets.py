"""The command line's ``TARGET``, turned into a model: ``"package.module:attr"`` or
``"path/to/file.py:attr"``, naming a module, a module class or a factory."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from torch import nn


def load_target(target: str) -> nn.Module:
    """The model named by ``target``: ``"package.module:attr"`` or ``"path/to/file.py:attr"``.

    ``attr`` (dots allowed) may be an ``nn.Module`` instance, an ``nn.Module`` subclass (built
    with no arguments) or a factory (called with no arguments) that returns an ``nn.Module``.

    Raises:
        ValueError: saying what is wrong: the form of ``target``, a file that does not exist,
            a module that does not import, a missing attribute, a class that needs
            arguments, or an attribute that is not a module, a module class or a factory.

    Example:
        >>> type(load_target("checkerscope.models:DCGANGenerator")).__name__
        'DCGANGenerator'
    """
    if not isinstance(target, str) or ":" not in target:
        raise ValueError(
            f"TARGET must be 'package.module:attr' or 'path/to/file.py:attr', got {target!r}"
        )
    where, _, attr = target.rpartition(":")
    if not where or not attr:
        raise ValueError(
            f"TARGET must be 'package.module:attr' or 'path/to/file.py:attr', got {target!r}"
        )
    module = _import_file(where) if where.endswith(".py") or "/" in where or "\\" in where else None
    if module is None:
        try:
            module = importlib.import_module(where)
        except Exception as err:
            raise ValueError(
                f"cannot import module {where!r}: {type(err).__name__}: {err}"
            ) from err
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{where!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return _as_model(obj, f"{where}:{attr}")


def _import_file(path_text: str) -> Any:
    path = Path(path_text)
    if not path.is_file():
        raise ValueError(f"TARGET file {path_text!r} does not exist")
    name = f"_checkerscope_target_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {path_text!r} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    # Imports of sibling files resolve as they would when running the file as a script.
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise ValueError(f"cannot import {path_text!r}: {type(err).__name__}: {err}") from err
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def _as_model(obj: Any, what: str) -> nn.Module:
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, type) and not issubclass(obj, nn.Module):
        raise ValueError(f"{what} is the class {obj.__name__}, which is not a torch.nn.Module")
    if not callable(obj):
        raise ValueError(
            f"{what} is a {type(obj).__name__}, not a torch.nn.Module, a module class or a "
            f"factory that returns one"
        )
    kind = "module class" if isinstance(obj, type) else "factory"
    try:
        made = obj()
    except TypeError as err:
        raise ValueError(
            f"{what} is a {kind} that needs arguments ({err}); point TARGET at a factory "
            f"that takes none, or at an instance"
        ) from err
    except Exception as err:
        raise ValueError(f"{what} failed when called: {type(err).__name__}: {err}") from err
    if not isinstance(made, nn.Module):
        raise ValueError(
            f"{what} is a factory that returned a {type(made).__name__}, not a torch.nn.Module"
        )
    return made
