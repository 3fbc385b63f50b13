"""Training utilities: gradient clipping (``clip_grad``) and sequence packing (``rnn``)."""

from .clip_grad import clip_grad_norm_, clip_grad_value_

from . import rnn

__all__ = ["clip_grad_norm_", "clip_grad_value_", "rnn"]
