#!/usr/bin/env bash
# The GPU checks of issues 7 and 13 as one prepared command (run on a machine with an NVIDIA GPU, CuPy,
# NumPy, pytest and PyTorch):  bash bench/gpu_check.sh [OUT_DIR]
# 0. the raw CUDA loops against the NumPy loop (fast, first), 1. issue 13's targets: linear_scan at
# T = 4096 against its own loop (>= 10x) and the LRU step against the fused LSTM, 2. collection counts,
# 3. the `gpu`-marked tests (the demo with --device cuda --quick among them), 4. the recurrent
# benchmark, 5. the host/device time profile of one training step.
# The timeouts add up to about 9 minutes (the device gives 15 in all, start included): run it with timeout_s=590.
set -uo pipefail
out=${1:-gpu_check_out}
mkdir -p "$out"
export PYTHONPATH=.
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import cupy, numpy, torch; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__)" | tee -a "$out/gpu.txt"

echo "== raw CUDA loops =="
timeout 60 python3 -m pytest -q -p no:cacheprovider -m gpu -x tests/nn/test_cuda_loops.py \
    tests/nn/test_fused_kernels.py::test_cupy_matches_numpy 2>&1 | tail -15

echo "== bench/linear_scan.py --device cuda --quick (issue 13: the scan >= 10x its own loop at T = 4096) =="
timeout 90 python3 bench/linear_scan.py --device cuda --quick 2>&1 | tee "$out/linear_scan.txt" | tail -20

echo "== bench/road.py --device cuda --quick (the LRU training step against the fused LSTM) =="
timeout 60 python3 bench/road.py --device cuda --quick 2>&1 | tee "$out/road.txt" | tail -20

echo "== collection: all, CPU run (not gpu), CPU-only, GPU run =="
for m in "" "not gpu" "cpu_only" "gpu"; do
    python3 -m pytest -q --collect-only -p no:cacheprovider ${m:+-m "$m"} tests 2>/dev/null | tail -1
done | tee "$out/collect.txt"

echo "== gpu tests (the demo --device cuda --quick is one of them) =="
par=$(python3 -c "import xdist" 2>/dev/null && echo "-n 8")     # pytest-xdist, where installed
timeout 220 python3 -m pytest -q -p no:cacheprovider -m gpu -rfEs $par tests 2>&1 | tee "$out/gpu_tests.txt" | tail -25
echo "gpu tests rc=${PIPESTATUS[0]}"

echo "== bench/recurrent.py --device cuda =="
timeout 60 python3 bench/recurrent.py --device cuda --quick 2>&1 | tee "$out/bench.txt" | tail -40

echo "== bench/gpu_profile.py =="
timeout 30 python3 bench/gpu_profile.py 2>&1 | tee "$out/profile.txt" | tail -20
