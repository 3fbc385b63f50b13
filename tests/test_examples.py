"""Every example runs with --quick and writes its plot and its numbers."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REQUIRE_REFS, require

# Host-side: each example script runs in a subprocess (--quick, default device); what they compute is twinned
# on cuda in the library's own tests (layers, seq2seq, optimizers, CLI demo).
pytestmark = pytest.mark.cpu_only

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = "/usr/share/dict/words"


def run_example(name, *args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", f"{name}.py"), "--quick", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=240)


def need_words():
    if not os.path.isfile(WORDS):
        if REQUIRE_REFS:
            pytest.fail(f"{WORDS} is required in CI: apt-get install wamerican")
        pytest.skip(f"{WORDS} is not installed (apt-get install wamerican)")


@pytest.mark.parametrize("name", ["char_lm", "forecasting", "bidirectional", "clipping", "truncated_bptt"])
def test_example_quick(name, tmp_path):
    require("matplotlib")
    if name in ("char_lm", "truncated_bptt"):
        need_words()
    proc = run_example(name, "--no-progress", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / f"{name}.png").stat().st_size > 0
    data = json.loads((tmp_path / f"{name}.json").read_text())
    assert data["seed"] == 0 and data["device"] == "cpu"
    assert "wrote" in proc.stdout


def test_char_lm_samples_from_a_given_text(tmp_path):
    require("matplotlib")
    import numpy as np
    rng = np.random.default_rng(0)
    words = {"".join(rng.choice(list("abcdefgh"), rng.integers(3, 9))) for _ in range(600)}
    text = tmp_path / "text.txt"
    text.write_text(" ".join(sorted(words)))
    proc = run_example("char_lm", "--text", str(text), "--temperature", "0.5", "--no-progress", "--out",
                       str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "char_lm.json").read_text())
    assert data["temperature"] == 0.5 and set(data["sample"]) <= set("abcdefgh\n")


def test_char_lm_without_the_word_list_says_what_to_install(tmp_path):
    proc = run_example("char_lm", "--text", str(tmp_path / "missing.txt"), "--out", str(tmp_path))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "wamerican" in proc.stderr


def test_seq2seq_reversal_smoke(tmp_path):
    """The committed experiment script end to end, with a tiny budget (the real run is in docs/results),
    run from another folder without --out: it writes under ./out/examples, never into docs/."""
    require("matplotlib")
    out = tmp_path / "out" / "examples"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "seq2seq_reversal.py"), "--quick", "--seeds", "0",
         "--steps-short", "5", "--steps-long", "5", "--test-size", "20", "--eval-every", "0", "--hidden", "16",
         "--embed", "8", "--batch", "8"],
        capture_output=True, text=True, cwd=tmp_path, timeout=240,
        env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "seq2seq_reversal.json").read_text())
    assert set(data["summary"]) >= {"short_tf", "short_ss", "long_attn", "long_bottleneck"}
    assert data["seeds"] == [0] and data["quick"] is True
    assert (out / "seq2seq_reversal_attention.png").stat().st_size > 0
    assert not (tmp_path / "docs").exists()
