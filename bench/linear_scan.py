"""Benchmark ``tr.linear_scan`` against its own sequential loop, in the same process, interleaved.

    python bench/linear_scan.py                  # CPU, T = 4096, several per-step slice sizes
    python bench/linear_scan.py --quick          # fewer repeats and sizes
    python bench/linear_scan.py --device cuda    # the same on CuPy (needs a GPU)
    python bench/linear_scan.py --T 1000 --T 4096

For each shape (T, *slice) it times, float32, forward only (``no_grad``) and a training step (forward,
sum, backward w.r.t. a and b):

- ``auto``: ``tr.linear_scan(a, b)``, what users get;
- ``scan``: the odd–even parallel scan forced (``method="scan"``);
- ``loop``: the same Function with its sequential loop forced (``method="loop"``): the reference;
- ``unrolled``: the recurrence written with Tensor ops, one autograd node per step (forward only for
  T ≤ 1024, where it is not minutes slow: a second reference for what the op saves).

Each repeat runs every variant once in a fixed order, so all see the same machine state; the table
reports medians in ms and the ratio to ``loop`` (below 1: faster than the loop). As bench/recurrent.py,
OpenBLAS's idle spin is capped (``OPENBLAS_THREAD_TIMEOUT=20``, set before NumPy loads) and each timed
call waits ``SETTLE_S`` first.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")   # idle OpenBLAS threads stop spinning soon
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import tinygrad_rnn as tr  # noqa: E402
from tinygrad_rnn.ops import scan as scan_ops  # noqa: E402

SLICES = [(1,), (64,), (128,), (256,), (8, 64), (1024,), (32, 64), (32, 256)]     # per-step shapes
QUICK_SLICES = [(1,), (64,), (32, 64)]
SETTLE_S = 0.02


def _sync(device: str) -> None:
    if device == "cuda":
        import cupy
        cupy.cuda.Device().synchronize()


def _timed(fn, device: str) -> float:
    _sync(device)
    time.sleep(SETTLE_S)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return (time.perf_counter() - t0) * 1e3


def _unrolled(a: tr.Tensor, b: tr.Tensor) -> tr.Tensor:
    h, hs = None, []
    for t in range(a.shape[0]):
        h = b[t] if h is None else a[t] * h + b[t]
        hs.append(h)
    return tr.stack(hs)


def bench_shape(T: int, step: tuple, device: str, repeats: int) -> list:
    rng = np.random.default_rng(0)
    a_np = rng.uniform(0.5, 1.0, (T, *step)).astype(np.float32)
    b_np = rng.standard_normal((T, *step)).astype(np.float32)
    a = tr.tensor(a_np, device=device, requires_grad=True)
    b = tr.tensor(b_np, device=device, requires_grad=True)

    def fwd(method):
        def run():
            with tr.no_grad():
                tr.linear_scan(a, b, method=method)
        return run

    def train(method):
        def run():
            a.grad = b.grad = None
            tr.linear_scan(a, b, method=method).sum().backward()
        return run

    variants = {f"fwd {m}": fwd(m) for m in ("auto", "scan", "loop")}
    variants.update({f"train {m}": train(m) for m in ("auto", "scan", "loop")})
    if T <= 1024:
        def unrolled():
            with tr.no_grad():
                _unrolled(a, b)
        variants["fwd unrolled"] = unrolled
    h_scan = tr.linear_scan(a.detach(), b.detach(), method="scan").numpy()
    h_loop = tr.linear_scan(a.detach(), b.detach(), method="loop").numpy()
    err = float(np.abs(h_scan - h_loop).max() / max(1.0, np.abs(h_loop).max()))
    for fn in variants.values():       # warm-up (and CuPy kernel compilation)
        fn()
    times = {k: [] for k in variants}
    for _ in range(repeats):
        for k, fn in variants.items():
            times[k].append(_timed(fn, device))
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = []
    for kind in ("fwd", "train"):
        ref = med[f"{kind} loop"]
        for m in ("auto", "scan", "loop", "unrolled"):
            key = f"{kind} {m}"
            if key in med:
                rows.append((T, step, kind, m, med[key], med[key] / ref, err))
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--T", type=int, action="append", help="sequence length(s) (default 4096)")
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    lengths = args.T or [4096]
    slices = QUICK_SLICES if args.quick else SLICES
    print(f"# linear_scan vs its sequential loop ({args.device}, float32, median of {repeats})\n")
    print(f"{platform.platform()}, Python {platform.python_version()}, NumPy {np.__version__}, "
          f"OPENBLAS_THREAD_TIMEOUT={os.environ['OPENBLAS_THREAD_TIMEOUT']}, settle {SETTLE_S} s, "
          f"auto takes the loop on NumPy from {scan_ops.LOOP_MIN_BYTES} bytes per step\n")
    print("| T | per-step slice | pass | method | ms | ratio to loop | max rel. diff scan vs loop |")
    print("| ---: | --- | --- | --- | ---: | ---: | ---: |")
    for T in lengths:
        for step in slices:
            for T_, s, kind, m, ms, ratio, err in bench_shape(T, step, args.device, repeats):
                print(f"| {T_} | {s} | {kind} | {m} | {ms:.2f} | {ratio:.2f} | {err:.1e} |", flush=True)


if __name__ == "__main__":
    main()
