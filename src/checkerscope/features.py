"""Fixed feature extractors for perceptual losses: real VGG-16 weights, or a random network.

Johnson, Alahi & Fei-Fei (2016), "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", compare images through the activations of a fixed VGG-16 (Simonyan &
Zisserman 2015): Gram matrices of several layers for style, one layer's maps for content.
No weights can be downloaded here, so :class:`VGG16Features` loads them from a file the user
has (torchvision's ``vgg16`` layout), and :class:`RandomMultiScaleCNN` is the stand-in that
needs none: Ustyuzhaninov, Brendel, Gatys & Bethge (2017), "What does it take to generate
natural textures?" (ICLR), show that the Gram matrix of a *single* layer of random filters of
several sizes already synthesises natural textures (:class:`RandomFilterBank`, their
multi-scale model). :class:`RandomMultiScaleCNN` is a small stacked random CNN (the fixed
features of KID, and an independent texture grader). All map images (N, 3, H, W) to a list of
feature maps with ``features(x)``; none is ever trained (their weights are buffers or frozen
parameters). :class:`PooledFeatures` turns the maps into one vector per image, as KID reads
them (:mod:`checkerscope.analysis.kid`).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v
from checkerscope.weights import read_state_dict

VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip
"""torchvision's ``vgg16`` ``features``: channel counts of the 3x3 convolutions, "M" max-pools."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _vgg16_relu_indices() -> dict[str, int]:
    """``"relu<block>_<conv>"`` -> index of that ReLU in the ``features`` Sequential."""
    names, index, block, conv = {}, 0, 1, 0
    for item in VGG16_CONFIG:
        if item == "M":
            block, conv, index = block + 1, 0, index + 1
        else:
            conv += 1
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
    return names


VGG16_LAYERS: dict[str, int] = _vgg16_relu_indices()
"""The ReLU outputs of VGG-16 by name (``relu1_1`` ... ``relu5_3``) and their index."""

JOHNSON_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
"""The layers Johnson et al. (2016) take for the style loss (content: ``relu2_2``)."""


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """Gram matrices of feature maps, normalised as Johnson et al.: (N, C, H, W) -> (N, C, C).

    ``G[n, a, b] = sum_{h, w} f[n, a, h, w] f[n, b, h, w] / (C H W)``.

    Example:
        >>> gram_matrix(torch.ones(2, 4, 3, 3))[0, 0, 0].item()
        0.25
    """
    v.check_input("f", f, dims=2, channels=None)
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


class FeatureExtractor(nn.Module):
    """A fixed network giving a list of feature maps of images (N, C, H, W), by default in
    [0, 1]."""

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.features(x)


class RandomMultiScaleCNN(FeatureExtractor):
    """A fixed random-weight CNN whose stages see the image at 1, 1/2, 1/4 ... of its size.

    Stage i is a 3x3 convolution (reflect padding) and a ReLU; stages after the first see the
    previous stage 2x2-average-pooled (average pooling passes gradients back evenly, so a loss
    on these features adds no checkerboard of its own). Inputs in ``value_range`` are mapped to
    [-1, 1] first. ``features(x)`` returns every stage's ReLU maps,
    (N, widths[i], H / 2**i, W / 2**i); a map already 1 pixel on a side is not pooled further
    and is padded by replication. Weights are He-normal draws from
    ``torch.Generator().manual_seed(seed)``, stage by stage, with zero biases, held as
    buffers, so the same seed gives the same network everywhere and nothing is trained.

    One network, two uses: the spatial means of its stages (:class:`PooledFeatures`) are the
    fixed features KID compares (:mod:`checkerscope.analysis.kid`), and the Gram matrices of
    its stages grade style transfer independently of the loss it was trained with (a
    :class:`RandomFilterBank`).

    Example:
        >>> [f.shape[1:] for f in RandomMultiScaleCNN(widths=(8, 16))(torch.rand(1, 3, 32, 32))]
        [torch.Size([8, 32, 32]), torch.Size([16, 16, 16])]
    """

    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = (64, 128, 256),
        seed: int = 0,
        value_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        super().__init__()
        self.in_channels = v.positive_int("in_channels", in_channels)
        if not isinstance(widths, tuple | list) or not widths:
            raise ValueError(f"widths must be a non-empty tuple of positive ints, got {widths!r}")
        self.widths = tuple(v.positive_int("widths", w) for w in widths)
        self.seed = v.nonnegative_int("seed", seed)
        low, high = value_range
        if not high > low:
            raise ValueError(
                f"value_range must be (low, high) with high > low, got {value_range!r}"
            )
        self.value_range = (float(low), float(high))
        g = torch.Generator().manual_seed(self.seed)
        channels = self.in_channels
        for i, width in enumerate(self.widths):
            std = math.sqrt(2.0 / (channels * 9))
            weight = torch.randn(width, channels, 3, 3, generator=g) * std
            self.register_buffer(f"weight{i}", weight)
            self.register_buffer(f"bias{i}", torch.zeros(width))
            channels = width

    @classmethod
    def from_file(
        cls, path: str | Path, value_range: tuple[float, float] = (0.0, 1.0)
    ) -> RandomMultiScaleCNN:
        """Load weights for this architecture from a ``.safetensors`` or torch file.

        The file is read by :func:`checkerscope.weights.read_state_dict` (no pickled objects);
        the widths are read from the weight shapes, so any number and size of stages loads.
        """
        state = read_state_dict(path, "weights file")
        n = sum(1 for k in state if k.startswith("weight"))
        if n == 0 or any(f"weight{i}" not in state or f"bias{i}" not in state for i in range(n)):
            raise ValueError(
                f"weights file {str(path)!r} must hold weight0, bias0, weight1, ... ; "
                f"got keys {sorted(state)}"
            )
        widths = tuple(int(state[f"weight{i}"].shape[0]) for i in range(n))
        model = cls(int(state["weight0"].shape[1]), widths, 0, value_range)
        model.load_state_dict(state)
        return model

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        v.check_input("x", x, dims=2, channels=self.in_channels)
        low, high = self.value_range
        h = (x.to(self.weight0.dtype) - low) * (2.0 / (high - low)) - 1.0
        out = []
        for i in range(len(self.widths)):
            if i > 0 and min(h.shape[-2:]) >= 2:
                h = F.avg_pool2d(h, 2)
            h = F.pad(h, (1, 1, 1, 1), mode="reflect" if min(h.shape[-2:]) > 1 else "replicate")
            h = F.relu(F.conv2d(h, getattr(self, f"weight{i}"), getattr(self, f"bias{i}")))
            out.append(h)
        return out

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, widths={self.widths}, seed={self.seed}, "
            f"value_range={self.value_range}"
        )


class RandomFilterBank(FeatureExtractor):
    """One convolutional layer of random filters of several sizes and a ReLU: a texture model.

    Ustyuzhaninov, Brendel, Gatys & Bethge (2017), "What does it take to generate natural
    textures?" (ICLR): the Gram matrix of one layer of random filters synthesises natural
    textures, best when the layer holds filters of many sizes side by side (their multi-scale
    model, in their code ``random-texture-synthesis``: sizes 3, 5, 7, 11, 15, 23, 37, 55 with
    128 filters each, Glorot-uniform weights, zero biases, a ReLU, one Gram matrix over all
    maps), and only with the non-linearity. Those are the defaults here. Inputs in [0, 1] have
    ``mean`` subtracted per channel (their code subtracts the mean pixel). Borders are padded
    by reflection, not zeros as in their code: on the small images used here a zero frame
    would be a large share of every map, a statistic of its own.

    ``features(x)`` returns one map, (N, len(sizes) * filters, H, W), the concatenation of
    every size's maps in the order of ``sizes``. Weights are drawn from
    ``torch.Generator().manual_seed(seed)`` size by size and held as buffers: nothing is
    trained, and the same seed gives the same bank everywhere.

    Example:
        >>> bank = RandomFilterBank(sizes=(3, 5), filters=4)
        >>> [f.shape for f in bank(torch.rand(2, 3, 16, 16))]
        [torch.Size([2, 8, 16, 16])]
    """

    def __init__(
        self,
        in_channels: int = 3,
        sizes: tuple[int, ...] = (3, 5, 7, 11, 15, 23, 37, 55),
        filters: int = 128,
        seed: int = 0,
        mean: tuple[float, ...] = IMAGENET_MEAN,
    ) -> None:
        super().__init__()
        self.in_channels = v.positive_int("in_channels", in_channels)
        if not isinstance(sizes, tuple | list) or not sizes:
            raise ValueError(f"sizes must be a non-empty tuple of odd ints, got {sizes!r}")
        self.sizes = tuple(v.positive_int("sizes", k) for k in sizes)
        if any(k % 2 == 0 for k in self.sizes):
            raise ValueError(f"sizes must be odd (centred filters), got {sizes!r}")
        self.filters = v.positive_int("filters", filters)
        self.seed = v.nonnegative_int("seed", seed)
        if len(mean) != self.in_channels:
            raise ValueError(
                f"mean must have one value per input channel ({self.in_channels}), got {mean!r}"
            )
        mean_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("mean", mean_t, persistent=False)
        g = torch.Generator().manual_seed(self.seed)
        for k in self.sizes:
            fan_in, fan_out = self.in_channels * k * k, self.filters * k * k
            bound = math.sqrt(6.0 / (fan_in + fan_out))  # Glorot & Bengio (2010), uniform
            weight = (torch.rand(self.filters, self.in_channels, k, k, generator=g) * 2 - 1) * bound
            self.register_buffer(f"weight{k}", weight)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        v.check_input("x", x, dims=2, channels=self.in_channels)
        half = max(self.sizes) // 2
        if min(x.shape[-2:]) <= half:
            raise ValueError(
                f"x must be larger than {half} pixels on each side for filters of size "
                f"{max(self.sizes)} (reflection padding), got shape {tuple(x.shape)}"
            )
        h = x.to(self.mean.dtype) - self.mean
        maps = []
        for k in self.sizes:
            p = k // 2
            padded = F.pad(h, (p, p, p, p), mode="reflect")
            maps.append(F.relu(F.conv2d(padded, getattr(self, f"weight{k}"))))
        return [torch.cat(maps, dim=1)]

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, sizes={self.sizes}, filters={self.filters}, "
            f"seed={self.seed}"
        )


class PooledFeatures(nn.Module):
    """The spatial mean of every feature map of ``extractor``, concatenated: one vector per image.

    (N, C, H, W) -> (N, sum of the maps' channels). Fine stages see pixel-level texture
    (checkerboards included), coarse stages layout and colour; KID compares these vectors.

    Example:
        >>> net = PooledFeatures(RandomMultiScaleCNN(widths=(4, 8)))
        >>> net(torch.rand(2, 3, 16, 16)).shape
        torch.Size([2, 12])
    """

    def __init__(self, extractor: FeatureExtractor) -> None:
        super().__init__()
        if not isinstance(extractor, FeatureExtractor):
            raise ValueError(
                f"extractor must be a FeatureExtractor (RandomMultiScaleCNN, RandomFilterBank, "
                f"VGG16Features), "
                f"got {type(extractor).__name__}"
            )
        self.extractor = extractor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([f.mean(dim=(-2, -1)) for f in self.extractor.features(x)], dim=1)


class VGG16Features(FeatureExtractor):
    """The convolutional part of VGG-16 (torchvision layout), returning chosen ReLU outputs.

    ``self.features_net`` is ``nn.Sequential`` laid out exactly as torchvision's
    ``vgg16().features`` (conv3-64 x2, pool, 128 x2, pool, 256 x3, pool, 512 x3, pool,
    512 x3, pool), so its state dict keys are ``0.weight`` ... ``28.bias``. Inputs in [0, 1]
    are normalised with the ImageNet mean and standard deviation, as torchvision's weights
    expect. ``features(x)`` returns the outputs of ``layers`` (names from
    :data:`VGG16_LAYERS`), in network order; the network runs only as deep as the deepest
    one. Built without weights it is randomly initialised; use :meth:`from_file` for real ones.
    Parameters are frozen (``requires_grad=False``).

    Example:
        >>> net = VGG16Features(layers=("relu1_2", "relu2_2"))
        >>> [f.shape[1] for f in net(torch.rand(1, 3, 32, 32))]
        [64, 128]
    """

    def __init__(self, layers: tuple[str, ...] = JOHNSON_STYLE_LAYERS) -> None:
        super().__init__()
        if not isinstance(layers, tuple | list) or not layers:
            raise ValueError(f"layers must be a non-empty tuple of layer names, got {layers!r}")
        for name in layers:
            v.one_of("layers", name, tuple(VGG16_LAYERS))
        self.layers = tuple(sorted(set(layers), key=VGG16_LAYERS.__getitem__))
        modules: list[nn.Module] = []
        channels = 3
        for item in VGG16_CONFIG:
            if item == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                assert isinstance(item, int)
                modules += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
                channels = item
        self.features_net = nn.Sequential(*modules)
        self.features_net.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_file(
        cls, path: str | Path, layers: tuple[str, ...] = JOHNSON_STYLE_LAYERS
    ) -> VGG16Features:
        """Load VGG-16 weights from a ``.safetensors`` file or a torch file.

        Accepted key layouts: a whole torchvision ``vgg16`` state dict (``features.0.weight``
        ...; ``classifier.*`` keys are ignored), ``vgg16().features.state_dict()`` (``0.weight``
        ...), either with a ``module.`` prefix (DataParallel). The file is read by
        :func:`checkerscope.weights.read_state_dict`, so a pickle holding anything but tensors
        and containers is refused. Raises ``ValueError`` listing missing, unexpected and
        mis-shaped keys.
        """
        state = read_state_dict(path, "vgg_weights file")
        model = cls(layers)
        expected = model.features_net.state_dict()
        mapped, unexpected = {}, []
        for key, value in state.items():
            name = key.removeprefix("module.")
            if name.startswith("classifier."):
                continue
            name = name.removeprefix("features.")
            if name in expected:
                mapped[name] = value
            else:
                unexpected.append(key)
        missing = sorted(set(expected) - set(mapped), key=_key_order)
        shapes = [
            f"{k}: expected {tuple(expected[k].shape)}, got {tuple(t.shape)}"
            for k, t in sorted(mapped.items(), key=lambda kv: _key_order(kv[0]))
            if tuple(t.shape) != tuple(expected[k].shape)
        ]
        if missing or unexpected or shapes:
            problems = []
            if missing:
                problems.append(f"missing keys {missing}")
            if unexpected:
                problems.append(f"unexpected keys {sorted(unexpected)}")
            if shapes:
                problems.append(f"wrong shapes [{'; '.join(shapes)}]")
            raise ValueError(
                f"vgg_weights file {str(path)!r} does not hold torchvision VGG-16 weights "
                f"(features.0.weight ... features.28.bias, conv3-64 x2, 128 x2, 256 x3, "
                f"512 x3, 512 x3; vgg16_bn is not supported): {', '.join(problems)}"
            )
        model.features_net.load_state_dict({k: t.float() for k, t in mapped.items()})
        return model

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        v.check_input("x", x, dims=2, channels=3)
        h = (x - self.mean) / self.std
        wanted = {VGG16_LAYERS[name] for name in self.layers}
        out = []
        for i, module in enumerate(self.features_net):
            h = module(h)
            if i in wanted:
                out.append(h)
                if len(out) == len(wanted):
                    break
        return out

    def extra_repr(self) -> str:
        return f"layers={self.layers}"


def _key_order(key: str) -> tuple[int, str]:
    index, _, rest = key.partition(".")
    return (int(index), rest) if index.isdigit() else (-1, key)
