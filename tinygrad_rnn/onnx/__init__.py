"""ONNX export (``tr.onnx.export``), PyTorch's ``torch.onnx`` names.

The ``onnx`` package is an optional extra (``pip install 'tinygrad-rnn[onnx]'``), imported only when
:func:`export` runs: importing ``tinygrad_rnn`` never imports it.
"""

from .exporter import export
from .graph import OnnxExporterError, UnsupportedOperatorError

__all__ = ["export", "OnnxExporterError", "UnsupportedOperatorError"]
