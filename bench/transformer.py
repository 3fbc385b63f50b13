"""Benchmark a Transformer encoder layer's training step against T, ours and PyTorch's, in one process.

    python bench/transformer.py                       # CPU, T in 64..512, markdown table on stdout
    python bench/transformer.py --quick               # fewer lengths and repeats
    python bench/transformer.py --plot step_vs_T.png  # also a log–log plot of step time against T

The model is ``TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0, batch_first=True)``
in float32 with PyTorch's weights loaded into ours; a training step is forward, a sum, and backward.
Each repeat times ours then PyTorch's (each after ``SETTLE_S`` idle, OpenBLAS spin capped as in
bench/recurrent.py), both on ``OPENBLAS_NUM_THREADS`` threads (default 1: on a shared 2-core machine,
2 BLAS threads made our small GEMMs ~7x slower); the table reports medians and ours / PyTorch.
Attention is O(T²) per layer, the feed-forward block O(T): the slope of the plot shows where the
quadratic term takes over.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")      # one BLAS thread, as PyTorch below (set before NumPy loads)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import tinygrad_rnn as tr  # noqa: E402

SETTLE_S = 0.02


def _timed(fn) -> float:
    time.sleep(SETTLE_S)
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def bench_length(T: int, B: int, d_model: int, nhead: int, ff: int, repeats: int) -> tuple:
    import torch
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = torch.nn.TransformerEncoderLayer(d_model, nhead, ff, dropout=0.0, batch_first=True)
    ours = tr.nn.TransformerEncoderLayer(d_model, nhead, ff, dropout=0.0, batch_first=True)
    ours.load_state_dict(ref.state_dict())
    x_np = np.random.default_rng(T).standard_normal((B, T, d_model)).astype(np.float32)
    x_ours = tr.tensor(x_np, requires_grad=True)
    x_ref = torch.tensor(x_np, requires_grad=True)

    def step_ours():
        ours.zero_grad()
        x_ours.grad = None
        ours(x_ours).sum().backward()

    def step_ref():
        ref.zero_grad()
        x_ref.grad = None
        ref(x_ref).sum().backward()

    step_ours()
    step_ref()
    t_ours, t_ref = [], []
    for _ in range(repeats):
        t_ours.append(_timed(step_ours))
        t_ref.append(_timed(step_ref))
    return statistics.median(t_ours), statistics.median(t_ref)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--plot", default=None, help="write a PNG of step time against T")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--nhead", type=int, default=4)
    p.add_argument("--ff", type=int, default=256)
    args = p.parse_args(argv)
    lengths = [64, 256] if args.quick else [64, 128, 256, 512, 1024]
    repeats = 3 if args.quick else 5
    import torch
    torch.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))     # the same thread count on both sides
    print(f"# TransformerEncoderLayer training step against T (float32, B={args.batch}, d_model={args.d_model}, "
          f"nhead={args.nhead}, dim_feedforward={args.ff}, median of {repeats})\n")
    print(f"{platform.platform()}, NumPy {np.__version__}, torch {torch.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']} (torch threads the same), "
          f"OPENBLAS_THREAD_TIMEOUT={os.environ['OPENBLAS_THREAD_TIMEOUT']}\n")
    print("| T | ours ms | PyTorch ms | ours / PyTorch |")
    print("| ---: | ---: | ---: | ---: |")
    rows = []
    for T in lengths:
        a, b = bench_length(T, args.batch, args.d_model, args.nhead, args.ff, repeats)
        rows.append((T, a, b))
        print(f"| {T} | {a:.1f} | {b:.1f} | {a / b:.2f} |", flush=True)
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        Ts = [r[0] for r in rows]
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.loglog(Ts, [r[1] for r in rows], "o-", label="tinygrad_rnn")
        ax.loglog(Ts, [r[2] for r in rows], "s-", label="PyTorch")
        from matplotlib.ticker import NullLocator
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(Ts, [str(T) for T in Ts])                      # the lengths measured, written out
        ax.set_xlabel("sequence length T")
        ax.set_ylabel("training step (ms)")
        ax.set_title(f"TransformerEncoderLayer({args.d_model}, {args.nhead}, {args.ff}), batch {args.batch}",
                     fontsize=9)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
