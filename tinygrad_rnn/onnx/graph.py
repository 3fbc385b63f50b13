"""The tracer's pieces: the ONNX graph being built, symbolic sizes, and the traced-tensor proxy.

During :func:`tinygrad_rnn.onnx.export` the model's ``forward`` runs on :class:`TracedTensor` proxies
instead of tensors. A ``TracedTensor`` carries the real tensor this project computed (so argument
checks, Python control flow on shapes and every ``size()`` answer are the real ones) and the name of
the ONNX value that computes the same thing; each supported method runs the real op and appends the
ONNX node(s).

Sizes of dynamic axes are :class:`Dim` objects: ints with the export-time value that also know how to
compute themselves in the graph (``Shape`` → ``Gather``), so ``x.view(x.size(0) * x.size(1), -1)`` or
``tr.zeros(1, x.size(0), H)`` stays correct for another batch or sequence length. Arithmetic on a ``Dim``
gives a ``Dim``.
"""

from __future__ import annotations

import builtins
import numbers

import numpy as np

from ..nn.module import Module
from ..tensor import Tensor

INT64_MAX = np.iinfo(np.int64).max


class OnnxExporterError(RuntimeError):
    """The model cannot be exported as asked (PyTorch: ``torch.onnx.errors.OnnxExporterError``)."""


class UnsupportedOperatorError(OnnxExporterError):
    """A module, tensor method or function that the exporter has no ONNX translation for."""


# ------------------------------------------------------------------------------------------------
# The graph


class Graph:
    """Nodes and initializers of the ONNX graph being traced, with unique value names."""

    def __init__(self, onnx, opset: int, param_names: dict) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self._used: set = set()
        self._consts: dict = {}              # id(tensor) or a small array's bytes -> initializer name
        self._keep: list = []                # tensors whose id() is a key of _consts, kept alive
        self._param_names = param_names      # id(parameter or buffer) -> state_dict name
        self._shapes: dict = {}              # value name -> name of its Shape

    def fresh(self, base: str) -> str:
        base = base or "v"
        name, i = base, 1
        while name in self._used:
            name = f"{base}_{i}"
            i += 1
        self._used.add(name)
        return name

    def node(self, op: str, inputs: list, n_out: int = 1, **attrs):
        """Append ``op(inputs)``; return its output name (a list of names when ``n_out > 1``)."""
        outs = [self.fresh(f"/{op}_{len(self.nodes)}" if i == 0 else f"/{op}_{len(self.nodes)}_{i}")
                for i in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op, list(inputs), outs, name=f"{op}_{len(self.nodes)}", **attrs))
        return outs[0] if n_out == 1 else outs

    def initializer(self, array: np.ndarray, name: str) -> str:
        name = self.fresh(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def const(self, value, dtype=None, name: str = "const") -> str:
        """A constant: an array, a Python number (of ``dtype``) or a tensor (parameters once, by name)."""
        if isinstance(value, Tensor):
            key = id(value)
            if key not in self._consts:
                self._consts[key] = self.initializer(value.numpy(), self._param_names.get(key, name))
                self._keep.append(value)
            return self._consts[key]
        arr = np.asarray(value, dtype=dtype)
        if arr.size > 16:
            return self.initializer(arr, name)
        key = (arr.dtype.str, arr.shape, arr.tobytes())       # small constants (axes, scalars) once each
        if key not in self._consts:
            self._consts[key] = self.initializer(arr, name)
        return self._consts[key]

    def scalar(self, value, dtype) -> str:
        """A 0-d constant (``const`` stores at least 1-D: fine for broadcasting, not for ``Range``)."""
        key = ("scalar", np.dtype(dtype).str, value)
        if key not in self._consts:
            name = self.fresh("scalar")
            self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
            self._consts[key] = name
        return self._consts[key]

    def ints(self, values) -> str:
        """A 1-D int64 constant (axes, starts, shapes)."""
        return self.const(np.asarray([builtins.int(v) for v in values], dtype=np.int64), name="ints")

    def shape_of(self, name: str) -> str:
        if name not in self._shapes:
            self._shapes[name] = self.node("Shape", [name])
        return self._shapes[name]

    def dim_of(self, name: str, axis: int, value: int) -> "Dim":
        """Axis ``axis`` of value ``name`` as a symbolic size (computed in the graph when it is used)."""
        return Dim(value, self, lambda: self.node("Gather", [self.shape_of(name), self.ints([axis])], axis=0))

    def shape_tensor(self, dims) -> str:
        """A 1-D int64 shape from ints and Dims (a constant when no Dim is in it)."""
        if not any(isinstance(d, Dim) for d in dims):
            return self.ints(dims)
        parts = [d.onnx() if isinstance(d, Dim) else self.ints([d]) for d in dims]
        return self.node("Concat", parts, axis=0)

    # reductions and squeezes changed from attributes to inputs at opset 13 / 18
    def reduce(self, op: str, x: str, axes: list, keepdims: bool) -> str:
        if op == "ReduceSum" or self.opset >= 18:
            return self.node(op, [x, self.ints(axes)], keepdims=builtins.int(keepdims))
        return self.node(op, [x], axes=list(axes), keepdims=builtins.int(keepdims))

    def squeeze(self, x: str, axes: list) -> str:
        return self.node("Squeeze", [x, self.ints(axes)]) if axes else x

    def unsqueeze(self, x: str, axes: list) -> str:
        return self.node("Unsqueeze", [x, self.ints(axes)]) if axes else x

    def cast(self, name: str, src, dst) -> str:
        if np.dtype(src) == np.dtype(dst):
            return name
        return self.node("Cast", [name], to=self.helper.np_dtype_to_tensor_dtype(np.dtype(dst)))


class Dim(builtins.int):
    """A size that depends on a dynamic axis: its export-time value, and how to compute it in the graph
    (``onnx()`` returns the name of a 1-D int64 value of one element, emitted on first use)."""

    def __new__(cls, value, graph: Graph, make):
        d = builtins.int.__new__(cls, builtins.int(value))
        d._graph, d._make, d._name = graph, make, None
        return d

    def onnx(self) -> str:
        if self._name is None:
            self._name = self._make()
        return self._name

    def _op(self, other, op: str, value: int, reflected: bool = False):
        if not isinstance(other, (builtins.int, np.integer)) or isinstance(other, bool):
            return NotImplemented
        g = self._graph

        def make():
            o = other.onnx() if isinstance(other, Dim) else g.ints([other])
            a, b = (o, self.onnx()) if reflected else (self.onnx(), o)
            return g.node(op, [a, b])
        return Dim(value, g, make)

    def __add__(self, o):
        return self._op(o, "Add", builtins.int(self) + builtins.int(o)) if _is_int(o) else NotImplemented

    def __radd__(self, o):
        return self._op(o, "Add", builtins.int(o) + builtins.int(self), True) if _is_int(o) else NotImplemented

    def __sub__(self, o):
        return self._op(o, "Sub", builtins.int(self) - builtins.int(o)) if _is_int(o) else NotImplemented

    def __rsub__(self, o):
        return self._op(o, "Sub", builtins.int(o) - builtins.int(self), True) if _is_int(o) else NotImplemented

    def __mul__(self, o):
        return self._op(o, "Mul", builtins.int(self) * builtins.int(o)) if _is_int(o) else NotImplemented

    def __rmul__(self, o):
        return self._op(o, "Mul", builtins.int(o) * builtins.int(self), True) if _is_int(o) else NotImplemented

    def __floordiv__(self, o):
        return self._op(o, "Div", builtins.int(self) // builtins.int(o)) if _is_int(o) else NotImplemented

    def __rfloordiv__(self, o):
        return self._op(o, "Div", builtins.int(o) // builtins.int(self), True) if _is_int(o) else NotImplemented

    def __repr__(self) -> str:
        return f"Dim({builtins.int(self)})"

    __hash__ = builtins.int.__hash__


def _is_int(o) -> bool:
    return isinstance(o, (builtins.int, np.integer)) and not isinstance(o, bool)


def plain(sizes) -> tuple:
    """Sizes as plain ints, for the real op (so the trace's patched tensor methods pass it through)."""
    return tuple(builtins.int(s) for s in sizes)


def is_dynamic(dims) -> bool:
    return any(isinstance(d, Dim) for d in dims)


def _norm(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


def _unsupported(what: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"tr.onnx.export: {what} is not supported by the ONNX exporter (see the "
                                    "docstring of tr.onnx.export for what is)")


def real(x):
    """The real value behind a traced argument (Values inside lists and tuples too)."""
    if isinstance(x, TracedTensor):
        return x.real
    if isinstance(x, (list, tuple)):
        return type(x)(real(v) for v in x)
    return x


def has_value(*args) -> bool:
    for a in args:
        if isinstance(a, TracedTensor) or (isinstance(a, (list, tuple)) and has_value(*a)):
            return True
    return False


# ------------------------------------------------------------------------------------------------
# The traced tensor


class TracedTensor:
    """A tensor inside an export trace: the real tensor, the ONNX value name and its symbolic shape.

    Code that checks ``isinstance(x, Tensor)`` sees a ``TracedTensor`` (not a ``Tensor``): such
    functions of this package, unless listed in ``tr.onnx.export``'s docstring, raise their TypeError."""

    __slots__ = ("g", "name", "real", "dims")

    def __init__(self, g: Graph, name: str, real_tensor: Tensor, dims=None) -> None:
        self.g, self.name, self.real = g, name, real_tensor
        shape = tuple(real_tensor.shape)
        if dims is None:
            dims = shape
        dims = tuple(dims)
        if len(dims) != len(shape) or any(builtins.int(d) != s for d, s in zip(dims, shape)):
            raise AssertionError(f"traced shape {dims} != real shape {shape}")
        self.dims = dims

    def _derive(self, name: str, out: Tensor, dynamic: bool) -> "TracedTensor":
        """A result whose sizes are read from its own ``Shape`` when any input size was dynamic."""
        if not dynamic:
            return TracedTensor(self.g, name, out)
        return TracedTensor(self.g, name, out, [self.g.dim_of(name, i, s) for i, s in enumerate(out.shape)])

    # ---------------------------------------------------------------- metadata
    @property
    def shape(self) -> tuple:
        return self.dims

    def size(self, dim: int | None = None):
        if dim is None:
            return self.dims
        self.real.size(dim)                  # the real range check
        return self.dims[_norm(dim, len(self.dims))]

    @property
    def ndim(self) -> int:
        return len(self.dims)

    def dim(self) -> int:
        return len(self.dims)

    def numel(self):
        n = 1
        for d in self.dims:
            n = n * d
        return n

    @property
    def dtype(self):
        return self.real.dtype

    @property
    def device(self):
        return self.real.device

    @property
    def requires_grad(self) -> bool:
        return False

    def __len__(self) -> int:
        return builtins.int(self.dims[0]) if self.dims else len(self.real)

    def __repr__(self) -> str:
        return f"TracedTensor({self.name!r}, shape={self.dims}, dtype={self.dtype})"

    def _data_dependent(self, *args, **kwargs):
        raise OnnxExporterError("tr.onnx.export: the model reads a traced tensor's values in Python (bool(), "
                                "item(), numpy(), iteration, ...); the exported graph could not follow them: "
                                "keep data-dependent control flow out of forward")

    __bool__ = __float__ = __int__ = __index__ = __iter__ = _data_dependent
    item = numpy = tolist = _data_dependent

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name.startswith("_"):
            raise AttributeError(f"tr.onnx.export: a traced tensor reached code that the exporter does not trace "
                                 f"(it read Tensor.{name}); only the modules, methods and functions listed in "
                                 "tr.onnx.export's docstring are traced")
        if hasattr(Tensor, name):
            raise _unsupported(f"Tensor.{name}")
        raise AttributeError(f"'Tensor' object has no attribute {name!r}")

    # ---------------------------------------------------------------- identity-like
    def contiguous(self) -> "TracedTensor":
        return self

    def detach(self) -> "TracedTensor":
        return self

    def clone(self) -> "TracedTensor":
        return self

    def to(self, *args, **kwargs) -> "TracedTensor":
        out = self.real.to(*args, **kwargs)
        return self._cast_to(out)

    def _cast_to(self, out: Tensor) -> "TracedTensor":
        if out.dtype == self.dtype:
            return TracedTensor(self.g, self.name, out, self.dims)
        return TracedTensor(self.g, self.g.cast(self.name, self.dtype, out.dtype), out, self.dims)

    def cpu(self) -> "TracedTensor":
        return self

    def cuda(self) -> "TracedTensor":
        return self

    def float(self) -> "TracedTensor":
        return self._cast_to(self.real.float())

    def double(self) -> "TracedTensor":
        return self._cast_to(self.real.double())

    def long(self) -> "TracedTensor":
        return self._cast_to(self.real.long())

    def int(self) -> "TracedTensor":
        return self._cast_to(self.real.int())

    def bool(self) -> "TracedTensor":
        return self._cast_to(self.real.bool())

    def type_as(self, other) -> "TracedTensor":
        return self._cast_to(self.real.type_as(real(other)))

    # ---------------------------------------------------------------- elementwise
    def _unary(self, op: str, out: Tensor, **attrs) -> "TracedTensor":
        return TracedTensor(self.g, self.g.node(op, [self.name], **attrs), out, self.dims)

    def tanh(self) -> "TracedTensor":
        return self._unary("Tanh", self.real.tanh())

    def sigmoid(self) -> "TracedTensor":
        return self._unary("Sigmoid", self.real.sigmoid())

    def relu(self) -> "TracedTensor":
        return self._unary("Relu", self.real.relu())

    def exp(self) -> "TracedTensor":
        return self._unary("Exp", self.real.exp())

    def log(self) -> "TracedTensor":
        return self._unary("Log", self.real.log())

    def sqrt(self) -> "TracedTensor":
        return self._unary("Sqrt", self.real.sqrt())

    def abs(self) -> "TracedTensor":
        return self._unary("Abs", self.real.abs())

    __abs__ = abs

    def neg(self) -> "TracedTensor":
        return self._unary("Neg", self.real.neg())

    __neg__ = neg

    def softmax(self, dim: int) -> "TracedTensor":
        out = self.real.softmax(dim)
        return self._unary("Softmax", out, axis=_norm(dim, self.ndim))

    def log_softmax(self, dim: int) -> "TracedTensor":
        out = self.real.log_softmax(dim)
        return self._unary("LogSoftmax", out, axis=_norm(dim, self.ndim))

    def _operand(self, x, dtype) -> tuple:
        """(ONNX name, symbolic dims) of an operand, cast to ``dtype``."""
        if isinstance(x, TracedTensor):
            return self.g.cast(x.name, x.dtype, dtype), x.dims
        if isinstance(x, Tensor):
            return self.g.cast(self.g.const(x), x.dtype, dtype), tuple(x.shape)
        if isinstance(x, Dim):                 # a dynamic size as a run-time scalar
            return self.g.cast(self.g.squeeze(x.onnx(), [0]), np.int64, dtype), ()
        if isinstance(x, numbers.Number):
            return self.g.const(x, dtype=dtype), ()
        raise _unsupported(f"an operand of type {type(x).__name__}")

    def _binary(self, op: str, other, out: Tensor, reflected: bool = False) -> "TracedTensor":
        (a, da), (b, db) = self._operand(self, out.dtype), self._operand(other, out.dtype)
        if reflected:
            (a, da), (b, db) = (b, db), (a, da)
        return TracedTensor(self.g, self.g.node(op, [a, b]), out, broadcast_dims(da, db, out.shape))

    def add(self, other, alpha=1) -> "TracedTensor":
        return self._binary("Add", other if alpha == 1 else other * alpha, self.real.add(real(other), alpha))

    def sub(self, other, alpha=1) -> "TracedTensor":
        return self._binary("Sub", other if alpha == 1 else other * alpha, self.real.sub(real(other), alpha))

    def mul(self, other) -> "TracedTensor":
        return self._binary("Mul", other, self.real.mul(real(other)))

    def div(self, other) -> "TracedTensor":
        return self._binary("Div", other, self.real.div(real(other)))

    def pow(self, exponent) -> "TracedTensor":
        return self._binary("Pow", exponent, self.real.pow(real(exponent)))

    __add__, __sub__, __mul__, __truediv__, __pow__ = add, sub, mul, div, pow

    def __radd__(self, other):
        return self._binary("Add", other, real(other) + self.real, reflected=True)

    def __rsub__(self, other):
        return self._binary("Sub", other, real(other) - self.real, reflected=True)

    def __rmul__(self, other):
        return self._binary("Mul", other, real(other) * self.real, reflected=True)

    def __rtruediv__(self, other):
        return self._binary("Div", other, real(other) / self.real, reflected=True)

    def matmul(self, other) -> "TracedTensor":
        out = self.real.matmul(real(other))
        return self._matmul(other, out, reflected=False)

    def _matmul(self, other, out: Tensor, reflected: bool) -> "TracedTensor":
        (a, da), (b, db) = self._operand(self, out.dtype), self._operand(other, out.dtype)
        if reflected:
            (a, da), (b, db) = (b, db), (a, da)
        if len(da) >= 2 and len(db) >= 2:
            dims = broadcast_dims(da[:-2], db[:-2], out.shape[:-2]) + (da[-2], db[-1])
        elif len(db) == 1:
            dims = da[:-1]
        elif len(da) == 1:
            dims = db[:-2] + db[-1:]
        else:
            dims = out.shape
        return TracedTensor(self.g, self.g.node("MatMul", [a, b]), out, dims)

    mm = bmm = __matmul__ = matmul

    def __rmatmul__(self, other):
        return self._matmul(other, real(other).matmul(self.real), reflected=True)

    # ---------------------------------------------------------------- comparisons and masks (bool results)
    def _common(self, other):
        """The dtype both operands of a comparison are compared in."""
        if isinstance(other, (TracedTensor, Tensor)):
            return np.promote_types(self.dtype, other.dtype)
        if isinstance(other, builtins.float) and self.dtype.kind in "biu":
            return np.dtype(np.float32)
        return self.dtype

    def _compare(self, op: str, other, out: Tensor, negate: bool = False) -> "TracedTensor":
        dt = self._common(other)
        (a, da), (b, db) = self._operand(self, dt), self._operand(other, dt)
        name = self.g.node(op, [a, b])
        name = self.g.node("Not", [name]) if negate else name
        return TracedTensor(self.g, name, out, broadcast_dims(da, db, out.shape))

    def eq(self, other) -> "TracedTensor":
        return self._compare("Equal", other, self.real.eq(real(other)))

    def ne(self, other) -> "TracedTensor":
        return self._compare("Equal", other, self.real.ne(real(other)), negate=True)

    def lt(self, other) -> "TracedTensor":
        return self._compare("Less", other, self.real.lt(real(other)))

    def le(self, other) -> "TracedTensor":
        return self._compare("LessOrEqual", other, self.real.le(real(other)))

    def gt(self, other) -> "TracedTensor":
        return self._compare("Greater", other, self.real.gt(real(other)))

    def ge(self, other) -> "TracedTensor":
        return self._compare("GreaterOrEqual", other, self.real.ge(real(other)))

    __eq__, __ne__, __lt__, __le__, __gt__, __ge__ = eq, ne, lt, le, gt, ge
    __hash__ = object.__hash__

    def logical_not(self) -> "TracedTensor":
        if self.dtype != np.bool_:
            raise _unsupported("~ / logical_not of a non-bool tensor")
        return self._unary("Not", self.real.logical_not())

    __invert__ = logical_not

    def _logical(self, op: str, other, out: Tensor) -> "TracedTensor":
        if self.dtype != np.bool_ or real(other).dtype != np.bool_:
            raise _unsupported(f"bitwise {op} of non-bool tensors")
        return self._compare(op, other, out)

    def __and__(self, other) -> "TracedTensor":
        return self._logical("And", other, self.real & real(other))

    def __or__(self, other) -> "TracedTensor":
        return self._logical("Or", other, self.real | real(other))

    def masked_fill(self, mask, value) -> "TracedTensor":
        out = self.real.masked_fill(real(mask), real(value))
        return where(self.g, mask, value, self, out)

    def where(self, condition, other) -> "TracedTensor":
        return where(self.g, condition, self, other, self.real.where(real(condition), real(other)))

    def any(self, dim=None, keepdim: bool = False) -> "TracedTensor":
        out = self.real.any(dim, keepdim)
        axes = self._dims_arg(dim)
        x = self.g.cast(self.name, self.dtype, np.float32)
        name = self.g.reduce("ReduceMax", self.g.node("Abs", [x]), axes, keepdim)
        return TracedTensor(self.g, self.g.cast(name, np.float32, np.bool_), out, self._reduced(axes, keepdim))

    # ---------------------------------------------------------------- reductions
    def _dims_arg(self, dim) -> list:
        if dim is None:
            return list(range(self.ndim))
        dims = [dim] if isinstance(dim, builtins.int) else list(dim)
        return sorted(_norm(d, self.ndim) for d in dims)

    def _reduced(self, axes: list, keepdim: bool) -> tuple:
        return tuple(1 if i in axes else d for i, d in enumerate(self.dims) if keepdim or i not in axes)

    def sum(self, dim=None, keepdim: bool = False, dtype=None) -> "TracedTensor":
        out = self.real.sum(dim, keepdim, dtype=dtype)
        x = self.g.cast(self.name, self.dtype, out.dtype)
        axes = self._dims_arg(dim)
        return TracedTensor(self.g, self.g.reduce("ReduceSum", x, axes, keepdim), out, self._reduced(axes, keepdim))

    def mean(self, dim=None, keepdim: bool = False, dtype=None) -> "TracedTensor":
        out = self.real.mean(dim, keepdim, dtype=dtype)
        x = self.g.cast(self.name, self.dtype, out.dtype)
        axes = self._dims_arg(dim)
        return TracedTensor(self.g, self.g.reduce("ReduceMean", x, axes, keepdim), out, self._reduced(axes, keepdim))

    def amax(self, dim=None, keepdim: bool = False) -> "TracedTensor":
        out = self.real.amax(dim, keepdim)
        axes = self._dims_arg(dim)
        name = self.g.reduce("ReduceMax", self.name, axes, keepdim)
        return TracedTensor(self.g, name, out, self._reduced(axes, keepdim))

    def max(self, dim=None, keepdim: bool = False):
        """``max()`` (a 0-d value) or ``max(dim)`` → ``(values, indices)`` (ONNX ArgMax: first maximum)."""
        if dim is None:
            return self.amax()
        values = self.amax(dim, keepdim)
        return values, self.argmax(dim, keepdim)

    def argmax(self, dim=None, keepdim: bool = False) -> "TracedTensor":
        out = self.real.argmax(dim, keepdim)
        if dim is None:
            flat = self.g.node("Reshape", [self.name, self.g.ints([-1])])
            return TracedTensor(self.g, self.g.node("ArgMax", [flat], axis=0, keepdims=0), out)
        d = _norm(dim, self.ndim)
        name = self.g.node("ArgMax", [self.name], axis=d, keepdims=builtins.int(keepdim))
        return TracedTensor(self.g, name, out, self._reduced([d], keepdim))

    # ---------------------------------------------------------------- shape
    def reshape(self, *shape) -> "TracedTensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        out = self.real.reshape(*plain(shape))
        name = self.g.node("Reshape", [self.name, self.g.shape_tensor(shape)])
        if not (is_dynamic(self.dims) or is_dynamic(shape)):
            return TracedTensor(self.g, name, out)
        # a Dim stays symbolic, a literal size stays literal, -1 is read back from the result's Shape
        dims = [s if isinstance(s, Dim) else out.shape[i] if s >= 0 else self.g.dim_of(name, i, out.shape[i])
                for i, s in enumerate(shape)]
        return TracedTensor(self.g, name, out, dims)

    view = reshape

    def view_as(self, other) -> "TracedTensor":
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "TracedTensor":
        self.real.flatten(start_dim, end_dim)           # the real argument checks
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _norm(start_dim, self.ndim), _norm(end_dim, self.ndim)
        n = 1
        for d in self.dims[s:e + 1]:
            n = n * d
        return self.reshape(*self.dims[:s], n, *self.dims[e + 1:])

    def unflatten(self, dim: int, sizes) -> "TracedTensor":
        self.real.unflatten(dim, sizes)                 # the real argument checks
        d = _norm(dim, self.ndim)
        return self.reshape(*self.dims[:d], *sizes, *self.dims[d + 1:])

    def permute(self, *dims) -> "TracedTensor":
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        out = self.real.permute(*dims)
        perm = [_norm(d, self.ndim) for d in dims]
        return TracedTensor(self.g, self.g.node("Transpose", [self.name], perm=perm), out, [self.dims[p] for p in perm])

    def transpose(self, dim0: int, dim1: int) -> "TracedTensor":
        self.real.transpose(dim0, dim1)
        perm = list(range(self.ndim))
        a, b = _norm(dim0, self.ndim), _norm(dim1, self.ndim)
        perm[a], perm[b] = perm[b], perm[a]
        return self.permute(perm)

    def t(self) -> "TracedTensor":
        self.real.t()
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self) -> "TracedTensor":
        return self.permute(list(range(self.ndim))[::-1])

    def squeeze(self, dim=None) -> "TracedTensor":
        out = self.real.squeeze(dim)
        if dim is None:
            axes = [i for i, n in enumerate(self.real.shape) if n == 1]
        else:
            axes = [d for d in self._dims_arg(dim) if self.real.shape[d] == 1]
        dims = [d for i, d in enumerate(self.dims) if i not in axes]
        return TracedTensor(self.g, self.g.squeeze(self.name, axes), out, dims)

    def unsqueeze(self, dim: int) -> "TracedTensor":
        out = self.real.unsqueeze(dim)
        d = _norm(dim, self.ndim + 1)
        dims = list(self.dims)
        dims.insert(d, 1)
        return TracedTensor(self.g, self.g.unsqueeze(self.name, [d]), out, dims)

    def split(self, split_size_or_sections, dim: int = 0) -> tuple:
        outs = self.real.split(split_size_or_sections, dim)
        d = _norm(dim, self.ndim)
        if isinstance(self.dims[d], Dim):
            raise _unsupported(f"split/chunk along the dynamic axis {d}")
        sizes = [o.shape[d] for o in outs]
        names = self.g.node("Split", [self.name, self.g.ints(sizes)], n_out=len(sizes), axis=d)
        names = [names] if len(sizes) == 1 else names
        return tuple(TracedTensor(self.g, n, o, [s if i == d else x for i, x in enumerate(self.dims)])
                     for n, o, s in zip(names, outs, sizes))

    def chunk(self, chunks: int, dim: int = 0) -> tuple:
        outs = self.real.chunk(chunks, dim)
        return self.split([o.shape[_norm(dim, self.ndim)] for o in outs], dim)

    def unbind(self, dim: int = 0) -> tuple:
        self.real.unbind(dim)
        d = _norm(dim, self.ndim)
        return tuple(v.squeeze(d) for v in self.split(1, d))

    def narrow(self, dim: int, start: int, length: int) -> "TracedTensor":
        self.real.narrow(dim, start, length)                 # the real range check
        d = _norm(dim, self.ndim)
        if start < 0:
            start = start + self.dims[d]
        return getitem(self, (slice(None),) * d + (slice(start, start + length),))

    def expand(self, *sizes) -> "TracedTensor":
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        out = self.real.expand(*plain(sizes))
        lead = len(sizes) - self.ndim
        # -1 keeps a dim; ONNX Expand broadcasts, so 1 stands for "keep" there too
        target = [(self.dims[i - lead] if builtins.int(n) == -1 else n) for i, n in enumerate(sizes)]
        name = self.g.node("Expand", [self.name, self.g.shape_tensor(target)])
        return TracedTensor(self.g, name, out, target)

    def expand_as(self, other) -> "TracedTensor":
        return self.expand(*other.shape)

    def repeat(self, *sizes) -> "TracedTensor":
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        out = self.real.repeat(*plain(sizes))
        x = self if len(sizes) == self.ndim else self.reshape(*((1,) * (len(sizes) - self.ndim) + self.dims))
        name = self.g.node("Tile", [x.name, self.g.shape_tensor(sizes)])
        return TracedTensor(self.g, name, out, [d * r for d, r in zip(x.dims, sizes)])

    def clamp(self, min=None, max=None) -> "TracedTensor":
        out = self.real.clamp(real(min), real(max))
        if isinstance(min, (TracedTensor, Tensor)) or isinstance(max, (TracedTensor, Tensor)):
            v = self
            if min is not None:
                v = v._binary("Max", min, self.real.maximum(real(min)))
            if max is not None:
                v = v._binary("Min", max, v.real.minimum(real(max)))
            return v
        bounds = [self.g.const(b, dtype=self.dtype) if b is not None else "" for b in (min, max)]
        while bounds and bounds[-1] == "":
            bounds.pop()
        return TracedTensor(self.g, self.g.node("Clip", [self.name, *bounds]), out, self.dims)

    clip = clamp

    def maximum(self, other) -> "TracedTensor":
        return self._binary("Max", other, self.real.maximum(real(other)))

    def minimum(self, other) -> "TracedTensor":
        return self._binary("Min", other, self.real.minimum(real(other)))

    @property
    def data(self) -> "TracedTensor":
        return self

    def __getitem__(self, index) -> "TracedTensor":
        return getitem(self, index)

    # ---------------------------------------------------------------- factories
    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False) -> "TracedTensor | Tensor":
        return full_like_shape(self.g, size, 0, dtype or self.dtype, device or self.device)

    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False) -> "TracedTensor | Tensor":
        return full_like_shape(self.g, size, 1, dtype or self.dtype, device or self.device)


def where(g: Graph, condition, input, other, out: Tensor) -> TracedTensor:
    """``Where(condition, input, other)``: operands as constants or traced values, cast to ``out``'s dtype."""
    names, dims = [], []
    for x, dt in ((condition, np.bool_), (input, out.dtype), (other, out.dtype)):
        if isinstance(x, TracedTensor):
            names.append(g.cast(x.name, x.dtype, dt))
            dims.append(x.dims)
        elif isinstance(x, Tensor):
            names.append(g.cast(g.const(x), x.dtype, dt))
            dims.append(tuple(x.shape))
        else:
            names.append(g.const(x, dtype=dt))
            dims.append(())
    d = broadcast_dims(broadcast_dims(dims[0], dims[1], out.shape), dims[2], out.shape)
    return TracedTensor(g, g.node("Where", names), out, d)


def broadcast_dims(da, db, out_shape) -> tuple:
    """The symbolic dims of a broadcast result: a Dim wherever an operand's Dim gives that size."""
    n = len(out_shape)
    da, db = (1,) * (n - len(da)) + tuple(da), (1,) * (n - len(db)) + tuple(db)
    dims = []
    for a, b, s in zip(da, db, out_shape):
        pick = a if isinstance(a, Dim) and builtins.int(a) == s else b if isinstance(b, Dim) and \
            builtins.int(b) == s else s
        dims.append(pick)
    return tuple(dims)


def full_like_shape(g: Graph, size, fill, dtype, device=None):
    """``zeros``/``ones``/``full`` of a size: a ConstantOfShape when a size is dynamic, else a constant."""
    from ..tensor import full
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = full(tuple(builtins.int(s) for s in size), fill, dtype=dtype, device=device)
    if not is_dynamic(size):
        return out
    value = g.onnx.numpy_helper.from_array(np.asarray([fill], dtype=out.dtype), "value")
    name = g.node("ConstantOfShape", [g.shape_tensor(size)], value=value)
    return TracedTensor(g, name, out, size)


def _plain_item(it):
    """An index item for the real op, sizes as plain ints (the trace's patched ``Tensor.__getitem__`` then
    passes it straight through)."""
    if isinstance(it, Dim):
        return builtins.int(it)
    if isinstance(it, slice):
        return slice(*(builtins.int(b) if isinstance(b, Dim) else b for b in (it.start, it.stop, it.step)))
    return it


def getitem(x: TracedTensor, index) -> TracedTensor:
    """``x[index]`` for ints, slices (step > 0), ``None`` and ``...``; or one integer tensor (rows)."""
    g = x.g
    if isinstance(index, (TracedTensor, Tensor)):
        out = x.real[real(index)]
        if real(index).dtype == np.bool_:
            raise _unsupported("boolean-mask indexing")
        traced = isinstance(index, TracedTensor)
        iname, idims = (index.name, index.dims) if traced else (g.const(index), tuple(index.shape))
        return TracedTensor(g, g.node("Gather", [x.name, iname], axis=0), out, tuple(idims) + x.dims[1:])
    items = index if isinstance(index, tuple) else (index,)
    for it in items:
        if not (it is None or it is Ellipsis or isinstance(it, slice) or _is_int(it)):
            raise _unsupported(f"indexing with {type(it).__name__}")
    out = x.real[tuple(_plain_item(i) for i in items)]
    n_axes = sum(1 for it in items if it is not None and it is not Ellipsis)
    if Ellipsis in items:
        k = items.index(Ellipsis)
        items = items[:k] + (slice(None),) * (x.ndim - n_axes) + items[k + 1:]
    items = items + (slice(None),) * (x.ndim - sum(1 for it in items if it is not None))
    starts, ends, axes, steps, squeeze, unsq, dims = [], [], [], [], [], [], []
    axis = pos = 0
    for it in items:
        if it is None:
            unsq.append(pos)
            dims.append(1)
            pos += 1
            continue
        d = x.dims[axis]
        if isinstance(it, slice):
            step = 1 if it.step is None else it.step
            if step <= 0:
                raise _unsupported("slicing with a step <= 0")
            if it.start in (None, 0) and it.stop is None and step == 1:
                dims.append(d)
            else:
                starts.append(0 if it.start is None else it.start)
                ends.append(INT64_MAX if it.stop is None else it.stop)
                axes.append(axis)
                steps.append(step)
                # a fixed size for literal bounds on a fixed axis, or literal 0 <= start <= stop anywhere (the
                # sizes the export ran with fit); otherwise the size is read back from the result's Shape
                literal = not isinstance(it.start, Dim) and not isinstance(it.stop, Dim)
                nonneg = literal and all(b is not None and b >= 0 for b in (starts[-1], it.stop))
                dims.append("fixed" if literal and (nonneg or not isinstance(d, Dim)) else None)
            pos += 1
        else:                                   # an int (or a Dim: x[:, T - 1]) keeps one entry
            starts.append(it)
            ends.append(INT64_MAX if it == -1 else it + 1)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        axis += 1
    name = x.name
    if axes:
        st, en = g.shape_tensor(starts), g.shape_tensor(ends)
        name = g.node("Slice", [name, st, en, g.ints(axes), g.ints(steps)])
    name = g.unsqueeze(g.squeeze(name, squeeze), unsq)
    dims = [out.shape[i] if isinstance(d, str) else g.dim_of(name, i, out.shape[i]) if d is None else d
            for i, d in enumerate(dims)]
    return TracedTensor(g, name, out, dims)


def module_paths(model: Module) -> dict:
    return {id(m): (name or type(m).__name__) for name, m in model.named_modules()}
