"""Array code inside every Function's forward/backward goes through ``ctx.xp``, never NumPy directly.

The same code runs on CuPy; a stray ``np.`` is a GPU bug that only shows on a GPU. Every module of the
package is imported (including ``nn`` modules added later), so no Function subclass escapes the check.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap

import pytest

import tinygrad_rnn
from tinygrad_rnn.autograd.function import Function

pytestmark = pytest.mark.cpu_only          # reads the package's source text: nothing runs on a device


def all_modules() -> list:
    mods = [tinygrad_rnn]
    for info in pkgutil.walk_packages(tinygrad_rnn.__path__, prefix="tinygrad_rnn."):
        if info.name.endswith(".__main__") or info.name.startswith("tinygrad_rnn.examples."):
            continue                            # importing them would run the command line / set up an example
        try:
            mods.append(importlib.import_module(info.name))
        except ImportError as e:   # an optional dependency (cupy, graphviz): report, do not hide modules
            if "tinygrad_rnn" in str(e):
                raise
    return mods


def function_classes() -> list:
    seen = {}
    for mod in all_modules():
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, Function) and obj is not Function and obj.__module__.startswith("tinygrad_rnn"):
                seen[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return sorted(seen.items())


def numpy_uses(func) -> list:
    """Names like ``np.zeros`` or ``numpy.add`` used inside ``func``'s source."""
    src = textwrap.dedent(inspect.getsource(func))
    uses = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy"):
            uses.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            if any(n and n.split(".")[0] == "numpy" for n in names):
                uses.append(f"import numpy (line {node.lineno})")
    return uses


CLASSES = function_classes()


def test_found_the_engine_ops():
    names = {cls.__name__ for _, cls in CLASSES}
    assert {"Add", "Matmul", "Softmax", "GetItem", "Dropout", "ToDevice"} <= names


@pytest.mark.parametrize("qualname,cls", CLASSES, ids=[q for q, _ in CLASSES])
def test_forward_and_backward_use_ctx_xp_only(qualname, cls):
    bad = []
    for meth in ("forward", "backward"):
        func = cls.__dict__.get(meth)
        if func is None:
            continue
        func = func.__func__ if isinstance(func, (staticmethod, classmethod)) else func
        bad += [f"{meth}: {u}" for u in numpy_uses(func)]
    assert not bad, f"{qualname} uses NumPy directly instead of ctx.xp: {bad}"


def test_the_checker_catches_numpy():
    def forward(ctx, x):
        import numpy as np
        return np.exp(x)
    assert numpy_uses(forward) == ["import numpy (line 2)", "np.exp (line 3)"]
