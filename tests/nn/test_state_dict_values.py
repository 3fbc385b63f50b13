"""``load_state_dict`` with values that are not numeric arrays: an error naming the key, the module unchanged."""

import numpy as np
import pytest
from conftest import require

import tinygrad_rnn as tr

BAD = [np.array([["a", "b"]]), np.array([[b"a", b"b"]]), np.array([[None, 1.0]], dtype=object),
       np.array([["2020-01-01", "2020-01-02"]], dtype="datetime64[D]"), np.array([[1 + 1j, 2]]),
       "ab", [["a", "b"]], {"x": 1}, None]


@pytest.mark.parametrize("value", BAD, ids=lambda v: type(v).__name__ + str(getattr(v, "dtype", "")))
def test_non_numeric_values_name_the_key_and_change_nothing(device, value):
    lin = tr.nn.Linear(2, 1).to(device)
    before = {k: v.numpy().copy() for k, v in lin.state_dict().items()}
    versions = [p._version.value for p in lin.parameters()]
    with pytest.raises(TypeError, match="value for 'weight'") as info:
        lin.load_state_dict({"bias": tr.full((1,), 5.0), "weight": value})     # bias would be copied first
    assert isinstance(info.value, RuntimeError)                                   # as PyTorch raises
    assert isinstance(info.value, tr.nn.module.StateDictValueError)
    for k, v in lin.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    assert [p._version.value for p in lin.parameters()] == versions


@pytest.mark.cpu_only   # the reference: torch refuses the same values, live
def test_torch_refuses_them_too():
    torch = require("torch")
    lin = torch.nn.Linear(2, 1)
    for value in BAD[:5] + ["ab"]:
        with pytest.raises(RuntimeError, match='named "weight"'):
            lin.load_state_dict({"bias": torch.zeros(1), "weight": value})


def test_numeric_arrays_of_any_kind_still_load(device):
    lin = tr.nn.Linear(2, 1).to(device)
    lin.load_state_dict({"weight": np.array([[1, 2]], np.int64), "bias": np.array([True])})
    np.testing.assert_array_equal(lin.weight.detach().numpy(), [[1.0, 2.0]])
    assert lin.weight.dtype == tr.float32 and lin.bias.detach().numpy().tolist() == [1.0]
