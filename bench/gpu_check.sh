#!/usr/bin/env bash
# The GPU checks of issue 7 as one prepared command (run on a machine with an NVIDIA GPU, CuPy,
# NumPy, pytest and PyTorch):  bash bench/gpu_check.sh [OUT_DIR]
# 1. the `gpu`-marked tests (the demo with --device cuda --quick among them), 2. the recurrent benchmark.
set -uo pipefail
out=${1:-gpu_check_out}
mkdir -p "$out"
export PYTHONPATH=.
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import cupy, numpy, torch; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__)" | tee -a "$out/gpu.txt"

echo "== collection: CPU run vs GPU run =="
python3 -m pytest -q --collect-only -p no:cacheprovider tests 2>/dev/null | tail -1 | tee "$out/collect_all.txt"
python3 -m pytest -q --collect-only -p no:cacheprovider -m gpu tests 2>/dev/null | tail -1 | tee "$out/collect_gpu.txt"

echo "== gpu tests (the demo --device cuda --quick is one of them) =="
timeout 300 python3 -m pytest -q -p no:cacheprovider -m gpu -rfEs tests 2>&1 | tee "$out/gpu_tests.txt" | tail -25
echo "gpu tests rc=${PIPESTATUS[0]}"

echo "== bench/recurrent.py --device cuda =="
timeout 170 python3 bench/recurrent.py --device cuda 2>&1 | tee "$out/bench.txt" | tail -40
