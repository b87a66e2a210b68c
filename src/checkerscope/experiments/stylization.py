"""Feed-forward style transfer: the network, its loss, its training, and how stylized it is.

Johnson, Alahi & Fei-Fei (2016), "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution": an image transformation network (:class:`TransformerNet`) is trained to
minimise a perceptual loss computed in a fixed feature network: a content term (feature
reconstruction at one layer), a style term (Gram matrices) and a total-variation term
(:func:`total_variation`). The ``style_transfer`` experiment trains it with each upsampler.

Weights (:func:`calibrate`): each term is divided by its magnitude at the start, measured on
the training crops before any training: the content term of an output that kept none of its
content (each crop compared with another crop), the style term of an output that kept its own
style (the crops themselves), the total variation of the crops. ``style_weight`` and
``tv_weight`` then say what a full unit of each is worth against a full unit of content.

Measures (:class:`StyleGrader`), read in a network other than the loss's, so that training
is not graded by its own loss: how far the outputs' Gram matrices are from the style image's,
relative to the contents' (:meth:`StyleGrader.style_ratio`), and whether each output is still
closer to its own content than to the other contents (:meth:`StyleGrader.content_ratio`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments.common import train_on_batches
from checkerscope.experiments.runner import Bar
from checkerscope.features import FeatureExtractor, gram_matrix


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.ReflectionPad2d(k // 2),
        nn.Conv2d(c_in, c_out, k, stride),
        nn.InstanceNorm2d(c_out, affine=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm and a skip (Johnson et al. 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a, self.b = _conv(channels, channels, 3), _conv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.relu(self.a(x)))


class TransformerNet(nn.Module):
    """Johnson et al.'s (2016) image transformation network with a configurable upsampler.

    (N, 3, H, W) in [0, 1] -> (N, 3, H, W) in (0, 1), H and W divisible by 4: 9x9 conv, two
    3x3 stride-2 convs, ``blocks`` residual blocks, two x2 upsamplers, 9x9 conv, instance
    normalization (as in pytorch/examples ``fast_neural_style``). Channels ``width``,
    ``2 width``, ``4 width``; ``upsample`` is a kind of :func:`checkerscope.nn.upsampler` with
    a 3x3 kernel ("deconv": ``ConvTranspose2d(k=3, s=2, p=1, output_padding=1)``, Johnson's).
    Inputs are centred to [-1, 1]; the output layer is Johnson's scaled tanh, which keeps the
    pixels in range and starts them at mid-grey.

    Example:
        >>> TransformerNet(width=4, blocks=1)(torch.rand(1, 3, 16, 16)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(self, width: int = 32, blocks: int = 5, upsample: str = "deconv") -> None:
        super().__init__()
        from checkerscope.nn import upsampler

        w = width
        self.encode = nn.Sequential(
            _conv(3, w, 9), nn.ReLU(), _conv(w, 2 * w, 3, 2), nn.ReLU(), _conv(2 * w, 4 * w, 3, 2),
            nn.ReLU(), *[ResidualBlock(4 * w) for _ in range(blocks)],
        )  # fmt: skip
        self.decode = nn.Sequential(
            upsampler(upsample, 4 * w, 2 * w, kernel_size=3),
            nn.InstanceNorm2d(2 * w, affine=True),
            nn.ReLU(),
            upsampler(upsample, 2 * w, w, kernel_size=3),
            nn.InstanceNorm2d(w, affine=True),
            nn.ReLU(),
            nn.ReflectionPad2d(4),
            nn.Conv2d(w, 3, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(
                f"x must have shape (N, 3, H, W) with H and W divisible by 4, got {tuple(x.shape)}"
            )
        return (torch.tanh(self.decode(self.encode(x * 2 - 1))) + 1) / 2


class PerceptualLoss(nn.Module):
    """Johnson et al.'s loss terms: content (feature MSE at one map) and style (Gram MSE, all).

    ``features(image)`` gives a list of maps; ``content_index`` picks the content's map.
    ``forward(y, x)`` -> (content, style), each a mean over the batch, for outputs ``y`` and
    their contents ``x`` (N, 3, H, W); ``style`` (3, h, w) is the style image, of any size.

    Example:
        >>> from checkerscope.features import RandomFilterBank
        >>> loss = PerceptualLoss(RandomFilterBank(sizes=(3,), filters=4), torch.rand(3, 8, 8))
        >>> x = torch.rand(2, 3, 8, 8)
        >>> float(loss(x, x)[0])
        0.0
    """

    def __init__(self, features: FeatureExtractor, style: torch.Tensor, content_index: int = 0):
        super().__init__()
        self.features = features.requires_grad_(False)
        self.content_index = content_index
        with torch.no_grad():
            grams = [gram_matrix(f) for f in features(style[None])]
        for i, g in enumerate(grams):
            self.register_buffer(f"gram{i}", g)
        self.layers = len(grams)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fy = self.features(y)
        with torch.no_grad():
            fx = self.features(x)[self.content_index]
        content = F.mse_loss(fy[self.content_index], fx)
        style = torch.stack(
            [
                (gram_matrix(f) - getattr(self, f"gram{i}")).square().sum(dim=(1, 2)).mean()
                for i, f in enumerate(fy)
            ]
        ).sum()
        return content, style


def total_variation(y: torch.Tensor) -> torch.Tensor:
    """Squared-difference total variation (Mahendran & Vedaldi 2015, beta = 2) of (N, C, H, W):
    the mean over the batch of the mean squared difference of vertical and horizontal
    neighbours, summed over both directions.

    Example:
        >>> total_variation(torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])).item()
        1.0
    """
    dv = (y[..., 1:, :] - y[..., :-1, :]).square().mean()
    dh = (y[..., :, 1:] - y[..., :, :-1]).square().mean()
    return dv + dh


@dataclass(frozen=True)
class LossWeights:
    """What multiplies each term of the loss, and the reference magnitudes that set it."""

    content: float
    style: float
    tv: float
    content_reference: float
    style_reference: float
    tv_reference: float

    def with_tv(self, tv_weight: float) -> LossWeights:
        """These weights with the total-variation term weighted ``tv_weight`` per reference."""
        return LossWeights(
            self.content, self.style, tv_weight / self.tv_reference, self.content_reference,
            self.style_reference, self.tv_reference,
        )  # fmt: skip


@torch.no_grad()
def calibrate(loss: PerceptualLoss, contents: torch.Tensor, style_weight: float) -> LossWeights:
    """Weights that put each term in units of its magnitude on ``contents`` (N >= 2) at the start.

    The content term of crop ``i`` against crop ``i + 1`` (an output that kept none of its
    content) weighs 1; the style term of the crops themselves (an output that kept its own
    style) weighs ``style_weight``; the total variation weighs 0 (see :meth:`LossWeights.with_tv`).

    Example:
        >>> from checkerscope.features import RandomFilterBank
        >>> loss = PerceptualLoss(RandomFilterBank(sizes=(3,), filters=4), torch.rand(3, 8, 8))
        >>> w = calibrate(loss, torch.rand(4, 3, 8, 8), style_weight=2.0)
        >>> round(w.style * w.style_reference, 6), w.tv
        (2.0, 0.0)
    """
    if contents.shape[0] < 2:
        raise ValueError(f"contents must hold at least 2 images, got shape {tuple(contents.shape)}")
    content, _ = loss(contents.roll(1, dims=0), contents)
    _, style = loss(contents, contents)
    tv = total_variation(contents)
    return LossWeights(
        1.0 / float(content), style_weight / float(style), 0.0, float(content), float(style),
        float(tv),
    )  # fmt: skip


class StyleObjective(nn.Module):
    """``weights.content * content + weights.style * style + weights.tv * total variation``.

    ``forward(y, x)`` -> the total; :meth:`terms` -> each term in units of its reference.
    """

    def __init__(self, loss: PerceptualLoss, weights: LossWeights) -> None:
        super().__init__()
        self.loss, self.weights = loss, weights

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        content, style = self.loss(y, x)
        total = self.weights.content * content + self.weights.style * style
        return total + self.weights.tv * total_variation(y) if self.weights.tv else total

    @torch.no_grad()
    def terms(self, y: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
        """Content, style and total variation of ``y``, each over its reference magnitude."""
        content, style = self.loss(y, x)
        return {
            "content": float(content) / self.weights.content_reference,
            "style": float(style) / self.weights.style_reference,
            "tv": float(total_variation(y)) / self.weights.tv_reference,
        }


def train_style(
    net: nn.Module,
    objective: StyleObjective,
    contents: torch.Tensor,
    cfg: C.StyleTransferConfig,
    *,
    seed: int,
    checkpoint: Path,
    bar: Bar | None = None,
) -> list[float]:
    """Train ``net`` on ``contents`` (N, 3, H, W) in [0, 1]; return the total loss per step.

    Batches come from a generator seeded with ``seed``; every ``cfg.checkpoint_every`` steps
    the network, the optimiser, the generator, the global random states and the losses are
    saved to ``checkpoint``, and a run finding it continues from it.
    """

    def batch_loss(index: torch.Tensor) -> torch.Tensor:
        x = contents[index]
        return objective(net(x), x)

    return train_on_batches(
        net, batch_loss, contents.shape[0], cfg, seed=seed, checkpoint=checkpoint, bar=bar
    )


class StyleGrader:
    """How stylized outputs are, read in a fixed ``network`` other than the training loss's.

    ``style`` (3, h, w) is the style image. Two readings of an image's distance to the style,
    each summed over the network's maps:

    * texture distance (:meth:`style_ratio`): the squared Frobenius distance between Gram
      matrices of the maps with their spatial means removed, each Gram divided by its norm.
      What is left is which features vary together, the texture; not how strongly (so an image
      washed out towards grey, whose maps shrink by one factor in a network of zero biases
      fed ``2x - 1``, reads as the image itself), nor the colour means that dominate plain
      Gram matrices of ReLU maps (a flat image of the style's mean colour is as close to the
      style as a crop of it in the plain reading, not in this one);
    * Gram distance (:meth:`gram_ratio`): the plain Gram matrices of the loss, recorded too.

    With ``period`` (``p``), every image is first averaged over ``p`` x ``p`` windows (stride
    1, reflect padding). That turns any pattern that repeats every ``p`` pixels (or every
    divisor of ``p``) into its constant mean, so the checkerboards of up to ``log2 p``
    stride-2 layers are exactly invisible to every reading here: a network is graded on how
    well it stylizes, not penalised twice for the artifact that is measured on its own.

    Example:
        >>> from checkerscope.features import RandomMultiScaleCNN
        >>> grader = StyleGrader(RandomMultiScaleCNN(widths=(4, 8)), torch.rand(3, 16, 16))
        >>> x = torch.rand(3, 3, 16, 16)
        >>> grader.style_ratio(x, x), grader.gram_ratio(x, x), grader.content_ratio(x, x)
        (1.0, 1.0, 0.0)
    """

    def __init__(self, network: FeatureExtractor, style: torch.Tensor, period: int = 1) -> None:
        self.network = network.requires_grad_(False)
        self.period = period
        self.style = self._grams(style[None])

    def _maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        p = self.period
        if p > 1:
            before = (p - 1) // 2
            padded = F.pad(images, (before, p - 1 - before) * 2, mode="reflect")
            images = F.avg_pool2d(padded, p, stride=1)
        return self.network(images)

    @torch.no_grad()
    def _grams(self, images: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        maps = self._maps(images)
        texture = []
        for f in maps:
            g = gram_matrix(f - f.mean(dim=(-2, -1), keepdim=True))
            texture.append(g / g.flatten(1).norm(dim=1).clamp_min(1e-30)[:, None, None])
        return {"texture": texture, "gram": [gram_matrix(f) for f in maps]}

    def distances(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Texture and Gram distances of each image (N, 3, H, W) to the style: (N,) each."""
        grams = self._grams(images)
        return {
            kind: torch.stack(
                [
                    (a - b).square().sum(dim=(1, 2))
                    for a, b in zip(grams[kind], self.style[kind], strict=True)
                ]
            ).sum(0)
            for kind in ("texture", "gram")
        }

    def _ratio(self, kind: str, outputs: torch.Tensor, contents: torch.Tensor) -> float:
        return float(self.distances(outputs)[kind].sum() / self.distances(contents)[kind].sum())

    def style_ratio(self, outputs: torch.Tensor, contents: torch.Tensor) -> float:
        """Summed texture distance of ``outputs`` to the style over that of their ``contents``:
        1 for outputs with their contents' texture, 0 for outputs with the style's."""
        return self._ratio("texture", outputs, contents)

    def gram_ratio(self, outputs: torch.Tensor, contents: torch.Tensor) -> float:
        """As :meth:`style_ratio`, with plain Gram matrices (the loss's statistic)."""
        return self._ratio("gram", outputs, contents)

    @torch.no_grad()
    def content_ratio(self, outputs: torch.Tensor, contents: torch.Tensor) -> float:
        """Mean over outputs of (feature distance to its own content) / (mean distance to the
        other contents): 0 for outputs equal to their contents, about 1 for outputs that kept
        nothing of their own content. Feature distance: mean squared difference per map,
        summed over the maps. Needs at least 2 images."""
        if outputs.shape[0] < 2 or outputs.shape != contents.shape:
            raise ValueError(
                f"outputs and contents must have the same shape with N >= 2, got "
                f"{tuple(outputs.shape)} and {tuple(contents.shape)}"
            )
        n = outputs.shape[0]
        d = sum(
            torch.cdist(fy.flatten(1).double(), fx.flatten(1).double()).square() / fy[0].numel()
            for fy, fx in zip(self._maps(outputs), self._maps(contents), strict=True)
        )
        assert isinstance(d, torch.Tensor)
        own = d.diagonal()
        others = (d.sum(1) - own) / (n - 1)
        return float((own / others.clamp_min(1e-30)).mean())


def mean(values: Sequence[float]) -> float:
    """The mean of a non-empty sequence of numbers."""
    return sum(values) / len(values)
