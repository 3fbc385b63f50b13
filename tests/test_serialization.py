"""Whole-module checkpoints and ``tr.serialization``'s allowlist (PyTorch's weights_only model), and the
``tr.nn.modules`` paths that PyTorch programs list there."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
from conftest import require

import tinygrad_rnn as tr
from tinygrad_rnn import nn

INIT_CALLS = []


class TinyNet(nn.Module):
    def __init__(self, vocab=7, hidden=5):
        super().__init__()
        INIT_CALLS.append(1)                  # loading must not run this
        self.emb = nn.Embedding(vocab, 4, padding_idx=0)
        self.rnn = nn.GRU(4, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)
        self.head.weight = nn.Parameter(tr.randn(vocab, hidden))
        self.register_buffer("scale", tr.tensor([2.0]))
        self.register_buffer("cache", tr.zeros(3), persistent=False)
        self.frozen = nn.Parameter(tr.ones(2), requires_grad=False)
        self.config = {"vocab": vocab, "hidden": hidden, "tags": ("a", "b"), "ratio": 0.5}

    def forward(self, x):
        out, _ = self.rnn(self.emb(x))
        return self.head(out) * self.scale


class Other(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        return self.lin(x)


@pytest.fixture(autouse=True)
def _clean_allowlist():
    tr.serialization.clear_safe_globals()
    yield
    tr.serialization.clear_safe_globals()


def _saved(model) -> io.BytesIO:
    buf = io.BytesIO()
    tr.save(model, buf)
    buf.seek(0)
    return buf


# ----------------------------------------------------------------------------------------- the allowlist API
@pytest.mark.cpu_only   # a registry of classes; no tensor
def test_add_get_clear_and_context_manager():
    assert tr.serialization.get_safe_globals() == []
    tr.serialization.add_safe_globals([TinyNet])
    tr.serialization.add_safe_globals([TinyNet, (Other, "elsewhere.Other")])
    assert tr.serialization.get_safe_globals() == [TinyNet, (Other, "elsewhere.Other")]
    with tr.serialization.safe_globals([Other, TinyNet]):
        assert tr.serialization.get_safe_globals() == [TinyNet, (Other, "elsewhere.Other"), Other]
    assert tr.serialization.get_safe_globals() == [TinyNet, (Other, "elsewhere.Other")]   # TinyNet stays
    tr.serialization.clear_safe_globals()
    assert tr.serialization.get_safe_globals() == []


@pytest.mark.cpu_only   # argument validation; no tensor
@pytest.mark.parametrize("bad", [TinyNet, "TinyNet", [3], [(TinyNet,)], [(TinyNet, 3)]])
def test_bad_entries_are_type_errors_and_add_nothing(bad):
    with pytest.raises(TypeError, match="safe_globals"):
        tr.serialization.add_safe_globals(bad)
    with pytest.raises(TypeError, match="safe_globals"):
        tr.serialization.safe_globals(bad)
    assert tr.serialization.get_safe_globals() == []


@pytest.mark.cpu_only   # the same registry calls on torch, live
def test_allowlist_api_matches_torch():
    torch = require("torch")
    for ser, net in ((torch.serialization, torch.nn.Linear), (tr.serialization, nn.Linear)):
        ser.clear_safe_globals()
        ser.add_safe_globals([net])
        with ser.safe_globals([TinyNet]):
            assert set(ser.get_safe_globals()) == {net, TinyNet}
        assert ser.get_safe_globals() == [net]
        ser.clear_safe_globals()
        assert ser.get_safe_globals() == []


# ----------------------------------------------------------------------------------------- whole modules
def _check_same_model(a, b, x):
    assert type(b) is type(a)
    assert [n for n, _ in a.named_parameters()] == [n for n, _ in b.named_parameters()]
    for (n, p), q in zip(a.state_dict(keep_vars=True).items(), b.state_dict(keep_vars=True).values()):
        assert type(q) is type(p) and q.requires_grad == p.requires_grad and q.device == p.device, n
        np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())
    np.testing.assert_array_equal(b(x).detach().numpy(), a(x).detach().numpy())


def test_a_user_module_is_refused_until_allowed(device):
    model = TinyNet().to(device)
    buf = _saved(model)
    with pytest.raises(tr.serialization.UnpicklingError,
                       match=r"class '[\w.]*TinyNet'.*not an allowed class.*add_safe_globals\(\[TinyNet\]\)"
                             r".*safe_globals\(\[TinyNet\]\)") as info:
        tr.load(buf)
    assert isinstance(info.value, ValueError) and isinstance(info.value, pickle.UnpicklingError)
    for weights_only in (None, True, False):          # weights_only never lifts the allowlist
        buf.seek(0)
        with pytest.raises(ValueError, match="not an allowed class"):
            tr.load(buf, weights_only=weights_only)
    INIT_CALLS.clear()
    x = tr.tensor([[1, 2, 0], [3, 4, 5]], device=device)
    with tr.serialization.safe_globals([TinyNet]):
        buf.seek(0)
        back = tr.load(buf, weights_only=True)
    assert INIT_CALLS == []                           # rebuilt without running TinyNet.__init__
    _check_same_model(model, back, x)
    assert back.config == model.config and back.training
    assert "cache" not in back.state_dict() and back.cache.shape == (3,)
    assert back._non_persistent_buffers_set == {"cache"}
    buf.seek(0)
    with pytest.raises(ValueError, match="not an allowed class"):   # the context is over
        tr.load(buf)


def test_modules_of_this_package_are_allowed_by_default(tmp_path, device):
    x = tr.randn(4, 2, 3, device=device)
    for model in (nn.LSTM(3, 5, num_layers=2, bidirectional=True, dropout=0.1),
                  nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Dropout(0.5), nn.Linear(4, 2)),
                  nn.ModuleDict({"a": nn.GRUCell(3, 2)}), nn.modules.rnn.RNN(3, 2, nonlinearity="relu")):
        model = model.to(device).eval()
        tr.save(model, tmp_path / "m.ckpt")
        back = tr.load(tmp_path / "m.ckpt")
        assert not back.training and all(not m.training for m in back.modules())
        if isinstance(model, nn.ModuleDict):
            np.testing.assert_array_equal(back["a"](x[0]).numpy(), model["a"](x[0]).numpy())
        else:
            out_a, out_b = model(x), back(x)
            out_a, out_b = (out_a[0], out_b[0]) if isinstance(out_a, tuple) else (out_a, out_b)
            np.testing.assert_array_equal(out_b.detach().numpy(), out_a.detach().numpy())
        assert repr(back) == repr(model)


def test_tied_weights_stay_tied_and_train(device):
    model = Other().to(device)
    model.lin2 = nn.Linear(2, 2).to(device)
    model.lin2.weight = model.lin.weight
    model.alias = model.lin                           # the same sub-module twice
    with tr.serialization.safe_globals([Other]):
        back = tr.load(_saved(model))
    assert back.lin2.weight is back.lin.weight and back.alias is back.lin
    assert len(list(back.parameters())) == len(list(model.parameters())) == 3
    opt = tr.optim.SGD(back.parameters(), lr=0.1)
    before = back.lin.weight.detach().numpy().copy()
    back.lin2(back(tr.ones(1, 2, device=device))).sum().backward()
    opt.step()
    assert not np.array_equal(back.lin.weight.detach().numpy(), before)


@pytest.mark.cpu_only   # allowlist lookup by the name in the file; host module
def test_a_pair_entry_maps_the_files_name_to_a_class():
    buf = _saved(Other())
    name = json.loads(np.load(io.BytesIO(buf.getvalue()))["__manifest__"].tobytes())["root"]["class"]
    assert name.endswith("test_serialization.Other")

    class Renamed(Other):
        pass

    with tr.serialization.safe_globals([(Renamed, name)]):
        assert type(tr.load(buf)) is Renamed


@pytest.mark.cpu_only   # save-time type errors; host module
def test_unsavable_attributes_are_type_errors_naming_them(tmp_path):
    model = Other()
    model.fn = lambda x: x
    with pytest.raises(TypeError, match="function at fn"):
        tr.save(model, tmp_path / "m.ckpt")
    assert not list(tmp_path.iterdir())


def _module_file(root) -> io.BytesIO:
    raw = json.dumps({"format": "tinygrad_rnn.checkpoint", "version": 1, "root": root}).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        with z.open("__manifest__.npy", "w") as m:
            np.lib.format.write_array(m, np.frombuffer(raw, np.uint8))
    buf.seek(0)
    return buf


@pytest.mark.cpu_only   # hostile manifests parsed on the host
@pytest.mark.parametrize("root,match", [
    ({"type": "module", "class": "collections.Counter", "state": []}, "not a tr.nn.Module subclass"),
    ({"type": "module", "class": "os.system", "state": []}, "'os.system'.*not an allowed class"),
    ({"type": "module", "class": "tinygrad_rnn.nn.linear.Linear",
      "state": [["_parameters", {"type": "list", "items": []}]]}, "'_parameters' is not an OrderedDict"),
    ({"type": "module", "class": "tinygrad_rnn.nn.linear.Linear",
      "state": [["_modules", {"type": "odict", "items": [["x", {"type": "int", "value": 1}]]}]]},
     "'_modules' is not an OrderedDict of Module"),
    ({"type": "module", "class": "tinygrad_rnn.nn.linear.Linear",
      "state": [["training", {"type": "str", "value": "yes"}]]}, "'training' is not a bool"),
    ({"type": "module", "class": "tinygrad_rnn.nn.linear.Linear", "state": [[1, {"type": "none"}]]},
     "state items"),
    ({"type": "list", "items": [{"type": "ref", "id": 0}]}, "refers to object 0"),
    ({"type": "set", "items": [{"type": "list", "items": []}]}, "a set may hold only"),
])
def test_hostile_module_entries(root, match):
    import collections
    with tr.serialization.safe_globals([collections.Counter]):
        with pytest.raises(ValueError, match=match):
            tr.load(_module_file(root))


@pytest.mark.cpu_only   # counts array reads of a host checkpoint
def test_an_unlisted_class_is_refused_before_any_array_is_read(monkeypatch):
    buf = _saved(TinyNet())
    reads = []
    real = tr.io._Archive.read
    monkeypatch.setattr(tr.io._Archive, "read", lambda self, key, h: reads.append(key) or real(self, key, h))
    with pytest.raises(ValueError, match="not an allowed class"):
        tr.load(buf)
    assert reads == ["__manifest__"]


@pytest.mark.cpu_only   # sets and OrderedDicts as plain objects
def test_sets_and_ordered_dicts_round_trip():
    import collections
    obj = {"s": {1, "a", None}, "f": frozenset({2.5}), "o": collections.OrderedDict([("b", 1), ("a", 2)])}
    buf = io.BytesIO()
    tr.save(obj, buf)
    buf.seek(0)
    back = tr.load(buf)
    assert back == obj and type(back["o"]) is collections.OrderedDict and type(back["f"]) is frozenset
    with pytest.raises(TypeError, match="sets may hold only"):
        tr.save({(1, 2)}, io.BytesIO())


# ----------------------------------------------------------------------------------------- tr.nn.modules paths
_PATHS = {"rnn": ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RNNBase"], "dropout": ["Dropout"],
          "sparse": ["Embedding"], "linear": ["Linear", "Identity"],
          "container": ["Sequential", "ModuleList", "ModuleDict"],
          "activation": ["ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "GELU", "SiLU", "MultiheadAttention"],
          "normalization": ["LayerNorm"],
          "transformer": ["Transformer", "TransformerEncoder", "TransformerEncoderLayer", "TransformerDecoder",
                          "TransformerDecoderLayer"],
          "loss": ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss"],
          "module": ["Module"]}


@pytest.mark.cpu_only   # import paths only
def test_nn_modules_paths_are_the_same_classes():
    import tinygrad_rnn.nn.modules.rnn as rnn_path
    assert rnn_path.LSTM is nn.LSTM
    for sub, names in _PATHS.items():
        mod = getattr(nn.modules, sub)
        for name in names:
            cls = getattr(nn.recurrent, name) if name == "RNNBase" else getattr(nn, name)
            assert getattr(mod, name) is cls and getattr(nn.modules, name) is cls, (sub, name)


@pytest.mark.cpu_only   # import paths only, against torch's
def test_nn_modules_paths_exist_in_torch():
    torch = require("torch")
    for sub, names in _PATHS.items():
        for name in names:
            assert hasattr(getattr(torch.nn.modules, sub), name), (sub, name)


def test_a_recurrent_layer_over_a_user_cell_saves_whole(tmp_path, device):
    # Recurrent holds its cell *class*: saved by name, rebuilt only when that class is allowed
    from mgu_cell import MGUCell
    tr.manual_seed(3)
    layer = nn.Recurrent(MGUCell, 3, 4, num_layers=2, bidirectional=True).to(device)
    x = tr.randn(5, 2, 3, device=device)
    out, h_n = layer(x)
    tr.save(layer, tmp_path / "mgu.pt")
    with pytest.raises(tr.serialization.UnpicklingError, match="MGUCell"):
        tr.load(tmp_path / "mgu.pt")
    with tr.serialization.safe_globals([MGUCell]):
        back = tr.load(tmp_path / "mgu.pt")
    assert back.cell is MGUCell and back.kind is None
    out2, h_n2 = back(x)
    np.testing.assert_array_equal(out2.cpu().numpy(), out.cpu().numpy())
    np.testing.assert_array_equal(h_n2.cpu().numpy(), h_n.cpu().numpy())
    assert back.state_dict().keys() == layer.state_dict().keys()
