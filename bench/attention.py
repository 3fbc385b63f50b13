"""Benchmark scaled dot-product attention: the fused ``Function`` against the same thing composed from
public ops (matmul, softmax, an additive mask), forward + sum + backward, in one process.

    python bench/attention.py                 # T = 128 and 1024, without and with the causal mask
    python bench/attention.py --T 256,512     # other lengths

Heads of shape (8, 4, T, 16), float32, one BLAS thread (set before NumPy loads, as bench/recurrent.py),
median of 5 after a warm-up, each timed call after ``SETTLE_S`` idle. Up to ``ops.attention.DENSE_MAX``
weights the fused op takes its dense path, past it the tiled one (and causal tiles read only earlier keys).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import tinygrad_rnn as tr  # noqa: E402
import tinygrad_rnn.nn.functional as F  # noqa: E402
from tinygrad_rnn.ops import attention  # noqa: E402

SETTLE_S = 0.02


def bench(T: int, fused: bool, causal: bool, repeats: int = 5) -> tuple:
    """Median milliseconds of one forward + backward, and the path the fused op took (None: composed)."""
    rng = np.random.default_rng(0)
    xs = [tr.tensor(rng.standard_normal((8, 4, T, 16)).astype(np.float32), requires_grad=True) for _ in range(3)]
    mask = tr.tensor(attention.causal_bias(np, T, T, np.float32)) if causal else None

    def step():
        for x in xs:
            x.grad = None
        if fused:
            out = F.scaled_dot_product_attention(*xs, is_causal=causal)
        else:
            q, k, v = xs
            s = q.matmul(k.transpose(-2, -1)) * (1 / 4)
            out = (s if mask is None else s + mask).softmax(-1).matmul(v)
        out.sum().backward()
        return ("tiled" if out.grad_fn.tiled else "dense") if fused else None

    path = step()
    times = []
    for _ in range(repeats):
        time.sleep(SETTLE_S)
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--T", default="128,1024", help="lengths, comma-separated. Default: 128,1024")
    args = p.parse_args(argv)
    print(f"# attention forward + backward, heads (8, 4, T, 16), float32, OPENBLAS_NUM_THREADS="
          f"{os.environ['OPENBLAS_NUM_THREADS']}, median of 5\n")
    print("| T | mask | composed ms | fused ms | path | composed / fused |")
    print("| ---: | --- | ---: | ---: | --- | ---: |")
    for T in (int(t) for t in args.T.split(",")):
        for causal in (False, True):
            (c, _), (f, path) = bench(T, False, causal), bench(T, True, causal)
            print(f"| {T} | {'causal' if causal else 'none'} | {c:.1f} | {f:.1f} | {path} | {c / f:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
