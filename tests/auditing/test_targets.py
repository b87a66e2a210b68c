"""The command line's TARGET as a model: classes, factories, instances, and every error."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from checkerscope.auditing import load_target
from checkerscope.models import UNet


def test_load_target_takes_classes_factories_and_instances(model_file: Path) -> None:
    assert type(load_target(f"{model_file}:Small")).__name__ == "Small"
    assert type(load_target(f"{model_file}:make_generator")).__name__ == "DCGANGenerator"
    assert type(load_target(f"{model_file}:instance")).__name__ == "Small"
    assert isinstance(load_target("checkerscope.models:UNet"), UNet)
    assert isinstance(load_target("torch.nn:Identity"), nn.Identity)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("my_models.py", "TARGET must be 'package.module:attr' or 'path/to/file.py:attr'"),
        ("{dir}/missing.py:Small", "TARGET file '.*missing.py' does not exist"),
        ("no_such_package.models:G", "cannot import module 'no_such_package.models'"),
        ("{file}:Missing", "has no attribute 'Missing'"),
        ("{file}:NUMBER", "is a int, not a torch.nn.Module, a module class or a factory"),
        ("{file}:Payload", "is the class Payload, which is not a torch.nn.Module"),
        ("{file}:NeedsArgs", "is a module class that needs arguments"),
        ("{file}:make_string", "is a factory that returned a str, not a torch.nn.Module"),
    ],
)
def test_load_target_errors(model_file: Path, target: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_target(target.format(file=model_file, dir=model_file.parent))


def test_a_file_that_fails_to_import_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("import not_a_module_anywhere\n")
    with pytest.raises(ValueError, match=r"cannot import '.*broken.py': ModuleNotFoundError"):
        load_target(f"{path}:G")
