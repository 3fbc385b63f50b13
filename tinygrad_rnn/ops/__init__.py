"""The differentiable ops, grouped by kind. Each is a small ``Function`` subclass."""

from .device import ToDevice
from .elementwise import (Abs, Add, Cast, Clamp, Div, Exp, Log, Maximum, Minimum, Mul, Neg, Pow,
                          PowScalar, Relu, RPowScalar, Sigmoid, Sqrt, Sub, Tanh, Where)
from .elementwise import Cos, Cosh, Sin, Sinh
from .linalg import Matmul
from .linalg import Einsum, Tril, Triu
from .lru import LRUScan
from .hooks import BackwardHookFunction
from .movement import Cat, Clone, Expand, Flip, Gather, GetItem, IndexPut, Pad, Permute, Reshape, Split, Stack
from .nn import BinaryCrossEntropy, Dropout, LogSigmoid
from .recurrent import FusedRNN
from .reduce import Amax, Amin, Logsumexp, LogSoftmax, Mean, Softmax, Sum, Var

__all__ = ["Abs", "Add", "Amax", "Amin", "Cast", "Cat", "Clamp", "Clone", "Div", "Dropout", "Exp", "Expand", "Flip",
           "BinaryCrossEntropy", "LogSigmoid", "ToDevice",
           "Gather", "GetItem", "IndexPut", "Log", "Logsumexp", "LogSoftmax", "Matmul", "Maximum", "Mean",
           "Minimum", "Mul", "Neg", "Pad", "Permute", "Pow", "PowScalar", "Relu", "Reshape", "RPowScalar",
           "Sigmoid", "Softmax", "Split", "Sqrt", "Stack", "Sub", "Sum", "Tanh", "Var", "Where"]
__all__ += ["BackwardHookFunction", "Cos", "Cosh", "Einsum", "Sin", "Sinh", "Tril", "Triu"]
__all__ += ["FusedRNN", "LRUScan"]
