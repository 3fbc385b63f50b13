"""``tr.onnx.export`` in threads: the trace is the exporting thread's own (a function mode, and class
wrappers that read that thread's trace), so another thread keeps the public functions and untraced
answers meanwhile, and two exports that overlap (ending in either order) both give right files and leave
nothing patched."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.nn import functional as F

from conftest import require

nn = tr.nn


class Paused(nn.Module):
    """Uses what the trace intercepts (tr.cat, tr.zeros with a dynamic size, F.linear, ``param + traced``,
    a submodule call), waiting on ``gate`` midway, while the trace is live."""

    def __init__(self, gate=None):
        super().__init__()
        self.lin = nn.Linear(6, 4)
        self.w = nn.Parameter(tr.randn(4, 4))
        self.b = nn.Parameter(tr.randn(4))
        self.gate = gate

    def forward(self, x):
        y = tr.cat([x, x * 2.0], dim=-1)
        if self.gate is not None:
            self.gate()
        y = self.b + F.linear(self.lin(y), self.w)
        return tr.cat([y, tr.zeros(x.size(0), 2)], dim=-1)


def _check_file(path: str, model: nn.Module) -> None:
    ort = require("onnxruntime")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for batch in (2, 5):
        x = tr.randn(batch, 3)
        with tr.no_grad():
            want = model(x).numpy()
        got = sess.run(None, {"x": x.numpy()})[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _export(model, path, errors):
    try:
        tr.onnx.export(model, (tr.randn(2, 3),), path, input_names=["x"], output_names=["y"],
                       dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    except BaseException as e:           # reported by the test thread
        errors.append(e)


def _public() -> tuple:
    return (tr.cat, tr.zeros, tr.where, F.linear, F.relu, nn.Module.__call__, tr.Tensor.__add__,
            tr.Tensor.expand, tr.Tensor.__getitem__)


@pytest.mark.cpu_only      # threads around the exporter; the exported graph runs in onnxruntime on the CPU
def test_another_thread_is_untraced_during_an_export(tmp_path):
    require("onnx")
    tr.manual_seed(0)
    before, own = _public(), dict(vars(tr.Tensor))
    inside, resume = threading.Event(), threading.Event()
    model = Paused(lambda: (inside.set(), resume.wait(10)))
    errors: list = []
    path = str(tmp_path / "m.onnx")
    t = threading.Thread(target=_export, args=(model, path, errors))
    t.start()
    try:
        assert inside.wait(10)                 # the export is mid-trace now
        # the public functions are the same objects, and run untraced here
        assert (tr.cat, tr.zeros, tr.where, F.linear, F.relu) == before[:5]
        a, b = tr.ones(2, 3), tr.zeros(2, 3)
        c = tr.cat([a, b], dim=-1)
        assert type(c) is tr.Tensor and c.shape == (2, 6)
        np.testing.assert_array_equal(c.numpy(), np.concatenate([np.ones((2, 3)), np.zeros((2, 3))], -1))
        lin = nn.Linear(3, 2)
        out = lin(a) + F.linear(a, lin.weight)
        assert type(out) is tr.Tensor and out.shape == (2, 2)
        seen: list = []

        class Record(tr.overrides.BaseTorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                seen.append(func)
                return super().__torch_function__(func, types, args, kwargs)

        with Record():                          # this thread's own mode sees its calls only
            tr.stack([a, b])
    finally:
        resume.set()
        t.join(30)
    assert not t.is_alive() and not errors, errors
    assert seen == [tr.stack]
    model.gate = None
    _check_file(path, model)
    assert _public() == before and dict(vars(tr.Tensor)) == own


@pytest.mark.cpu_only      # threads around the exporter; the exported graphs run in onnxruntime on the CPU
@pytest.mark.parametrize("first_done", ["a", "b"])
def test_overlapping_exports_in_two_threads(first_done, tmp_path):
    """A starts, B starts, then one of them finishes while the other is still tracing."""
    require("onnx")
    tr.manual_seed(1)
    before, own = _public(), dict(vars(tr.Tensor))
    started = {k: threading.Event() for k in "ab"}
    go = {k: threading.Event() for k in "ab"}

    def gate(k):
        return lambda: (started[k].set(), go[k].wait(10))

    models = {k: Paused(gate(k)) for k in "ab"}
    errors: dict = {"a": [], "b": []}
    paths = {k: str(tmp_path / f"{k}.onnx") for k in "ab"}
    threads = {k: threading.Thread(target=_export, args=(models[k], paths[k], errors[k])) for k in "ab"}
    try:
        threads["a"].start()
        assert started["a"].wait(10)
        threads["b"].start()
        assert started["b"].wait(10)           # both mid-trace
        last = "b" if first_done == "a" else "a"
        go[first_done].set()
        threads[first_done].join(30)
        go[last].set()
        threads[last].join(30)
    finally:
        for k in "ab":
            go[k].set()
            threads[k].join(30)
    assert not errors["a"] and not errors["b"], errors
    for k in "ab":
        models[k].gate = None
        _check_file(paths[k], models[k])
    assert _public() == before and dict(vars(tr.Tensor)) == own
