"""``tr.nn.functional``: layers and losses as functions, with PyTorch's names, arguments and semantics.

    import tinygrad_rnn.nn.functional as F
    loss = F.cross_entropy(logits, target, ignore_index=0, label_smoothing=0.1)

Everything is composed from Tensor ops (``log_softmax``, ``gather``, ``where``, ...), so gradients
come from their VJPs; only ``logsigmoid`` and ``binary_cross_entropy`` have their own ``Function``s
(``ops.LogSigmoid``: a stable log(σ(x)) with the exact ``log1p``; ``ops.BinaryCrossEntropy``: PyTorch's
clamped logs). Index checks (targets, embedding rows, one-hot classes) read the indices back to
the host: on the GPU they synchronise.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ..autograd import is_grad_enabled
from ..ops import BinaryCrossEntropy, LogSigmoid
from ..overrides import dispatchable
from ..tensor import Tensor, dropout as _dropout, pad_fn, where

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "embedding",
           "l1_loss", "linear", "log_softmax", "logsigmoid", "mse_loss", "nll_loss", "one_hot", "pad", "relu",
           "sigmoid", "softmax", "tanh"]

_REDUCTIONS = ("none", "mean", "sum")


# --------------------------------------------------------------------- argument checks


def _tensor_arg(x, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    return x


def _float_arg(x, name: str) -> Tensor:
    _tensor_arg(x, name)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    return x


def _reduction(reduction: str, size_average=None, reduce=None) -> str:
    """The reduction, with PyTorch's legacy ``size_average``/``reduce`` flags folded in."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _same_shape(input: Tensor, target: Tensor, fn: str) -> None:
    if input.shape != target.shape:
        raise ValueError(f"{fn}: target size {tuple(target.shape)} must be the same as input size "
                         f"{tuple(input.shape)}")


# --------------------------------------------------------------------- layers


@dispatchable
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b, for x of shape (*, in_features), W (out_features, in_features), b (out_features)."""
    _tensor_arg(input, "input")
    _tensor_arg(weight, "weight")
    if weight.ndim not in (1, 2):
        raise ValueError(f"linear: weight must be 1-D or 2-D, got shape {tuple(weight.shape)}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {tuple(input.shape)} does not match weight of shape "
                         f"{tuple(weight.shape)} (expected input.shape[-1] == {weight.shape[-1]})")
    out = input.matmul(weight.t())
    return out if bias is None else out + bias


def _check_indices(idx: Tensor, n: int, what: str) -> None:
    """Raise IndexError unless every index is in [0, n). Reads two numbers back: synchronises on the GPU."""
    data = idx._data
    if data.size == 0:
        return
    lo, hi = int(data.min()), int(data.max())
    if lo < 0 or hi >= n:
        bad = hi if hi >= n else lo
        raise IndexError(f"{what} {bad} is out of bounds: expected values in [0, {n - 1}] ({n} classes)"
                         if what.startswith("Target") else
                         f"{what}: index {bad} is out of range for {n} rows (valid: 0..{n - 1})")


@dispatchable
def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """y[...] = weight[input[...]]: rows of ``weight`` looked up by integer ``input`` (any shape).

    Repeated indices accumulate their gradients; the ``padding_idx`` row gets zero gradient. With
    ``max_norm``, looked-up rows whose ``norm_type``-norm exceeds it are rescaled in place first (as
    PyTorch). Indices are range-checked on every backend (on the GPU the check synchronises).
    """
    _tensor_arg(input, "input")
    _tensor_arg(weight, "weight")
    if input.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must be an integer (long) tensor of indices, got dtype {input.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{tuple(weight.shape)}")
    if scale_grad_by_freq or sparse:
        raise ValueError("embedding: scale_grad_by_freq=True and sparse=True are not supported")
    n = weight.shape[0]
    _check_indices(input, n, "embedding")
    if padding_idx is not None:
        padding_idx = _padding_idx(padding_idx, n)
    if max_norm is not None:
        _renorm_rows(weight, input, max_norm, norm_type)
    out = weight[input]
    if padding_idx is not None and weight.requires_grad and is_grad_enabled():
        keep = (input != padding_idx).unsqueeze(-1)
        out = where(keep, out, out.detach())    # same values; no gradient into the padding row
    return out


def _padding_idx(padding_idx: int, n: int) -> int:
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"padding_idx: expected an int or None, got {type(padding_idx).__name__}")
    if not -n <= padding_idx < n:
        raise ValueError(f"padding_idx: must be within num_embeddings ({n}), got {padding_idx}")
    return int(padding_idx) % n


def _renorm_rows(weight: Tensor, input: Tensor, max_norm: float, norm_type: float) -> None:
    """weight[r] *= max_norm / (‖weight[r]‖ + 1e-7) for looked-up rows r whose norm exceeds max_norm."""
    xp = weight._xp
    rows = xp.unique(input._data.reshape(-1))
    w = weight._data[rows]
    norms = (xp.abs(w) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(weight.dtype)
    weight._data[rows] = w * scale[:, None]
    weight._version.value += 1


@dispatchable
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p), in training only."""
    if inplace:
        raise ValueError("dropout: inplace=True is not supported; use the returned tensor")
    return _dropout(_tensor_arg(input, "input"), p, training, generator=generator)


@dispatchable
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    if inplace:
        raise ValueError("relu: inplace=True is not supported; use the returned tensor")
    return _tensor_arg(input, "input").relu()


@dispatchable
def tanh(input: Tensor) -> Tensor:
    return _tensor_arg(input, "input").tanh()


@dispatchable
def sigmoid(input: Tensor) -> Tensor:
    return _tensor_arg(input, "input").sigmoid()


def _softmax_dim(input: Tensor, dim, name: str) -> int:
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                      "dim=X as an argument.", UserWarning, stacklevel=3)
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return dim


@dispatchable
def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """exp(x_i) / Σ_j exp(x_j) along ``dim``."""
    _tensor_arg(input, "input")
    x = input if dtype is None else input.to(dtype)
    return x.softmax(_softmax_dim(x, dim, "softmax"))


@dispatchable
def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """x_i - log Σ_j exp(x_j) along ``dim``."""
    _tensor_arg(input, "input")
    x = input if dtype is None else input.to(dtype)
    return x.log_softmax(_softmax_dim(x, dim, "log_softmax"))


def logsigmoid(input: Tensor) -> Tensor:
    """log σ(x), stable for large |x|."""
    return LogSigmoid.apply(_float_arg(input, "input"))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """An int64 tensor of shape ``(*tensor.shape, num_classes)`` with a 1 at each index.

    ``num_classes=-1`` infers ``max(tensor) + 1``. Indices must lie in [0, num_classes).
    """
    _tensor_arg(tensor, "tensor")
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: is only applicable to index (integer) tensors, got dtype {tensor.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"one_hot: num_classes must be an int, got {type(num_classes).__name__}")
    data = tensor._data
    if num_classes == -1:
        if data.size == 0:
            raise ValueError("one_hot: can not infer the number of classes from an empty tensor; pass num_classes")
        num_classes = int(data.max()) + 1
    elif num_classes < 1 and data.size:
        raise ValueError(f"one_hot: num_classes must be positive or -1, got {num_classes}")
    if data.size:
        lo, hi = int(data.min()), int(data.max())
        if lo < 0:
            raise IndexError(f"one_hot: class values must be non-negative, got {lo}")
        if hi >= num_classes:
            raise IndexError(f"one_hot: class values must be smaller than num_classes ({num_classes}), got {hi}")
    xp = tensor._xp
    out = (data[..., None] == xp.arange(num_classes)).astype(np.int64)
    return tensor._new(out)


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad with a constant; widths in PyTorch's order (last_before, last_after, second_last_before, ...)."""
    return pad_fn(_tensor_arg(input, "input"), pad, mode, 0.0 if value is None else value)


# --------------------------------------------------------------------- classification losses


def _class_weight(weight, input: Tensor, n_classes: int, fn: str) -> Tensor | None:
    if weight is None:
        return None
    _float_arg(weight, "weight")
    if weight.shape != (n_classes,):
        raise ValueError(f"{fn}: weight must have shape ({n_classes},) (one per class), got {tuple(weight.shape)}")
    return weight


def _class_target(input: Tensor, target: Tensor, fn: str) -> int:
    """Check a class-index target against input (C,), (N, C) or (N, C, d1, ...); return the class dim."""
    if input.ndim == 0:
        raise ValueError(f"{fn}: input must have at least 1 dimension (C,), got a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    expected = input.shape[:class_dim] + input.shape[class_dim + 1:]
    if target.dtype.kind == "f":
        raise TypeError(f"{fn}: expected an integer (long) target of class indices with shape {expected}, "
                        f"got a floating target of dtype {target.dtype} and shape {tuple(target.shape)}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{fn}: expected an integer (long) target of class indices, got dtype {target.dtype}")
    if target.shape != expected:
        raise ValueError(f"{fn}: input of shape {tuple(input.shape)} needs a target of shape {expected}, got "
                         f"target of shape {tuple(target.shape)}")
    return class_dim


def _nll(logp: Tensor, target: Tensor, class_dim: int, weight: Tensor | None, ignore_index: int):
    """Per-element losses -w[t]·logp[t] (0 where ignored) and the per-element weights w[t] (0 where ignored)."""
    ignored = target == ignore_index
    safe = target.masked_fill(ignored, 0)           # ignored targets may hold any value, e.g. -100
    if safe.dtype != np.int64:
        safe = safe.long()
    _check_indices(safe, logp.shape[class_dim], "Target")
    picked = logp.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    keep = ignored.logical_not()
    if weight is None:
        w = keep.to(logp.dtype)
    else:
        w = weight[safe].masked_fill(ignored, 0.0)
    return -(picked * w), w


def _weighted_mean(total: Tensor, weight_sum: Tensor) -> Tensor:
    """total / weight_sum; NaN (as PyTorch) when nothing counts, with zero gradients then."""
    empty = weight_sum == 0
    safe = weight_sum.masked_fill(empty, 1.0)
    nan = total._new(total._xp.where(empty._data, math.nan, 0.0).astype(total.dtype))
    return total / safe + nan


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """The negative log likelihood of the target classes, given log-probabilities.

    ℓ_n = -w[y_n] · x[n, y_n] (0 where y_n == ignore_index); ``mean`` = Σℓ_n / Σ w[y_n] over the
    targets that are not ignored (NaN when all are, as PyTorch).

    Shape: input (C,), (N, C) or (N, C, d1, ...); target (), (N,) or (N, d1, ...) of class indices.
    """
    reduction = _reduction(reduction, size_average, reduce)
    _float_arg(input, "input")
    _tensor_arg(target, "target")
    class_dim = _class_target(input, target, "nll_loss")
    weight = _class_weight(weight, input, input.shape[class_dim], "nll_loss")
    loss, w = _nll(input, target, class_dim, weight, ignore_index)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return _weighted_mean(loss.sum(), w.sum())


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy between the softmax of ``input`` (logits) and ``target``, as ``torch.nn.functional``.

    Class-index targets: ℓ_n = (1-ε)·(-w[y_n]·logp[n, y_n]) + (ε/C)·(-Σ_c w_c·logp[n, c]), with
    logp = log_softmax(input) over the class dim, ε = ``label_smoothing``; ignored targets give 0,
    and ``mean`` divides by Σ w[y_n] over the targets that are not ignored.
    Probability targets (same shape as input, floating): ℓ_n = -Σ_c w_c·p̃[n, c]·logp[n, c] with
    p̃ = (1-ε)·p + ε/C; ``mean`` divides by N·d1·…

    Shape: input (C,), (N, C) or (N, C, d1, ...); target of class indices (), (N,) or (N, d1, ...),
    or of probabilities shaped like input.
    """
    reduction = _reduction(reduction, size_average, reduce)
    _float_arg(input, "input")
    _tensor_arg(target, "target")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) or \
            not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must have at least 1 dimension (C,), got a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    weight = _class_weight(weight, input, n_classes, "cross_entropy")
    logp = input.log_softmax(class_dim)
    w_shape = [1] * input.ndim
    w_shape[class_dim] = n_classes

    if target.shape == input.shape:     # class probabilities
        if target.dtype.kind != "f":
            raise TypeError(f"cross_entropy: a target shaped like the input {tuple(input.shape)} holds class "
                            f"probabilities and must be floating point, got dtype {target.dtype}")
        if ignore_index >= 0:
            raise ValueError("cross_entropy: ignore_index is not supported for class-probability targets")
        p = target if label_smoothing == 0 else target * (1 - label_smoothing) + label_smoothing / n_classes
        terms = logp * p if weight is None else logp * p * weight.reshape(w_shape)
        loss = -terms.sum(class_dim)
        if reduction == "mean":
            return loss.sum() / (input.numel() // max(n_classes, 1))
        return _reduce(loss, reduction)

    _class_target(input, target, "cross_entropy")
    loss, w = _nll(logp, target, class_dim, weight, ignore_index)
    if label_smoothing > 0:
        ignored = target == ignore_index
        smooth = -(logp if weight is None else logp * weight.reshape(w_shape)).sum(class_dim)
        smooth = smooth.masked_fill(ignored, 0.0)
        if reduction == "none":
            return loss * (1 - label_smoothing) + smooth * (label_smoothing / n_classes)
        loss_r, smooth_r = loss.sum(), smooth.sum()
        if reduction == "mean":
            loss_r, smooth_r = _weighted_mean(loss_r, w.sum()), _weighted_mean(smooth_r, w.sum())
        return loss_r * (1 - label_smoothing) + smooth_r * (label_smoothing / n_classes)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return _weighted_mean(loss.sum(), w.sum())


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross entropy in one stable formula.

    ℓ = -w·[p·t·log σ(x) + (1-t)·log(1-σ(x))] = w·[p·t·softplus(-x) + (1-t)·softplus(x)], with ``p`` =
    ``pos_weight`` (broadcast along the last dim, one per class) and softplus(z) = -log σ(-z) computed
    stably. This equals PyTorch's (1-t)·x - (1 + (p-1)·t)·log σ(x) and keeps the tiny losses of
    confident correct predictions (x = -50, t = 0 gives 1.9e-22, where that form cancels to 0).
    """
    reduction = _reduction(reduction, size_average, reduce)
    _float_arg(input, "input")
    _float_arg(target, "target")
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    pos_term = -logsigmoid(input) * target                       # t·softplus(-x)
    if pos_weight is not None:
        pos_term = pos_term * _float_arg(pos_weight, "pos_weight")
    loss = pos_term - logsigmoid(-input) * (1 - target)         # + (1-t)·softplus(x)
    if weight is not None:
        loss = loss * _float_arg(weight, "weight")
    return _reduce(loss, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """ℓ = -w·[t·log x + (1-t)·log(1-x)] for probabilities x in [0, 1]; each log is clamped at -100 (as PyTorch)."""
    reduction = _reduction(reduction, size_average, reduce)
    _float_arg(input, "input")
    _float_arg(target, "target")
    _same_shape(input, target, "binary_cross_entropy")
    data = input._data
    if data.size and not bool(((data >= 0) & (data <= 1)).all()):
        raise ValueError("binary_cross_entropy: all elements of input should be between 0 and 1")
    if target.dtype != input.dtype:
        target = target.to(input.dtype)
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * _float_arg(weight, "weight")
    return _reduce(loss, reduction)


# --------------------------------------------------------------------- regression losses


def _pointwise_operands(input: Tensor, target: Tensor, fn: str) -> None:
    _float_arg(input, "input")
    _tensor_arg(target, "target")
    if input.shape != target.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(f"{fn}: input of shape {tuple(input.shape)} and target of shape "
                             f"{tuple(target.shape)} cannot be broadcast together") from None
        warnings.warn(f"Using a target size ({tuple(target.shape)}) that is different to the input size "
                      f"({tuple(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """ℓ = (x - y)²."""
    reduction = _reduction(reduction, size_average, reduce)
    _pointwise_operands(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """ℓ = |x - y|."""
    reduction = _reduction(reduction, size_average, reduce)
    _pointwise_operands(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction)


# --------------------------------------------------------------------- Transformer: activations, layer norm, attention
# (issue 13: GELU, SiLU, layer_norm and scaled_dot_product_attention; nn.transformer builds on these)

__all__ += ["gelu", "layer_norm", "scaled_dot_product_attention", "silu"]


@dispatchable
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU(x) = x·Φ(x) = x/2·(1 + erf(x/√2)); ``approximate="tanh"``: x/2·(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    from ..ops.activation import Gelu, GeluTanh
    _float_arg(input, "input")
    if approximate == "none":
        return Gelu.apply(input)
    if approximate == "tanh":
        return GeluTanh.apply(input)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


@dispatchable
def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """SiLU(x) = x·σ(x) (the swish)."""
    from ..ops.activation import Silu
    if inplace:
        raise ValueError("silu: inplace=True is not supported; use the returned tensor")
    return Silu.apply(_float_arg(input, "input"))


def _normalized_shape(normalized_shape) -> tuple:
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        return (int(normalized_shape),)
    if isinstance(normalized_shape, (str, bytes)) or not hasattr(normalized_shape, "__iter__") or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in normalized_shape):
        raise TypeError(f"normalized_shape: expected an int or a sequence of ints, got {normalized_shape!r}")
    return tuple(int(n) for n in normalized_shape)


@dispatchable
def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """y = (x - E[x]) / √(Var[x] + ε) · weight + bias over the last ``len(normalized_shape)`` dims.

    The variance is the biased one (correction 0), as PyTorch. ``weight`` and ``bias`` (optional) have
    shape ``normalized_shape``.

    Shape: input (*, *normalized_shape) -> output of the same shape.
    """
    from ..ops.normalization import LayerNorm
    _float_arg(input, "input")
    shape = _normalized_shape(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise ValueError(f"layer_norm: normalized_shape {list(shape)} does not match the trailing dims of the "
                         f"input of shape {tuple(input.shape)}")
    affine = []
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None:
            _float_arg(p, name)
            if tuple(p.shape) != shape:
                raise ValueError(f"layer_norm: {name} must have shape {shape} (normalized_shape), got "
                                 f"{tuple(p.shape)}")
            affine.append(p)
    return LayerNorm.apply(input, *affine, k=k, eps=float(eps), has_weight=weight is not None,
                           has_bias=bias is not None)


def _causal_mask(L: int, S: int, like: Tensor) -> Tensor:
    """(L, S) bool, True on and below the diagonal (top-left aligned): where attention is allowed."""
    xp = like._xp
    return like._new(xp.tril(xp.ones((L, S), dtype=bool)))


@dispatchable
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(Q Kᵀ · scale + M) V, with PyTorch's arguments and mask conventions.

    ``scale`` defaults to 1/√E. ``attn_mask`` broadcasts to (…, L, S): a **bool** mask says where
    attention is *allowed* (True = take part, False = masked), a float mask is added to the scores.
    ``is_causal`` applies the lower-triangular (top-left) mask and excludes ``attn_mask``. A query row
    with every key masked gets zero weights (an all-zero output row, as PyTorch's math path), never
    NaN. ``dropout_p`` drops attention weights (always: the functional has no training flag).
    ``enable_gqa``: key/value with fewer heads (dim -3) than the query are repeated to match.

    Without dropout this is one ``Function`` (``ops.attention.Attention``: on NumPy without a mask, or
    with ``is_causal``, in cache-sized tiles that never hold the (…, L, S) weights; with a mask, the
    weights made and differentiated in place); with dropout it is composed from matmul, softmax and
    dropout.

    Shape: query (…, L, E), key (…, S, E), value (…, S, Ev) -> (…, L, Ev).
    """
    for name, x in (("query", query), ("key", key), ("value", value)):
        _float_arg(x, name)
        if x.ndim < 2:
            raise ValueError(f"scaled_dot_product_attention: {name} needs at least 2 dims (…, L, E), got shape "
                             f"{tuple(x.shape)}")
    L, E = query.shape[-2:]
    S = key.shape[-2]
    if key.shape[-1] != E or value.shape[-2] != S:
        raise ValueError(f"scaled_dot_product_attention: expected key (…, S, {E}) and value (…, S, Ev) with one "
                         f"S, got query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}")
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, numbers.Real) or not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p!r}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("scaled_dot_product_attention: _scaled_dot_product_attention: Explicit attn_mask "
                           "should not be set when is_causal=True")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk or value.shape[-3] != hk:
            raise ValueError(f"scaled_dot_product_attention: enable_gqa needs the query heads ({hq}) to be a "
                             f"multiple of the key/value heads ({hk}, {value.shape[-3]})")
        key, value = (_repeat_heads(t, hq // hk) for t in (key, value))
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    fused = dropout_p == 0.0
    if is_causal and not fused:
        attn_mask = _causal_mask(L, S, query)
    bias = None
    if attn_mask is not None:
        _tensor_arg(attn_mask, "attn_mask")
        scores_shape = np.broadcast_shapes(tuple(query.shape[:-2]), tuple(key.shape[:-2])) + (L, S)
        try:
            np.broadcast_shapes(tuple(attn_mask.shape), scores_shape)
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {tuple(attn_mask.shape)} does not "
                             f"broadcast to the scores' shape {scores_shape} (…, L, S)") from None
        if attn_mask.dtype == bool:        # True = allowed: an additive 0 / -inf bias, no gradient
            xp = attn_mask._xp
            bias = attn_mask._new(xp.where(attn_mask._data, 0.0, -xp.inf).astype(query.dtype))
        elif attn_mask.dtype == query.dtype:
            bias = attn_mask
        else:
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or of the query's dtype "
                            f"{query.dtype}, got dtype {attn_mask.dtype}")
    if fused:
        from ..ops.attention import Attention
        if query.dtype != key.dtype or query.dtype != value.dtype:
            raise TypeError(f"scaled_dot_product_attention: query, key and value must have one dtype, got "
                            f"{query.dtype}, {key.dtype}, {value.dtype}")
        if bias is None:
            return Attention.apply(query, key, value, scale=scale, causal=bool(is_causal))
        return Attention.apply(query, key, value, bias, scale=scale)
    scores = query.matmul(key.transpose(-2, -1)) * scale     # with dropout on the weights: composed
    if bias is None:
        weights = scores.softmax(-1)
    else:
        weights = _safe_softmax(scores + bias)
    return _dropout(weights, dropout_p, True).matmul(value)


def _repeat_heads(x: Tensor, r: int) -> Tensor:
    """(…, H, S, E) -> (…, H·r, S, E), each head repeated r times in place (``repeat_interleave`` on dim -3)."""
    shape = tuple(x.shape)
    x = x.unsqueeze(-3).expand(*shape[:-2], r, *shape[-2:])
    return x.reshape(*shape[:-3], shape[-3] * r, *shape[-2:])


def _safe_softmax(scores: Tensor) -> Tensor:
    """softmax over the last dim; a row whose scores are all -inf gets zeros (and no NaN in backward)."""
    dead = (scores == float("-inf")).all(dim=-1, keepdim=True)
    return scores.masked_fill(dead, 0.0).softmax(-1).masked_fill(dead, 0.0)
