"""``tr.backends.cudnn``: PyTorch's cuDNN flags, accepted and without effect.

The recurrent layers here run their own kernels (NumPy on the CPU, CuPy kernels on the GPU), never
cuDNN, so ``enabled``, ``benchmark`` and ``deterministic`` change nothing: a ported program may set
them. Results on the GPU are deterministic for a given input either way. ``is_available()`` is False:
this project never calls cuDNN.
"""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: no op in this project calls cuDNN."""
    return False


def version() -> None:
    """None, as PyTorch answers without cuDNN."""
    return None
