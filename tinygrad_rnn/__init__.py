"""tinygrad_rnn: a small autograd engine for recurrent sequence models, with PyTorch's names.

    import tinygrad_rnn as tr
    x = tr.tensor([[1.0, 2.0]], requires_grad=True)
    (x * x).sum().backward()
"""

from . import autograd, backend, dtypes
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .autograd.gradcheck import GradcheckError, gradcheck
from .autograd.inference_mode import inference_mode, is_inference_mode_enabled
from .backend import DeviceError, cuda_is_available, set_default_device
from .dtypes import (bool, double, dtype, float, float16, float32, float64, get_default_dtype, half, int, int8,
                     int16, int32, int64, long, set_default_dtype, short, uint8)
from .functions import (abs, add, allclose, amax, amin, argmax, argmin, bmm, chunk, clamp, clip, clone, div,
                        eq, exp, flatten, flip, gather, ge, gt, is_tensor, isfinite, isnan, le, log,
                        log_softmax, logsumexp, lt, masked_fill, matmul, max, maximum, mean, min, minimum,
                        mm, mul, narrow, ne, neg, numel, permute, pow, relu, reshape, sigmoid, softmax, sort,
                        split, sqrt, squeeze, std, sub, sum, tanh, topk, transpose, unbind, unsqueeze, var)
from .functions import cos, cosh, sin, sinh, t, tril, triu
from .random import Generator, default_generator, get_rng_state, initial_seed, manual_seed, set_rng_state
from .tensor import (Tensor, arange, as_tensor, cat, concat, device, dropout, empty, empty_like, eye,
                     from_numpy, full, full_like, linspace, multinomial, ones, ones_like, rand, rand_like,
                     randint, randn, randn_like, randperm, stack, tensor, where, zeros, zeros_like)
from .tensor import (BoolTensor, ByteTensor, DoubleTensor, FloatTensor, HalfTensor, IntTensor, LongTensor, Size,
                     Variable, einsum, get_default_device, meshgrid, normal)
from . import accelerator, backends, cuda
from . import overrides

from . import nn
from . import optim
from . import utils
from . import viz
from .io import load, save
from . import serialization
from .scan import linear_scan
from . import onnx
from . import analysis
from .app import tasks

autograd.Variable = Variable     # torch.autograd.Variable; defined with Tensor (autograd imports nothing above it)
backend.keep_host_memory()     # per-call recurrent buffers reuse freed memory (see its docstring)

__version__ = "0.1.0"
