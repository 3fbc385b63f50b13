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


def legend_beside(ax) -> None:
    """The legend to the right of the axes (it never covers a curve); ``_save`` keeps it in the picture."""
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")


def metric_vs_length(runs: list, path: str, task: str, title: str | None = None) -> str:
    """Test metric after training against sequence length: one line (median over seeds) and one dot
    per seed for each cell; a filled dot is a run that met the task's success rule, a hollow one did not.

    ``runs``: result records with keys ``task, cell, T, metric, success``. The lengths are evenly spaced
    categories on the x-axis (one tick per T that was run, so a single T is one column, not a range).
    Memory: accuracy, with the chance level 1/K and the 95 % success threshold dashed. Adding: MSE (log
    scale) with the mean predictor's 1/6 dashed; success needs MSE < 0.01 *and* ≥ 90 % of the test
    sequences within 0.04, so it is shown by the dots' fill, not by a line.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    runs = [r for r in runs if r["task"] == task]
    Ts = sorted({r["T"] for r in runs})
    pos = {T: i for i, T in enumerate(Ts)}
    cells = list(dict.fromkeys(r["cell"] for r in runs))
    width = 0.5 / max(1, len(cells))
    for j, cell in enumerate(cells):
        rs = [r for r in runs if r["cell"] == cell]
        color = COLORS.get(cell, f"C{j + 3}")
        cell_Ts = sorted({r["T"] for r in rs})
        med = [np.median([r["metric"] for r in rs if r["T"] == T]) for T in cell_Ts]
        shift = (j - (len(cells) - 1) / 2) * width
        ax.plot([pos[T] + shift for T in cell_Ts], med, "-o", color=color, label=f"{NAMES.get(cell, cell)} (median)",
                lw=2, ms=4)
        for ok in (True, False):
            sel = [r for r in rs if bool(r["success"]) == ok]
            if sel:
                ax.scatter([pos[r["T"]] + shift for r in sel], [r["metric"] for r in sel], s=22, zorder=3,
                           facecolors=color if ok else "none", edgecolors=color, alpha=0.8, linewidths=1)
    ax.scatter([], [], s=22, facecolors="gray", edgecolors="gray", label="seed: solved")
    ax.scatter([], [], s=22, facecolors="none", edgecolors="gray", label="seed: not solved")
    if task == "memory":
        k = runs[0].get("K") if runs else None
        if k:
            ax.axhline(1.0 / k, ls="--", color="gray", lw=1, label=f"chance 1/{k}")
        ax.axhline(0.95, ls=":", color="black", lw=1, label="success: accuracy ≥ 0.95")
        ax.set_ylabel("test accuracy after training")
        ax.set_ylim(0, 1.05)
    else:
        ax.axhline(1 / 6, ls="--", color="gray", lw=1, label="predict the mean (1/6)")
        ax.set_yscale("log")
        ax.set_ylabel("test MSE after training")
    ax.set_xticks(range(len(Ts)), [str(T) for T in Ts])
    ax.set_xlim(-0.6, len(Ts) - 0.4)
    ax.set_xlabel("sequence length T")
    rule = ("solved: accuracy ≥ 0.95" if task == "memory" else
            "solved: MSE < 0.01 and ≥ 90 % within 0.04")
    ax.set_title(title or f"{task}: test {'accuracy' if task == 'memory' else 'MSE'} after training\n"
                          f"(line: median over seeds; dots: seeds, filled = {rule})", fontsize=10)
    legend_beside(ax)
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
        legend_beside(ax)
    else:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def hidden_heatmaps(panels: dict, path: str, title: str | None = None, max_units: int = 32,
                    ranges: dict | None = None, marks: dict | None = None) -> str:
    """Heatmaps of hidden states (units × time), one panel per label, each with its own colour bar.

    ``panels``: label -> ``(T, H)`` array (e.g. ``trace.h[0, 0, :, 0]``); at most ``max_units`` units
    are drawn (rows, numbered from 1). ``ranges``: label -> ``(vmin, vmax)``; a panel without one whose
    values lie in ``[0, 1]`` (a gate) gets ``0..1`` on a sequential colour map, any other panel a
    diverging map symmetric about 0 (``-1..1`` when its values lie there, as ``tanh`` states do).
    ``marks``: time step -> text, drawn as a vertical line on every panel (e.g. ``{1: "cue", T: "recall"}``).
    """
    plt = _plt()
    n = len(panels)
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 1.9 * n + 0.7), squeeze=False)
    for i, (ax, (label, a)) in enumerate(zip(axes[:, 0], panels.items())):
        a = np.asarray(a, dtype=np.float64)[:, :max_units]
        lo, hi = float(a.min()), float(a.max())
        if ranges and label in ranges:
            vmin, vmax = ranges[label]
            cmap = "viridis" if vmin >= 0 else "RdBu_r"
        elif lo >= 0 and hi <= 1:
            vmin, vmax, cmap = 0.0, 1.0, "viridis"
        else:
            lim = 1.0 if max(abs(lo), abs(hi)) <= 1 else max(abs(lo), abs(hi))
            vmin, vmax, cmap = -lim, lim, "RdBu_r"
        im = ax.imshow(a.T, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                       extent=(0.5, a.shape[0] + 0.5, a.shape[1] + 0.5, 0.5))
        ax.set_title(label, fontsize=9, loc="left")
        ax.set_ylabel("unit", fontsize=8)
        ticks = sorted({1, a.shape[1]} | set(range(8, a.shape[1] + 1, 8)))
        ax.set_yticks(ticks)
        ax.tick_params(labelsize=7)
        for t, text in (marks or {}).items():
            ax.axvline(t, color="black", lw=1.2, ls="--")
            if i == 0:
                left = t < a.shape[0] / 2
                ax.annotate(text, (t, 0.5), xycoords=("data", "axes fraction"), xytext=(3 if left else -3, 0),
                            textcoords="offset points", fontsize=7, rotation=90, va="center",
                            ha="left" if left else "right",
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
        cb = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
        cb.ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("time step t")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
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
