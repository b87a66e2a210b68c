"""The fused path never reaches oneDNN's heap-corrupting 3-D weight gradient.

On torch 2.13 (CPU, float32), the weight gradient of ``conv_transpose3d`` aborts the process
when the input is 3 or 4 samples deep and the kernel has 7 to 14 taps there; the fused
resize-convolution's main kernel has that many for bilinear k >= 5 or scale >= 3. The cases
run in a subprocess, so that a crash fails this test instead of killing the test run.
"""

from __future__ import annotations

import subprocess
import sys

import torch

from checkerscope.functional.resize_conv_terms import onednn_unsafe

CASES = """
import torch
from checkerscope.nn import ResizeConv3d
torch.set_num_threads(1)
for k, s, shape, c_in, c_out in (
    (5, 2, (1, 32, 3, 6, 5), 32, 16),
    (5, 2, (1, 32, 3, 3, 3), 32, 16),
    (5, 2, (2, 4, 3, 8, 8), 4, 3),
    (5, 4, (1, 32, 4, 6, 5), 32, 16),
    (3, 4, (2, 8, 3, 6, 5), 8, 4),
):
    torch.manual_seed(0)
    fused = ResizeConv3d(c_in, c_out, k, s, "bilinear", impl="fused")
    reference = ResizeConv3d(c_in, c_out, k, s, "bilinear", impl="reference")
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(shape)
    for layer in (fused, reference):
        for _ in range(3):  # the corruption shows on a later allocation
            layer.zero_grad()
            layer(x).square().sum().backward()
    want = reference.weight.grad
    err = (fused.weight.grad - want).abs().max() / want.abs().max()
    assert err < 1e-4, (k, s, shape, float(err))
print("ok")
"""


def test_shallow_3d_inputs_train_without_corrupting_the_heap() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CASES],
        capture_output=True,
        text=True,
        timeout=300,
        env={"OMP_NUM_THREADS": "1", "MALLOC_CHECK_": "3", "PATH": ""},
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_the_guard_covers_shallow_inputs_only() -> None:
    kernel = torch.empty(8, 4, 8, 8, 8)
    assert onednn_unsafe(torch.empty(1, 8, 3, 12, 12), kernel, weight_grad=True)
    assert not onednn_unsafe(torch.empty(1, 8, 3, 12, 12), kernel, weight_grad=False)
    assert not onednn_unsafe(torch.empty(1, 8, 8, 12, 12), kernel, weight_grad=True)
    assert not onednn_unsafe(torch.empty(1, 8, 3, 12), kernel[..., 0], weight_grad=True)
