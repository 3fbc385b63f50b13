"""Random numbers: ``Generator``, ``manual_seed`` and the default generator.

Every draw is made on the CPU with NumPy's PCG64 and then moved to the tensor's device, so the same
seed gives the same numbers (initial weights, dropout masks, samples) on CPU and GPU, and the whole
RNG state is a few plain integers that a checkpoint stores as JSON.
"""

from __future__ import annotations

import numpy as np


class Generator:
    """A seeded random stream (``torch.Generator``-like): ``Generator().manual_seed(0)``."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._seed = 67280421310721   # PyTorch's default seed
        self._rng = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed: int) -> "Generator":
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
        self._seed = int(seed)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        """The full state as plain Python ints and strings (JSON-safe)."""
        return {"seed": self._seed, "bit_generator": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        if not isinstance(state, dict) or "bit_generator" not in state:
            raise ValueError("set_state: expected a dict from Generator.get_state()")
        self._seed = int(state.get("seed", self._seed))
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = state["bit_generator"]
        self._rng = rng

    # Draws (NumPy arrays; callers move them to their device).
    def random(self, shape, dtype) -> np.ndarray:
        return self._rng.random(shape, dtype=np.float64).astype(dtype, copy=False)

    def normal(self, shape, dtype) -> np.ndarray:
        return self._rng.standard_normal(shape, dtype=np.float64).astype(dtype, copy=False)

    def integers(self, low: int, high: int, shape) -> np.ndarray:
        return self._rng.integers(low, high, size=shape, dtype=np.int64)


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (weights, dropout, sampling) and return it."""
    return default_generator.manual_seed(seed)


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    default_generator.set_state(state)
