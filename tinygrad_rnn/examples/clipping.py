"""Gradient clipping on an exploding RNN: the same training run with and without ``clip_grad_norm_``.

A vanilla tanh RNN starts with ``W_hh = ρ·Q`` (Q orthogonal, ρ = 1.5 > 1): a perturbation of the
state can grow by up to ρ per step, and so can the gradient flowing back through time
(``‖∂L/∂h_t‖ ≤ ‖∂L/∂h_T‖ ∏ σ_max(J_k)``, ``σ_max(J_k) ≤ ρ``). It is trained by plain SGD on the
adding problem. Without clipping, the first steep region of the loss sends one enormous update and
the weights never recover (the loss becomes inf/NaN). With ``clip_grad_norm_(params, 1.0)`` the
update direction is kept and its length capped (Pascanu, Mikolov & Bengio 2013):

    g ← g · min(1, max_norm / ‖g‖)

``clip_grad_norm_`` returns the norm *before* clipping, which is what the plot shows.

    python examples/clipping.py [--quick] [--device cuda] [--steps 300]

Writes ``clipping.png`` (gradient norm and loss per step, both runs) and ``clipping.json`` into ``--out``.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")      # small GEMMs lose time to BLAS threads on shared cores

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))   # run from a checkout

import tinygrad_rnn as tr  # noqa: E402
from tinygrad_rnn.app.experiments import SequenceModel, orthogonal, progress_bar  # noqa: E402


def train(clip: float | None, args) -> dict:
    tr.manual_seed(args.seed)
    model = SequenceModel("rnn", 2, args.hidden, 1, device=args.device)
    with tr.no_grad():
        w = (args.rho * orthogonal(args.hidden, args.seed + 1)).astype(np.float32)
        model.rnn.weight_hh_l0.copy_(tr.tensor(w, device=args.device))
    params = list(model.parameters())
    opt = tr.optim.SGD(params, lr=args.lr)
    norms, losses = [], []
    name = "clip 1.0" if clip else "no clipping"
    bar = progress_bar(args.steps, name, not args.no_progress)
    for step in range(args.steps):
        x, y = tr.tasks.adding_problem(args.T, args.batch, seed=args.seed * 100_003 + step, device=args.device)
        loss = tr.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        norm = tr.nn.utils.clip_grad_norm_(params, clip if clip else math.inf)
        opt.step()
        norms.append(float(norm))
        losses.append(float(loss.item()))
        bar.set_postfix_str(f"loss {losses[-1]:.3g} ‖g‖ {norms[-1]:.3g}")
        bar.update()
    bar.close()
    finite = [v for v in losses if math.isfinite(v)]
    first_bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    return {"clip": clip, "grad_norms": norms, "losses": losses, "max_grad_norm": max(norms),
            "median_grad_norm": float(np.median([v for v in norms if math.isfinite(v)] or [math.nan])),
            "diverged_at_step": first_bad,
            "final_loss": losses[-1] if math.isfinite(losses[-1]) else None,
            "mean_loss_last_50": float(np.mean(losses[-50:])) if first_bad is None else None,
            "max_finite_loss": max(finite) if finite else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--steps", type=int, default=300, help="SGD steps per run. Default: 300")
    p.add_argument("--rho", type=float, default=1.5, help="spectral radius of W_hh at init. Default: 1.5")
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate. Default: 0.1")
    p.add_argument("--T", type=int, default=30, help="sequence length of the adding problem. Default: 30")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/examples", help="folder for clipping.png and .json")
    p.add_argument("--quick", action="store_true", help="a few steps only, to check the setup")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps = 20
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):
        runs = [train(None, args), train(1.0, args)]
    for r in runs:
        what = (f"diverged (loss inf/NaN) at step {r['diverged_at_step']}" if r["diverged_at_step"] is not None
                else f"mean loss over the last 50 steps {r['mean_loss_last_50']:.4f}")
        print(f"{'clip 1.0' if r['clip'] else 'no clipping'}: largest gradient norm {r['max_grad_norm']:.3g}, "
              f"median {r['median_grad_norm']:.3g}; {what}")
    result = {"rho": args.rho, "lr": args.lr, "T": args.T, "hidden": args.hidden, "steps": args.steps,
              "seed": args.seed, "device": args.device, "seconds": time.perf_counter() - t0, "runs": runs}
    with open(os.path.join(args.out, "clipping.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {_figure(runs, args)}")
    return 0


def _figure(runs, args) -> str:
    from tinygrad_rnn.app.plots import _plt, _save
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.5))
    for r, color in zip(runs, ("#d62728", "#1f77b4")):
        label = "clip_grad_norm_(…, 1.0)" if r["clip"] else "no clipping"
        g = np.array(r["grad_norms"], dtype=np.float64)
        loss = np.array(r["losses"], dtype=np.float64)
        a.semilogy(np.where(np.isfinite(g), g, np.nan), color=color, label=label, lw=1)
        b.semilogy(np.where(np.isfinite(loss), loss, np.nan), color=color, label=label, lw=1)
        if r["diverged_at_step"] is not None:
            for ax in (a, b):
                ax.axvline(r["diverged_at_step"], color=color, ls=":", lw=1)
    a.set_title(f"gradient norm before clipping (ρ(W_hh) = {args.rho:g}, SGD lr {args.lr:g})")
    a.set_xlabel("step")
    b.axhline(1 / 6, color="gray", ls="--", lw=1, label="predict the mean (1/6)")
    b.set_title(f"training loss, adding problem T={args.T}")
    b.set_xlabel("step")
    for ax in (a, b):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _save(fig, os.path.join(args.out, "clipping.png"))


if __name__ == "__main__":
    sys.exit(main())
