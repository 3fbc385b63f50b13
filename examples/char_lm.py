"""``python examples/char_lm.py [args]``: runs tinygrad_rnn/examples/char_lm.py, where the code is.

The example ships inside the package, so ``tinygrad-rnn train char_lm [args]`` and
``python -m tinygrad_rnn.examples.char_lm [args]`` run the same script from any folder.
"""

import os
import runpy
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")      # before NumPy loads: small GEMMs lose time to BLAS threads on shared cores

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # run from a checkout
runpy.run_module("tinygrad_rnn.examples.char_lm", run_name="__main__", alter_sys=True)
