"""``python -m tinygrad_rnn``: the ``tinygrad-rnn`` command line (see :mod:`tinygrad_rnn.cli`)."""

import sys

from .cli import main

sys.exit(main())
