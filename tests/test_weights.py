"""checkerscope.weights: state dicts from safetensors and torch files, never by unpickling."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from checkerscope.models import DCGANGenerator
from checkerscope.weights import load_weights


def test_weights_load_from_safetensors_torch_files_and_wrapped_dicts(tmp_path: Path) -> None:
    source = DCGANGenerator(nz=8, ngf=4, image_size=16)
    sd = source.state_dict()
    save_file({k: t.contiguous() for k, t in sd.items()}, tmp_path / "w.safetensors")
    torch.save(sd, tmp_path / "w.pt")
    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "ckpt.pth")
    torch.save({f"module.{k}": t for k, t in sd.items()}, tmp_path / "ddp.pt")
    for name in ("w.safetensors", "w.pt", "ckpt.pth", "ddp.pt"):
        target = load_weights(DCGANGenerator(nz=8, ngf=4, image_size=16), tmp_path / name)
        loaded = target.state_dict()
        assert all(torch.equal(loaded[k], sd[k]) for k in sd), name


class Payload:
    """A custom class: torch.load(weights_only=True) must refuse to unpickle it."""

    def __init__(self) -> None:
        self.x = 1


def test_weights_errors_are_clear(tmp_path: Path) -> None:
    model = DCGANGenerator(nz=8, ngf=4, image_size=16)
    with pytest.raises(ValueError, match="does not exist"):
        load_weights(model, tmp_path / "none.pt")
    torch.save({"weights": Payload()}, tmp_path / "pickle.pt")
    with pytest.raises(ValueError, match="does not unpickle arbitrary objects"):
        load_weights(model, tmp_path / "pickle.pt")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="is not a state dict: it holds a list"):
        load_weights(model, tmp_path / "list.pt")
    torch.save({"main.0.weight": 3}, tmp_path / "int.pt")
    with pytest.raises(ValueError, match=r"entry 'main\.0\.weight' holds a int, not a tensor"):
        load_weights(model, tmp_path / "int.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match="is not a torch checkpoint or safetensors file"):
        load_weights(model, tmp_path / "text.pt")
    (tmp_path / "bad.safetensors").write_text("hello")
    with pytest.raises(ValueError, match="is not a readable safetensors file"):
        load_weights(model, tmp_path / "bad.safetensors")


def test_mismatched_weights_list_every_kind_of_mismatch(tmp_path: Path) -> None:
    sd = DCGANGenerator(nz=8, ngf=4, image_size=16).state_dict()
    del sd["main.3.bias"]
    sd["extra.weight"] = torch.zeros(1)
    sd["main.0.weight"] = torch.zeros(2, 2, 4, 4)
    torch.save(sd, tmp_path / "w.pt")
    model = DCGANGenerator(nz=8, ngf=4, image_size=16)
    before = {k: t.clone() for k, t in model.state_dict().items()}
    with pytest.raises(ValueError) as err:
        load_weights(model, tmp_path / "w.pt")
    message = str(err.value)
    assert "missing from the file: main.3.bias" in message
    assert "unexpected in the file: extra.weight" in message
    assert re.search(r"shape mismatch: main.0.weight \(file \(2, 2, 4, 4\), model \(8, 4", message)
    assert all(torch.equal(before[k], t) for k, t in model.state_dict().items())
