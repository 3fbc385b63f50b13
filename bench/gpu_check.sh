#!/usr/bin/env bash
# The GPU checks of issue 7 as one prepared command (run on a machine with an NVIDIA GPU, CuPy,
# NumPy, pytest and PyTorch):  bash bench/gpu_check.sh [OUT_DIR]
# 0. the raw CUDA loops against the NumPy loop (fast, first), 1. collection counts,
# 2. the `gpu`-marked tests (the demo with --device cuda --quick among them), 3. the recurrent
# benchmark, 4. the host/device time profile of one training step.
set -uo pipefail
out=${1:-gpu_check_out}
mkdir -p "$out"
export PYTHONPATH=.
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import cupy, numpy, torch; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__)" | tee -a "$out/gpu.txt"

echo "== raw CUDA loops =="
timeout 120 python3 -m pytest -q -p no:cacheprovider -m gpu -x tests/nn/test_cuda_loops.py \
    tests/nn/test_fused_kernels.py::test_cupy_matches_numpy 2>&1 | tail -15

echo "== collection: all, CPU run (not gpu), CPU-only, GPU run =="
for m in "" "not gpu" "cpu_only" "gpu"; do
    python3 -m pytest -q --collect-only -p no:cacheprovider ${m:+-m "$m"} tests 2>/dev/null | tail -1
done | tee "$out/collect.txt"

echo "== gpu tests (the demo --device cuda --quick is one of them) =="
par=$(python3 -c "import xdist" 2>/dev/null && echo "-n 8")     # pytest-xdist, where installed
timeout 330 python3 -m pytest -q -p no:cacheprovider -m gpu -rfEs $par tests 2>&1 | tee "$out/gpu_tests.txt" | tail -25
echo "gpu tests rc=${PIPESTATUS[0]}"

echo "== bench/recurrent.py --device cuda =="
timeout 200 python3 bench/recurrent.py --device cuda 2>&1 | tee "$out/bench.txt" | tail -40

echo "== bench/gpu_profile.py =="
timeout 60 python3 bench/gpu_profile.py 2>&1 | tee "$out/profile.txt" | tail -20
