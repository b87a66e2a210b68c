"""What the audit's tests share: one torch thread, a file of models to load, and a DCGAN audit."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from checkerscope.auditing import AuditReport, audit
from checkerscope.models import DCGANGenerator


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # Small models on shared cores: one intra-op thread is many times faster than several.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: t.clone() for k, t in model.state_dict().items()}


@pytest.fixture(scope="session")
def dcgan() -> DCGANGenerator:
    return DCGANGenerator(nz=16, ngf=8, image_size=32)


@pytest.fixture(scope="session")
def dcgan_report(dcgan: DCGANGenerator) -> AuditReport:
    before, rng = state(dcgan), torch.get_rng_state()
    report = audit(dcgan, (16,), seeds=3)
    after = state(dcgan)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before), "the caller's model changed"
    assert dcgan.training, "the caller's model changed mode"
    assert torch.equal(rng, torch.get_rng_state()), "the global random state changed"
    return report


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


    class Deep(nn.Module):
        # Two 4x4 stride-2 deconvolutions: flagged far above the threshold.

        def __init__(self):
            super().__init__()
            self.up1 = nn.ConvTranspose2d(4, 8, 4, 2, 1)
            self.up2 = nn.ConvTranspose2d(8, 3, 4, 2, 1)

        def forward(self, x):
            return torch.tanh(self.up2(torch.relu(self.up1(x))))


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
