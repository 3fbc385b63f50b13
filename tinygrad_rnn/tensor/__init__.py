"""``Tensor`` and the functions that make and combine tensors (the tensor layer of the engine).

One module per theme, each small enough to read at once:

- ``core``: the ``Tensor`` class — fields, properties, ``backward`` and hooks — built from the mixins:
  ``conversion`` (``numpy``, ``item``, ``to``, dtype casts, ``new_*``), ``arithmetic`` (operators,
  elementwise math, comparisons), ``reductions``, ``movement`` (shape, views, indexing) and ``inplace``
  (version-counted in-place changes; history rebased through views);
- ``creation``: ``tensor``, ``zeros``/``ones``/``full``/``empty`` and ``*_like``, random samples, ranges,
  the legacy constructors (``LongTensor(...)``, ``Variable``);
- ``combine``: ``cat``/``stack``, ``where``, ``einsum``, ``meshgrid``, ``pad_fn``, ``dropout``;
- ``promotion`` (operands by PyTorch's type promotion), ``indexing`` (PyTorch indices, range-checked),
  ``shapes`` (``Size``, dim and shape arguments), ``devices`` (``device``, array module per device).

Every name the single-module ``tinygrad_rnn.tensor`` had is importable from here, private helpers included.
"""

from .core import _alloc, _grad_array, Tensor, _wrap_output, _WRAPPED
from .devices import device, _DEVICES, _XP, _xp
from .shapes import (_dim_aliases, _infer_shape, _int_arg, _norm_dim, _norm_dims, _shape_arg, _shape_arg_neg, Size,
                     values_indices)
from .creation import (arange, as_tensor, BoolTensor, ByteTensor, DoubleTensor, empty, empty_like, eye, _factory,
                       _flat, FloatTensor, from_numpy, full, full_like, get_default_device, HalfTensor, IntTensor,
                       _LEGACY_NAMES, _legacy_new, _LegacyTensorType, linspace, LongTensor, multinomial, normal, ones,
                       ones_like, rand, rand_like, randint, randn, randn_like, _random, randperm, tensor, _to_array,
                       _untensor, Variable, _VariableType, zeros, zeros_like)
from .combine import cat, concat, dropout, einsum, meshgrid, pad_fn, stack, where
from .promotion import _as_tensor_like, _bool_mask, _DEPRECATED_ALPHA, _legacy_alpha, _operands, _same_dtype
from .indexing import _check_range, _convert_index
from .reductions import _grad_state
from .inplace import _check_result, _derive, _fill_array, _overlapping, _overwrite, _rederive_views
