"""``tr.backends``: the switches PyTorch programs set (``tr.backends.cudnn.benchmark = True``).

This project does not use cuDNN or Apple's MPS; the flags are accepted so ported programs run, and
they change nothing.
"""

from . import cudnn, mps

__all__ = ["cudnn", "mps"]
