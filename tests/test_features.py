from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from checkerscope.features import (
    VGG16_LAYERS,
    PooledFeatures,
    RandomFilterBank,
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


def test_random_cnn_keeps_the_style_networks_values() -> None:
    # Values of the style-transfer network (widths (32, 64, 128), seed 0, images in [0, 1])
    # from before KID shared it: the draw order and the [0, 1] -> [-1, 1] map are pinned.
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    maps = RandomMultiScaleCNN(widths=(32, 64, 128), seed=0)(x)
    assert [m.shape[1:] for m in maps] == [(32, 32, 32), (64, 16, 16), (128, 8, 8)]
    sums = [m.double().sum().item() for m in maps]
    assert sums == pytest.approx([21309.4218, 5520.76354, 2795.91428], rel=1e-5)
    peaks = [(int(m[1].argmax()), float(m[1].max())) for m in maps]
    assert [i for i, _ in peaks] == [12634, 420, 5665]
    assert [p for _, p in peaks] == pytest.approx([3.5524523, 2.0491295, 1.1613989], rel=1e-5)


def test_value_range_maps_inputs_to_minus_one_one() -> None:
    x = torch.rand(2, 3, 16, 16)
    unit = PooledFeatures(RandomMultiScaleCNN(value_range=(0.0, 1.0)))(x)
    signed = PooledFeatures(RandomMultiScaleCNN(value_range=(-1.0, 1.0)))(x * 2 - 1)
    assert torch.allclose(unit, signed, atol=1e-6)
    with pytest.raises(ValueError, match="value_range must be"):
        RandomMultiScaleCNN(value_range=(1.0, 0.0))


def test_pooled_features_are_the_spatial_means_of_every_map() -> None:
    net = RandomMultiScaleCNN(widths=(3, 5))
    x = torch.rand(2, 3, 8, 8)
    f0, f1 = net(x)
    expected = torch.cat([f0.mean(dim=(2, 3)), f1.mean(dim=(2, 3))], dim=1)
    assert torch.equal(PooledFeatures(net)(x), expected)
    with pytest.raises(ValueError, match="extractor must be a FeatureExtractor"):
        PooledFeatures(torch.nn.Conv2d(3, 3, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_random_cnn_weights_file_round_trip(tmp_path: Path, suffix: str) -> None:
    net = RandomMultiScaleCNN(widths=(5, 7, 9), seed=11)
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        save_file(net.state_dict(), str(path))
    else:
        torch.save(net.state_dict(), path)
    loaded = RandomMultiScaleCNN.from_file(path)
    x = torch.rand(2, 3, 16, 16)
    assert loaded.widths == (5, 7, 9)
    assert all(torch.equal(a, b) for a, b in zip(loaded(x), net(x), strict=True))


def test_random_cnn_weights_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"weights file .*missing\.pt' does not exist"):
        RandomMultiScaleCNN.from_file(tmp_path / "missing.pt")
    path = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match=r"must hold weight0, bias0, .* keys \['conv.weight'\]"):
        RandomMultiScaleCNN.from_file(path)


def _pickle_with_code(tmp_path: Path, key: str) -> tuple[Path, Path]:
    """A torch file whose unpickling would create ``marker`` (arbitrary code)."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (marker,))

    path = tmp_path / "evil.pt"
    torch.save({key: Payload()}, path)
    return path, marker


def test_random_cnn_refuses_a_pickle_with_arbitrary_objects(tmp_path: Path) -> None:
    path, marker = _pickle_with_code(tmp_path, "weight0")
    with pytest.raises(ValueError, match=r"does not unpickle arbitrary objects"):
        RandomMultiScaleCNN.from_file(path)
    assert not marker.exists()


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
    path, marker = _pickle_with_code(tmp_path, "features.0.weight")
    with pytest.raises(ValueError, match=r"refused it: .*save model.state_dict\(\) instead"):
        VGG16Features.from_file(path)
    assert not marker.exists()


def test_vgg_rejects_missing_files_and_unknown_layers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"vgg_weights file .*nope\.pt' does not exist"):
        VGG16Features.from_file(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match=r"layers must be one of .* got 'relu9_9'"):
        VGG16Features(layers=("relu9_9",))


def test_random_filter_bank_is_one_relu_layer_of_glorot_filters_fixed_by_its_seed() -> None:
    bank = RandomFilterBank(sizes=(3, 5), filters=4, seed=2)
    assert not list(bank.parameters())
    again = RandomFilterBank(sizes=(3, 5), filters=4, seed=2)
    other = RandomFilterBank(sizes=(3, 5), filters=4, seed=3)
    assert torch.equal(bank.weight5, again.weight5) and not torch.equal(bank.weight5, other.weight5)
    bound = (6.0 / (3 * 25 + 4 * 25)) ** 0.5
    assert float(bank.weight5.abs().max()) <= bound and bank.weight3.shape == (4, 3, 3, 3)
    x = torch.rand(2, 3, 12, 12)
    (maps,) = bank(x)
    h = x - bank.mean
    expected = [
        F.relu(F.conv2d(F.pad(h, (k // 2,) * 4, mode="reflect"), getattr(bank, f"weight{k}")))
        for k in (3, 5)
    ]
    assert torch.allclose(maps, torch.cat(expected, dim=1))


def test_random_filter_bank_rejects_bad_sizes_and_small_images() -> None:
    with pytest.raises(ValueError, match="sizes must be odd"):
        RandomFilterBank(sizes=(3, 4))
    with pytest.raises(ValueError, match="sizes must be a non-empty tuple"):
        RandomFilterBank(sizes=())
    with pytest.raises(ValueError, match="mean must have one value per input channel"):
        RandomFilterBank(in_channels=1, sizes=(3,), filters=2)
    with pytest.raises(ValueError, match="larger than 3 pixels"):
        RandomFilterBank(sizes=(7,), filters=2)(torch.rand(1, 3, 3, 8))
