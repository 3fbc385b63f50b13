"""``tinygrad-rnn road``: --quick end to end (CI), the models' budgets, and scheduling that keeps the numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.app import cli, road

from conftest import require

pytestmark = pytest.mark.cpu_only   # CLI and worker processes; the runs are NumPy (cpu) runs

TINY = road.RoadSettings(tasks=("adding", "copy"), lengths=(4,), models=("lstm", "lru", "transformer"), seeds=1,
                         params=300, batch_size=4, steps=2, test_size=8, time_steps=1)


def _numbers(runs):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in runs]


def test_road_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "road"
    assert cli.main(["road", "--quick", "--no-progress", "--no-plots", "--jobs", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "settings (fixed in advance)" in text and "LRU (2023)" in text and "minGRU (2024)" in text
    res = json.loads((out / "road.json").read_text())
    s = road.QUICK
    assert res["settings"]["seeds"] >= 3
    assert len(res["runs"]) == len(s.tasks) * len(s.lengths) * len(s.models) * s.seeds
    assert {r["model"] for r in res["runs"]} == set(road.MODELS)
    assert len(res["timing"]) == len(s.lengths) * len(s.models) and all(t["seconds_per_step"] > 0
                                                                           for t in res["timing"])
    for r in res["runs"]:
        L = r["T"] + (20 if r["task"] == "copy" else 0)
        assert len(r["grad_input"]) == L and np.isfinite(r["metric"])
        assert (r["model"] == "transformer") == ("grad_state" not in r)
    md = (out / "road.md").read_text()
    assert "### training time per step" in md and f"trained {len(res['runs'])} of the {len(res['runs'])} runs." in md
    copy_table = md[md.index("### copy"):md.index("### training time per step")]
    assert "the ratios do not measure the gradient's path over the T blanks" in copy_table     # and not under adding
    assert "do not measure" not in md[:md.index("### copy")]
    assert cli.main(["road", "--quick", "--no-progress", "--no-plots", "--jobs", "1", "--out", str(out)]) == 0
    n = len(res["runs"])
    assert f"trained 0 of the {n} runs; the other {n} were read back" in (out / "road.md").read_text()


def test_equal_parameter_budget():
    s = road.RoadSettings(params=5000)
    for task in road.TASKS:
        counts = [road.model_width(s, m, *road._io(task))[1] for m in road.MODELS]
        assert max(abs(c - 5000) for c in counts) < 0.2 * 5000, counts


def test_road_jobs_2_equals_jobs_1_and_resumes(tmp_path):
    path = str(tmp_path / "road.json")
    serial = road.run_road(TINY, seed=1, jobs=1, progress=False, timing=False)
    par = road.run_road(TINY, seed=1, path=path, jobs=2, progress=False, timing=False)
    assert _numbers(par["runs"]) == _numbers(serial["runs"]) and len(serial["runs"]) == 6
    again = road.run_road(TINY, seed=1, path=path, jobs=1, progress=False, timing=False)
    assert again["resumed"] == 6 and _numbers(again["runs"]) == _numbers(serial["runs"])


def test_road_on_a_dask_cluster_equals_jobs_1():
    """The issue's third way to run the race: a Dask cluster (here a LocalCluster on loopback) gives the
    serial numbers, in the serial order."""
    distributed = require("dask.distributed")
    serial = road.run_road(TINY, seed=1, jobs=1, progress=False, timing=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        par = road.run_road(TINY, seed=1, dask=cluster.scheduler_address, progress=False, timing=False)
    assert _numbers(par["runs"]) == _numbers(serial["runs"]) and len(serial["runs"]) == 6


def test_the_longest_runs_start_first_and_the_results_keep_the_serial_order(monkeypatch):
    """On a few workers a race ends sooner when its longest runs start first: the longest T, and at each T
    the Transformer (attention grows as T²). The results are listed in the serial order all the same."""
    from dataclasses import replace
    s = replace(TINY, tasks=("adding",), lengths=(4, 6), models=("lstm", "transformer", "lru"))
    started = []

    def fake_train(s, task, kind, T, seed, device="cpu", bar=None):
        started.append((kind, T))
        return {"task": task, "model": kind, "T": T, "seed": seed, "params": 1, "metric": 0.0, "success": False,
                "seconds": 0.0}
    monkeypatch.setattr(road, "train_run", fake_train)
    got = road.run_road(s, seed=0, jobs=1, progress=False, timing=False)
    assert started == [("transformer", 6), ("lstm", 6), ("lru", 6), ("transformer", 4), ("lstm", 4), ("lru", 4)]
    assert [(r["model"], r["T"]) for r in got["runs"]] == [("lstm", 4), ("transformer", 4), ("lru", 4),
                                                           ("lstm", 6), ("transformer", 6), ("lru", 6)]


def test_a_race_assembled_from_parts_equals_one_run(tmp_path, monkeypatch, capsys):
    """Commands that differ only in which runs they make (here T) fill one folder, or read each other's
    road.json (--from); the race they assemble equals one run of the whole, and no run is made twice."""
    from dataclasses import replace
    whole_s = replace(TINY, lengths=(4, 5))
    whole = road.run_road(whole_s, seed=1, progress=False, timing=False)
    path = str(tmp_path / "race" / "road.json")
    (tmp_path / "race").mkdir()
    a = road.run_road(replace(TINY, lengths=(5,)), seed=1, path=path, progress=False, timing=False)
    b = road.run_road(TINY, seed=1, path=path, progress=False, timing=False)
    assert (b["resumed"], b["kept"]) == (0, len(a["runs"])) and tuple(b["settings"]["lengths"]) == (4, 5)
    key = road._key
    assert sorted(_numbers(b["runs"]), key=key) == sorted(_numbers(whole["runs"]), key=key)

    def no_training(*args):
        raise AssertionError("a run was made twice")
    monkeypatch.setattr(road, "train_run", no_training)
    again = road.run_road(whole_s, seed=1, path=path, progress=False, timing=False)
    assert again["resumed"] == len(whole["runs"]) and _numbers(again["runs"]) == _numbers(whole["runs"])
    other = str(tmp_path / "other.json")
    got = road.run_road(whole_s, seed=1, path=other, progress=False, timing=False, sources=[path])
    assert got["resumed"] == len(whole["runs"]) and _numbers(got["runs"]) == _numbers(whole["runs"])
    with pytest.raises(ValueError, match="steps 2 there, 3 here"):       # other training settings: refused
        road.run_road(replace(whole_s, steps=3), seed=1, path=other, progress=False, sources=[path])
    with pytest.raises(ValueError, match="base_seed 1 there, 2 here"):
        road.run_road(whole_s, seed=2, path=other, progress=False, sources=[path])
    assert cli.main(["road", "--quick", "--no-progress", "--from", str(tmp_path / "missing.json"),
                     "--out", str(tmp_path / "q")]) == 1
    assert "missing.json is not a file" in capsys.readouterr().err


def test_models_read_the_tasks():
    s = road.RoadSettings(params=400)
    for kind in road.MODELS:
        m = road.build(s, "copy", kind, seed=0)
        x, _ = tr.tasks.copy_task(3, 2, seed=0)
        assert m(x).shape == (23, 2, 10)
        m = road.build(s, "adding", kind, seed=0)
        x, _ = tr.tasks.adding_problem(6, 2, seed=0)
        assert m(x).shape == (2, 1)
    with pytest.raises(ValueError, match="model"):
        road.RoadModel("mamba", 2, 4, 1, s, per_step=False)


def test_experiments_train_the_new_cells_by_name():
    from tinygrad_rnn.app import experiments as ex
    s = ex.TaskSettings("adding", lengths=(4,), seeds=1, hidden_size=4, batch_size=4, steps=2, test_size=8)
    for cell in ("tinygrad_rnn.nn.linear_recurrent:MinGRUCell", "tinygrad_rnn.nn.linear_recurrent:LRUCell"):
        result, model = ex.train_run(s, cell, 4, seed=0)
        assert np.isfinite(result["mse"]) and len(result["grad_norms_init"]) == 4


@pytest.mark.cpu_only  # formatting of numbers only
def test_a_gradient_ratio_that_underflowed_is_not_printed_as_an_exact_zero():
    assert road._fmt(0.0) == "0 (underflow)"
    assert road._fmt(1.5e-20) == "1.50e-20"
    assert road._fmt(None) == "—" and road._fmt(float("nan")) == "—"
