"""Upsampling layers as matrices, and how their weights are tied.

Odena, Dumoulin & Olah (2016): deconvolution and resize-convolution are both linear maps, so
both are matrices. A deconvolution puts a separate weight in each entry of an output window;
resize-convolution fills its entries with sums of shared weights, an implicit weight-tying that
discourages high-frequency artifacts. :func:`parameter_tying` counts that tying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from checkerscope.analysis import layers as L

_MAX_ENTRIES = 2**24


def operator_matrix(
    layer: nn.Module, input_size: int | Sequence[int], *, in_channels: int | None = None
) -> torch.Tensor:
    """The dense matrix of a linear layer (bias excluded) for one input of spatial ``input_size``.

    Shape (out_numel, in_numel): columns index the flattened input (C_in, *input_size), rows the
    flattened output (C_out, *output_size) of a batch of one, in float64. Built by running a
    float64, eval-mode copy of the layer (biases zeroed, and ``layer(0)`` subtracted) on the
    input basis vectors; raises ValueError if the layer is not linear. For small sizes only.
    An int ``input_size`` means that size on every axis of the layer.

    Example:
        >>> m = torch.nn.ConvTranspose1d(1, 1, 3, stride=2)
        >>> x = torch.randn(1, 1, 4, dtype=torch.float64)
        >>> a = operator_matrix(m, 4)
        >>> torch.allclose(a @ x.flatten(), m.double()(x).flatten() - m.bias.double())
        True
    """
    lin = L.linear_copy(layer)
    shape = L.spatial_size("input_size", input_size, L.model_dims(layer))
    channels = L.input_channels(layer, in_channels)
    n_in = channels * int(torch.tensor(shape).prod())
    rng = torch.Generator().manual_seed(0)  # a fixed probe leaves the caller's RNG alone
    probe = torch.randn(1, channels, *shape, dtype=torch.float64, generator=rng)
    expected = L.check_forward("input_size", lin, probe).flatten()
    if n_in * expected.numel() > _MAX_ENTRIES:
        raise ValueError(
            f"input_size {shape} gives a {expected.numel()} x {n_in} operator matrix, more than "
            f"{_MAX_ENTRIES} entries; use a smaller input_size"
        )
    eye = torch.eye(n_in, dtype=torch.float64).reshape(n_in, channels, *shape)
    columns = [L.run_linear(lin, chunk).reshape(chunk.shape[0], -1) for chunk in eye.split(256)]
    matrix = torch.cat(columns).T.contiguous()
    scale = expected.abs().max().clamp_min(1e-300)
    if not torch.allclose(matrix @ probe.flatten(), expected, rtol=1e-9, atol=1e-9 * scale):
        raise ValueError(
            f"layer {type(layer).__name__} is not linear (its output minus its output at 0 is "
            f"not a matrix times its input), so it has no operator matrix"
        )
    return matrix


@dataclass(frozen=True)
class ParameterTying:
    """How the weights of a layer fill its operator matrix.

    Writing the matrix as ``sum_e w_e * A_e`` over the weight entries ``w_e`` (biases
    excluded), an entry depends on parameter e where ``A_e`` is nonzero there.

    * ``parameters``: weight entries of the layer.
    * ``free_parameters``: the rank of the ``A_e``: how many independent numbers the matrices
      this layer can express have.
    * ``nonzero_entries``: matrix entries that depend on at least one weight.
    * ``distinct_entries``: distinct nonzero entries as linear forms in the weights (two entries
      are the same when they are the same weighted sum of the same weights).
    * ``params_per_entry`` (out, in): how many weights sum into each entry (1 everywhere for a
      deconvolution: each entry its own free weight).
    * ``params_per_row`` (out,): how many distinct weights each output (window) depends on.

    ``tied`` is true where there are more distinct entries than free parameters.
    """

    parameters: int
    free_parameters: int
    nonzero_entries: int
    distinct_entries: int
    params_per_entry: torch.Tensor
    params_per_row: torch.Tensor

    @property
    def tied(self) -> bool:
        return self.distinct_entries > self.free_parameters


def parameter_tying(
    layer: nn.Module, input_size: int | Sequence[int], *, in_channels: int | None = None
) -> ParameterTying:
    """Count the free and tied entries of a layer's operator matrix (see :class:`ParameterTying`).

    ``layer`` must be linear in its weights (one convolution-like layer: ConvTransposeNd,
    ResizeConvNd, SubPixelConv2d, ConvNd); each weight entry is set to one in turn, the others
    to zero, and its matrix read with :func:`operator_matrix`.

    Example:
        >>> t = parameter_tying(torch.nn.ConvTranspose2d(1, 1, 4, 2, 1), (4, 4))
        >>> t.parameters, t.free_parameters, t.distinct_entries, t.tied
        (16, 16, 16, False)
    """
    probe = L.linear_copy(layer)
    weights = [
        p for name, p in probe.named_parameters() if not (name == "bias" or name.endswith(".bias"))
    ]
    if not weights:
        raise ValueError(f"layer {type(layer).__name__} has no weights to count")
    full = operator_matrix(probe, input_size, in_channels=in_channels)
    count = sum(w.numel() for w in weights)
    if count * full.numel() > _MAX_ENTRIES:
        raise ValueError(
            f"{count} weights times a {tuple(full.shape)} matrix is more than {_MAX_ENTRIES} "
            f"entries; use a smaller input_size or fewer channels"
        )
    values = torch.cat([w.detach().flatten() for w in weights])
    basis = []
    with torch.no_grad():
        for w in weights:
            w.zero_()
        for w in weights:
            flat = w.view(-1)
            for e in range(flat.numel()):
                flat[e] = 1.0
                basis.append(operator_matrix(probe, input_size, in_channels=in_channels))
                flat[e] = 0.0
    stack = torch.stack(basis)  # (parameters, out, in)
    if not torch.allclose(torch.einsum("e,eoi->oi", values, stack), full, atol=1e-9, rtol=1e-9):
        raise ValueError(
            f"layer {type(layer).__name__} is not linear in its weights (more than one "
            f"weighted layer in a chain?); parameter_tying needs a single layer"
        )
    reached = stack != 0
    forms = stack.flatten(1).T[reached.flatten(1).any(0)]
    return ParameterTying(
        parameters=count,
        free_parameters=int(torch.linalg.matrix_rank(stack.flatten(1))),
        nonzero_entries=forms.shape[0],
        distinct_entries=torch.unique(forms, dim=0).shape[0],
        params_per_entry=reached.sum(0),
        params_per_row=reached.any(2).sum(0),
    )
