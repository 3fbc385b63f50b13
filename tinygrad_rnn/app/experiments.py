"""The experiments behind ``tinygrad-rnn demo``, ``memory``, ``adding`` and ``gradflow``.

Every run states its settings before it starts and writes its results incrementally (a JSON file
rewritten atomically after each finished training run), so an interrupted sweep keeps what it
computed. Seeds: run ``k`` of a sweep started with ``--seed s`` uses seed ``s + k`` for the weights
and draws every training batch from its own stream (``seed``, step), and every test batch from a
fixed stream per seed, so the same seed on the same device gives the same numbers.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np

from .. import nn, optim
from . import tasks
from ..nn.recurrent.kinds import get_kind
from ..analysis import grad_norms_through_time, hidden_trace, jacobian_spectrum
from ..autograd import no_grad
from ..random import manual_seed
from ..tensor import Tensor, tensor

CELLS = ("rnn", "gru", "lstm")
"""The built-in cells of the experiments, by short name (registry kinds ``rnn_tanh``, ``gru``, ``lstm``).
Any other cell is named ``module:Class`` (a cell class importable as ``module.Class``)."""
_KINDS = {"rnn": "rnn_tanh", "gru": "gru", "lstm": "lstm"}


def resolve_cell(name: str) -> tuple[type, dict]:
    """``(cell class, cell kwargs)`` for a short built-in name or ``"module:Class"``."""
    if not isinstance(name, str):
        raise TypeError(f"cell: expected a name such as 'lstm' or 'mypkg.cells:MyCell', got {type(name).__name__}")
    if name in _KINDS:
        kind = get_kind(_KINDS[name])
        return kind.cell, dict(kind.cell_kwargs)
    module, sep, attr = name.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"cell: expected one of {CELLS} or 'module:Class', got {name!r}")
    try:
        obj = importlib.import_module(module)
    except ImportError as e:
        raise ValueError(f"cell: cannot import module {module!r} of {name!r}: {e}") from e
    cls = getattr(obj, attr, None)
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise ValueError(f"cell: expected {attr!r} in module {module!r} to be a Module subclass (a cell "
                         f"class), got {cls!r:.80}")
    return cls, {}


def cell_title(name: str) -> str:
    """How tables name a cell: the kind's title for a built-in, the class name for ``module:Class``."""
    if name in _KINDS:
        return get_kind(_KINDS[name]).title
    return name.partition(":")[2] or name


class _Titles(dict):
    def __missing__(self, key):
        return cell_title(key)


CELL_NAMES = _Titles()
"""``CELL_NAMES[cell]``: :func:`cell_title` as a mapping."""


# --------------------------------------------------------------------------------------------------
# progress bars (tqdm when installed)


class _NoBar:
    """Stands in for a tqdm bar when tqdm is not installed (or bars are off)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def set_description(self, desc: str) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


class _LineBar(_NoBar):
    """Progress as plain lines on stderr (without tqdm): one line per tenth of the work, at most one
    every ``interval`` seconds, and one at the end."""

    def __init__(self, total: int, desc: str, interval: float = 10.0) -> None:
        self.total, self.desc, self.interval = max(1, int(total)), desc, interval
        self.n, self.postfix, self.t0 = 0, "", time.perf_counter()
        self.last_t, self.last_tenth = self.t0, 0

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def set_postfix_str(self, s: str) -> None:
        self.postfix = s

    def update(self, n: int = 1) -> None:
        self.n += n
        tenth = min(10, 10 * self.n // self.total)
        now = time.perf_counter()
        if tenth > self.last_tenth and (now - self.last_t >= self.interval or self.n >= self.total):
            self.last_tenth, self.last_t = tenth, now
            self._line()

    def _line(self) -> None:
        elapsed = time.perf_counter() - self.t0
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"  {self.desc}: {self.n}/{self.total} steps ({self.n / self.total:.0%}), {elapsed:.0f} s{extra}",
              file=sys.stderr, flush=True)


def have_tqdm() -> bool:
    """Whether tqdm is importable (progress bars); without it progress is printed as plain lines."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def progress_bar(total: int, desc: str, enabled: bool = True):
    """A tqdm progress bar on stderr; plain progress lines without tqdm; a silent stand-in when
    ``enabled`` is false."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _LineBar(total, desc)
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True, mininterval=0.5)


# --------------------------------------------------------------------------------------------------
# settings


@dataclass(frozen=True)
class TaskSettings:
    """Everything that defines one sweep; fixed before it runs and written into its results.

    Attributes:
        task: ``"memory"`` (recall the symbol of step 1 at step T) or ``"adding"`` (sum the two marked
            values).
        lengths: the sequence lengths T of the sweep.
        cells: which of ``"rnn"``, ``"gru"``, ``"lstm"``.
        seeds: how many seeds per (cell, T); seeds are ``seed, seed + 1, ...``.
        hidden_size, batch_size, steps, lr: model width, batch, Adam steps and learning rate.
        clip: max global gradient norm (``clip_grad_norm_``); ``0`` turns clipping off.
        forget_bias: the LSTM's forget-gate bias ``b_if + b_hf`` at initialisation (``b_if`` set to this,
            ``b_hf`` to 0); ``None`` keeps PyTorch's default initialisation.
        K: symbols of the memory task (chance accuracy 1/K).
        test_size: held-out sequences for the final metric.
    """

    task: str
    lengths: tuple
    cells: tuple = CELLS
    seeds: int = 3
    hidden_size: int = 32
    batch_size: int = 64
    steps: int = 1000
    lr: float = 1e-2
    clip: float = 1.0
    forget_bias: float | None = 1.0
    K: int = 4
    test_size: int = 500

    def describe(self) -> str:
        fb = "PyTorch default" if self.forget_bias is None else f"{self.forget_bias:g}"
        what = (f"memory task (K={self.K} symbols, chance {1 / self.K:.0%}, success: test accuracy >= "
                f"{MEMORY_SUCCESS:.0%})" if self.task == "memory" else
                "adding problem (success: test MSE < 0.01 and >= 90% of test sequences within 0.04; "
                "predicting the mean gives MSE 1/6)")
        return (f"{what}\n  T in {list(self.lengths)}, cells {', '.join(CELL_NAMES[c] for c in self.cells)}, "
                f"{self.seeds} seeds each, hidden size {self.hidden_size}, batch {self.batch_size}, "
                f"{self.steps} Adam steps at lr {self.lr:g}, gradient-norm clip {self.clip:g}, "
                f"LSTM forget-gate bias {fb}, {self.test_size} test sequences")


MEMORY_SUCCESS = 0.95          # test accuracy that counts as "remembered"
ADDING_MSE = 0.01              # Hochreiter & Schmidhuber's criterion for the adding problem
ADDING_TOL, ADDING_FRACTION = 0.04, 0.90

# The demo's settings, fixed in advance (see docs/memory_test.md for how they were chosen).
DEMO_MEMORY = TaskSettings("memory", lengths=(5, 20, 40), hidden_size=32, steps=1000, lr=1e-2, forget_bias=3.0)
DEMO_ADDING = TaskSettings("adding", lengths=(10, 25, 50), hidden_size=64, steps=2000, lr=1e-2, forget_bias=3.0)
QUICK_MEMORY = TaskSettings("memory", lengths=(5, 15), seeds=2, hidden_size=16, steps=60, test_size=200,
                            forget_bias=3.0)
QUICK_ADDING = TaskSettings("adding", lengths=(5, 15), seeds=2, hidden_size=16, steps=60, test_size=200,
                            forget_bias=3.0)


# --------------------------------------------------------------------------------------------------
# model and data


class SequenceModel(nn.Module):
    """A recurrent layer and a linear read-out of its last output: ``y = W h_T + b``.

    ``forward(x, unroll=False)`` takes ``(T, B, I)`` and returns ``(B, output_size)``.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, output_size: int,
                 forget_bias: float | None = None, device=None) -> None:
        super().__init__()
        cell_cls, kw = resolve_cell(cell)
        self.rnn = nn.Recurrent(cell_cls, input_size, hidden_size, device=device, **kw)
        self.head = nn.Linear(hidden_size, output_size, device=device)
        kind = self.rnn.kind
        if kind is not None and kind.name == "lstm" and forget_bias is not None:
            a, b = kind.gate_rows("f", hidden_size)
            with no_grad():
                self.rnn.bias_ih_l0[a:b] = forget_bias
                self.rnn.bias_hh_l0[a:b] = 0.0

    def forward(self, x: Tensor, unroll: bool = False) -> Tensor:
        out, _ = self.rnn(x, unroll=unroll)
        return self.head(out[-1])


def _batch(s: TaskSettings, T: int, n: int, seed: int, device):
    if s.task == "memory":
        return tasks.memory_signal(T, n, s.K, seed, device=device)
    return tasks.adding_problem(T, n, seed, device=device)


def _input_output(s: TaskSettings) -> tuple[int, int]:
    return (tasks.memory_input_size(s.K), s.K) if s.task == "memory" else (2, 1)


def _loss(s: TaskSettings, pred: Tensor, y: Tensor) -> Tensor:
    if s.task == "memory":
        return nn.functional.cross_entropy(pred, y)
    return nn.functional.mse_loss(pred, y)


def train_seed(seed: int, step: int) -> int:
    """The data seed of training batch ``step`` of the run seeded ``seed`` (disjoint from test seeds)."""
    return 1 + seed * 1_000_003 + step


def test_seed(seed: int) -> int:
    return 2**31 - 1 - seed


def evaluate(s: TaskSettings, model: SequenceModel, T: int, seed: int, device) -> dict:
    """Test metrics on ``s.test_size`` held-out sequences."""
    x, y = _batch(s, T, s.test_size, test_seed(seed), device)
    with no_grad():
        pred = model(x)
        loss = float(_loss(s, pred, y).item())
    p, t = pred.numpy(), y.numpy()
    if s.task == "memory":
        acc = float((p.argmax(1) == t).mean())
        return {"loss": loss, "accuracy": acc, "metric": acc, "success": acc >= MEMORY_SUCCESS}
    err = np.abs(p - t).ravel()
    mse = float((err ** 2).mean())
    within = float((err < ADDING_TOL).mean())
    return {"loss": loss, "mse": mse, "within_0.04": within, "metric": mse,
            "success": bool(mse < ADDING_MSE and within >= ADDING_FRACTION)}


def gradient_flow(s: TaskSettings, model: SequenceModel, T: int, seed: int, device) -> list:
    """``‖∂L/∂h_t‖`` for t = 1..T on a held-out batch (fused path), as a list."""
    x, y = _batch(s, T, min(s.test_size, 256), test_seed(seed), device)
    flow = grad_norms_through_time(model, x, lambda pred: _loss(s, pred, y))
    return flow.h[0, 0].tolist()


def train_run(s: TaskSettings, cell: str, T: int, seed: int, device="cpu", bar=None) -> tuple[dict, SequenceModel]:
    """Train one model from scratch; return its result record and the trained model."""
    t0 = time.perf_counter()
    manual_seed(seed)
    I, O = _input_output(s)
    model = SequenceModel(cell, I, s.hidden_size, O, forget_bias=s.forget_bias, device=device)
    params = list(model.parameters())
    opt = optim.Adam(params, lr=s.lr)
    grad_init = gradient_flow(s, model, T, seed, device)
    curve = []
    every = max(1, s.steps // 50)
    bar = bar or _NoBar()
    bar.set_description(f"{s.task} {CELL_NAMES[cell]} T={T} seed {seed}")
    running = None
    for step in range(s.steps):
        x, y = _batch(s, T, s.batch_size, train_seed(seed, step), device)
        loss = _loss(s, model(x), y)
        opt.zero_grad()
        loss.backward()
        if s.clip > 0:
            nn.utils.clip_grad_norm_(params, s.clip)
        opt.step()
        if step % every == 0 or step == s.steps - 1:
            value = float(loss.item())
            curve.append([step, value])
            running = value
            bar.set_postfix_str(f"loss {running:.4f}")
        bar.update(1)
    result = {"task": s.task, "cell": cell, "T": T, "seed": seed, **evaluate(s, model, T, seed, device),
              "grad_norms_init": grad_init, "grad_norms_final": gradient_flow(s, model, T, seed, device),
              "loss_curve": curve, "seconds": time.perf_counter() - t0}
    result["grad_h1_init"] = grad_init[0]
    result["grad_h1_final"] = result["grad_norms_final"][0]
    return result, model


# --------------------------------------------------------------------------------------------------
# results files


def write_json(path: str, obj) -> None:
    """Write JSON atomically (a temporary file in the same folder, then rename)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, allow_nan=True)
    os.replace(tmp, path)


class OutputFolderError(OSError):
    """The output folder cannot be used; the message says why and what to do."""


def ensure_folder(path: str) -> str:
    """Create ``path`` and check it is writable; raise :class:`OutputFolderError` (an ``OSError``) with
    a plain reason otherwise."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputFolderError(f"the output folder {path!r} is an existing file, not a folder: choose another "
                                f"--out")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise OutputFolderError(f"cannot create the output folder {path!r} ({e.strerror or e}): choose a "
                                f"writable folder with --out") from e
    probe = os.path.join(path, f".write_test{os.getpid()}")
    try:
        with open(probe, "w") as f:
            f.write("")
        os.remove(probe)
    except OSError as e:
        raise OutputFolderError(f"the output folder {path!r} is not writable ({e.strerror or e}): choose "
                                f"another --out") from e
    return path


@dataclass
class Sweep:
    """A task's sweep over cells, lengths and seeds, with its results written as they come.

    ``jobs`` worker processes (``None``: the number of cores) or a Dask cluster at ``dask``
    (``"tcp://HOST:PORT"``) run the independent runs; the results are the serial run's (seeded), kept
    in serial order. With ``path`` set, each run is saved as it finishes and a sweep whose file holds
    runs of the same settings, base seed and device resumes: only the missing runs are trained.
    """

    settings: TaskSettings
    seed: int = 0
    device: str = "cpu"
    path: str | None = None
    runs: list = field(default_factory=list)
    models: dict = field(default_factory=dict)
    jobs: int | None = 1
    dask: str | None = None
    resumed: int = 0

    def to_json(self) -> dict:
        return {"settings": asdict(self.settings), "base_seed": self.seed, "device": str(self.device),
                "runs": self.runs, "summary": summarize(self.runs)}

    def run(self, progress: bool = True, keep_models: Callable | None = None) -> "Sweep":
        s = self.settings
        order = [(cell, T, self.seed + k) for T in s.lengths for cell in s.cells for k in range(s.seeds)]
        keep = {(c, T, seed) for c, T, seed in order if keep_models is not None and keep_models(c, T, seed - self.seed)}
        header = {"settings": asdict(s), "base_seed": self.seed, "device": str(self.device)}
        saved = {(r["cell"], r["T"], r["seed"]): r for r in load_saved_runs(self.path, header)}
        saved = {key: r for key, r in saved.items() if key not in keep}          # a kept model is retrained
        self.resumed = len(saved)
        jobs = [Job(i, key, _sweep_job, (s, *key, self.device, key in keep))
                for i, key in enumerate(order) if key not in saved]
        done = {order.index(key): r for key, r in saved.items()}
        bar = progress_bar(s.steps * len(order), s.task, progress)
        bar.update(s.steps * len(saved))
        serial = resolve_jobs(self.jobs) == 1 and self.dask is None

        def finished(job, value) -> None:
            result, state = value
            done[job.index] = result
            self.runs = [done[i] for i in sorted(done)]
            if state is not None:
                cell, T, seed = job.key
                self.models[(cell, T, seed - self.seed)] = _rebuild_model(s, cell, state, self.device)
            if not serial:
                bar.update(s.steps)
            if self.path is not None:
                write_json(self.path, self.to_json())

        try:
            run_jobs(jobs, self.jobs, self.dask, finished, bar=bar if serial else None)
        finally:
            bar.close()
        self.runs = [done[i] for i in sorted(done)]
        return self


# --------------------------------------------------------------------------------------------------
# run scheduling: worker processes, a Dask cluster, resuming from saved runs


@dataclass(frozen=True)
class Job:
    """One independent run of a sweep: ``fn(*args)`` (a module-level function, so workers can import it);
    ``index`` is its place in the serial order, ``key`` what identifies it in the results."""

    index: int
    key: tuple
    fn: Callable
    args: tuple


def resolve_jobs(jobs: int | None) -> int:
    """``jobs`` as a positive int: ``None`` means the number of cores."""
    if jobs is None:
        return max(1, os.cpu_count() or 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: expected a positive int or None (the number of cores), got {jobs!r}")
    return jobs


def _worker_init() -> None:
    """Worker processes ask BLAS for one thread, as the command line does (same numbers, no oversubscription)."""
    from .cli import limit_blas_threads
    limit_blas_threads(1)


def _call(fn: Callable, args: tuple, bar=None):
    return fn(*args, bar=bar) if bar is not None else fn(*args)


def run_jobs(jobs: list, n_jobs: int | None = 1, dask: str | None = None, on_done: Callable | None = None,
             bar=None) -> dict:
    """Run independent jobs and call ``on_done(job, value)`` in this process as each one finishes.

    Serially (``n_jobs == 1``, no ``dask``: ``bar`` is passed to the job for its progress), in
    ``n_jobs`` spawned worker processes, or on the Dask cluster at ``dask`` (``"tcp://HOST:PORT"``;
    needs ``dask.distributed``: ``pip install 'tinygrad-rnn[dask]'``). Every job seeds itself, so the
    values do not depend on where or in which order they ran. If a job fails, the jobs not yet started
    are cancelled and its exception is raised (the finished ones have been handed to ``on_done``).
    Returns ``{job.index: value}``.
    """
    n_jobs = resolve_jobs(n_jobs)
    values = {}

    def finish(job, value):
        values[job.index] = value
        if on_done is not None:
            on_done(job, value)

    if dask is not None:
        if not isinstance(dask, str) or "://" not in dask:
            raise ValueError(f"dask: expected a scheduler address such as 'tcp://127.0.0.1:8786', got {dask!r}")
        try:
            from dask.distributed import Client, as_completed
        except ImportError as e:
            raise ImportError("--dask needs dask.distributed: pip install 'tinygrad-rnn[dask]' "
                              "(or pip install 'dask[distributed]')") from e
        if not jobs:
            return values
        with Client(dask, set_as_default=False) as client:
            client.run(_worker_init)
            futures = {client.submit(_call, job.fn, job.args, pure=False): job for job in jobs}
            try:
                for fut in as_completed(list(futures), loop=client.loop):
                    finish(futures[fut], fut.result())
            finally:
                client.cancel([f for f in futures if not f.done()])
        return values
    if n_jobs == 1 or len(jobs) <= 1:
        for job in jobs:
            finish(job, _call(job.fn, job.args, bar))
        return values
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    ctx = multiprocessing.get_context("spawn")        # no fork of a process with threads (tqdm, BLAS)
    pool = ProcessPoolExecutor(max_workers=min(n_jobs, len(jobs)), mp_context=ctx, initializer=_worker_init)
    try:
        pending = {pool.submit(_call, job.fn, job.args): job for job in jobs}
        while pending:
            ready, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in sorted(ready, key=lambda f: pending[f].index):
                job = pending.pop(fut)
                finish(job, fut.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return values


def read_saved(path: str | None, header: dict, ignore: tuple = ()) -> dict | None:
    """What ``path`` holds if an earlier sweep wrote it with the same ``header`` (settings, seed, device),
    else None (no file, unreadable, or another sweep's). ``ignore``: keys of ``header["settings"]`` that
    may differ (those that choose which runs a sweep makes, not how a run trains)."""
    if path is None or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or not isinstance(saved.get("runs"), list):
        return None
    return saved if not header_differences(saved, header, ignore) else None


def header_differences(saved: dict, header: dict, ignore: tuple = ()) -> list:
    """``[(key, saved value, this sweep's value)]`` where ``saved`` and ``header`` differ (settings compared
    field by field, the ``ignore`` fields left out)."""
    out = []
    for k, v in header.items():
        v, old = json.loads(json.dumps(v)), saved.get(k)
        if k == "settings" and isinstance(v, dict) and isinstance(old, dict):
            out += [(f, old.get(f), v.get(f)) for f in sorted(set(v) | set(old))
                    if f not in ignore and old.get(f) != v.get(f)]
        elif old != v:
            out.append((k, old, v))
    return out


def load_saved_runs(path: str | None, header: dict) -> list:
    """The runs saved in ``path`` by an earlier sweep with the same ``header`` (settings, seed, device), else []."""
    saved = read_saved(path, header)
    return [] if saved is None else list(saved["runs"])


def _sweep_job(s: TaskSettings, cell: str, T: int, seed: int, device, keep: bool, bar=None):
    """One training run of a sweep (in any process): its result, and its weights when they are kept."""
    result, model = train_run(s, cell, T, seed, device, bar)
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()} if keep else None
    return result, state


def _rebuild_model(s: TaskSettings, cell: str, state: dict, device) -> SequenceModel:
    I, O = _input_output(s)
    model = SequenceModel(cell, I, s.hidden_size, O, device=device)
    model.load_state_dict({k: tensor(v, device=device) for k, v in state.items()})
    return model


def summarize(runs: list) -> list:
    """One row per (task, cell, T): success rate, median metric, median ‖∂L/∂h_1‖ at init and at the end."""
    rows = {}
    for r in runs:
        rows.setdefault((r["task"], r["cell"], r["T"]), []).append(r)
    out = []
    for (task, cell, T), rs in rows.items():
        out.append({"task": task, "cell": cell, "T": T, "seeds": len(rs),
                    "successes": int(sum(r["success"] for r in rs)),
                    "metric_median": float(np.median([r["metric"] for r in rs])),
                    "metrics": [r["metric"] for r in rs],
                    "grad_h1_init_median": float(np.median([r["grad_h1_init"] for r in rs])),
                    "grad_h1_final_median": float(np.median([r["grad_h1_final"] for r in rs]))})
    return out


def _cell_order(cell: str) -> tuple:
    return (CELLS.index(cell), "") if cell in CELLS else (len(CELLS), cell)


def format_table(summary: list, task: str) -> str:
    """A Markdown table of a sweep's summary (one row per cell and T)."""
    metric = "test accuracy" if task == "memory" else "test MSE"
    lines = [f"| cell | T | success | median {metric} (per seed) | median ‖∂L/∂h₁‖ at init | after training |",
             "| --- | ---: | ---: | --- | ---: | ---: |"]
    for row in sorted((r for r in summary if r["task"] == task), key=lambda r: (r["T"], _cell_order(r["cell"]))):
        fmt = "{:.3f}" if task == "memory" else "{:.4f}"
        per_seed = ", ".join(fmt.format(m) for m in row["metrics"])
        lines.append(f"| {CELL_NAMES[row['cell']]} | {row['T']} | {row['successes']}/{row['seeds']} | "
                     f"{fmt.format(row['metric_median'])} ({per_seed}) | {row['grad_h1_init_median']:.2e} | "
                     f"{row['grad_h1_final_median']:.2e} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# gradient flow of a vanilla RNN against its Jacobians


def orthogonal(n: int, seed: int) -> np.ndarray:
    """A random orthogonal ``n × n`` matrix (QR of a Gaussian, signs fixed)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def _gradflow_layer(cell: str, hidden_size: int, nonlinearity: str, rho: float, seed: int, device):
    """A one-layer recurrent layer of ``cell`` (H → H, float64) with every ``H × H`` block of
    ``weight_hh_l0`` set to ``ρ·Q`` (the same orthogonal Q) and all biases zero."""
    cell_cls, kw = resolve_cell(cell)
    if "nonlinearity" in kw:
        kw["nonlinearity"] = nonlinearity
    layer = nn.Recurrent(cell_cls, hidden_size, hidden_size, dtype="float64", device=device, **kw)
    params = dict(layer.named_parameters())
    w = params.get("weight_hh_l0")
    H = hidden_size
    if w is None or w.ndim != 2 or w.shape[1] != H or w.shape[0] % H:
        raise ValueError(f"cells: gradflow sets the recurrent weights to ρ·Q, so the cell {cell!r} needs a "
                         f"weight_hh of shape (k·{H}, {H}); got "
                         f"{None if w is None else tuple(w.shape)}")
    q = rho * orthogonal(H, seed + 1)
    with no_grad():
        w.copy_(tensor(np.concatenate([q] * (w.shape[0] // H)), dtype="float64", device=device))
        for name, p in params.items():
            if name.startswith("bias"):
                p.zero_()
    return layer


def gradflow_experiment(radii=(0.5, 0.9, 1.0, 1.1, 1.5), T: int = 60, hidden_size: int = 32,
                        nonlinearity: str = "tanh", input_scale: float = 0.01, seed: int = 0,
                        device="cpu", cells=("rnn",)) -> dict:
    """``‖∂L/∂h_t‖`` of a vanilla RNN with ``W_hh = ρ·Q`` (Q orthogonal, so σ_max = ρ(W_hh) = ρ).

    ``cells``: the cells to measure (``"rnn"``, ``"gru"``, ``"lstm"`` or ``"module:Class"``); a gated
    cell gets ``ρ·Q`` in every gate's block of ``weight_hh`` and its bounds come from its step
    Jacobians only (``σ_max(W_hh)`` bounds the vanilla RNN alone). ``nonlinearity`` applies to ``"rnn"``.

    Biases zero, one input sequence ``x ~ N(0, input_scale²)`` (small inputs keep tanh near its linear
    regime until a growing state saturates it), loss ``L = ½‖h_T‖²``. For every ρ: the measured
    norms (fused path), the bound ``‖∂L/∂h_T‖ · ∏_{k>t} σ_max(J_k)`` from the step Jacobians, and
    the bound ``‖∂L/∂h_T‖ · (γ σ_max(W_hh))^{T−t}`` from the weights alone (γ = 1); the measured and
    predicted per-step rates are the geometric means of ``‖∂L/∂h_{t}‖ / ‖∂L/∂h_{t+1}‖`` and of
    ``σ_max(J_k)``.
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 2:
        raise ValueError(f"T: gradient flow compares steps, so it needs a sequence length >= 2, got {T!r}")
    if isinstance(cells, str):
        cells = (cells,)
    cells = tuple(cells)
    if not cells:
        raise ValueError("cells: expected at least one cell, got none")
    manual_seed(seed)
    rng = np.random.Generator(np.random.PCG64(seed))
    x_np = (input_scale * rng.standard_normal((T, 1, hidden_size))).astype(np.float64)
    layers = {(cell, rho): _gradflow_layer(cell, hidden_size, nonlinearity, rho, seed, device)
              for cell in cells for rho in radii}          # built (and checked) before anything is measured
    rows = []
    for (cell, rho), layer in layers.items():
        x = tensor(x_np, device=device)
        flow = grad_norms_through_time(layer, x, lambda o: 0.5 * (o[0][-1] ** 2).sum())
        spec = jacobian_spectrum(layer, x)
        g = flow.h[0, 0]
        sig = spec.step[:, 0, 0]                                  # σ_max(J_t)
        jac_bound = g[-1] * np.concatenate([np.cumprod(sig[:0:-1])[::-1], [1.0]])
        w_bound = g[-1] * spec.bound() if spec.sigma_max is not None else None
        with np.errstate(divide="ignore", invalid="ignore"):
            measured = float(np.exp(np.mean(np.log(g[:-1] / g[1:]))))
        rows.append({"cell": cell, "rho": float(rho), "spectral_radius": spec.spectral_radius,
                     "sigma_max": spec.sigma_max, "grad_norms": g.tolist(), "jacobian_bound": jac_bound.tolist(),
                     "weight_bound": None if w_bound is None else w_bound.tolist(),
                     "product_sigma": (g[-1] * spec.to_end[:, 0, 0]).tolist(),
                     "rate_measured": measured, "rate_jacobians": float(np.exp(np.mean(np.log(sig[1:])))),
                     "ratio_first_last": float(g[0] / g[-1])})
    return {"T": T, "hidden_size": hidden_size, "nonlinearity": nonlinearity, "input_scale": input_scale,
            "seed": seed, "cells": list(cells), "rows": rows}


def format_gradflow_table(result: dict) -> str:
    """The gradient-flow table; with any cell other than the vanilla RNN a cell column comes first and
    ρ is the scale of every gate's ``W_hh`` block."""
    cells = result.get("cells", ["rnn"])
    if list(cells) == ["rnn"]:
        lines = ["| ρ(W_hh) = σ_max(W_hh) | measured rate ‖∂L/∂h_t‖/‖∂L/∂h_t+1‖ | mean σ_max(J_t) (geometric) | "
                 "‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ |",
                 "| ---: | ---: | ---: | ---: |"]
        for r in result["rows"]:
            lines.append(f"| {r['spectral_radius']:.2f} | {r['rate_measured']:.3f} | {r['rate_jacobians']:.3f} | "
                         f"{r['ratio_first_last']:.2e} |")
        return "\n".join(lines)
    lines = ["| cell | ρ (each W_hh block = ρ·Q) | measured rate ‖∂L/∂h_t‖/‖∂L/∂h_t+1‖ | mean σ_max(J_t) (geometric) | "
             "‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for r in result["rows"]:
        lines.append(f"| {CELL_NAMES[r.get('cell', 'rnn')]} | {r['rho']:.2f} | {r['rate_measured']:.3f} | "
                     f"{r['rate_jacobians']:.3f} | {r['ratio_first_last']:.2e} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# helpers for the demo's pictures


def trace_example(s: TaskSettings, model: SequenceModel, T: int, seed: int, device) -> dict:
    """Hidden states and gates of a trained model on one held-out sequence, as lists for JSON."""
    x, y = _batch(s, T, 1, test_seed(seed) + 1, device)
    tr_ = hidden_trace(model.rnn, x)
    out = {"h": tr_.h[0, 0, :, 0].tolist(), "target": y.numpy().tolist(),
           "input": x.numpy()[:, 0].tolist()}
    for g, a in tr_.gates.items():
        if g != "h":
            out[g] = a[0, 0, :, 0].tolist()
    if tr_.c is not None:
        out["c"] = tr_.c[0, 0, :, 0].tolist()
    return out


VOLATILE_KEYS = frozenset({"seconds", "load_average_start", "load_average_end", "total_wall_time_s",
                           "train_wall_time_s", "eval_wall_time_s", "platform", "python", "machine", "cpu_count",
                           "blas_threads_env"})
"""Keys of the results files that describe the run (time, machine), not the computation."""


def compare_results(committed, fresh, rtol: float = 0.0, atol: float = 0.0, where: str = "") -> list:
    """Differences between two results objects (parsed JSON), as ``"path: committed -> fresh"`` lines.

    Keys in :data:`VOLATILE_KEYS` are ignored. Integers, strings, booleans, ``None``, keys and list
    lengths must match exactly; floats must match exactly when ``rtol == atol == 0`` (the same machine
    and code give bit-identical numbers), else within ``|a − b| <= atol + rtol·|a|`` (another CPU or BLAS
    may sum in another order). NaN equals NaN.
    """
    diffs = []
    if isinstance(committed, dict) and isinstance(fresh, dict):
        keys = [k for k in committed if k not in VOLATILE_KEYS]
        extra = sorted(set(fresh) - set(committed) - VOLATILE_KEYS)
        if extra:
            diffs.append(f"{where or '.'}: new keys {extra}")
        for k in keys:
            if k not in fresh:
                diffs.append(f"{where}/{k}: missing")
            else:
                diffs += compare_results(committed[k], fresh[k], rtol, atol, f"{where}/{k}")
        return diffs
    if isinstance(committed, list) and isinstance(fresh, list):
        if len(committed) != len(fresh):
            return [f"{where}: length {len(committed)} -> {len(fresh)}"]
        for i, (a, b) in enumerate(zip(committed, fresh)):
            diffs += compare_results(a, b, rtol, atol, f"{where}[{i}]")
        return diffs
    numbers = (int, float)
    if (isinstance(committed, float) or isinstance(fresh, float)) and isinstance(committed, numbers) \
            and isinstance(fresh, numbers) and not isinstance(committed, bool) and not isinstance(fresh, bool):
        a, b = float(committed), float(fresh)
        if math.isnan(a) and math.isnan(b):
            return []
        if a == b or abs(a - b) <= atol + rtol * abs(a):
            return []
        return [f"{where}: {committed!r} -> {fresh!r}"]
    if type(committed) is not type(fresh) or committed != fresh:
        return [f"{where}: {committed!r} -> {fresh!r}"]
    return []


def settings_with(s: TaskSettings, **overrides) -> TaskSettings:
    """``s`` with the given fields replaced (``None`` values ignored); lengths/cells become tuples."""
    kw = {k: v for k, v in overrides.items() if v is not None}
    for k in ("lengths", "cells"):
        if k in kw:
            kw[k] = tuple(kw[k])
    return replace(s, **kw)


def fmt_seconds(sec: float) -> str:
    return f"{sec:.0f} s" if sec < 120 else f"{sec / 60:.1f} min"


def isfinite(v) -> bool:
    return isinstance(v, float) and math.isfinite(v)
