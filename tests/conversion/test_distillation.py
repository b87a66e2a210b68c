from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from checkerscope.analysis.score import THRESHOLD
from checkerscope.conversion import convert
from checkerscope.conversion.distillation import distill, input_batches, output_score, psnr
from checkerscope.conversion.report import ConversionReport, Distillation
from checkerscope.nn.resize_conv import ResizeConv1d, ResizeConv2d, ResizeConv3d

TRANSPOSED = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
RESIZE = {1: ResizeConv1d, 2: ResizeConv2d, 3: ResizeConv3d}
INPUT = {1: (2, 64), 2: (2, 8, 8), 3: (2, 2, 8, 8)}


def decoder(dims: int) -> nn.Sequential:
    """A convolution, a BatchNorm and two k3 s2 transposed convolutions: a strong checkerboard
    on positive inputs."""
    torch.manual_seed(0)
    return nn.Sequential(
        CONV[dims](2, 8, 3, padding=1),
        BATCH_NORM[dims](8),
        nn.ReLU(),
        TRANSPOSED[dims](8, 8, 3, 2, 1, 1),
        nn.ReLU(),
        TRANSPOSED[dims](8, 1, 3, 2, 1, 1),
    )


def examples(dims: int, n: int = 32) -> torch.Tensor:
    return torch.rand(n, *INPUT[dims], generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_distillation_removes_the_checkerboard_of_1d_2d_3d_models(dims: int) -> None:
    model = decoder(dims).eval()
    before = copy.deepcopy(model.state_dict())
    fixed, report = convert(
        model, init="distill", inputs=examples(dims), steps=60, return_report=True, progress=False
    )
    d = report.distillation
    assert isinstance(d, Distillation) and d.steps == 60
    assert d.score_original > THRESHOLD
    assert d.score_distilled < THRESHOLD and d.score_distilled < d.score_original - 6
    assert d.psnr_distilled > d.psnr_start  # training brought it closer to the original
    assert [type(m) for m in fixed[3:]] == [RESIZE[dims], nn.ReLU, RESIZE[dims]]
    # the model itself is untouched, and the report's numbers are those of the models
    for k, t in model.state_dict().items():
        assert torch.equal(t, before[k]), k
    x = next(input_batches(examples(dims)))  # the first batch, on which the report measures
    with torch.no_grad():
        original, distilled = model(x), fixed(x)
    assert output_score(original) == pytest.approx(d.score_original, abs=1e-3)
    assert output_score(distilled) == pytest.approx(d.score_distilled, abs=1e-3)
    assert psnr(distilled, original) == pytest.approx(d.psnr_distilled, abs=1e-3)


def test_only_the_new_layers_change_and_buffers_stay() -> None:
    model = decoder(2).train()  # batch statistics: forward passes would move running stats
    fixed = convert(model, init="distill", inputs=examples(2), steps=5, progress=False)
    projected = convert(model, init="project")
    for (name, t), (_, p) in zip(fixed.state_dict().items(), projected.state_dict().items(),
                                 strict=True):  # fmt: skip
        changed = not torch.equal(t, p)
        assert changed == name.startswith(("3.", "5.")), name
    assert torch.equal(fixed[1].running_mean, model[1].running_mean)
    assert all(p.requires_grad for p in fixed.parameters())  # flags restored
    assert fixed.training


def test_frozen_flags_are_restored() -> None:
    model = decoder(1)
    model[0].weight.requires_grad_(False)
    fixed = convert(model, init="distill", inputs=examples(1), steps=2, progress=False)
    assert not fixed[0].weight.requires_grad and fixed[3].weight.requires_grad


def test_report_prints_the_distillation() -> None:
    _, report = convert(
        decoder(1), init="distill", inputs=examples(1), steps=2, return_report=True,
        progress=False,
    )  # fmt: skip
    text = str(report)
    assert "distilled 2 steps (Adam, lr 0.001" in text
    assert "checkerboard score: original" in text and "PSNR against the original's" in text
    plain = ConversionReport((), ())
    assert "distilled" not in str(plain)


def test_inputs_as_tensor_list_loader_and_callable() -> None:
    x = examples(1, 20)
    first = next(input_batches(x))
    assert first.shape == (16, *INPUT[1])
    assert next(input_batches([x[:4], x[4:8]])).shape == (4, *INPUT[1])
    assert next(input_batches([(x[:3], torch.zeros(3))])).shape == (3, *INPUT[1])  # (input, label)
    assert next(input_batches(lambda: x[:5])).shape == (5, *INPUT[1])
    batches = input_batches([x[:2], x[2:4]])
    assert [len(next(batches)) for _ in range(5)] == [2, 2, 2, 2, 2]  # gone through again
    # the same draws for the same seed: the run is reproducible
    torch.testing.assert_close(next(input_batches(x, seed=3)), next(input_batches(x, seed=3)))


def test_a_one_shot_iterator_that_ends_is_an_error() -> None:
    x = examples(1, 4)
    with pytest.raises(ValueError, match="inputs ran out after 2 batches"):
        convert(decoder(1), init="distill", inputs=iter([x, x]), steps=5, progress=False)


def test_progress_bar_runs() -> None:
    convert(decoder(1), init="distill", inputs=examples(1), steps=2, progress=True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"init": "distill"}, "init='distill' needs inputs"),
        ({"init": "project", "inputs": torch.zeros(1)},
         "inputs only apply to init='distill', got init='project'"),
        ({"init": "fresh", "steps": 3}, "steps only apply to init='distill'"),
        ({"init": "distill", "inputs": torch.zeros(2, 2, 64), "steps": 0},
         "steps must be a positive integer, got 0"),
        ({"init": "distill", "inputs": torch.zeros(2, 2, 64), "lr": -1.0},
         "lr must be a finite number > 0, got -1.0"),
        ({"init": "distill", "inputs": "noise"},
         "inputs must be a tensor of example inputs, an iterable of batches or a callable"),
        ({"init": "distill", "inputs": [1, 2]}, "inputs (an iterable) must give tensors"),
        ({"init": "distill", "inputs": torch.zeros(0, 2, 64)},
         "inputs must hold at least one example"),
        ({"init": "distill", "inputs": torch.zeros(2, 2, 64), "progress": "yes"},
         "progress must be True or False"),
    ],
)  # fmt: skip
def test_bad_arguments_name_themselves(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        convert(decoder(1), **{"progress": False, **kwargs})
    assert message in str(err.value)


def test_outputs_that_are_not_maps_are_refused() -> None:
    model = nn.Sequential(nn.ConvTranspose1d(1, 1, 3, 2, 1, 1), nn.Flatten())
    with pytest.raises(ValueError, match="the original model gives \\(4, 32\\)"):
        convert(model, init="distill", inputs=torch.rand(4, 1, 16), steps=1, progress=False)


def test_non_finite_loss_stops_with_advice() -> None:
    model = nn.ConvTranspose1d(1, 1, 3, 2, 1, 1)
    with pytest.raises(ValueError, match="non-finite at step 1 of 3; lower lr"):
        convert(model, init="distill", inputs=torch.full((4, 1, 16), math.inf), steps=3,
                progress=False)  # fmt: skip


def test_psnr_and_score_helpers() -> None:
    ref = torch.tensor([0.0, 2.0])
    assert psnr(ref, ref) == math.inf
    assert psnr(ref + 0.02, ref) == pytest.approx(40.0)
    assert psnr(torch.ones(2), torch.zeros(2)) == -math.inf
    with pytest.raises(ValueError, match="x must be signals"):
        output_score(torch.zeros(2, 8))


def test_distill_leaves_the_teacher_as_it_was() -> None:
    teacher = decoder(2).train()
    before = copy.deepcopy(teacher.state_dict())
    student = convert(teacher, init="project")
    distill(teacher, student, [student[3], student[5]], examples(2), steps=2, progress=False)
    for k, t in teacher.state_dict().items():
        assert torch.equal(t, before[k]), k
