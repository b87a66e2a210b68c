#!/usr/bin/env bash
# The checks that need a GPU, in one run (never in CI): the tests that take a CUDA device
# (`-k cuda`: CUDA against CPU, every layer under torch.use_deterministic_algorithms(True)
# on CUDA) and the layers benchmark in float32 and bfloat16 against cuDNN's transposed
# convolution. Logs and markdown tables go to DIR; the exit status is 1 if any step failed.
#
#   bash benchmarks/cuda.sh DIR        (PYTHON=... to choose the interpreter)
set -uo pipefail
out=${1:?usage: bash benchmarks/cuda.sh DIR}
mkdir -p "$out"
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
python=${PYTHON:-python3}
status=0
"$python" -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" \
    | tee "$out/machine.txt" || exit 1
timeout 150 "$python" -m pytest -q -p no:cacheprovider -n 8 -k cuda tests/nn tests/functional \
    tests/conversion tests/analysis/test_score.py 2>&1 | tee "$out/cuda_tests.log" || status=1
for dtype in float32 bfloat16; do
    timeout 130 "$python" benchmarks/layers.py --device cuda --dtype "$dtype" --rounds 21 \
        --tables targets,grid --markdown "$out/layers_cuda_$dtype.md" 2>&1 \
        | tee "$out/layers_cuda_$dtype.log" || status=1
done
timeout 130 "$python" benchmarks/layers.py --device cuda --rounds 11 --tables sweep \
    --markdown "$out/layers_cuda_sweep.md" 2>&1 | tee "$out/layers_cuda_sweep.log" || status=1
exit $status
