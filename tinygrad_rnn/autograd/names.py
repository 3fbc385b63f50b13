"""PyTorch's names for graph nodes (``AddBackward0``), as ``repr(tensor)`` shows them after ``grad_fn=``.

PyTorch names a node after the ATen function that made it, with a number for the overload
(``SumBackward0`` sums everything, ``SumBackward1`` sums over ``dim``). Most ops here make the node
PyTorch makes, under the same name plus ``Backward0``; the table lists the others. Where one op
here stands for several of PyTorch's (``reshape`` also serves ``unsqueeze``/``squeeze``/``flatten``,
``permute`` also serves ``t``/``transpose``), the name is the one of the op that ran here
(``ViewBackward0``, ``PermuteBackward0``). Nodes are named from their class name and attributes
only: this module imports nothing.
"""

from __future__ import annotations

__all__ = ["grad_fn_name"]


def _sum_like(base: str):
    def name(node) -> str:
        args = getattr(node, "args", None)
        return f"{base}Backward{0 if args is None or args[1] is None else 1}"
    return name


def _matmul(node) -> str:
    out_ndim = len(node.out_meta[0][0]) if getattr(node, "out_meta", None) else 2
    saved = node.saved or ()
    if out_ndim == 0:
        return "DotBackward0"
    if len(saved) == 2 and saved[0].ndim == 1:
        return "SqueezeBackward4"          # 1-D @ 2-D: PyTorch unsqueezes, multiplies, squeezes
    if out_ndim == 1:
        return "MvBackward0"
    return "MmBackward0" if out_ndim == 2 else "UnsafeViewBackward0"


def _getitem(node) -> str:
    index = getattr(node, "index", None)
    items = index if isinstance(index, tuple) else (index,)
    if any(hasattr(i, "dtype") or isinstance(i, list) for i in items):
        return "IndexBackward0"
    if all(isinstance(i, int) for i in items if i is not None and i is not Ellipsis):
        return "SelectBackward0"
    return "SliceBackward0"


_NAMES = {
    "Matmul": _matmul, "Sum": _sum_like("Sum"), "Mean": _sum_like("Mean"), "GetItem": _getitem,
    "Reshape": "ViewBackward0", "PowScalar": "PowBackward0", "Pow": "PowBackward1", "RPowScalar": "PowBackward2",
    "Clamp": "ClampBackward1", "Cast": "ToCopyBackward0", "ToDevice": "ToCopyBackward0",
    "Pad": "ConstantPadNdBackward0", "Dropout": "MulBackward0", "IndexPut": "IndexPutBackward0",
    "BackwardHookFunction": "BackwardHookFunctionBackward",
}


def grad_fn_name(node) -> str:
    """PyTorch's name for the node that made a tensor (``type(t.grad_fn).__name__`` in PyTorch)."""
    rule = _NAMES.get(type(node).__name__)
    if rule is None:
        return type(node).__name__ + "Backward0"
    return rule if isinstance(rule, str) else rule(node)
