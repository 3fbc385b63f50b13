"""Sweeps that scale out: worker processes and a Dask cluster give the serial results; runs are saved as they
finish and an interrupted sweep resumes from what it saved. Tiny settings (a few Adam steps)."""

from __future__ import annotations

import json

import pytest

from tinygrad_rnn.app import experiments as ex

from conftest import require

pytestmark = pytest.mark.cpu_only   # worker processes and a local cluster; the runs are NumPy (cpu) runs

TINY = ex.TaskSettings("adding", lengths=(3, 5), cells=("rnn", "lstm"), seeds=2, hidden_size=4, batch_size=8,
                       steps=3, test_size=16)


def _numbers(runs: list) -> list:
    """Everything a run reports except its wall time."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in runs]


@pytest.fixture(scope="module")
def serial():
    return ex.Sweep(TINY, seed=3, jobs=1).run(progress=False)


def test_jobs_2_equals_jobs_1(serial):
    par = ex.Sweep(TINY, seed=3, jobs=2).run(progress=False)
    assert len(serial.runs) == 8
    assert [(r["cell"], r["T"], r["seed"]) for r in par.runs] == [(r["cell"], r["T"], r["seed"]) for r in serial.runs]
    assert _numbers(par.runs) == _numbers(serial.runs)


def test_dask_local_cluster_on_loopback_equals_serial(serial):
    distributed = require("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        par = ex.Sweep(TINY, seed=3, dask=cluster.scheduler_address).run(progress=False)
    assert _numbers(par.runs) == _numbers(serial.runs)


def test_interrupted_sweep_resumes_from_what_it_saved(serial, tmp_path, monkeypatch):
    path = str(tmp_path / "adding.json")
    real = ex.train_run
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args[1:4])
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ex, "train_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ex.Sweep(TINY, seed=3, path=path, jobs=1).run(progress=False)
    with open(path) as f:
        assert len(json.load(f)["runs"]) == 3                      # each run saved as it finished

    calls.clear()
    monkeypatch.setattr(ex, "train_run", lambda *a, **k: calls.append(a[1:4]) or real(*a, **k))
    resumed = ex.Sweep(TINY, seed=3, path=path, jobs=1).run(progress=False)
    assert resumed.resumed == 3 and len(calls) == 5                # only the missing runs are trained
    assert _numbers(resumed.runs) == _numbers(serial.runs)
    with open(path) as f:
        assert _numbers(json.load(f)["runs"]) == _numbers(serial.runs)

    calls.clear()                                                  # other settings: nothing is reused
    other = ex.Sweep(ex.settings_with(TINY, lengths=(3,), cells=("rnn",), seeds=1), seed=3, path=path, jobs=1)
    other.run(progress=False)
    assert other.resumed == 0 and len(calls) == 1


def test_bad_scheduling_arguments():
    with pytest.raises(ValueError, match="jobs"):
        ex.resolve_jobs(0)
    with pytest.raises(ValueError, match="dask"):
        ex.run_jobs([], 1, dask="localhost")
