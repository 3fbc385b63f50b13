"""Matplotlib figures of the experiments: metric against T, gradient norms through time, hidden states.

matplotlib is imported inside each function (with the file-only ``Agg`` backend unless a backend was
chosen already), so ``import tinygrad_rnn`` never needs it. Every function takes plain data (lists,
NumPy arrays, the result records the experiments write) and a path, writes the figure and returns the
path.
"""

from __future__ import annotations

import os

import numpy as np

COLORS = {"rnn": "#d62728", "gru": "#2ca02c", "lstm": "#1f77b4"}
NAMES = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}
INSTALL = "plots need matplotlib: pip install 'tinygrad-rnn[viz]' (or pip install matplotlib)"


def _plt():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(INSTALL) from e
    if "matplotlib.pyplot" not in __import__("sys").modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str) -> str:
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    __import__("matplotlib.pyplot").pyplot.close(fig)
    return os.fspath(path)


def metric_vs_length(runs: list, path: str, task: str, title: str | None = None) -> str:
    """Final test metric against sequence length, one line (median) and dots (seeds) per cell.

    ``runs``: result records with keys ``task, cell, T, metric, success``. Memory: accuracy with the
    chance level 1/K dashed; adding: MSE (log scale) with the mean predictor's 1/6 and the 0.01
    success threshold dashed.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    runs = [r for r in runs if r["task"] == task]
    for cell in ("rnn", "gru", "lstm"):
        rs = [r for r in runs if r["cell"] == cell]
        if not rs:
            continue
        Ts = sorted({r["T"] for r in rs})
        med = [np.median([r["metric"] for r in rs if r["T"] == T]) for T in Ts]
        ax.plot(Ts, med, "-o", color=COLORS[cell], label=NAMES[cell], lw=2)
        jitter = {"rnn": -0.6, "gru": 0.0, "lstm": 0.6}[cell]
        ax.scatter([r["T"] + jitter for r in rs], [r["metric"] for r in rs], color=COLORS[cell], alpha=0.35, s=14)
    if task == "memory":
        k = runs[0].get("K") if runs else None
        if k:
            ax.axhline(1.0 / k, ls="--", color="gray", lw=1, label=f"chance 1/{k}")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1.05)
    else:
        ax.axhline(1 / 6, ls="--", color="gray", lw=1, label="predict the mean (1/6)")
        ax.axhline(0.01, ls=":", color="black", lw=1, label="solved (< 0.01)")
        ax.set_yscale("log")
        ax.set_ylabel("test MSE")
    ax.set_xlabel("sequence length T")
    ax.set_title(title or f"{task}: final metric against T (dots: seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def grad_norms_vs_step(curves: dict, path: str, title: str | None = None, ylabel: str = "‖∂L/∂h_t‖",
                       styles: dict | None = None) -> str:
    """Gradient norm against time step on a log scale, one line per named curve.

    ``curves``: label -> sequence of norms for t = 1..T (a label starting with a cell name takes its
    colour); ``styles``: label -> matplotlib keyword arguments.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for label, ys in curves.items():
        ys = np.asarray(ys, dtype=np.float64)
        kw = dict((styles or {}).get(label, {}))
        cell = label.split()[0].lower()
        if "color" not in kw and cell in COLORS:
            kw["color"] = COLORS[cell]
        t = np.arange(1, len(ys) + 1)
        ax.semilogy(t, np.where(ys > 0, ys, np.nan), label=label, **kw)
    ax.set_xlabel("time step t")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "gradient norm through time")
    if len(curves) > 6:                                   # many curves: the legend goes beside the axes
        ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    else:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def hidden_heatmaps(panels: dict, path: str, title: str | None = None, max_units: int = 32) -> str:
    """Heatmaps of hidden states (units × time), one panel per label.

    ``panels``: label -> ``(T, H)`` array (e.g. ``trace.h[0, 0, :, 0]``); at most ``max_units`` units
    are drawn.
    """
    plt = _plt()
    n = len(panels)
    fig, axes = plt.subplots(n, 1, figsize=(7, 1.7 * n + 0.6), squeeze=False)
    im = None
    for ax, (label, a) in zip(axes[:, 0], panels.items()):
        a = np.asarray(a, dtype=np.float64)[:, :max_units]
        lim = max(1e-12, float(np.abs(a).max()))
        im = ax.imshow(a.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                       extent=(0.5, a.shape[0] + 0.5, a.shape[1] - 0.5, -0.5))
        ax.set_ylabel(label, fontsize=8)
        ax.set_yticks([])
    axes[-1, 0].set_xlabel("time step t")
    if title:
        axes[0, 0].set_title(title)
    if im is not None:
        fig.colorbar(im, ax=axes[:, 0].tolist(), fraction=0.025, pad=0.01)
    return _save(fig, path)


def loss_curves(curves: dict, path: str, title: str | None = None, ylabel: str = "training loss",
                log: bool = True) -> str:
    """Training curves: label -> list of ``[step, value]`` pairs."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, pts in curves.items():
        pts = np.asarray(pts, dtype=np.float64)
        cell = label.split()[0].lower()
        ax.plot(pts[:, 0], pts[:, 1], label=label, color=COLORS.get(cell))
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "training")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def line_plot(series: dict, path: str, xlabel: str, ylabel: str, title: str | None = None, log: bool = False,
              x=None) -> str:
    """Generic lines: label -> y values (or ``(x, y)`` pairs); ``x`` shared when given."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, ys in series.items():
        if isinstance(ys, tuple):
            ax.plot(ys[0], ys[1], label=label)
        else:
            ax.plot(np.arange(len(ys)) if x is None else x, ys, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def attention_heatmap(weights, path: str, x_labels=None, y_labels=None, title: str | None = None) -> str:
    """An attention matrix (output steps × input steps) as a heatmap."""
    plt = _plt()
    w = np.asarray(weights, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(0.35 * w.shape[1] + 2, 0.35 * w.shape[0] + 1.5))
    ax.imshow(w, cmap="viridis", aspect="auto", vmin=0, vmax=max(1e-12, float(w.max())))
    if x_labels is not None:
        ax.set_xticks(range(len(x_labels)), [str(v) for v in x_labels], fontsize=7)
    if y_labels is not None:
        ax.set_yticks(range(len(y_labels)), [str(v) for v in y_labels], fontsize=7)
    ax.set_xlabel("input step")
    ax.set_ylabel("output step")
    if title:
        ax.set_title(title)
    return _save(fig, path)
