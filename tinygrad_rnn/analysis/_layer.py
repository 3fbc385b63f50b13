"""What the analysis functions need to know about a recurrent layer, read from its attributes.

A layer is a ``tr.nn.Recurrent`` (``tr.nn.RNN/LSTM/GRU`` are ones): its ``kind`` (the registry's
description, or ``None`` for a cell that is not registered), ``kind_name``, ``hidden_size``,
``num_layers``, ``bidirectional``, ``batch_first`` and its cells (``get_cell``). Nothing is guessed
from names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import to_numpy
from ..nn.recurrent import Recurrent
from ..nn.recurrent.kinds import CellKind



@dataclass
class LayerInfo:
    """Shape facts of a recurrent layer."""

    kind: str              # the registry name ("rnn_tanh", "lstm", ...) or the cell's class name
    hidden_size: int
    num_layers: int
    num_directions: int
    batch_first: bool
    description: CellKind | None = None


def is_recurrent_layer(module) -> bool:
    return isinstance(module, Recurrent)


def layer_info(layer) -> LayerInfo:
    if not is_recurrent_layer(layer):
        raise TypeError(f"layer: expected a recurrent layer (tr.nn.Recurrent, RNN, LSTM or GRU), got "
                        f"{type(layer).__name__}")
    return LayerInfo(layer.kind_name, int(layer.hidden_size), int(layer.num_layers), 2 if layer.bidirectional else 1,
                     bool(layer.batch_first), layer.kind)


def find_recurrent_layers(model) -> list:
    """The recurrent layers (``Recurrent`` modules) inside ``model``, in registration order."""
    if is_recurrent_layer(model):
        return [model]
    modules = model.modules() if hasattr(model, "modules") else ()
    return [m for m in modules if is_recurrent_layer(m)]


def weights(layer, k: int, d: int) -> tuple:
    """``(W_ih, W_hh, b_ih, b_hh)`` of layer ``k``, direction ``d`` as float64 NumPy arrays (biases may be None),
    with ``W_hr`` appended for an LSTM with ``proj_size`` (as a kind's ``step_jacobian`` takes them)."""
    sfx = f"_l{k}" + ("_reverse" if d else "")

    def get(name):
        p = getattr(layer, name + sfx, None)
        return None if p is None else to_numpy(p.detach()._data).astype(np.float64)

    w = (get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"))
    w_hr = get("weight_hr")
    return w if w_hr is None else w + (w_hr,)


def check_index(name: str, value: int, n: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if not 0 <= value < n:
        raise IndexError(f"{name}: expected an index in [0, {n}), got {value}")
    return int(value)
