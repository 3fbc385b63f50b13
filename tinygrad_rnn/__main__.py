"""``python -m tinygrad_rnn``: the ``tinygrad-rnn`` command line (see :mod:`tinygrad_rnn.app.cli`)."""

import sys

from .app.cli import main

sys.exit(main())
