"""Shared fixtures: the backend parameter, and reference checks that may not skip in CI."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys

import pytest

import tinygrad_rnn as tr

REQUIRE_REFS = os.environ.get("TINYGRAD_RNN_REQUIRE_REFS") == "1"


def require(module: str):
    """Import an optional reference package (torch, graphviz, ...): skip without it, fail in CI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if REQUIRE_REFS:
            pytest.fail(f"{module} is required in CI (TINYGRAD_RNN_REQUIRE_REFS=1) but is not installed")
        pytest.skip(f"{module} is not installed")


def fixture_module(name: str):
    """The fixture generator ``tests/fixtures/<name>.py`` as a module, loaded once per session.

    The tests reuse its case tables and runners (the same code made the golden ``.npz`` with torch).
    """
    module = sys.modules.get(name)
    if module is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", f"{name}.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module         # before running it: its dataclasses look themselves up there
        spec.loader.exec_module(module)
    return module


def require_dot() -> str:
    """The Graphviz `dot` binary: skip without it, fail in CI."""
    path = shutil.which("dot")
    if path is None:
        if REQUIRE_REFS:
            pytest.fail("Graphviz `dot` is required in CI (TINYGRAD_RNN_REQUIRE_REFS=1): apt-get install graphviz")
        pytest.skip("Graphviz `dot` is not installed (apt-get install graphviz)")
    return path


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request) -> str:
    """Run a test on NumPy ("cpu") and, where a GPU is usable, on CuPy ("cuda")."""
    if request.param == "cuda" and not tr.cuda_is_available():
        pytest.skip("CUDA is not available (needs CuPy and an NVIDIA GPU)")
    return request.param


CUDA_ABSENT = "CUDA is not available (needs CuPy and an NVIDIA GPU)"


def pytest_collection_modifyitems(config, items):
    """`-m gpu` runs collect the cpu_only tests too; skip them there with a reason.

    Any other run on a machine without a usable GPU deselects the ``device="cuda"`` twins (reported in
    one line at the end) instead of printing an unexplained ``s`` for each; ``--collect-only`` keeps
    them, so listing the suite shows every test (tests/test_collection_parity.py relies on that).
    """
    markexpr = config.getoption("-m") or ""
    gpu_run = "gpu" in markexpr and "not gpu" not in markexpr
    if gpu_run:
        for item in items:
            if item.get_closest_marker("cpu_only"):
                item.add_marker(pytest.mark.skip(reason="CPU-only check"))
    elif not config.option.collectonly and not tr.cuda_is_available():
        keep, twins = [], []
        for item in items:
            spec = getattr(item, "callspec", None)
            (twins if spec is not None and spec.params.get("device") == "cuda" else keep).append(item)
        if twins:
            config.hook.pytest_deselected(items=twins)
            items[:] = keep
            config.stash[_TWINS] = len(twins)


_TWINS = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = config.stash.get(_TWINS, 0)
    if n:
        terminalreporter.write_line(f"{n} cuda twins deselected: {CUDA_ABSENT}; they run where a GPU is "
                                    f"(make gpu-test)")
