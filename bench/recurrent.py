"""Benchmark the fused recurrent layers against PyTorch, in the same process, interleaved.

    python bench/recurrent.py                    # CPU, all configurations, markdown table on stdout
    python bench/recurrent.py --quick            # fewer repeats and configurations
    python bench/recurrent.py --device cuda      # GPU (TF32 off on both sides; adds a large config and
                                                 # PyTorch with cuDNN disabled as a second reference)

A training step is forward over the whole sequence, a loss (sum of the outputs), and backward; float32.
Forward-only is timed under ``no_grad``. Each repeat times ours then PyTorch's, so both see the same
machine state; the table reports medians and the ratio ours / PyTorch (below 1: we are faster).

Each side is timed as if it ran alone: OpenBLAS's idle worker threads busy-wait for 2^28 cycles (about
0.1 s) by default, and PyTorch's OpenMP workers spin briefly too, so a call timed right after the other
library's would share the cores with its spinning threads (on 2 cores this made PyTorch look up to 2x
slower). The script therefore caps OpenBLAS's spin at 2^20 cycles (``OPENBLAS_THREAD_TIMEOUT=20``, set
before NumPy loads; an explicit setting in the environment wins; it does not change our own times) and
waits ``SETTLE_S`` before each timed call (not timed).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("CUPY_TF32", "0")                 # no TF32 in CuPy's GEMMs (float32 is float32)
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")   # idle OpenBLAS threads stop spinning soon (see above)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import tinygrad_rnn as tr  # noqa: E402

CONFIGS = [  # (label, T, B, I, H, num_layers, bidirectional)
    ("(100, 32, 64, 256)", 100, 32, 64, 256, 1, False),
    ("(50, 64, 128, 512)", 50, 64, 128, 512, 1, False),
    ("(200, 16, 32, 128)", 200, 16, 32, 128, 1, False),
    ("2-layer bidir (100, 32, 64, 256)", 100, 32, 64, 256, 2, True),
]
LARGE = ("(100, 128, 512, 1024)", 100, 128, 512, 1024, 1, False)
MODELS = ("LSTM", "GRU", "RNN")
SETTLE_S = 0.02        # idle time before each timed call, so the other library's worker threads are asleep


def _sync(device: str) -> None:
    if device == "cuda":
        import cupy
        import torch
        cupy.cuda.Device().synchronize()
        torch.cuda.synchronize()


def _timed(fn, device: str) -> float:
    _sync(device)
    time.sleep(SETTLE_S)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return (time.perf_counter() - t0) * 1e3


def bench_one(model: str, cfg, device: str, repeats: int, cudnn_off: bool) -> dict:
    import torch

    _, T, B, I, H, L, bidir = cfg
    ours = getattr(tr.nn, model)(I, H, num_layers=L, bidirectional=bidir, device=device)
    theirs = getattr(torch.nn, model)(I, H, num_layers=L, bidirectional=bidir).to(device)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    x_np = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    x_ours = tr.tensor(x_np, device=device)
    x_theirs = torch.from_numpy(x_np).to(device)

    def ours_train():
        ours.zero_grad()
        out, _ = ours(x_ours)
        out.sum().backward()

    def theirs_train():
        theirs.zero_grad()
        out, _ = theirs(x_theirs)
        out.sum().backward()

    def ours_fwd():
        with tr.no_grad():
            ours(x_ours)

    def theirs_fwd():
        with torch.no_grad():
            theirs(x_theirs)

    pairs = {"train": (ours_train, theirs_train), "fwd": (ours_fwd, theirs_fwd)}
    times = {f"{k}_{who}": [] for k in pairs for who in ("ours", "torch", "nocudnn")}
    for fn_o, fn_t in pairs.values():             # warm-up (allocators, kernel compilation, oneDNN primitives)
        fn_o()
        fn_t()
    for _ in range(repeats):
        for kind, (fn_o, fn_t) in pairs.items():
            times[f"{kind}_ours"].append(_timed(fn_o, device))
            times[f"{kind}_torch"].append(_timed(fn_t, device))
            if cudnn_off:
                with torch.backends.cudnn.flags(enabled=False):
                    times[f"{kind}_nocudnn"].append(_timed(fn_t, device))
    return {k: statistics.median(v) for k, v in times.items() if v}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--quick", action="store_true", help="3 repeats, first two configurations")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per configuration (default 10)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of LSTM,GRU,RNN")
    args = ap.parse_args(argv)

    import torch

    repeats = args.repeats or (3 if args.quick else 10)
    configs = CONFIGS[:2] if args.quick else list(CONFIGS)
    cuda = args.device == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        configs.append(LARGE)
        # warm CuPy's kernel cache once outside the timings
        tr.nn.LSTM(4, 4, device="cuda")(tr.randn(2, 2, 4, device="cuda"))[0].sum().backward()

    print(f"# Recurrent layers vs PyTorch {torch.__version__} ({args.device}, float32, {repeats} repeats, medians)\n")
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}; NumPy {np.__version__}. Command: `python bench/recurrent.py "
          f"{' '.join(argv if argv is not None else sys.argv[1:])}`; "
          f"OPENBLAS_THREAD_TIMEOUT={os.environ['OPENBLAS_THREAD_TIMEOUT']}, settle {SETTLE_S} s\n")
    head = ("| model | config (T, B, I, H) | train ours ms | train torch ms | ratio | fwd ours ms | fwd torch ms "
            "| ratio |")
    sep = "|---|---|---:|---:|---:|---:|---:|---:|"
    if cuda:
        head += " train torch no-cuDNN ms | ratio | fwd torch no-cuDNN ms | ratio |"
        sep += "---:|---:|---:|---:|"
    print(head)
    print(sep)
    for model in args.models.split(","):
        for cfg in configs:
            if cfg[6] and model != "LSTM":          # the bidirectional stack is measured for the LSTM
                continue
            r = bench_one(model, cfg, args.device, repeats, cuda)
            row = (f"| {model} | {cfg[0]} | {r['train_ours']:.1f} | {r['train_torch']:.1f} | "
                   f"{r['train_ours'] / r['train_torch']:.2f} | {r['fwd_ours']:.1f} | {r['fwd_torch']:.1f} | "
                   f"{r['fwd_ours'] / r['fwd_torch']:.2f} |")
            if cuda:
                row += (f" {r['train_nocudnn']:.1f} | {r['train_ours'] / r['train_nocudnn']:.2f} | "
                        f"{r['fwd_nocudnn']:.1f} | {r['fwd_ours'] / r['fwd_nocudnn']:.2f} |")
            print(row, flush=True)


if __name__ == "__main__":
    main()
