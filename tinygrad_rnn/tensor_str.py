"""``repr(tensor)`` in PyTorch's layout and number formatting (``torch/_tensor_str.py``'s rules).

One formatter per tensor picks how every element is written, from the nonzero finite values:
integers-only floats print as ``1.``, values spanning more than 1000× (or above 1e8, or below 1e-4
in magnitude) switch to scientific ``1.0000e-05``, and the rest print with 4 decimals; all elements
are right-aligned to one width. Rows wrap at 80 columns; tensors of more than 1000 elements show
their first and last 3 entries per dim around ``...``. The suffixes follow: ``device=``, ``dtype=``
(unless float32 — the default float dtype —, int64 or bool), ``grad_fn=<AddBackward0>`` or
``requires_grad=True``.
"""

from __future__ import annotations

import math

import numpy as np

PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH = 4, 1000, 3, 80


class _Formatter:
    def __init__(self, values: np.ndarray) -> None:
        self.floating = values.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.max_width = True, False, 1
        flat = values.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(str(v)))
            return
        finite = flat[np.isfinite(flat) & (flat != 0)]
        if finite.size == 0:
            return
        mag = np.abs(finite.astype(np.float64))
        lo, hi = float(mag.min()), float(mag.max())
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        for v in finite.astype(np.float64).tolist():
            if self.sci_mode:
                width = len(f"{v:.{PRECISION}e}")
            elif self.int_mode:
                width = len(f"{v:.0f}") + 1
            else:
                width = len(f"{v:.{PRECISION}f}")
            self.max_width = max(self.max_width, width)

    def format(self, value) -> str:
        if self.floating:
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{PRECISION}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{PRECISION}f}"
        else:
            ret = f"{value}"
        return (self.max_width - len(ret)) * " " + ret


def _summarized(a: np.ndarray) -> np.ndarray:
    """The elements that a summarised print shows (the formatter is fitted to them only)."""
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate([a[:EDGEITEMS], a[-EDGEITEMS:]]) if a.shape[0] > 2 * EDGEITEMS else a
    rows = list(range(EDGEITEMS)) + list(range(a.shape[0] - EDGEITEMS, a.shape[0])) \
        if a.shape[0] > 2 * EDGEITEMS else range(a.shape[0])
    return np.stack([_summarized(a[i]) for i in rows])


def _vector(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    per_line = max(1, math.floor((LINEWIDTH - indent) / (fmt.max_width + 2)))
    if summarize and a.shape[0] > 2 * EDGEITEMS:
        data = ([fmt.format(v) for v in _py(a[:EDGEITEMS])] + [" ..."] +
                [fmt.format(v) for v in _py(a[-EDGEITEMS:])])
    else:
        data = [fmt.format(v) for v in _py(a)]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _py(a: np.ndarray) -> list:
    return (a.astype(np.float64) if a.dtype.kind == "f" else a).tolist()


def _with_formatter(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if a.ndim == 0:
        return fmt.format(_py(a))
    if a.ndim == 1:
        return _vector(a, indent, summarize, fmt)
    if summarize and a.shape[0] > 2 * EDGEITEMS:
        n = a.shape[0]
        slices = ([_with_formatter(a[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)] + ["..."] +
                  [_with_formatter(a[i], indent + 1, summarize, fmt) for i in range(n - EDGEITEMS, n)])
    else:
        slices = [_with_formatter(a[i], indent + 1, summarize, fmt) for i in range(a.shape[0])]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def array_str(a: np.ndarray, indent: int) -> str:
    """The bracketed body of a tensor's repr, ``indent`` columns in."""
    if a.size == 0:
        return "[]"
    summarize = a.size > THRESHOLD
    return _with_formatter(a, indent, summarize, _Formatter(_summarized(a) if summarize else a))


def _add_suffixes(text: str, suffixes: list, indent: int) -> str:
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(a: np.ndarray, *, dtype_name: str, default_float: np.dtype, device: str | None,
                grad_fn: str | None, requires_grad: bool) -> str:
    """PyTorch's ``repr`` of a tensor holding ``a`` (a NumPy array).

    Args:
        dtype_name: the dtype as PyTorch prints it (``"torch.float64"``).
        default_float: the default float dtype (not shown when the tensor has it).
        device: the device text to show (``"cuda:0"``), or None when it is the default device.
        grad_fn: the node's name (``"AddBackward0"``), or None for a leaf.
    """
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if device is not None:
        suffixes.append(f"device='{device}'")
    if a.size == 0:
        if a.ndim != 1:
            suffixes.append("size=" + str(tuple(a.shape)))
        if a.dtype != default_float:
            suffixes.append("dtype=" + dtype_name)
        body = "[]"
    else:
        if a.dtype not in (default_float, np.dtype("int64"), np.dtype("bool")):
            suffixes.append("dtype=" + dtype_name)
        body = array_str(a, indent)
    if grad_fn is not None:
        suffixes.append(f"grad_fn=<{grad_fn}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
