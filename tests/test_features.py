from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from checkerscope.features import (
    VGG16_LAYERS,
    RandomMultiScaleCNN,
    VGG16Features,
    gram_matrix,
)

# torchvision's vgg16().features, written out by hand: (index, out, in) of every 3x3 conv.
TORCHVISION_CONVS = [
    (0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256),
    (14, 256, 256), (17, 512, 256), (19, 512, 512), (21, 512, 512), (24, 512, 512),
    (26, 512, 512), (28, 512, 512),
]  # fmt: skip


def fake_state(prefix: str = "features.") -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    state = {}
    for i, out, inp in TORCHVISION_CONVS:
        state[f"{prefix}{i}.weight"] = torch.randn(out, inp, 3, 3, generator=g) * 0.05
        state[f"{prefix}{i}.bias"] = torch.randn(out, generator=g) * 0.01
    return state


def test_gram_matrix_matches_explicit_sums() -> None:
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    expected = torch.zeros(2, 3, 3, dtype=torch.float64)
    for n in range(2):
        for a in range(3):
            for b in range(3):
                expected[n, a, b] = (f[n, a] * f[n, b]).sum() / (3 * 4 * 5)
    torch.testing.assert_close(gram_matrix(f), expected)


def test_random_cnn_is_fixed_by_its_seed_and_has_no_parameters() -> None:
    x = torch.rand(2, 3, 16, 16)
    a, b, c = (
        RandomMultiScaleCNN(widths=(4, 8), seed=3),
        RandomMultiScaleCNN(widths=(4, 8), seed=3),
        RandomMultiScaleCNN(widths=(4, 8), seed=4),
    )
    assert list(a.parameters()) == []
    fa, fb, fc = a(x), b(x), c(x)
    assert [f.shape for f in fa] == [torch.Size([2, 4, 16, 16]), torch.Size([2, 8, 8, 8])]
    assert all(torch.equal(p, q) for p, q in zip(fa, fb, strict=True))
    assert not torch.equal(fa[0], fc[0])
    # First stage by hand: reflect pad, conv, ReLU of the image mapped to [-1, 1].
    ref = F.relu(F.conv2d(F.pad(x * 2 - 1, (1, 1, 1, 1), mode="reflect"), a.weight0, a.bias0))
    torch.testing.assert_close(fa[0], ref)
    xg = x.clone().requires_grad_(True)
    sum(f.sum() for f in a(xg)).backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0


def test_random_cnn_rejects_bad_widths() -> None:
    with pytest.raises(ValueError, match="widths must be a positive integer, got 0"):
        RandomMultiScaleCNN(widths=(4, 0))


def test_vgg_layout_is_torchvisions() -> None:
    net = VGG16Features()
    shapes = {k: tuple(t.shape) for k, t in net.features_net.state_dict().items()}
    expected = {}
    for i, out, inp in TORCHVISION_CONVS:
        expected[f"{i}.weight"], expected[f"{i}.bias"] = (out, inp, 3, 3), (out,)
    assert shapes == expected
    assert VGG16_LAYERS["relu1_2"] == 3 and VGG16_LAYERS["relu4_3"] == 22
    assert all(not p.requires_grad for p in net.parameters())


def test_vgg_from_safetensors_loads_torchvision_keys_and_ignores_the_classifier(
    tmp_path: Path,
) -> None:
    state = fake_state()
    state["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path / "vgg16.safetensors"
    save_file(state, str(path))
    net = VGG16Features.from_file(path, layers=("relu1_2", "relu2_1"))
    x = torch.rand(1, 3, 16, 16)
    f12, f21 = net(x)
    # The same layers computed by hand from the saved tensors.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h = (x - mean) / std

    def conv(h: torch.Tensor, i: int) -> torch.Tensor:
        return F.relu(
            F.conv2d(h, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1)
        )

    h = conv(conv(h, 0), 2)
    torch.testing.assert_close(f12, h)
    torch.testing.assert_close(f21, conv(F.max_pool2d(h, 2), 5))


@pytest.mark.parametrize("prefix", ["", "module.features.", "module."])
def test_vgg_from_torch_file_accepts_bare_and_prefixed_keys(tmp_path: Path, prefix: str) -> None:
    path = tmp_path / "vgg16.pt"
    torch.save(fake_state(prefix), path)
    net = VGG16Features.from_file(path)
    torch.testing.assert_close(net.features_net[0].weight, fake_state()["features.0.weight"])


def test_vgg_mismatch_lists_missing_unexpected_and_misshaped_keys(tmp_path: Path) -> None:
    state = fake_state()
    del state["features.28.bias"]
    state["features.99.weight"] = torch.zeros(1)
    state["features.5.weight"] = torch.zeros(128, 32, 3, 3)
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    with pytest.raises(ValueError) as err:
        VGG16Features.from_file(path)
    message = str(err.value)
    assert "missing keys ['28.bias']" in message
    assert "unexpected keys ['features.99.weight']" in message
    assert "5.weight: expected (128, 64, 3, 3), got (128, 32, 3, 3)" in message


def test_vgg_refuses_a_pickle_with_arbitrary_objects(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (marker,))

    path = tmp_path / "evil.pt"
    torch.save({"features.0.weight": Payload()}, path)
    with pytest.raises(ValueError, match=r"was refused: torch.load\(weights_only=True\)"):
        VGG16Features.from_file(path)
    assert not marker.exists()


def test_vgg_rejects_missing_files_and_unknown_layers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vgg_weights must be an existing file"):
        VGG16Features.from_file(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match=r"layers must be one of .* got 'relu9_9'"):
        VGG16Features(layers=("relu9_9",))
