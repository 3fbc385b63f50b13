"""Smoke tests of every `tinygrad-rnn` command (tiny settings), its help, determinism and failure messages."""

import json
import os
import subprocess
import sys

import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.app import cli

from conftest import require, require_dot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--T", "3,5", "--seeds", "1", "--steps", "3", "--hidden", "4", "--test-size", "16", "--no-progress"]


def run_cli(*args, env=None, timeout=240):
    """`python -m tinygrad_rnn ARGS` in a subprocess (what a user types); returns the CompletedProcess."""
    full_env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                    OMP_NUM_THREADS="1")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "tinygrad_rnn", *args], capture_output=True, text=True,
                          cwd=ROOT, env=full_env, timeout=timeout)


@pytest.mark.cpu_only          # argparse help text: host-side, nothing computed
@pytest.mark.parametrize("command", [[], ["demo"], ["memory"], ["adding"], ["gradflow"], ["graph"], ["train"]])
def test_help_of_every_command(command, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(command + ["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "usage: tinygrad-rnn" in text
    if command in (["demo"], ["memory"], ["adding"]):
        assert "--device" in text and "--seed" in text and "--out" in text and "--quick" in text


@pytest.mark.cpu_only          # argparse help text: host-side, nothing computed
def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    captured = capsys.readouterr()
    assert "demo" in captured.err and "usage: tinygrad-rnn" in captured.err and captured.out == ""


@pytest.mark.cpu_only          # argparse version action: host-side, nothing computed
def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"tinygrad-rnn {tr.__version__}"


@pytest.mark.cpu_only          # argparse usage errors: raised before anything is computed
@pytest.mark.parametrize("argv, words", [
    (["adding", "--lr", "-1"], ["--lr", "positive", "-1"]),
    (["memory", "--lr", "0"], ["--lr", "positive"]),
    (["adding", "--clip", "-0.5"], ["--clip", ">= 0"]),
    (["gradflow", "--T", "1"], ["--T", ">= 2", "got 1"]),
    (["gradflow", "--radii", "0.5,-1"], ["--radii", "positive"]),
    (["gradflow", "--cells", "cnn"], ["--cells", "cnn"]),
    (["train"], ["char_lm", "seq2seq_reversal", "choose an example"]),
])
def test_bad_arguments_are_one_line_usage_errors(argv, words, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tinygrad-rnn {argv[0]}: error: "), err
    assert all(w in err[0] for w in words), err


@pytest.mark.cpu_only      # CLI subprocess + Graphviz/matplotlib (cuda: test_demo_quick_on_cuda_gives_the_cpu_tables)
def test_demo_quick_end_to_end(tmp_path):
    require_dot()
    require("matplotlib")
    out = tmp_path / "demo"
    proc = run_cli("demo", "--quick", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    for name in ("memory.json", "adding.json", "gradflow.json", "hidden_traces.json", "summary.md",
                 "memory_vs_T.png", "adding_vs_T.png", "gradnorm_memory.png", "gradnorm_adding.png",
                 "hidden_states.png", "gradflow.png", "lstm_unrolled.svg"):
        assert (out / name).stat().st_size > 0, name
    assert "| LSTM |" in proc.stdout and "success" in proc.stdout and "‖∂L/∂h₁‖" in proc.stdout
    mem = json.loads((out / "memory.json").read_text())
    assert {r["cell"] for r in mem["runs"]} == {"rnn", "gru", "lstm"}
    assert mem["settings"]["forget_bias"] is not None and mem["settings"]["lr"] > 0
    assert (out / "lstm_unrolled.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


@pytest.mark.cpu_only      # bit-for-bit rerun equality + matplotlib; GPU kernels need not be bitwise reproducible
def test_sweep_is_deterministic_per_seed(tmp_path, capsys):
    require("matplotlib")
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, "3"), (b, "3"), (c, "4")):
        assert cli.main(["memory", *TINY, "--cells", "gru,lstm", "--seed", seed, "--out", str(out)]) == 0
    ra, rb, rc = (json.loads((d / "memory.json").read_text())["runs"] for d in (a, b, c))
    key = ("loss", "metric", "grad_norms_init", "grad_norms_final", "loss_curve")
    assert [[r[k] for k in key] for r in ra] == [[r[k] for k in key] for r in rb]
    assert [r["loss"] for r in ra] != [r["loss"] for r in rc]
    assert [r["seed"] for r in ra] == [3, 3, 3, 3]
    assert (a / "memory_vs_T.png").exists() and (a / "gradnorm_memory.png").exists()
    capsys.readouterr()


def test_adding_and_its_options(tmp_path, capsys, device):
    out = tmp_path / "add"
    assert cli.main(["adding", *TINY, "--cells", "rnn", "--lr", "0.005", "--clip", "0", "--batch", "8",
                     "--forget-bias", "none", "--no-plots", "--device", device, "--out", str(out)]) == 0
    assert not (out / "adding_vs_T.png").exists()
    data = json.loads((out / "adding.json").read_text())
    s = data["settings"]
    assert (s["lr"], s["clip"], s["batch_size"], s["forget_bias"], s["lengths"]) == (0.005, 0.0, 8, None, [3, 5])
    assert len(data["runs"]) == 2 and all("within_0.04" in r for r in data["runs"])
    assert "predicting the mean gives MSE 1/6" in capsys.readouterr().out


def test_gradflow(tmp_path, capsys, device):
    require("matplotlib")
    out = tmp_path / "gf"
    assert cli.main(["gradflow", "--T", "12", "--hidden", "6", "--radii", "0.5,1.5", "--device", device,
                     "--out", str(out)]) == 0
    res = json.loads((out / "gradflow.json").read_text())
    assert [r["rho"] for r in res["rows"]] == [0.5, 1.5]
    assert res["rows"][0]["ratio_first_last"] < 1e-2 < res["rows"][1]["ratio_first_last"]
    assert (out / "gradflow.png").exists()
    assert "ρ(W_hh)" in capsys.readouterr().out


@pytest.mark.cpu_only      # renders with Graphviz `dot`; DOT text of cuda graphs is twinned in tests/viz/test_dot.py
def test_graph(tmp_path, capsys):
    require_dot()
    path = tmp_path / "g" / "lstm.svg"
    assert cli.main(["graph", "--cell", "gru", "--steps", "3", "--layers", "2", "--bidirectional",
                     "-o", str(path)]) == 0
    assert path.read_text().lstrip().startswith(("<?xml", "<svg"))
    capsys.readouterr()


@pytest.mark.cpu_only      # argument parsing only (.dot output: no Graphviz needed)
def test_graph_cell_names_ignore_case_as_cells_do(tmp_path, capsys):
    path = tmp_path / "g.dot"
    assert cli.main(["graph", "--cell", "LSTM", "--steps", "2", "-o", str(path)]) == 0
    assert "LSTM" in path.read_text()
    capsys.readouterr()


@pytest.mark.cpu_only          # runs an example script through the CLI (examples are host-side smoke tests)
def test_train_runs_an_example(tmp_path, capsys):
    require("matplotlib")
    assert cli.main(["train", "clipping", "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "clipping.json").exists()
    capsys.readouterr()


@pytest.mark.cpu_only          # CLI subprocess: a file-system error message, nothing device-dependent
def test_unwritable_output_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("memory", *TINY, "--out", str(blocker / "sub"))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "output folder" in lines[0] and "--out" in lines[0]


@pytest.mark.cpu_only          # a file-system error message, nothing device-dependent
def test_out_naming_an_existing_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["gradflow", "--T", "3", "--hidden", "2", "--no-plots", "--out", str(blocker)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "existing file, not a folder" in err[0] and "--out" in err[0], err
    assert "File exists" not in err[0] and blocker.read_text() == "x"


@pytest.mark.cpu_only          # CLI subprocess whose reader goes away: process plumbing, nothing computed
def test_a_broken_pipe_is_a_quiet_exit(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_rnn", "gradflow", "--T", "3", "--hidden", "2",
                             "--no-plots", "--out", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env=env)
    proc.stdout.close()                         # like `| head -0`: every write finds the pipe closed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=240) == cli.BROKEN_PIPE
    assert err == ""


def test_gradflow_takes_cells(tmp_path, capsys, device):
    out = tmp_path / "gf"
    assert cli.main(["gradflow", "--T", "6", "--hidden", "3", "--radii", "0.5,1.5",
                     "--cells", "RNN,lstm,mgu_cell:MGUCell", "--no-plots", "--device", device, "--out", str(out)]) == 0
    res = json.loads((out / "gradflow.json").read_text())
    assert res["cells"] == ["rnn", "lstm", "mgu_cell:MGUCell"]
    assert [(r["cell"], r["rho"]) for r in res["rows"]] == [(c, p) for c in res["cells"] for p in (0.5, 1.5)]
    for r in res["rows"]:
        assert len(r["grad_norms"]) == 6 and r["grad_norms"][-1] > 0
        bound = r["jacobian_bound"]                          # ‖∂L/∂h_t‖ <= ‖∂L/∂h_T‖ ∏ σ_max(J_k)
        assert all(g <= b * (1 + 1e-9) for g, b in zip(r["grad_norms"], bound))
        assert (r["weight_bound"] is None) == (r["cell"] != "rnn")
    text = capsys.readouterr().out
    assert "| LSTM | 0.50 |" in text and "| MGUCell | 1.50 |" in text


@pytest.mark.cpu_only      # CLI subprocess with matplotlib, tqdm and Graphviz hidden: host-side tool checks
def test_demo_without_optional_tools_finishes_with_numbers_and_dot_text(tmp_path):
    hide = tmp_path / "hide"
    for pkg in ("matplotlib", "tqdm"):
        (hide / pkg).mkdir(parents=True)
        (hide / pkg / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    out = tmp_path / "demo"
    proc = run_cli("demo", "--quick", "--out", str(out), "--jobs", "1",     # serial: a progress line per run
                   env={"PATH": str(tmp_path), "PYTHONPATH": os.pathsep.join([str(hide), ROOT])})
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("tinygrad-rnn: note:")]
    assert len(notes) == 3, proc.stderr
    assert "matplotlib" in notes[0] and "Graphviz" in notes[1] and "tqdm" in notes[2]
    assert proc.stderr.index("tinygrad-rnn: note:") < proc.stderr.index("steps (")    # before the work
    assert "memory LSTM T=15" in proc.stderr and "100%" in proc.stderr               # plain progress lines
    assert (out / "lstm_unrolled.dot").read_text().startswith("digraph")
    assert (out / "summary.md").stat().st_size > 0 and not list(out.glob("*.png"))
    assert "Traceback" not in proc.stderr


@pytest.mark.cpu_only          # compares parsed JSON objects: host-side, nothing computed
def test_compare_results_exact_tolerant_and_volatile():
    from tinygrad_rnn.app.experiments import compare_results
    a = {"runs": [{"metric": 0.5, "success": True, "seconds": 3.0, "T": 5}], "name": "x", "v": float("nan")}
    assert compare_results(a, json.loads(json.dumps(a))) == []
    b = {"runs": [{"metric": 0.5 + 1e-9, "success": True, "seconds": 9.0, "T": 5}], "name": "x", "v": float("nan")}
    assert compare_results(a, b) == ["/runs[0]/metric: 0.5 -> 0.500000001"]     # exact: the last digit counts
    assert compare_results(a, b, rtol=1e-6) == []                                # seconds never count
    c = {"runs": [{"metric": 0.5, "success": False, "seconds": 3.0, "T": 6}, {}], "name": "x", "v": 1.0}
    assert compare_results(a, c, rtol=1.0) == ["/runs: length 1 -> 2", "/v: nan -> 1.0"]
    c["runs"] = c["runs"][:1]
    assert compare_results(a, c, rtol=1.0) == ["/runs[0]/success: True -> False", "/runs[0]/T: 5 -> 6",
                                               "/v: nan -> 1.0"]
    assert compare_results({"k": 1}, {"k": 1.0}) == []
    assert compare_results({"k": 1}, {"k": 1, "new": 2}) == [".: new keys ['new']"]


@pytest.mark.cpu_only          # the plain-line progress stand-in: host-side printing
def test_progress_is_plain_lines_without_tqdm(capsys, monkeypatch):
    from tinygrad_rnn.app import experiments
    monkeypatch.setitem(sys.modules, "tqdm", None)                 # `import tqdm` raises ImportError
    assert not experiments.have_tqdm()
    bar = experiments.progress_bar(20, "memory", True)
    bar.interval = 0.0
    bar.set_description("memory LSTM T=5")
    for _ in range(20):
        bar.update()
    bar.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("  memory LSTM T=5: 20/20 steps (100%)")
    assert experiments.progress_bar(20, "memory", False).__class__.__name__ == "_NoBar"


@pytest.mark.cpu_only          # matplotlib figure contents: host-side drawing of given numbers
def test_metric_plot_single_length_and_success_fill(tmp_path, monkeypatch):
    require("matplotlib")
    from tinygrad_rnn.app import plots
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig) or path)
    runs = [{"task": "adding", "cell": "lstm", "T": 30, "metric": m, "success": ok}
            for m, ok in ((0.004, True), (0.008, False), (0.2, False))]
    plots.metric_vs_length(runs, str(tmp_path / "a.png"), "adding")
    ax = figs[0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["30"]
    lo, hi = ax.get_xlim()
    assert lo < 0 < hi and hi - lo < 2                              # one column, not a range of T values
    assert all(abs(x) < 0.3 for coll in ax.collections for x, _ in coll.get_offsets())
    filled = [len(c.get_offsets()) for c in ax.collections if c.get_facecolor().size and c.get_facecolor()[0][3] > 0]
    assert 1 in filled                                              # the one solved seed is filled
    assert all("0.01" not in t.get_text() for t in ax.get_legend().get_texts())    # no "solved" MSE line
    assert "after training" in ax.get_title() and "final metric" not in ax.get_title()


@pytest.mark.cpu_only          # CLI subprocess without Graphviz: a host-side error message
def test_missing_graphviz_is_one_line_and_keeps_the_dot_text(tmp_path):
    path = tmp_path / "g.svg"
    proc = run_cli("graph", "-o", str(path), env={"PATH": str(tmp_path)})       # no `dot` on PATH
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Graphviz" in proc.stderr
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


@pytest.mark.cpu_only          # the no-GPU message: only meaningful where no GPU is usable (skips otherwise)
def test_cuda_without_a_gpu_is_one_line(tmp_path, capsys):
    if tr.cuda_is_available():
        pytest.skip("a GPU is available here")
    assert cli.main(["adding", *TINY, "--device", "cuda", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cuda" in err[0] and "CuPy" in err[0]


@pytest.mark.cpu_only          # argparse usage errors: raised before anything is computed
def test_bad_arguments_are_usage_errors(capsys):
    for argv in (["memory", "--T", "1,x"], ["adding", "--cells", "rnn,cnn"], ["graph", "--cell", "tcn"]):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2
    capsys.readouterr()


def _demo_numbers(out):
    mem = json.loads((out / "memory.json").read_text())
    add = json.loads((out / "adding.json").read_text())
    return mem["summary"], add["summary"]


@pytest.mark.cpu_only      # CLI subprocess, plot tools hidden (cuda: test_demo_quick_on_cuda_gives_the_cpu_tables)
def test_demo_without_plots_needs_neither_matplotlib_nor_graphviz(tmp_path):
    out = tmp_path / "demo"
    proc = run_cli("demo", "--quick", "--no-plots", "--out", str(out), "--no-progress",
                   env={"MPLBACKEND": "this-backend-does-not-exist", "PATH": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr
    assert (out / "summary.md").stat().st_size > 0 and (out / "gradflow.json").exists()
    assert not list(out.glob("*.png")) and not (out / "lstm_unrolled.svg").exists()


@pytest.mark.gpu
def test_demo_quick_on_cuda_gives_the_cpu_tables(tmp_path):
    if not tr.cuda_is_available():
        pytest.skip("CUDA is not available (needs CuPy and an NVIDIA GPU)")
    runs = {}
    for dev in ("cpu", "cuda"):
        out = tmp_path / dev
        proc = run_cli("demo", "--quick", "--no-plots", "--device", dev, "--out", str(out), "--no-progress")
        assert proc.returncode == 0, proc.stderr
        runs[dev] = _demo_numbers(out)
    (mem_cpu, add_cpu), (mem_gpu, add_gpu) = runs["cpu"], runs["cuda"]
    for cpu_rows, gpu_rows in ((mem_cpu, mem_gpu), (add_cpu, add_gpu)):
        assert len(cpu_rows) == len(gpu_rows)
        for a, b in zip(cpu_rows, gpu_rows):
            assert (a["cell"], a["T"]) == (b["cell"], b["T"])
            assert a["successes"] == b["successes"]


@pytest.mark.cpu_only      # CLI subprocess on the default device: a user cell imported by module:Class name
def test_memory_trains_a_user_cell_by_module_and_class_name(tmp_path):
    """`--cells rnn,mgu_cell:MGUCell` imports the cell written in tests/mgu_cell.py and trains it through
    tr.nn.Recurrent, with the same tables and results as the built-in cells."""
    out = tmp_path / "mem"
    proc = run_cli("memory", "--quick", "--T", "3", "--seeds", "1", "--steps", "5", "--no-progress", "--no-plots",
                   "--cells", "rnn,mgu_cell:MGUCell", "--out", str(out),
                   env={"PYTHONPATH": os.path.join(ROOT, "tests") + os.pathsep + ROOT})
    assert proc.returncode == 0, proc.stderr
    runs = json.loads((out / "memory.json").read_text())["runs"]
    assert [r["cell"] for r in runs] == ["rnn", "mgu_cell:MGUCell"]
    assert all(len(r["grad_norms_init"]) == 3 for r in runs)
    assert "| MGUCell | 3 |" in proc.stdout and "| RNN | 3 |" in proc.stdout
    bad = run_cli("memory", *TINY, "--cells", "mgu_cell:NoSuchCell", "--out", str(tmp_path / "bad"),
                  env={"PYTHONPATH": os.path.join(ROOT, "tests") + os.pathsep + ROOT})
    assert bad.returncode == 2 and "NoSuchCell" in bad.stderr
