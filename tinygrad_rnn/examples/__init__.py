"""The example scripts, shipped inside the package so ``tinygrad-rnn train NAME`` runs them from any folder.

Each one is a script built only on the public API (``import tinygrad_rnn as tr``); run it with
``tinygrad-rnn train char_lm --quick``, ``python -m tinygrad_rnn.examples.char_lm --quick``, or, in a
source checkout, ``python examples/char_lm.py --quick``.
"""
