"""The application: the ``tinygrad-rnn`` command line, the experiments, the tasks and their figures.

The top layer of the package, and the only one that composes all the others (``nn``, ``optim``,
``analysis``, ``viz``); nothing below imports it. ``import tinygrad_rnn`` loads only ``tasks`` from here
(``tr.tasks``); the rest loads when used.

- :mod:`.cli` — ``tinygrad-rnn demo|memory|adding|gradflow|graph|train`` (BLAS thread setting included);
- :mod:`.experiments` — the sweeps' settings, training loop, evaluation and Markdown tables;
- :mod:`.tasks` — the synthetic sequence tasks (``tr.tasks``);
- :mod:`.plots` — the Matplotlib figures of the experiments and examples.
"""
