"""Sub-pixel convolution with ICNR initialization and an optional zero-order-hold blur.

Shi et al. (2016) for the layer; Aitken et al. (2017), "Checkerboard artifact free sub-pixel
convolution", for ICNR; Sugawara et al. (2019), "Super-resolution using convolutional neural
networks without any checkerboard artifacts", for the fixed blur after the shuffle.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v
from checkerscope.functional import subpixel as S
from checkerscope.functional.blurpool import blur, box_taps, check_padding_fits, separable_kernel

INITS = ("icnr", "default")


class SubPixelConv2d(nn.Module):
    """Upsample (N, C_in, H, W) to (N, C_out, s*H, s*W): conv to C_out*s**2, pixel shuffle.

    The convolution is a plain ``nn.Conv2d`` at ``.conv`` (weight (C_out*s**2, C_in, k, k),
    ``padding="same"``), so the state dict holds ``conv.weight`` and ``conv.bias`` only.

    ``init="icnr"`` (default) copies one ``nn.Conv2d``-initialized sub-kernel and bias into
    all s**2 phases: at initialization the layer equals ``F.interpolate(conv2d(x, w0),
    scale_factor=s, mode="nearest")`` exactly. ``init="default"`` draws all phases
    independently, as ``nn.Conv2d`` does, and shows checkerboards at step 0.

    ``blur=True`` averages every s x s window after the shuffle (a fixed, non-persistent
    buffer; replicate padding; for even s the output moves half a high-resolution sample
    later): a constant input then gives a constant output whatever the weights.

    Example:
        >>> SubPixelConv2d(64, 32)(torch.randn(1, 64, 16, 16)).shape
        torch.Size([1, 32, 32, 32])
    """

    blur_kernel: torch.Tensor | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        scale_factor: int = 2,
        init: str = "icnr",
        blur: bool = False,
        padding_mode: str = "zeros",
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = v.positive_int("in_channels", in_channels)
        self.out_channels = v.positive_int("out_channels", out_channels)
        self.kernel_size = v.ntuple("kernel_size", kernel_size, 2)
        self.scale_factor = v.scale_factor("scale_factor", scale_factor)
        self.init = v.one_of("init", init, INITS)
        if not isinstance(blur, bool):
            raise ValueError(f"blur must be True or False, got {blur!r}")
        self.blur = blur
        self.padding_mode = v.one_of("padding_mode", padding_mode, S.PADDING_MODES)
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        self.conv = nn.Conv2d(
            in_channels,
            out_channels * self.scale_factor**2,
            self.kernel_size,
            padding="same",
            padding_mode=padding_mode,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        kernel = separable_kernel(box_taps(self.scale_factor, dtype=dtype, device=device), 2)
        self.register_buffer("blur_kernel", kernel if blur else None, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw new weights by ``init``; ICNR uses ``nn.Conv2d``'s distributions per phase."""
        if self.init == "icnr":
            S.icnr_(self.conv.weight, self.scale_factor, self.conv.bias)
        else:
            self.conv.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("input", x, dims=2, channels=self.in_channels)
        check_padding_fits(x, self.kernel_size, self.padding_mode)
        y = F.pixel_shuffle(self.conv(x), self.scale_factor)
        if self.blur_kernel is not None:
            y = blur(y, self.blur_kernel, 1, "replicate")
        return y

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"scale_factor={self.scale_factor}, init={self.init!r}, blur={self.blur}, "
            f"padding_mode={self.padding_mode!r}"
        )
        return s if self.conv.bias is not None else s + ", bias=False"
