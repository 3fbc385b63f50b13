"""The package's layers can be seen: every import points down the list below, lazy ones included.

    backend → autograd → ops → tensor → nn → optim, viz, analysis, io → app → the public names
    (``tinygrad_rnn/__init__.py``) → the examples

Every module's source is parsed with ``ast`` and every import is checked: top-level ones and those
inside functions (``from ..tensor import Tensor`` in a function of ``autograd`` points up as surely as
one at the top), plus ``importlib.import_module``/``__import__`` calls with a literal name. A module
may import its own unit (package) and anything in a lower layer; two units of one layer never import
each other (``viz`` does not import ``analysis``). Importing a name from the package root
(``from .. import randn``) is importing the public-names layer, the top of the library.

Also here: every ``Function`` lives under ``ops/`` (the complete derivative table).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import pkgutil

import pytest

import tinygrad_rnn
from tinygrad_rnn.autograd.function import Function

pytestmark = pytest.mark.cpu_only          # reads the package's source text: nothing runs on a device

ROOT = "tinygrad_rnn"
PACKAGE_DIR = pathlib.Path(tinygrad_rnn.__file__).parent

# Bottom to top. A layer is a tuple of units; a unit is a tuple of module prefixes that may import each other.
LAYERS = (
    ("backend", (("tinygrad_rnn.backend", "tinygrad_rnn.dtypes", "tinygrad_rnn.random", "tinygrad_rnn.cuda",
                  "tinygrad_rnn.backends"),)),
    ("autograd", (("tinygrad_rnn.autograd",),)),
    ("ops", (("tinygrad_rnn.ops",),)),
    ("tensor", (("tinygrad_rnn.tensor", "tinygrad_rnn.tensor_str", "tinygrad_rnn.functions", "tinygrad_rnn.scan",
                 "tinygrad_rnn.accelerator", "tinygrad_rnn.overrides"),)),
    ("nn", (("tinygrad_rnn.nn",),)),
    ("optim, viz, analysis, io, data, onnx", (("tinygrad_rnn.optim",), ("tinygrad_rnn.viz",),
                                              ("tinygrad_rnn.analysis",),
                                              ("tinygrad_rnn.io", "tinygrad_rnn.serialization"),
                                              ("tinygrad_rnn.utils",), ("tinygrad_rnn.onnx",))),
    ("app", (("tinygrad_rnn.app",),)),
    ("public names", (("tinygrad_rnn", "tinygrad_rnn.__main__"),)),     # the root matches only exactly
    ("examples", (("tinygrad_rnn.examples",),)),
)

# Known upward imports, each with the reason and what would remove it. Nothing else may point up.
# (Empty: the ONNX tracer's import of the root, to swap tr.cat, tr.zeros ... during export, went when the
# tracer became a function mode, tinygrad_rnn/overrides.py.) Entries are (importing module, imported module).
UPWARD_IMPORTS_ALLOWED: set[tuple[str, str]] = set()



def _matches(module: str, prefix: str) -> bool:
    if prefix == ROOT:
        return module == ROOT
    return module == prefix or module.startswith(prefix + ".")


def place(module: str) -> tuple[int, int]:
    """(layer index, unit index) of a module of the package, by its longest matching prefix."""
    best, where = -1, None
    for i, (_, units) in enumerate(LAYERS):
        for j, unit in enumerate(units):
            for prefix in unit:
                if _matches(module, prefix) and len(prefix) > best:
                    best, where = len(prefix), (i, j)
    if where is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return where


def _is_module(name: str) -> bool:
    """Whether ``name`` (a dotted name in the package) is a module or package on disk."""
    path = PACKAGE_DIR.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(module: str, source: str, is_package: bool) -> list[tuple[str, int]]:
    """(imported module of the package, line) for every import in ``source``, lazy ones included."""
    package = module if is_package else module.rpartition(".")[0]
    found = []

    def add(name: str | None, line: int) -> None:
        if name and (name == ROOT or name.startswith(ROOT + ".")) and (name, line) not in found:
            found.append((name, line))

    def resolve(level: int, name: str | None) -> str:
        if level == 0:
            return name or ""
        base = package.split(".")
        base = base[:len(base) - (level - 1)]
        return ".".join(base + ([name] if name else []))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node.level, node.module)
            for alias in node.names:           # `from . import nn` imports a module; `from .. import randn` the root
                sub = f"{base}.{alias.name}"
                add(sub if _is_module(sub) else base, node.lineno)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if fname in ("import_module", "__import__"):
                text = node.args[0].value
                level = len(text) - len(text.lstrip("."))
                add(resolve(level, text[level:] or None), node.lineno)
    return found


def violations(module: str, source: str, is_package: bool) -> list[str]:
    """Each import of ``module`` that points up the layers or sideways into another unit of its layer."""
    layer, unit = place(module)
    bad = []
    for target, line in imports(module, source, is_package):
        if (module, target) in UPWARD_IMPORTS_ALLOWED:
            continue
        t_layer, t_unit = place(target)
        if t_layer > layer or (t_layer == layer and t_unit != unit):
            direction = "up" if t_layer > layer else "sideways"
            bad.append(f"{module} (line {line}) imports {target}: {direction} from layer "
                       f"'{LAYERS[layer][0]}' to '{LAYERS[t_layer][0]}'")
    return bad


def package_modules() -> list[tuple[str, pathlib.Path, bool]]:
    mods = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = (ROOT, *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        mods.append((".".join(parts[:-1] if is_package else parts), path, is_package))
    return mods


MODULES = package_modules()


@pytest.mark.parametrize("module,path,is_package", MODULES, ids=[m for m, _, _ in MODULES])
def test_imports_point_down_the_layers(module, path, is_package):
    bad = violations(module, path.read_text(encoding="utf-8"), is_package)
    assert not bad, "\n".join(bad)


def unresolved(module: str, source: str, is_package: bool) -> list[str]:
    """Imports of the package whose module does not exist (e.g. ``from .nn import X`` left in a file that
    moved one folder down: a merge carries such lines into ``app/`` silently)."""
    return [f"{module} (line {line}) imports {name}, which is no module of the package"
            for name, line in imports(module, source, is_package) if name != ROOT and not _is_module(name)]


@pytest.mark.parametrize("module,path,is_package", MODULES, ids=[m for m, _, _ in MODULES])
def test_imports_name_existing_modules(module, path, is_package):
    bad = unresolved(module, path.read_text(encoding="utf-8"), is_package)
    assert not bad, "\n".join(bad)


def test_an_import_of_a_missing_module_fails():
    bad = unresolved("tinygrad_rnn.app.cli", "def f():\n    from .nn.recurrent import cells\n", False)
    assert bad == ["tinygrad_rnn.app.cli (line 2) imports tinygrad_rnn.app.nn.recurrent, which is no module of "
                   "the package"]


def test_the_walk_sees_every_layer():
    placed = {LAYERS[place(m)[0]][0] for m, _, _ in MODULES}
    assert placed == {name for name, _ in LAYERS}


@pytest.mark.parametrize("module,source,is_package,expected", [
    # lazy: inside a function, as the engine's old `from ..tensor import Tensor`
    ("tinygrad_rnn.autograd.engine", "def f():\n    from ..tensor import Tensor\n", False,
     "imports tinygrad_rnn.tensor: up from layer 'autograd' to 'tensor'"),
    ("tinygrad_rnn.ops.movement", "from .. import tensor\n", False, "up from layer 'ops' to 'tensor'"),
    ("tinygrad_rnn.nn.module", "import tinygrad_rnn.viz.dot\n", False, "up from layer 'nn'"),
    ("tinygrad_rnn.viz.render", "def g():\n    from .. import manual_seed, randn\n", False,
     "imports tinygrad_rnn: up from layer 'optim, viz, analysis, io, data, onnx' to 'public names'"),
    ("tinygrad_rnn.viz", "from ..analysis import traces\n", True, "sideways"),
    ("tinygrad_rnn.analysis.traces", "import importlib\nimportlib.import_module('tinygrad_rnn.app.cli')\n", False,
     "up from layer 'optim, viz, analysis, io, data, onnx' to 'app'"),
    ("tinygrad_rnn.app.cli", "def h():\n    import tinygrad_rnn as tr\n", False, "up from layer 'app'"),
])
def test_a_planted_violation_fails(module, source, is_package, expected):
    bad = violations(module, source, is_package)
    assert len(bad) == 1 and expected in bad[0], bad


def test_downward_imports_pass():
    assert violations("tinygrad_rnn.nn.linear", "from ..tensor import Tensor\nfrom . import init\n", False) == []
    assert violations("tinygrad_rnn.app.experiments", "from .. import nn, optim\nfrom . import tasks\n", False) == []
    assert violations("tinygrad_rnn.examples.char_lm", "import tinygrad_rnn as tr\n", False) == []


# Issue 12, item 6: no file of the engine passes ~600 lines, so each can be read at once (tensor.py, 2,000 lines,
# became the tensor/ package: the class from mixins by theme, creation, indexing, promotion beside it).
ENGINE_LAYERS = ("backend", "autograd", "ops", "tensor")
ENGINE_MAX_LINES = 600


def long_engine_modules(modules, max_lines: int = ENGINE_MAX_LINES) -> list[str]:
    """``"module: N lines"`` for each module of the engine layers longer than ``max_lines``."""
    out = []
    for module, path, _ in modules:
        n = len(path.read_text(encoding="utf-8").splitlines())
        if LAYERS[place(module)[0]][0] in ENGINE_LAYERS and n > max_lines:
            out.append(f"{module}: {n} lines")
    return out


def test_no_engine_module_passes_600_lines():
    long = long_engine_modules(MODULES)
    assert not long, f"engine modules over {ENGINE_MAX_LINES} lines (split them by theme): {long}"


def test_a_long_engine_module_is_found(tmp_path):
    path = tmp_path / "tensor.py"
    path.write_text("x = 1\n" * 601, encoding="utf-8")
    assert long_engine_modules([("tinygrad_rnn.tensor", path, False),
                                ("tinygrad_rnn.viz.dot", path, False)]) == ["tinygrad_rnn.tensor: 601 lines"]


def _function_classes() -> list[str]:
    """Qualified names of every ``Function`` subclass the package defines that is an op (has a
    ``forward`` of its own; a base such as autograd's ``ViewFunction`` is machinery)."""
    names = set()
    for info in pkgutil.walk_packages(tinygrad_rnn.__path__, prefix="tinygrad_rnn."):
        if info.name.endswith(".__main__") or info.name.startswith("tinygrad_rnn.examples."):
            continue                       # importing them would run a command line or an example
        try:
            mod = importlib.import_module(info.name)
        except ImportError as e:           # an optional dependency (cupy, graphviz)
            if "tinygrad_rnn" in str(e):
                raise
            continue
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if (issubclass(obj, Function) and obj is not Function and obj.__module__.startswith("tinygrad_rnn")
                    and "forward" in vars(obj)):
                names.add(f"{obj.__module__}.{obj.__qualname__}")
    return sorted(names)


def test_every_function_lives_under_ops():
    names = _function_classes()
    assert {"tinygrad_rnn.ops.device.ToDevice", "tinygrad_rnn.ops.nn.LogSigmoid",
            "tinygrad_rnn.ops.nn.BinaryCrossEntropy"} <= set(names)
    outside = [n for n in names if not n.startswith("tinygrad_rnn.ops.")]
    assert not outside, f"Functions outside tinygrad_rnn/ops/: {outside}"


def test_the_examples_ship_inside_the_package():
    """``tinygrad-rnn train NAME`` runs a script inside the package, so it works after ``pip install .``
    from any folder (checked by hand: a non-editable install in a fresh venv, run from /tmp)."""
    from tinygrad_rnn.app import cli
    folder = pathlib.Path(cli.examples_folder())
    assert folder.parent == PACKAGE_DIR and (folder / "__init__.py").is_file()   # a package: setuptools ships it
    assert {p.stem for p in folder.glob("*.py")} - {"__init__"} == set(cli.EXAMPLES)
