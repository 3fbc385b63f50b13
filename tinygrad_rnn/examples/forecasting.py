"""Forecasting a real time series: a neuron's membrane potential, 25 steps ahead, with an LSTM.

The series is the membrane-potential recording that matplotlib ships as sample data
(``membrane.dat``, 12,000 float32 samples of a spiking neuron under a current step). It is averaged
over blocks of 4 samples (3,000 points), normalised with the training part's mean and std, and split
in time: the first three quarters of the regular spiking regime train, the rest of that regime tests
(after it the neuron fires irregularly — another regime, left out). From a window of the last
``--context`` values the model predicts the next ``--horizon`` values at once:

    h_T = LSTM(x_{t-C+1..t});   (x̂_{t+1}, ..., x̂_{t+H}) = W h_T + b

Two baselines put the error in context: *persistence* (every future value equals the last one seen)
and the *training mean*. The error is reported per horizon on every test window.

    python examples/forecasting.py [--quick] [--device cuda] [--steps 1500]

Writes ``forecasting.png`` (a test forecast and the error against the horizon) and
``forecasting.json`` into ``--out``.
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


def load_membrane() -> np.ndarray:
    """matplotlib's membrane-potential sample, block-averaged by 4 (3,000 points)."""
    try:
        from matplotlib import cbook
    except ImportError:
        raise SystemExit("forecasting: error: the data ships with matplotlib: pip install matplotlib") from None
    path = cbook.get_sample_data("membrane.dat", asfileobj=False)
    x = np.fromfile(path, dtype=np.float32).astype(np.float64)
    return x[: len(x) // 4 * 4].reshape(-1, 4).mean(1)


class Forecaster(tr.nn.Module):
    def __init__(self, hidden: int, horizon: int, device=None) -> None:
        super().__init__()
        self.lstm = tr.nn.LSTM(1, hidden, device=device)
        self.head = tr.nn.Linear(hidden, horizon, device=device)

    def forward(self, x):                         # x (C, B, 1) -> (B, horizon)
        out, _ = self.lstm(x)
        return self.head(out[-1])


def make_windows(series: np.ndarray, starts: np.ndarray, C: int, H: int):
    idx = starts[:, None] + np.arange(C + H)[None, :]
    w = series[idx]                                                   # (B, C + H)
    return w[:, :C].T[:, :, None].astype(np.float32), w[:, C:].astype(np.float32)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--steps", type=int, default=1500, help="Adam steps. Default: 1500")
    p.add_argument("--context", type=int, default=100, help="values the model reads. Default: 100")
    p.add_argument("--horizon", type=int, default=25, help="values it predicts. Default: 25")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/examples", help="folder for forecasting.png and .json")
    p.add_argument("--quick", action="store_true", help="a few steps only, to check the setup")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.hidden = 15, 16
    os.makedirs(args.out, exist_ok=True)
    C, H = args.context, args.horizon

    raw = load_membrane()
    # regular spiking runs from ~250 to ~1790 (then it turns irregular, and the current step ends at ~2740):
    # train on its first three quarters, test on the rest of the same regime
    train_end, test_end = 1400, 1790
    mu, sd = raw[250:train_end].mean(), raw[250:train_end].std()
    series = (raw - mu) / sd
    train_starts = np.arange(250, train_end - C - H)
    test_starts = np.arange(train_end - C, test_end - C - H)           # targets all in the test part
    print(f"membrane potential: {len(raw)} points; train windows {len(train_starts)}, test windows "
          f"{len(test_starts)}; context {C}, horizon {H}")

    tr.manual_seed(args.seed)
    model = Forecaster(args.hidden, H, device=args.device)
    opt = tr.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    curve = []
    bar = progress_bar(args.steps, "forecasting", not args.no_progress)
    t0 = time.perf_counter()
    for step in range(args.steps):
        xb, yb = make_windows(series, rng.choice(train_starts, args.batch), C, H)
        loss = tr.nn.functional.mse_loss(model(tr.tensor(xb, device=args.device)), tr.tensor(yb, device=args.device))
        opt.zero_grad()
        loss.backward()
        tr.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        curve.append([step, float(loss.item())])
        bar.set_postfix_str(f"mse {curve[-1][1]:.4f}")
        bar.update()
    bar.close()
    seconds = time.perf_counter() - t0

    xt, yt = make_windows(series, test_starts, C, H)
    with tr.no_grad():
        pred = model(tr.tensor(xt, device=args.device)).numpy().astype(np.float64)
    yt = yt.astype(np.float64)
    mse_model = ((pred - yt) ** 2).mean(0)
    mse_persist = ((xt[-1, :, 0][:, None] - yt) ** 2).mean(0)
    mse_mean = (yt ** 2).mean(0)                                      # training mean is 0 after normalising
    result = {"steps": args.steps, "hidden": args.hidden, "context": C, "horizon": H, "lr": args.lr,
              "seed": args.seed, "device": args.device, "seconds": seconds,
              "test_mse_model": float(mse_model.mean()), "test_mse_persistence": float(mse_persist.mean()),
              "test_mse_mean": float(mse_mean.mean()), "mse_by_horizon_model": mse_model.tolist(),
              "mse_by_horizon_persistence": mse_persist.tolist(), "train_curve": curve[::max(1, args.steps // 100)]}
    print(f"test MSE (normalised units), averaged over the {H} horizons: LSTM {result['test_mse_model']:.4f}, "
          f"persistence {result['test_mse_persistence']:.4f}, training mean {result['test_mse_mean']:.4f} "
          f"({args.steps} steps in {seconds:.0f} s)")
    print(f"at horizon 1: LSTM {mse_model[0]:.4f} vs persistence {mse_persist[0]:.4f}; at horizon {H}: "
          f"LSTM {mse_model[-1]:.4f} vs persistence {mse_persist[-1]:.4f}")
    with open(os.path.join(args.out, "forecasting.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    path = _figure(series, test_starts, pred, C, H, mse_model, mse_persist, args.out)
    print(f"wrote {path}")
    return 0


def _figure(series, test_starts, pred, C, H, mse_model, mse_persist, out) -> str:
    from tinygrad_rnn.app.plots import _plt, _save
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.5), gridspec_kw={"width_ratios": [2, 1]})
    k = len(test_starts) // 3
    s = test_starts[k]
    t = np.arange(s, s + C + H)
    a.plot(t, series[s:s + C + H], color="gray", label="recording")
    a.plot(t[C:], pred[k], color="#1f77b4", lw=2, label="LSTM forecast")
    a.plot(t[C:], np.full(H, series[s + C - 1]), color="#d62728", ls="--", label="persistence")
    a.axvline(s + C - 0.5, color="black", lw=0.8)
    a.set_xlabel("time step (4 samples each)")
    a.set_ylabel("membrane potential (normalised)")
    a.legend(fontsize=8)
    b.plot(np.arange(1, H + 1), mse_model, "-o", ms=3, label="LSTM")
    b.plot(np.arange(1, H + 1), mse_persist, "-o", ms=3, color="#d62728", label="persistence")
    b.set_xlabel("horizon")
    b.set_ylabel("test MSE")
    b.legend(fontsize=8)
    b.grid(alpha=0.3)
    return _save(fig, os.path.join(out, "forecasting.png"))


if __name__ == "__main__":
    sys.exit(main())
