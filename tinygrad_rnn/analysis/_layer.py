"""What the analysis functions need to know about a recurrent layer: its kind and per-step weights.

Everything is read through PyTorch's public names (``mode``/class name, ``hidden_size``,
``num_layers``, ``bidirectional``, ``batch_first``, ``weight_ih_l{k}[_reverse]`` ...), so the same
code reads ``tr.nn.RNN/LSTM/GRU``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import to_numpy

# kind -> (number of gate blocks, names of the blocks in PyTorch's order)
GATES = {"rnn_tanh": ("h",), "rnn_relu": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


@dataclass
class LayerInfo:
    """Shape facts of a recurrent layer."""

    kind: str              # "rnn_tanh" | "rnn_relu" | "lstm" | "gru"
    hidden_size: int
    num_layers: int
    num_directions: int
    batch_first: bool


def layer_kind(layer) -> str:
    """``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"`` or ``"gru"`` for a ``tr.nn.RNN/LSTM/GRU`` (or torch's)."""
    mode = getattr(layer, "mode", None)
    if isinstance(mode, str):
        m = mode.lower()
        if m in GATES:
            return m
        if m == "rnn":
            return "rnn_" + getattr(layer, "nonlinearity", "tanh")
    name = type(layer).__name__.lower()
    if name.startswith("lstm"):
        return "lstm"
    if name.startswith("gru"):
        return "gru"
    if name.startswith("rnn"):
        return "rnn_" + getattr(layer, "nonlinearity", "tanh")
    raise TypeError(f"layer: expected a recurrent layer (tr.nn.RNN, LSTM or GRU), got {type(layer).__name__}")


def is_recurrent_layer(module) -> bool:
    try:
        layer_kind(module)
    except TypeError:
        return False
    return hasattr(module, "hidden_size") and hasattr(module, "num_layers")


def layer_info(layer) -> LayerInfo:
    kind = layer_kind(layer)
    return LayerInfo(kind, int(layer.hidden_size), int(layer.num_layers), 2 if layer.bidirectional else 1,
                     bool(getattr(layer, "batch_first", False)))


def find_recurrent_layers(model) -> list:
    """The recurrent layers (RNN/LSTM/GRU modules) inside ``model``, in registration order."""
    if is_recurrent_layer(model):
        return [model]
    modules = model.modules() if hasattr(model, "modules") else ()
    return [m for m in modules if is_recurrent_layer(m)]


def weights(layer, k: int, d: int) -> tuple:
    """``(W_ih, W_hh, b_ih, b_hh)`` of layer ``k``, direction ``d`` as float64 NumPy arrays (biases may be None)."""
    sfx = f"_l{k}" + ("_reverse" if d else "")

    def get(name):
        p = getattr(layer, name + sfx, None)
        return None if p is None else to_numpy(p.detach()._data).astype(np.float64)

    return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")


def check_index(name: str, value: int, n: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if not 0 <= value < n:
        raise IndexError(f"{name}: expected an index in [0, {n}), got {value}")
    return int(value)
