"""Every test has a GPU twin unless it is marked ``cpu_only`` (issue 7: with a GPU, the GPU run collects
as many tests as the CPU run apart from the CPU-only ones).

A subprocess collects the whole suite with a small plugin that writes each item's id and markers; a
test that is neither ``gpu`` nor ``cpu_only`` must be parametrised over the ``device`` fixture, i.e.
its id with the ``cpu`` parameter replaced by ``cuda`` must be collected too, marked ``gpu``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))

PLUGIN = '''
import json, os

def pytest_collection_finish(session):
    items = [(item.nodeid, sorted({m.name for m in item.iter_markers()})) for item in session.items]
    with open(os.environ["PARITY_OUT"], "w") as f:
        json.dump(items, f)
'''


def _twin(nodeid: str) -> str | None:
    """The id of the ``cuda`` variant of a ``cpu``-parametrised test id, else None."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    head, params = nodeid[:-1].split("[", 1)
    parts = params.split("-")
    if "cpu" not in parts:
        return None
    return f"{head}[{'-'.join('cuda' if p == 'cpu' else p for p in parts)}]"


@pytest.mark.cpu_only      # inspects the collection of the whole suite, not a computation
def test_every_test_has_a_gpu_twin_or_is_cpu_only(tmp_path):
    (tmp_path / "parity_plugin.py").write_text(PLUGIN)
    out = tmp_path / "items.json"
    env = dict(os.environ, PARITY_OUT=str(out),
               PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "parity_plugin",
                           "-p", "no:cacheprovider", TESTS], cwd=os.path.dirname(TESTS), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    items = {nodeid: set(marks) for nodeid, marks in json.loads(out.read_text())}
    assert len(items) > 1000
    missing = []
    for nodeid, marks in items.items():
        if "gpu" in marks or "cpu_only" in marks:
            continue
        twin = _twin(nodeid)
        if twin is None or "gpu" not in items.get(twin, ()):
            missing.append(nodeid)
    assert not missing, f"{len(missing)} tests have no GPU twin and are not marked cpu_only, e.g.\n" + \
        "\n".join(missing[:40])
    gpu = sum("gpu" in m for m in items.values())
    cpu = sum("gpu" not in m and "cpu_only" not in m for m in items.values())
    assert gpu >= cpu
