"""The model audit on models it has never seen, against independent measurements, and its errors."""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from typer.testing import CliRunner

from checkerscope.analysis import gradient_checkerboard, overlap_summary, phase_imbalance
from checkerscope.analysis.score import THRESHOLD, checkerboard_score
from checkerscope.analysis.stats import confidence_interval
from checkerscope.audit import SCHEMA, AuditReport, audit, load_target
from checkerscope.cli import app
from checkerscope.models import AudioUpsampler1d, DCGANGenerator, StridedClassifier, UNet
from checkerscope.nn import SubPixelConv2d
from checkerscope.weights import load_weights


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # Small models on shared cores: one intra-op thread is many times faster than several.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class StyleBlock(nn.Module):
    """StyleGAN-like: nearest x2, 3x3 conv, per-pixel noise with a learned strength, norm."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.act = nn.LeakyReLU(0.2)
        self.norm = nn.InstanceNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.up(x))
        return self.norm(self.act(x + self.noise_strength * torch.randn_like(x[:, :1])))


class StyleGenerator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b1, self.b2 = StyleBlock(16, 16), StyleBlock(16, 8)
        self.to_rgb = nn.Conv2d(8, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_rgb(self.b2(self.b1(x)))


def strided_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.Conv2d(16, 1, 3, stride=2))


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: t.clone() for k, t in model.state_dict().items()}


@pytest.fixture(scope="module")
def dcgan() -> DCGANGenerator:
    return DCGANGenerator(nz=16, ngf=8, image_size=32)


@pytest.fixture(scope="module")
def dcgan_report(dcgan: DCGANGenerator) -> AuditReport:
    before, rng = state(dcgan), torch.get_rng_state()
    report = audit(dcgan, (16,), seeds=3)
    after = state(dcgan)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before), "the caller's model changed"
    assert dcgan.training, "the caller's model changed mode"
    assert torch.equal(rng, torch.get_rng_state()), "the global random state changed"
    return report


def test_deconv_generator_is_flagged_and_its_conversion_scores_lower(dcgan_report) -> None:
    r = dcgan_report
    assert r.flagged and r.score > THRESHOLD and r.mode == "outputs"
    assert r.output_shape == (3, 32, 32) and len(r.seed_scores) == 3
    assert r.ci[0] < r.score < r.ci[1]
    assert r.fix is not None and not r.fix.flagged
    assert r.fix.score < r.score - 6  # measured on the same seeds and inputs
    assert r.fix.change == pytest.approx(r.fix.score - r.score)
    assert r.fix.replaced == ("main.0", "main.3", "main.6")


def test_layers_are_named_as_in_named_modules_with_analytic_numbers(dcgan, dcgan_report) -> None:
    modules = dict(dcgan.named_modules())
    layers = dcgan_report.layers
    assert [layer.name for layer in layers] == ["main.0", "main.3", "main.6"]
    for layer in layers:
        m = modules[layer.name]
        assert layer.kind == "conv_transpose" and isinstance(m, nn.ConvTranspose2d)
        k, s = m.kernel_size[0], m.stride[0]
        assert layer.overlap_ratio == overlap_summary((k, s), (1, 1)).ratio == 1.0  # k=4, s=2
        assert layer.imbalance > 0.3  # even overlap, yet random weights are unbalanced
        assert layer.output_size == tuple(2 * n for n in layer.input_size)
    assert layers[-1].score > 6  # the last deconvolution paints most of it
    fixed = {layer.name: layer for layer in dcgan_report.fix.layers}
    for layer in layers:
        assert fixed[layer.name].kind == "resize_conv"
        assert fixed[layer.name].imbalance == 0.0 and fixed[layer.name].overlap_ratio == 1.0
    assert fixed["main.6"].score < layers[-1].score - 6


def test_trained_audit_scores_exactly_what_the_score_module_gives(dcgan) -> None:
    report = audit(dcgan, (16, 1, 1), seeds=1, trained=True, batch=3)
    x = torch.randn(3, 16, 1, 1, generator=torch.Generator().manual_seed(0))
    model = dcgan.eval()
    with torch.no_grad():
        expected = checkerboard_score(model(x)).mean()
    dcgan.train()
    assert report.seed_scores[0] == pytest.approx(float(expected), rel=1e-5)
    assert report.ci[0] != report.ci[0]  # one seed: no interval (nan)
    # Trained weights are carried over by least squares, so the comparison is about them.
    assert report.fix.description.startswith("convert(model, init='project')")


def test_volumes_are_scored_as_stacks_of_slices() -> None:
    model = nn.Sequential(nn.ReLU(), nn.ConvTranspose3d(2, 1, 3, 2, 1, output_padding=1))
    r = audit(model, (2, 4, 8, 8), seeds=2)
    assert r.output_shape == (1, 8, 16, 16)
    assert [(layer.kind, layer.kernel_size, layer.stride) for layer in r.layers] == [
        ("conv_transpose", (3, 3, 3), (2, 2, 2))
    ]
    assert r.layers[0].overlap_ratio == overlap_summary((3, 2), (1, 1, 1)).ratio == 8.0
    assert r.fix is not None and r.fix.layers[0].kind == "resize_conv"


def test_untrained_audit_reinitializes_so_the_given_weights_do_not_matter() -> None:
    g = DCGANGenerator(nz=8, ngf=4, image_size=16)
    first = audit(g, (8,), seeds=2)
    with torch.no_grad():
        for p in g.parameters():
            p.mul_(-3.0).add_(0.5)
    again = audit(g, (8,), seeds=2)
    assert again.seed_scores == first.seed_scores
    assert audit(g, (8,), seeds=2, trained=True).seed_scores != first.seed_scores


def test_unet_decoder() -> None:
    r = audit(UNet(base=8, depth=2), (3, 32, 32), seeds=2)
    kinds = {layer.name: layer.kind for layer in r.layers}
    assert kinds == {
        "down.0.0": "strided_conv",
        "down.1.0": "strided_conv",
        "up.0": "conv_transpose",
        "up.1": "conv_transpose",
    }
    by_name = {layer.name: layer for layer in r.layers}
    assert by_name["down.0.0"].overlap_ratio == overlap_summary((3, 2), (1, 1)).ratio == 4.0
    assert r.fix is not None and r.fix.replaced == ("up.0", "up.1")
    fixed = {layer.name: layer for layer in r.fix.layers}
    for name in ("up.0", "up.1"):
        assert fixed[name].score < by_name[name].score
    assert r.fix.score < r.score


def test_audio_upsampler_is_scored_in_1d() -> None:
    r = audit(AudioUpsampler1d(4, channels=8), (4, 32), seeds=3)
    assert r.output_shape == (1, 256)
    assert [layer.kind for layer in r.layers] == ["conv_transpose"] * 3
    assert r.flagged and r.fix is not None and r.fix.score < r.score - 6


def test_stylegan_like_nearest_upsampling_adds_exactly_nothing() -> None:
    r = audit(StyleGenerator(), (16, 8, 8), seeds=2)
    assert [(layer.name, layer.kind) for layer in r.layers] == [
        ("b1.up", "upsample_nearest"),
        ("b2.up", "upsample_nearest"),
    ]
    # A nearest resize is its own reference: the difference is zero, not merely small.
    assert all(layer.score == 0.0 and layer.overlap_ratio == 1.0 for layer in r.layers)
    assert not r.flagged and r.fix is None
    assert any("found no strided ConvTranspose" in n for n in r.notes)
    assert any("b1.noise_strength" in n and "keep their values" in n for n in r.notes)


def test_model_without_upsampling_says_so() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    r = audit(model, (3, 16, 16), seeds=2)
    assert r.layers == () and r.fix is None
    assert any(n.startswith("no upsampling or strided layer found") for n in r.notes)
    assert "no upsampling or strided layer found" in str(r)


def test_subpixel_icnr_keeps_its_initialization_on_reset() -> None:
    # Children are reset before parents: the conv's own reset must not undo ICNR.
    r = audit(nn.Sequential(SubPixelConv2d(8, 3)), (8, 16, 16), seeds=2)
    assert r.layers[0].kind == "subpixel" and r.layers[0].imbalance == pytest.approx(0, abs=1e-12)
    plain = audit(nn.Sequential(SubPixelConv2d(8, 3, init="default")), (8, 16, 16), seeds=2)
    assert plain.layers[0].imbalance > 0.1


def test_gradients_of_strided_convs_and_the_antialiased_fix() -> None:
    model = strided_net()
    r = audit(model, (3, 64, 64), seeds=3, gradients=True)
    assert r.mode == "gradients" and r.flagged
    assert [layer.kind for layer in r.layers] == ["strided_conv", "strided_conv"]
    for layer in r.layers:
        assert layer.overlap_ratio == 4.0  # the backward pass is a k3 s2 deconvolution
        assert layer.imbalance > 0.3
        assert layer.score > 6
    assert r.fix is not None and r.fix.replaced == ("0", "2")
    assert r.fix.score < r.score - 6
    for layer in r.fix.layers:
        assert layer.kind == "antialiased_conv" and layer.imbalance == 0.0  # binomial taps
        assert layer.score < 3


def test_gradient_score_is_exactly_gradient_checkerboard() -> None:
    model = StridedClassifier(width=4, stages=2).eval()
    r = audit(model, (3, 32, 32), seeds=1, trained=True, batch=2, gradients=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    expected = float(gradient_checkerboard(model, x).mean())
    assert r.seed_scores[0] == pytest.approx(expected, rel=1e-5)


def test_imbalance_is_that_of_phase_imbalance_in_trained_mode() -> None:
    model = strided_net()
    r = audit(model, (3, 32, 32), seeds=1, trained=True, gradients=True)
    assert r.layers[0].imbalance == phase_imbalance(model[0]).imbalance


def test_to_dict_is_strict_json(dcgan_report) -> None:
    d = json.loads(json.dumps(dcgan_report.to_dict(), allow_nan=False))
    assert d["schema"] == SCHEMA and d["flagged"] is True
    assert d["threshold_db"] == THRESHOLD and d["input_shape"] == [16]
    assert [layer["name"] for layer in d["layers"]] == ["main.0", "main.3", "main.6"]
    assert d["fix"]["layers"][0]["kind"] == "resize_conv"
    one = audit(nn.Sequential(nn.Upsample(scale_factor=2)), (1, 4, 4), seeds=1).to_dict()
    assert one["ci_db"] is None and json.dumps(one, allow_nan=False)


def test_confidence_interval_is_a_t_interval() -> None:
    lo, hi = confidence_interval([1.0, 2.0, 3.0])
    assert (lo + hi) / 2 == pytest.approx(2.0)
    assert (hi - lo) / 2 == pytest.approx(4.302652729911275 / math.sqrt(3))  # t(0.975, 2)
    assert all(math.isnan(c) for c in confidence_interval([5.0]))


@pytest.mark.parametrize(
    ("model", "shape", "message"),
    [
        (UNet(base=4, depth=2), (3, 30, 30), r"fails on input_shape \(3, 30, 30\).*divisible by 4"),
        (DCGANGenerator(nz=16, ngf=4, image_size=16), (8,), r"fails on input_shape \(8,\)"),
        (nn.Conv2d(3, 4, 5), (3, 2, 2), r"fails on input_shape \(3, 2, 2\).*Kernel size"),
        (StridedClassifier(width=4), (3, 16, 16), r"shape \(4, 10\).*use gradients=True"),
    ],
)
def test_a_model_that_fails_names_the_shape(model: nn.Module, shape: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        audit(model, shape, seeds=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "not a model"}, "model must be a torch.nn.Module, got str"),
        ({"input_shape": (3, 0, 8)}, r"input_shape must hold positive integers.*\(3, 0, 8\)"),
        ({"input_shape": "3,8,8"}, "input_shape must be a positive int or a non-empty tuple"),
        ({"seeds": 0}, "seeds must be a positive integer, got 0"),
        ({"trained": "yes"}, "trained must be True or False, got 'yes'"),
        ({"batch": 1}, "batch must be at least 2 with trained=False"),
        ({"device": "gpu:x"}, "device must be a torch device"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    args = {"model": nn.Upsample(scale_factor=2), "input_shape": (1, 8, 8), "seeds": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        audit(**args)


# Loading a model and its weights for the command line.

MODEL_FILE = textwrap.dedent(
    """
    import torch
    from torch import nn

    from checkerscope.models import DCGANGenerator


    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(4, 3, 4, 2, 1)

        def forward(self, x):
            return torch.tanh(self.up(x))


    class NeedsArgs(nn.Module):
        def __init__(self, width):
            super().__init__()


    def make_generator():
        return DCGANGenerator(nz=8, ngf=4, image_size=16)


    def make_string():
        return "not a model"


    instance = Small()
    NUMBER = 3


    class Payload:
        pass
    """
)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_models.py"
    path.write_text(MODEL_FILE)
    return path


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
    before = state(model)
    with pytest.raises(ValueError) as err:
        load_weights(model, tmp_path / "w.pt")
    message = str(err.value)
    assert "missing from the file: main.3.bias" in message
    assert "unexpected in the file: extra.weight" in message
    assert re.search(r"shape mismatch: main.0.weight \(file \(2, 2, 4, 4\), model \(8, 4", message)
    assert all(torch.equal(before[k], t) for k, t in model.state_dict().items())


# The command line, end to end.

runner = CliRunner(env={"COLUMNS": "160"})


def test_cli_audits_a_file_target_and_prints_a_table(model_file: Path) -> None:
    result = runner.invoke(
        app, ["audit", f"{model_file}:Small", "--input-shape", "4,16,16", "--seeds", "2"]
    )
    assert result.exit_code in (0, 1), result.output
    assert "up" in result.output and "conv_transpose" in result.output
    assert "checkerboard score of the outputs" in result.output
    assert "fix, convert(model, init='fresh')" in result.output
    assert result.exit_code == int(
        "flagged" in result.output and "not flagged" not in result.output
    )


def test_cli_json_and_html(model_file: Path, tmp_path: Path) -> None:
    page = tmp_path / "audit.html"
    args = ["audit", f"{model_file}:make_generator", "--input-shape", "8", "--seeds", "2"]
    result = runner.invoke(app, [*args, "--json", "--html", str(page)])
    report = json.loads(result.stdout)
    assert result.exit_code == int(report["flagged"])
    assert report["schema"] == SCHEMA and report["input_shape"] == [8]
    assert [layer["name"] for layer in report["layers"]] == ["main.0", "main.3"]
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "main.3" in text
    assert text.count('src="data:image/png;base64,') >= 3  # samples, layer bars, overlap
    assert not re.search(r"(src|href)=\"(https?:)?//", text)  # nothing fetched


def test_cli_weights_default_to_a_trained_audit(model_file: Path, tmp_path: Path) -> None:
    sd = load_target(f"{model_file}:make_generator").state_dict()
    save_file({k: t.contiguous() for k, t in sd.items()}, tmp_path / "g.safetensors")
    args = ["audit", f"{model_file}:make_generator", "--input-shape", "8", "--seeds", "1"]
    result = runner.invoke(app, [*args, "--weights", str(tmp_path / "g.safetensors"), "--json"])
    assert json.loads(result.stdout)["trained"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{file}:Missing", "--input-shape", "8"], "has no attribute 'Missing'"),
        (["nope/missing.py:G", "--input-shape", "8"], "does not exist"),
        (["{file}:NUMBER", "--input-shape", "8"], "not a torch.nn.Module"),
        (["{file}:make_generator", "--input-shape", "8,x"], "--input-shape must be integers"),
        (["{file}:make_generator", "--input-shape", "5"], r"fails on input_shape \(5,\)"),
        (["{file}:Small", "--input-shape", "4,8,8", "--weights", "{dir}/w.pt"], "do not match"),
        (["{file}:Small", "--input-shape", "4,8,8", "--weights", "{dir}/p.pt"], "unpickle"),
    ],
)
def test_cli_usage_errors_exit_2_without_a_traceback(
    model_file: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    torch.save({"up.weight": torch.zeros(1)}, tmp_path / "w.pt")
    torch.save(Payload(), tmp_path / "p.pt")
    args = [a.format(file=model_file, dir=tmp_path) for a in args]
    result = runner.invoke(app, ["audit", *args])
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output) and "Traceback" not in result.output
