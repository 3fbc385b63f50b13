"""A bidirectional LSTM on a task that needs the future: marking the local maxima of a sequence.

Each input is a sequence of values ``x_t ~ U[0, 1]``; the label of step t is 1 when ``x_t`` is larger
than both neighbours (``x_{t-1}`` and ``x_{t+1}``; only the existing one at the ends). A model that
reads left to right must label step t before it sees ``x_{t+1}``: the best it can do is to say 1 when
``x_t > x_{t-1}`` and ``x_t > ½`` (then ``P(x_{t+1} < x_t) = x_t > ½``) — that rule's accuracy on the
test set is printed as the ceiling of any causal model. A bidirectional layer runs a second LSTM from
right to left and concatenates both states at every step, ``[h→_t ; h←_t]``, so it sees ``x_{t+1}``
and can be exact:

    h→_t = LSTM→(x_t, h→_{t-1});   h←_t = LSTM←(x_t, h←_{t+1});   logit_t = W [h→_t ; h←_t] + b

Both models have about the same number of weights (one direction of 64 units against two of 40).

    python examples/bidirectional.py [--quick] [--device cuda] [--steps 600]

Writes ``bidirectional.png`` (test accuracy during training) and ``bidirectional.json`` into ``--out``.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")      # small GEMMs lose time to BLAS threads on shared cores

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))   # run from a checkout

import tinygrad_rnn as tr  # noqa: E402
from tinygrad_rnn.app.experiments import progress_bar  # noqa: E402


def local_maxima(T: int, B: int, seed: int):
    """Inputs ``(T, B, 1)`` and labels ``(T, B)`` (1.0 where ``x_t`` beats both neighbours)."""
    x = np.random.default_rng(seed).random((T, B))
    left = np.concatenate([np.full((1, B), -1.0), x[:-1]])
    right = np.concatenate([x[1:], np.full((1, B), -1.0)])
    y = ((x > left) & (x > right)).astype(np.float32)
    return x[..., None].astype(np.float32), y, left


class Tagger(tr.nn.Module):
    def __init__(self, hidden: int, bidirectional: bool, device=None) -> None:
        super().__init__()
        self.lstm = tr.nn.LSTM(1, hidden, bidirectional=bidirectional, device=device)
        self.head = tr.nn.Linear(hidden * (2 if bidirectional else 1), 1, device=device)

    def forward(self, x):                           # (T, B, 1) -> logits (T, B)
        out, _ = self.lstm(x)
        return self.head(out).squeeze(-1)


def accuracy(model, x, y, device) -> float:
    with tr.no_grad():
        logits = model(tr.tensor(x, device=device)).numpy()
    return float(((logits > 0) == (y > 0.5)).mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--steps", type=int, default=600, help="Adam steps per model. Default: 600")
    p.add_argument("--T", type=int, default=20, help="sequence length. Default: 20")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/examples", help="folder for bidirectional.png and .json")
    p.add_argument("--quick", action="store_true", help="a few steps only, to check the setup")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps = 15
    os.makedirs(args.out, exist_ok=True)

    x_test, y_test, left = local_maxima(args.T, 200 if args.quick else 2000, seed=10**6 + args.seed)
    causal = ((x_test[..., 0] > left) & (x_test[..., 0] > 0.5))
    causal[-1] = x_test[-1, :, 0] > left[-1]          # the last step has no right neighbour: exact
    causal_ceiling = float((causal == (y_test > 0.5)).mean())
    print(f"local maxima, T={args.T}: {y_test.mean():.1%} of steps are maxima; the best causal rule scores "
          f"{causal_ceiling:.1%}")

    result = {"T": args.T, "steps": args.steps, "lr": args.lr, "seed": args.seed, "device": args.device,
              "causal_ceiling": causal_ceiling, "models": {}}
    curves = {}
    for name, hidden, bidir in (("unidirectional LSTM (64)", 64, False), ("bidirectional LSTM (2 × 40)", 40, True)):
        tr.manual_seed(args.seed)
        model = Tagger(hidden, bidir, device=args.device)
        n_params = sum(q.numel() for q in model.parameters())
        opt = tr.optim.Adam(model.parameters(), lr=args.lr)
        curve = []
        bar = progress_bar(args.steps, name.split(" (")[0], not args.no_progress)
        t0 = time.perf_counter()
        for step in range(args.steps):
            xb, yb, _ = local_maxima(args.T, args.batch, seed=args.seed * 100_003 + step)
            logits = model(tr.tensor(xb, device=args.device))
            loss = tr.nn.functional.binary_cross_entropy_with_logits(logits, tr.tensor(yb, device=args.device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % max(1, args.steps // 20) == 0 or step == args.steps - 1:
                curve.append([step, accuracy(model, x_test, y_test, args.device)])
                bar.set_postfix_str(f"test acc {curve[-1][1]:.3f}")
            bar.update()
        bar.close()
        acc = curve[-1][1]
        result["models"][name] = {"parameters": int(n_params), "test_accuracy": acc,
                                  "seconds": time.perf_counter() - t0, "curve": curve}
        curves[name] = curve
        print(f"{name}: {n_params} weights, test accuracy {acc:.1%}")
    with open(os.path.join(args.out, "bidirectional.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    from tinygrad_rnn.app import plots
    curves[f"best causal rule ({causal_ceiling:.1%})"] = [[0, causal_ceiling], [args.steps - 1, causal_ceiling]]
    path = plots.loss_curves(curves, os.path.join(args.out, "bidirectional.png"), ylabel="test accuracy", log=False,
                             title=f"local maxima of a sequence, T={args.T}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
