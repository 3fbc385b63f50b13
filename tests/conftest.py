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


def pytest_collection_modifyitems(config, items):
    """`-m gpu` runs collect the cpu_only tests too; skip them there with a reason."""
    markexpr = config.getoption("-m") or ""
    if "gpu" in markexpr and "not gpu" not in markexpr:
        for item in items:
            if item.get_closest_marker("cpu_only"):
                item.add_marker(pytest.mark.skip(reason="CPU-only check"))
